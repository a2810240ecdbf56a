//! The `logwarden` binary as an operator runs it: `pull` against an in-process fake Compliance
//! API, `fake-api` as a child process, `--help` on every subcommand, and bad input refused with
//! a message naming the flag or setting.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logwarden_fake_api::{spawn, FakeConfig, FakeServer, DEFAULT_TEST_KEY};
use serde_json::{json, Value};

use crate::helpers::{day, unique_name};

const BIN: &str = env!("CARGO_BIN_EXE_logwarden");
const FROM: &str = "2026-04-08T00:00:00Z";
const TO: &str = "2026-04-09T00:00:00Z";

/// A temporary directory of this test's own, with the SQLite URL commands use; removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique_name("lwcli"));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self { dir }
    }

    fn database_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.dir.join("logwarden.db").display()
        )
    }

    /// The binary with a clean environment (nothing inherited can change the settings), run
    /// from the scratch directory against its own database, allowed plain HTTP to the fake.
    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(BIN);
        command
            .env_clear()
            .env("DATABASE_URL", self.database_url())
            // The fake API listens on plain HTTP on loopback.
            .env("LOGWARDEN_ALLOW_LOOPBACK_HTTP", "true")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn the_day() -> (DateTime<Utc>, DateTime<Utc>) {
    (day(), day() + chrono::Duration::days(1))
}

async fn pull(scratch: &Scratch, fake: &FakeServer, key: &str, from: &str, to: &str) -> Output {
    scratch
        .command()
        .args(["pull", "--base-url", &fake.base_url(), "--api-key", key])
        .args(["--from", from, "--to", to, "--json"])
        .output()
        .await
        .expect("run logwarden pull")
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_json_of_a_day_equals_the_fake_manifest_of_that_day() {
    let fake = spawn(FakeConfig::default()).await.expect("fake API");
    let scratch = Scratch::new();

    let output = pull(&scratch, &fake, DEFAULT_TEST_KEY, FROM, TO).await;

    assert!(output.status.success(), "{}", stderr_of(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    let (from, to) = the_day();
    let manifest = fake.manifest(from, to);
    assert!(manifest.prompt_events > 0, "the day must hold prompts");
    assert_eq!(printed["activities"], json!(manifest.activities));
    assert_eq!(printed["chats"], json!(manifest.chats));
    assert_eq!(printed["messages"], json!(manifest.messages));
    assert_eq!(printed["prompt_events"], json!(manifest.prompt_events));
    // Every request the fake served is accounted for, and the last one is quotable.
    assert_eq!(printed["requests"], json!(fake.stats().requests));
    assert!(printed["final_request_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("req_")));
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_with_a_wrong_key_exits_non_zero_with_one_line_naming_authentication_error() {
    let fake = spawn(FakeConfig::default()).await.expect("fake API");
    let scratch = Scratch::new();
    let key = "sk-ant-api01-revoked-key-for-cli-test-4f2a";

    let output = pull(&scratch, &fake, key, FROM, TO).await;

    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("authentication_error"), "{stderr}");
    assert!(!stderr.contains(key), "{stderr}");
    assert!(!stderr.contains("revoked-key-for-cli-test"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(fake.stats().requests, 1, "a 401 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_refuses_a_reversed_window_and_a_bare_date_naming_the_flag() {
    let fake = spawn(FakeConfig::default()).await.expect("fake API");
    let scratch = Scratch::new();
    let cases = [
        (TO, FROM, "--from"),
        ("2026-04-08", TO, "--from"),
        (FROM, "2026-04-09", "--to"),
        (FROM, FROM, "--from"),
    ];

    for (from, to, flag) in cases {
        let output = pull(&scratch, &fake, DEFAULT_TEST_KEY, from, to).await;

        assert!(!output.status.success(), "--from {from} --to {to}");
        let stderr = stderr_of(&output);
        assert!(stderr.contains(flag), "--from {from} --to {to}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty());
    }
    let bare = pull(&scratch, &fake, DEFAULT_TEST_KEY, "2026-04-08", TO).await;
    assert!(
        stderr_of(&bare).contains("RFC 3339"),
        "{}",
        stderr_of(&bare)
    );
    assert_eq!(fake.stats().requests, 0, "refused before any request");
}

/// A child process killed (by its own handle) and reaped when the test ends, pass or fail.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_api_as_a_child_process_serves_the_manifest_and_the_activity_feed() {
    let scratch = Scratch::new();
    let port = free_port();
    let log = std::fs::File::create(scratch.dir.join("fake-api.log")).expect("log file");
    let child = std::process::Command::new(BIN)
        .args(["fake-api", "--port", &port.to_string(), "--seed", "7"])
        .env_clear()
        .env("DATABASE_URL", scratch.database_url())
        .current_dir(&scratch.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start logwarden fake-api");
    let mut child = ChildGuard(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");

    // Generating the organisation takes a moment; poll until the port answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.0.try_wait().expect("child status") {
            let log = std::fs::read_to_string(scratch.dir.join("fake-api.log")).unwrap_or_default();
            panic!("fake-api exited early with {status}: {log}");
        }
        match http.get(format!("{base}/_fake/info")).send().await {
            Ok(response) if response.status().is_success() => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("fake-api did not answer within 60 s: {other:?}"),
        }
    }

    // The same seed in process is the ground truth the child must match.
    let reference = spawn(FakeConfig::default()).await.expect("in-process fake");
    let (from, to) = the_day();
    let manifest: Value = http
        .get(format!("{base}/_fake/manifest"))
        .query(&[("from", FROM), ("to", TO)])
        .send()
        .await
        .expect("manifest")
        .json()
        .await
        .expect("manifest JSON");
    assert_eq!(
        manifest,
        serde_json::to_value(reference.manifest(from, to)).expect("manifest as JSON")
    );
    assert!(manifest["activities"].as_u64().is_some_and(|n| n > 0));

    let feed = |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/v1/compliance/activities"))
                .header("x-api-key", DEFAULT_TEST_KEY)
                .header("anthropic-version", "2023-06-01")
                .query(&[("limit", "5")])
                .send()
                .await
                .expect("activities")
        }
    };
    let response = feed(base.clone()).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(response.headers().contains_key("request-id"));
    let served: Value = response.json().await.expect("activities JSON");
    let expected: Value = feed(reference.base_url())
        .await
        .json()
        .await
        .expect("reference JSON");
    assert_eq!(served["data"].as_array().map(Vec::len), Some(5));
    assert_eq!(served, expected);

    let anonymous = http
        .get(format!("{base}/v1/compliance/activities"))
        .send()
        .await
        .expect("unauthenticated request");
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.expect("error JSON");
    assert_eq!(body["error"]["type"], "authentication_error");

    drop(child);
    assert!(
        http.get(format!("{base}/_fake/info")).send().await.is_err(),
        "the port is closed once the child is killed"
    );
}

#[test]
fn help_works_on_every_subcommand() {
    let commands: &[&[&str]] = &[
        &[],
        &["migrate"],
        &["scheduler"],
        &["worker"],
        &["integration"],
        &["integration", "add"],
        &["integration", "list"],
        &["integration", "pause"],
        &["integration", "resume"],
        &["integration", "set-key"],
        &["integration", "delete"],
        &["backfill"],
        &["backfill", "start"],
        &["backfill", "status"],
        &["backfill", "list"],
        &["backfill", "cancel"],
        &["backfill", "pause"],
        &["backfill", "resume"],
        &["backfill", "retry-failed"],
        &["export"],
        &["report"],
        &["dataset"],
        &["dataset", "create"],
        &["dataset", "download"],
        &["jobs"],
        &["jobs", "list"],
        &["jobs", "show"],
        &["jobs", "retry"],
        &["jobs", "cancel"],
        &["policy"],
        &["policy", "eval"],
        &["policy", "templates"],
        &["policy", "show"],
        &["policy", "draft"],
        &["policy", "install"],
        &["policy", "reevaluate"],
        &["demo"],
        &["serve"],
        &["run"],
        &["token"],
        &["token", "create"],
        &["token", "list"],
        &["token", "revoke"],
        &["fake-api"],
        &["pull"],
        &["bench"],
        &["bench", "ingest"],
    ];
    for path in commands {
        let output = std::process::Command::new(BIN)
            .args(*path)
            .arg("--help")
            .env_clear()
            .output()
            .expect("run --help");
        let shown = path.join(" ");
        assert!(
            output.status.success(),
            "{shown} --help: {}",
            stderr_of(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let usage = format!("Usage: {}", ["logwarden", &shown].join(" "));
        assert!(
            stdout.contains(usage.trim_end()),
            "{shown} --help lacks {usage:?}:\n{stdout}"
        );
    }
}

/// `integration add` with every required flag, for cases that must fail before it runs.
const ADD: &[&str] = &[
    "integration",
    "add",
    "--name",
    "acme",
    "--project",
    "security",
    "--data-plane",
    "default",
    "--api-key",
    "sk-ant-api01-cli-settings-test",
];

/// Runs `command` with one extra variable; a command that wrongly accepts a bad setting and
/// starts a role fails here instead of running forever.
async fn run_with(scratch: &Scratch, variable: &str, value: &str, command: &[&str]) -> Output {
    let run = scratch
        .command()
        .env(variable, value)
        .args(command)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("{variable}={value} logwarden {command:?} did not exit"))
        .expect("run logwarden")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_are_refused_naming_the_field() {
    let scratch = Scratch::new();
    let control = scratch
        .command()
        .args(["jobs", "list"])
        .output()
        .await
        .expect("run jobs list");
    assert!(
        control.status.success(),
        "good settings must work: {}",
        stderr_of(&control)
    );

    let not_base64 = "definitely-not-a-master-key";
    let worker: &[&str] = &["worker", "--data-plane", "default"];
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("LOGWARDEN_SYNC_LAG", "30s", &["scheduler"], "sync_lag"),
        ("LOGWARDEN_SYNC_LAG", "soon", ADD, "sync_lag"),
        (
            "LOGWARDEN_JOB_MAX_ATTEMPTS",
            "0",
            &["backfill", "retry-failed", "1"],
            "job_max_attempts",
        ),
        (
            "LOGWARDEN_LOG_FORMAT",
            "xml",
            &["jobs", "list"],
            "log_format",
        ),
        (
            "LOGWARDEN_RETRY_CAP",
            "1ms",
            &["jobs", "retry", "1"],
            "retry_cap",
        ),
        (
            "LOGWARDEN_SYNC_SCHEDULE",
            "every five minutes",
            &["scheduler"],
            "sync_schedule",
        ),
        ("REDIS_URL", "http://127.0.0.1:6379", worker, "redis_url"),
        (
            "DATABASE_URL",
            "mysql://root@127.0.0.1/logwarden",
            &["migrate"],
            "database_url",
        ),
        ("LOGWARDEN_MASTER_KEY", not_base64, ADD, "master_key"),
    ];
    for (variable, value, command, field) in cases {
        let output = run_with(&scratch, variable, value, command).await;

        let shown = format!("{variable}={value} logwarden {}", command.join(" "));
        assert!(!output.status.success(), "{shown} was accepted");
        let stderr = stderr_of(&output);
        let first_line = stderr.lines().next().unwrap_or_default();
        assert!(
            first_line.starts_with("error: ") && first_line.contains(field),
            "{shown}: {stderr}"
        );
    }
    let output = run_with(&scratch, "LOGWARDEN_MASTER_KEY", not_base64, ADD).await;
    assert!(!output.status.success());
    assert!(
        !stderr_of(&output).contains(not_base64),
        "a secret setting is never echoed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_and_a_worker_refuse_to_start_without_redis_and_name_the_one_process_commands(
) {
    let scratch = Scratch::new();
    let commands: &[&[&str]] = &[&["scheduler"], &["worker", "--data-plane", "default"]];
    for command in commands {
        let output = run_with(&scratch, "LOGWARDEN_LOG_LEVEL", "warn", command).await;

        let shown = format!("logwarden {}", command.join(" "));
        assert!(!output.status.success(), "{shown} started without Redis");
        let stderr = stderr_of(&output);
        assert!(
            stderr.starts_with("error: invalid redis_url"),
            "{shown}: {stderr}"
        );
        for needed in ["REDIS_URL", "`logwarden run`", "`logwarden demo`"] {
            assert!(stderr.contains(needed), "{shown} names {needed}: {stderr}");
        }
    }
    assert!(
        !scratch.dir.join("logwarden.db").exists(),
        "refused before touching the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_ignores_the_variables_of_settings_it_does_not_read() {
    let scratch = Scratch::new();
    let cases: &[(&str, &str, &[&str])] = &[
        ("LOGWARDEN_SYNC_LAG", "30s", &["jobs", "list"]),
        (
            "REDIS_URL",
            "http://127.0.0.1:6379",
            &["integration", "list"],
        ),
        ("LOGWARDEN_MASTER_KEY", "not-a-key", &["backfill", "list"]),
        (
            "DATABASE_URL",
            "mysql://root@127.0.0.1/logwarden",
            &["policy", "templates"],
        ),
        (
            "DATABASE_URL",
            "mysql://root@127.0.0.1/logwarden",
            &["policy", "eval", "--template", "strict"],
        ),
    ];
    for (variable, value, command) in cases {
        let output = run_with(&scratch, variable, value, command).await;

        assert!(
            output.status.success(),
            "{variable}={value} logwarden {}: {}",
            command.join(" "),
            stderr_of(&output)
        );
    }
}

/// The `--help` text of `logwarden ARGS`.
fn help_of(args: &[&str]) -> String {
    let output = std::process::Command::new(BIN)
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run --help");
    assert!(
        output.status.success(),
        "{args:?} --help: {}",
        stderr_of(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The settings flags, group by group.
const SETTINGS_GROUPS: &[(&str, &[&str])] = &[
    ("logging", &["--log-format", "--log-level"]),
    ("database", &["--database-url"]),
    ("encryption", &["--master-key"]),
    ("redis", &["--redis-url", "--redis-prefix"]),
    (
        "sync",
        &[
            "--sync-schedule",
            "--sync-lag",
            "--sync-overlap",
            "--initial-lookback",
        ],
    ),
    (
        "backfill",
        &[
            "--backfill-batch-width",
            "--backfill-horizon",
            "--backfill-max-in-flight",
            "--org-max-in-flight",
        ],
    ),
    (
        "jobs",
        &[
            "--job-max-attempts",
            "--job-timeout",
            "--retry-base",
            "--retry-cap",
            "--orphan-timeout",
        ],
    ),
    (
        "api",
        &[
            "--rate-limit-per-minute",
            "--api-connect-timeout",
            "--api-request-timeout",
            "--api-max-response-size",
            "--allow-loopback-http",
            "--allow-private-networks",
        ],
    ),
    ("serve", &["--listen", "--allowed-hosts"]),
];

#[test]
fn each_subcommand_s_help_lists_only_the_settings_it_reads() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["fake-api"], &["logging"]),
        (&["pull"], &["logging", "api", "redis"]),
        (&["policy", "templates"], &["logging"]),
        (&["policy", "eval"], &["logging", "database"]),
        (&["policy", "reevaluate"], &["logging", "database", "jobs"]),
        (&["migrate"], &["logging", "database"]),
        (&["integration", "list"], &["logging", "database", "sync"]),
        (
            &["integration", "add"],
            &["logging", "database", "encryption", "sync", "api", "redis"],
        ),
        (
            &["integration", "set-key"],
            &["logging", "database", "encryption", "api", "redis"],
        ),
        (&["backfill", "list"], &["logging", "database"]),
        (
            &["backfill", "start"],
            &["logging", "database", "backfill", "jobs"],
        ),
        (&["jobs", "list"], &["logging", "database"]),
        (&["jobs", "retry"], &["logging", "database", "jobs"]),
        (
            &["scheduler"],
            &["logging", "database", "redis", "sync", "backfill", "jobs"],
        ),
        (
            &["worker"],
            &["logging", "database", "encryption", "redis", "jobs", "api"],
        ),
        (
            &["demo"],
            &[
                "logging", "database", "sync", "backfill", "jobs", "api", "serve",
            ],
        ),
        (
            &["serve"],
            &[
                "logging",
                "database",
                "encryption",
                "redis",
                "sync",
                "backfill",
                "jobs",
                "api",
                "serve",
            ],
        ),
        (
            &["run"],
            &[
                "logging",
                "database",
                "encryption",
                "redis",
                "sync",
                "backfill",
                "jobs",
                "api",
                "serve",
            ],
        ),
        (&["token", "create"], &["logging", "database"]),
    ];
    for (command, reads) in cases {
        let help = help_of(command);
        let name = command.join(" ");
        for (group, flags) in SETTINGS_GROUPS {
            for flag in *flags {
                assert_eq!(
                    help.contains(flag),
                    reads.contains(group),
                    "{name} --help and {flag} ({group} settings):\n{help}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn integration_list_on_a_fresh_database_prints_the_table_and_nothing_else() {
    let scratch = Scratch::new();

    let output = scratch
        .command()
        .args(["integration", "list"])
        .output()
        .await
        .expect("run integration list");

    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stderr_of(&output), "", "no log line, migrations included");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("ID")
            && lines[0].contains("HEALTH")
            && lines[0].ends_with("LAST ERROR"),
        "{stdout}"
    );
    assert!(
        scratch.dir.join("logwarden.db").exists(),
        "the database was created and migrated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn integration_set_key_reads_the_new_key_from_stdin_tests_it_and_swaps_it_in_place() {
    use tokio::io::AsyncWriteExt;
    let new_key = "sk-ant-api01-rotated-cli-key-9f3e";
    let fake = spawn(FakeConfig {
        keys: vec![
            logwarden_fake_api::ApiKeySpec::with_default_scopes(DEFAULT_TEST_KEY),
            logwarden_fake_api::ApiKeySpec::with_default_scopes(new_key),
        ],
        ..FakeConfig::default()
    })
    .await
    .expect("fake API");
    let scratch = Scratch::new();
    let master_key = logwarden::infra::crypto::MasterKey::generate_base64()
        .expose()
        .to_owned();
    let with_key = |command: &mut tokio::process::Command| {
        command.env("LOGWARDEN_MASTER_KEY", &master_key);
    };
    let mut add = scratch.command();
    with_key(&mut add);
    let added = add
        .args([
            "integration",
            "add",
            "--name",
            "acme",
            "--project",
            "security",
        ])
        .args(["--data-plane", "default", "--base-url", &fake.base_url()])
        .args(["--api-key", DEFAULT_TEST_KEY])
        .output()
        .await
        .expect("run integration add");
    assert!(added.status.success(), "{}", stderr_of(&added));

    let set_key = |key: &'static str| {
        let mut command = scratch.command();
        with_key(&mut command);
        command
            .args(["integration", "set-key", "acme"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        async move {
            let mut child = command.spawn().expect("run integration set-key");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(format!("{key}\n").as_bytes())
                .await
                .expect("write the key");
            drop(stdin);
            child.wait_with_output().await.expect("set-key output")
        }
    };
    let refused = set_key("sk-ant-api01-not-a-key-of-this-org-1234").await;
    assert!(!refused.status.success());
    let stderr = stderr_of(&refused);
    assert!(stderr.contains("authentication_error"), "{stderr}");
    assert!(!stderr.contains("not-a-key-of-this-org"), "{stderr}");

    let swapped = set_key(new_key).await;
    assert!(swapped.status.success(), "{}", stderr_of(&swapped));
    assert!(
        stderr_of(&swapped).contains("…9f3e"),
        "{}",
        stderr_of(&swapped)
    );
    let listed = scratch
        .command()
        .args(["integration", "list", "--json"])
        .output()
        .await
        .expect("run integration list");
    let views: Value = serde_json::from_slice(&listed.stdout).expect("JSON list");
    assert_eq!(views.as_array().map(Vec::len), Some(1), "{views}");
    assert_eq!(views[0]["api_key_last4"], "9f3e");
    assert_eq!(views[0]["name"], "acme");
}

#[tokio::test(flavor = "multi_thread")]
async fn integration_add_and_set_key_draw_on_the_fleet_budget_when_redis_is_configured() {
    use logwarden::service::integrations::UNIDENTIFIED_ORGANIZATION;
    use redis::AsyncCommands;
    let fake = spawn(FakeConfig {
        rate_limit: None,
        ..FakeConfig::default()
    })
    .await
    .expect("fake API");
    fake.set_now(day() + chrono::Duration::days(1));
    let scratch = Scratch::new();
    let prefix = unique_name("lwcli");
    let master_key = logwarden::infra::crypto::MasterKey::generate_base64()
        .expose()
        .to_owned();
    let command = |args: &[&str]| {
        let mut command = scratch.command();
        command
            .env("LOGWARDEN_MASTER_KEY", &master_key)
            .env("LOGWARDEN_API_KEY", DEFAULT_TEST_KEY)
            .env("REDIS_URL", crate::helpers::redis_url())
            .env("LOGWARDEN_REDIS_PREFIX", &prefix)
            .args(args);
        command
    };
    let mut redis = redis::Client::open(crate::helpers::redis_url())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let log = |org: &str| format!("{prefix}:ratelimit:{{{org}}}:log");

    let added = command(&["integration", "add", "--name", "acme"])
        .args(["--project", "security", "--data-plane", "default"])
        .args(["--base-url", &fake.base_url(), "--json"])
        .output()
        .await
        .expect("run integration add");
    assert!(added.status.success(), "{}", stderr_of(&added));
    let view: Value = serde_json::from_slice(&added.stdout).expect("JSON view");
    let organisation = view["organization_uuid"]
        .as_str()
        .expect("the fake has activity")
        .to_owned();
    let unidentified: i64 = redis.zcard(log(UNIDENTIFIED_ORGANIZATION)).await.unwrap();
    let after_add: i64 = redis.zcard(log(&organisation)).await.unwrap();
    let swapped = command(&["integration", "set-key", "acme"])
        .output()
        .await
        .expect("run integration set-key");
    assert!(swapped.status.success(), "{}", stderr_of(&swapped));
    let after_set_key: i64 = redis.zcard(log(&organisation)).await.unwrap();

    // The add's key test, before the organisation is known, and then charged to it.
    assert_eq!(unidentified, 1);
    assert_eq!(after_add, 1);
    // The new key is tested on the budget of the organisation the integration belongs to.
    assert_eq!(after_set_key, 2);
    assert_eq!(fake.stats().requests, 2);
}

/// Stores `(id, user email, input)` events and two access events in the scratch database.
async fn seed_export_data(scratch: &Scratch, events: &[(u128, &str, &str)]) {
    use logwarden_entities::{access_event, event};
    use sea_orm::{ActiveValue::Set, EntityTrait};

    let db = logwarden::store::connect(&logwarden::infra::secret::Secret::new(
        scratch.database_url(),
    ))
    .await
    .expect("connect");
    logwarden::store::migrate(&db).await.expect("migrate");
    let integration = crate::helpers::seed_integration(&db, "acme", "security", "default").await;
    let at = day() + chrono::TimeDelta::hours(10);
    for (n, (id, email, input)) in events.iter().enumerate() {
        let time = at + chrono::TimeDelta::minutes(n as i64);
        event::Entity::insert(event::ActiveModel {
            id: Set(uuid::Uuid::from_u128(*id)),
            integration_id: Set(integration),
            project_id: Set(1),
            chat_id: Set(format!("chat-{n}")),
            user_message_id: Set(format!("msg-{n}")),
            user_id: Set(format!("user-{email}")),
            user_email: Set((*email).to_owned()),
            model: Set(Some("claude-sonnet-4".into())),
            provider: Set("ANTHROPIC_COMPLIANCE_API".into()),
            input_text: Set((*input).to_owned()),
            output_text: Set("an answer".into()),
            tool_calls: Set(json!([])),
            attachments: Set(json!([])),
            prompt_tokens: Set(1),
            response_tokens: Set(1),
            total_tokens: Set(2),
            complete: Set(true),
            event_time: Set(time),
            responded_at: Set(Some(time)),
            ingested_at: Set(time),
            updated_at: Set(time),
            tags: Set(json!(["Coherent"])),
            violation_summary: Set(json!({})),
            policy_set_version: Set(Some(1)),
            content_hash: Set(format!("hash-{n}")),
            source_updated_at: Set(Some(time)),
            side_tags: Set(Some(
                json!({"input": ["Coherent"], "output": [], "tool": []}),
            )),
        })
        .exec(&db)
        .await
        .expect("an event");
    }
    for n in 0..2 {
        access_event::Entity::insert(access_event::ActiveModel {
            integration_id: Set(integration),
            activity_id: Set(format!("activity-{n}")),
            activity_type: Set("user_logged_in".into()),
            actor_type: Set("user".into()),
            actor_user_id: Set(Some("user-1".into())),
            actor_email: Set(Some("ana@example.com".into())),
            ip_address: Set(Some("10.0.0.1".into())),
            organization_uuid: Set(None),
            event_time: Set(at + chrono::TimeDelta::minutes(n)),
            ingested_at: Set(at),
            record: Set(json!({"id": n})),
            ..Default::default()
        })
        .exec(&db)
        .await
        .expect("an access event");
    }
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_a_search_as_csv_or_ndjson_to_a_file_or_stdout_and_refuses_bad_filters() {
    let scratch = Scratch::new();
    seed_export_data(
        &scratch,
        &[
            (1, "ana@example.com", "=HYPERLINK(\"http://evil.example\")"),
            (2, "ana@example.com", "a plain prompt"),
            (3, "bob@example.com", "another prompt"),
        ],
    )
    .await;

    // A filtered CSV to a file: the filter applies and formulas stay text.
    let output = scratch
        .command()
        .args([
            "export",
            "events",
            "--format",
            "csv",
            "--filter",
            "user_email=ana@example.com",
            "--output",
            "ana.csv",
        ])
        .output()
        .await
        .expect("run export");
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("exported to ana.csv"),
        "{}",
        stderr_of(&output)
    );
    let csv = std::fs::read_to_string(scratch.dir.join("ana.csv")).expect("the file");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        logwarden::service::investigation::export::CSV_COLUMNS
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2, "{csv}");
    assert!(records.iter().all(|r| &r[7] == "ana@example.com"), "{csv}");
    assert_eq!(
        &records[0][0],
        uuid::Uuid::from_u128(2).to_string(),
        "newest first"
    );
    assert_eq!(&records[1][9], "'=HYPERLINK(\"http://evil.example\")");
    assert!(
        !scratch.dir.join("ana.csv.partial").exists(),
        "no partial file is left"
    );

    // NDJSON to stdout, times in the zone asked for.
    let output = scratch
        .command()
        .args([
            "export",
            "events",
            "--format",
            "ndjson",
            "--tz",
            "Europe/Paris",
        ])
        .output()
        .await
        .expect("run export");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|line| line["event_time"].as_str().unwrap().ends_with("+02:00")));
    assert_eq!(
        lines[2]["input_excerpt"],
        "=HYPERLINK(\"http://evil.example\")"
    );

    // Access events, with their own filters.
    let output = scratch
        .command()
        .args([
            "export",
            "access-events",
            "--format",
            "csv",
            "--filter",
            "activity_type=user_logged_in",
        ])
        .output()
        .await
        .expect("run export");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 3, "header and two rows: {stdout}");
    assert!(stdout.starts_with("id,event_time,integration_id,activity_id"));

    // Bad input: refused naming the filter, the flag or the zone; no file is written.
    for (args, named) in [
        (&["--filter", "colour=red"][..], "colour"),
        (&["--filter", "nonsense"][..], "--filter"),
        (&["--filter", "from=yesterday"][..], "from"),
        (&["--tz", "Mars/Olympus"][..], "Europe/Paris"),
    ] {
        let output = scratch
            .command()
            .args(["export", "events", "--format", "csv", "--output", "bad.csv"])
            .args(args)
            .output()
            .await
            .expect("run export");
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr_of(&output).contains(named),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert!(!scratch.dir.join("bad.csv").exists(), "{args:?}");
        assert!(!scratch.dir.join("bad.csv.partial").exists(), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn report_writes_the_period_report_as_json_csv_or_html_and_refuses_a_bad_subject() {
    let scratch = Scratch::new();
    seed_export_data(
        &scratch,
        &[
            (1, "ana@example.com", "a prompt"),
            (2, "bob@example.com", "another prompt"),
        ],
    )
    .await;
    let period = [
        "--from",
        "2026-04-08T00:00:00Z",
        "--to",
        "2026-04-09T00:00:00Z",
    ];

    let output = scratch
        .command()
        .args(["report", "--integration-id", "1", "--format", "json"])
        .args(period)
        .output()
        .await
        .expect("run report");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["subject"]["kind"], "integration", "{report}");
    assert_eq!(report["totals"]["events"], 2, "{report}");
    assert_eq!(report["totals"]["users"], 2, "{report}");

    for (format, file, starts) in [
        ("csv", "report.csv", "section,day,subject,metric,value"),
        ("html", "report.html", "<!"),
    ] {
        let output = scratch
            .command()
            .args([
                "report",
                "--integration-id",
                "1",
                "--format",
                format,
                "--output",
                file,
            ])
            .args(period)
            .output()
            .await
            .expect("run report");
        assert!(output.status.success(), "{}", stderr_of(&output));
        let text = std::fs::read_to_string(scratch.dir.join(file)).expect("the file");
        assert!(
            text.starts_with(starts) && !text.is_empty(),
            "{format}: {text}"
        );
        if format == "html" {
            assert!(text.contains("<svg"), "charts drawn on the server");
        }
    }

    for (args, named) in [
        (
            &["--project-id", "1", "--integration-id", "1"][..],
            "project_id",
        ),
        (&["--integration-id", "987"][..], "integration 987"),
    ] {
        let output = scratch
            .command()
            .args(["report", "--output", "bad.json"])
            .args(period)
            .args(args)
            .output()
            .await
            .expect("run report");
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr_of(&output).contains(named),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert!(!scratch.dir.join("bad.json").exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dataset_create_list_show_download_and_delete_go_through_the_datasets_service() {
    let scratch = Scratch::new();
    seed_export_data(
        &scratch,
        &[
            (1, "ana@example.com", "Summarise the incident report"),
            (2, "ana@example.com", "  Summarise   the incident report "),
            (3, "ana@example.com", "another prompt"),
            (4, "bob@example.com", "a prompt of bob"),
        ],
    )
    .await;
    let run = |args: Vec<&'static str>| {
        let mut command = scratch.command();
        command.arg("dataset").args(args);
        async move { command.output().await.expect("run dataset") }
    };

    let output = run(vec![
        "create",
        "--name",
        "ana prompts",
        "--filter",
        "user_email=ana@example.com",
        "--json",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr_of(&output));
    let view: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        view["item_count"], 2,
        "one prompt twice, deduplicated: {view}"
    );
    assert_eq!(view["source_event_count"], 3, "{view}");
    assert_eq!(view["search"], "user_email=ana%40example.com");
    assert_eq!(view["created_by"], "cli");
    let id = view["id"].as_i64().unwrap().to_string();

    let output = run(vec!["list"]).await;
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("ana prompts"), "{stdout}");

    let output = scratch
        .command()
        .args(["dataset", "download", &id, "--output", "ana.jsonl"])
        .output()
        .await
        .expect("run download");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let items: Vec<Value> = std::fs::read_to_string(scratch.dir.join("ana.jsonl"))
        .expect("the file")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(items.len(), 2);
    let sources: usize = items
        .iter()
        .map(|item| item["source_event_ids"].as_array().unwrap().len())
        .sum();
    assert_eq!(sources, 3, "every source event is kept: {items:?}");

    let output = scratch
        .command()
        .args(["dataset", "show", &id])
        .output()
        .await
        .expect("run show");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let shown: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(shown, view);

    let output = run(vec!["create", "--name", " "]).await;
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("name"),
        "{}",
        stderr_of(&output)
    );

    let output = scratch
        .command()
        .args(["dataset", "delete", &id])
        .output()
        .await
        .expect("run delete");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let output = scratch
        .command()
        .args(["dataset", "show", &id])
        .output()
        .await
        .expect("run show");
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains(&format!("dataset {id} does not exist")),
        "{}",
        stderr_of(&output)
    );
}

//! The DNS-rebinding defence over real HTTP: a server answers only requests whose `Host`
//! names it, and refuses the rest with the JSON error naming `Host`.

use logwarden::app::App;
use logwarden::config::{Settings, SettingsArgs};
use logwarden::roles::serve::RunningServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::helpers::{test_settings, TestDb};

/// Sends `request` as it is on a new connection and returns the status and the JSON body.
async fn raw(addr: std::net::SocketAddr, request: String) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get_with_host(host: &str) -> String {
    format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_for_a_host_the_server_does_not_answer_to_is_refused_naming_host() {
    let test = TestDb::postgres().await;
    let settings = test_settings(|args| {
        args.allowed_hosts = Some("logwarden.example.com".into());
    });
    let app = App::with_database(test.db.clone(), &settings)
        .await
        .expect("app");
    let shutdown = CancellationToken::new();
    let server = RunningServer::start(&app, "127.0.0.1:0", shutdown.clone())
        .await
        .expect("server");
    let port = server.addr.port();

    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "logwarden.example.com".to_owned(),
        format!("LogWarden.Example.com:{port}"),
    ] {
        let (status, _) = raw(server.addr, get_with_host(&host)).await;
        assert_eq!(status, 200, "{host}");
    }

    // A rebound name: the attacker's page, its name now pointing at 127.0.0.1.
    let (status, body) = raw(server.addr, get_with_host(&format!("evil.example:{port}"))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid");
    assert_eq!(body["error"]["field"], "Host");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("evil.example") && message.contains("allowed_hosts"),
        "{message}"
    );
    // The API behind it is refused the same way, before any token is looked at.
    let (status, body) = raw(
        server.addr,
        "GET /api/v1/jobs HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n"
            .to_owned(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("Host"))
    );

    // HTTP/1.0 without a Host header.
    let (status, body) = raw(server.addr, "GET /healthz HTTP/1.0\r\n\r\n".to_owned()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "Host");
    shutdown.cancel();
}

#[test]
fn an_allowed_hosts_setting_that_is_not_a_list_of_names_is_refused_naming_it() {
    let args = SettingsArgs {
        allowed_hosts: Some("ok.example, https://bad.example/".into()),
        ..Default::default()
    };
    let error = Settings::load(&args).unwrap_err().to_string();
    assert!(
        error.contains("allowed_hosts") && error.contains("https://bad.example/"),
        "{error}"
    );
}

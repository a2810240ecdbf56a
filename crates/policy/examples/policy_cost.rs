//! Evaluates one of the bench's mixes under the `strict` template, or under `strict` with
//! only some of its policies enabled, for profiling one policy at a time:
//!
//! ```sh
//! cargo run --release -p logwarden-policy --example policy_cost -- long obfuscated_attacks
//! valgrind --tool=callgrind --toggle-collect='*CompiledPolicySet*evaluate*' \
//!     target/release/examples/policy_cost long obfuscated_attacks 1
//! cargo run --release -p logwarden-policy --example policy_cost -- long all 1 dump > out.txt
//! ```
//!
//! Arguments: the mix (`realistic` or `long`), `all`, `none` or a comma-separated list of
//! policy ids to keep enabled, the number of passes (default 3); then, in any order, `dump`
//! to print every evaluation of the first pass (for comparing verdicts between builds) and
//! `no-classifier` to set the `sensitivity` of `prompt_injection`, `jailbreak` and `leakage`
//! to `off`, which leaves the classifier unscored. Prints the time per pass and MB/s.

#[path = "../benches/mix.rs"]
#[allow(dead_code)]
mod mix;

use std::hint::black_box;
use std::time::Instant;

use logwarden_policy::classifier::Sensitivity;
use logwarden_policy::{template, CompiledPolicySet, MessageInput, PolicyParams};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("realistic", String::as_str);
    let keep = args.get(1).map_or("all", String::as_str);
    let passes: usize = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(3);
    let flags = args.get(3..).unwrap_or_default();
    let dump = flags.iter().any(|f| f == "dump");
    let no_classifier = flags.iter().any(|f| f == "no-classifier");
    let messages = match which {
        "long" => mix::long_mix(40),
        _ => mix::message_mix(2_000),
    };
    let mut config = template("strict").expect("the strict template exists");
    if keep != "all" {
        let ids: Vec<&str> = keep.split(',').collect();
        for policy in &mut config.policies {
            policy.enabled = ids.contains(&policy.id.as_str());
        }
    }
    if no_classifier {
        for policy in &mut config.policies {
            match &mut policy.params {
                PolicyParams::PromptInjection(p) => p.sensitivity = Sensitivity::Off,
                PolicyParams::Jailbreak(p) => p.sensitivity = Sensitivity::Off,
                PolicyParams::Leakage(p) => p.sensitivity = Sensitivity::Off,
                _ => {}
            }
        }
    }
    let compiled = CompiledPolicySet::compile(&config).expect("the set compiles");
    let bytes: usize = messages.iter().map(|(_, t)| t.len()).sum();
    for pass in 0..passes {
        let start = Instant::now();
        for (role, text) in &messages {
            let evaluation = compiled.evaluate(&MessageInput::new(*role, text));
            if dump && pass == 0 {
                println!(
                    "{}",
                    serde_json::to_string(&evaluation).expect("serialises")
                );
            }
            black_box(evaluation);
        }
        let elapsed = start.elapsed();
        eprintln!(
            "{which} mix, {keep}{}: {} bytes in {:.1} ms, {:.1} MB/s",
            if no_classifier { ", no classifier" } else { "" },
            bytes,
            elapsed.as_secs_f64() * 1e3,
            bytes as f64 / elapsed.as_secs_f64() / 1e6
        );
    }
}

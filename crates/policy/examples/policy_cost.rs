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
//! policy ids to keep enabled, the number of passes (default 3), and `dump` to print every
//! evaluation (for comparing verdicts between builds). Prints the time per pass and MB/s.

#[path = "../benches/mix.rs"]
#[allow(dead_code)]
mod mix;

use std::hint::black_box;
use std::time::Instant;

use logwarden_policy::{template, CompiledPolicySet, MessageInput};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("realistic", String::as_str);
    let keep = args.get(1).map_or("all", String::as_str);
    let passes: usize = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(3);
    let dump = args.get(3).is_some_and(|d| d == "dump");
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
            "{which} mix, {keep}: {} bytes in {:.1} ms, {:.1} MB/s",
            bytes,
            elapsed.as_secs_f64() * 1e3,
            bytes as f64 / elapsed.as_secs_f64() / 1e6
        );
    }
}

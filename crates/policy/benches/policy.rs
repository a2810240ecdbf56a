//! Policy engine throughput on one core: the `default` and `strict` sets over two generated
//! mixes (`mix.rs`): the realistic mix of chat-sized messages (prose, code, JSON, a few
//! hits), reported as bytes/s and messages/s, and the long mix of 10–50 KB agent
//! transcripts, tool results, pasted documents and code, reported as bytes/s; the time to
//! compile a set; and the memory a compiled set holds (resident-set growth per set, read
//! from /proc/self/statm on Linux).

mod mix;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logwarden_policy::{template, CompiledPolicySet, MessageInput, PolicySetConfig};
use mix::{long_mix, message_mix};

fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn set(id: &str) -> PolicySetConfig {
    template(id).unwrap_or_default()
}

fn report_compiled_size() {
    // Sets stay alive until the end so that freed memory is never reused by a later round.
    let mut alive: Vec<CompiledPolicySet> = Vec::new();
    let sample = message_mix(50);
    for id in ["default", "strict"] {
        let config = set(id);
        let before = resident_bytes();
        let count = 10;
        for _ in 0..count {
            if let Ok(compiled) = CompiledPolicySet::compile(&config) {
                // Evaluate so that lazily built regex caches are counted too.
                for (role, text) in &sample {
                    black_box(compiled.evaluate(&MessageInput::new(*role, text)));
                }
                alive.push(compiled);
            }
        }
        let after = resident_bytes();
        if let (Some(b), Some(a)) = (before, after) {
            println!("compiled `{id}` set: ~{} KiB resident each (RSS growth over {count} sets, caches warmed)", a.saturating_sub(b) / 1024 / count);
        }
    }
    black_box(&alive);
}

fn benches(c: &mut Criterion) {
    report_compiled_size();
    let mix = message_mix(2_000);
    let bytes: usize = mix.iter().map(|(_, t)| t.len()).sum();
    println!("message mix: {} messages, {} bytes", mix.len(), bytes);
    let long = long_mix(40);
    let long_bytes: usize = long.iter().map(|(_, t)| t.len()).sum();
    println!("long mix: {} messages, {} bytes", long.len(), long_bytes);

    for id in ["default", "strict"] {
        let compiled = match CompiledPolicySet::compile(&set(id)) {
            Ok(c) => c,
            Err(e) => panic!("template {id} does not compile: {e}"),
        };
        let mut group = c.benchmark_group(format!("evaluate_{id}"));
        group
            .measurement_time(Duration::from_secs(4))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(10);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("bytes", |b| {
            b.iter(|| {
                for (role, text) in &mix {
                    black_box(compiled.evaluate(&MessageInput::new(*role, text)));
                }
            })
        });
        group.throughput(Throughput::Elements(mix.len() as u64));
        group.bench_function("messages", |b| {
            b.iter(|| {
                for (role, text) in &mix {
                    black_box(compiled.evaluate(&MessageInput::new(*role, text)));
                }
            })
        });
        group.throughput(Throughput::Bytes(long_bytes as u64));
        group.bench_function("long_bytes", |b| {
            b.iter(|| {
                for (role, text) in &long {
                    black_box(compiled.evaluate(&MessageInput::new(*role, text)));
                }
            })
        });
        group.finish();
    }

    let mut group = c.benchmark_group("compile");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(10);
    for id in ["default", "strict"] {
        let config = set(id);
        group.bench_function(id, |b| {
            b.iter_batched(
                || config.clone(),
                |cfg| black_box(CompiledPolicySet::compile(&cfg)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(policy, benches);
criterion_main!(policy);

//! Commands for trying and measuring logwarden: the all-in-one demo and the benchmarks.

pub mod bench;
pub mod bench_budget;
pub mod bench_investigation;
pub mod bench_pump;
pub mod demo;

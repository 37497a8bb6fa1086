//! Shared code of the benchmarks.

pub mod heap_timer;
pub mod stack_lab;

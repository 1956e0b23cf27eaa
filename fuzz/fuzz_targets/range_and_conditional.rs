//! Fuzz target: see `wasibin::fuzzing::range_and_conditional`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasibin::fuzzing::range_and_conditional(data));

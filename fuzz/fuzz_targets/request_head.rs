//! Fuzz target: see `wasibin::fuzzing::request_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasibin::fuzzing::request_head(data));

//! Fuzz target: see `wasibin::fuzzing::request_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasibin::fuzzing::request_path(data));

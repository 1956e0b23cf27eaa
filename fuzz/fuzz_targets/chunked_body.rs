//! Fuzz target: see `wasibin::fuzzing::chunked_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasibin::fuzzing::chunked_body(data));

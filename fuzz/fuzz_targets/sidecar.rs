//! Fuzz target: see `wasibin::fuzzing::sidecar`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasibin::fuzzing::sidecar(data));

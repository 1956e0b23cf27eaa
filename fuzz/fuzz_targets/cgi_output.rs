//! Fuzz target: see `wasibin::fuzzing::cgi_output`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasibin::fuzzing::cgi_output(data));

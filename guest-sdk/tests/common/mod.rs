//! What the SDK test files share.

/// A missing toolchain skips the test with a note, except in CI
/// (`WASIBIN_REQUIRE_ALL_TOOLCHAINS=1`), where it fails.
pub fn skip(why: &str) {
    assert!(
        std::env::var("WASIBIN_REQUIRE_ALL_TOOLCHAINS").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("{why}");
}

//! Link flags for the wasm32-wasip1 module, set here rather than in the
//! environment so that any `cargo build` of this crate, the host's nested
//! one included, links the same module.

/// The wasm shadow stack (linear memory) for QuickJS's recursive C
/// evaluator. QuickJS-ng does no stack-depth check on WASI (its
/// `JS_SetMaxStackSize` is a no-op there), so this size is the recursion
/// limit: rustc's wasm targets put the stack first in memory, and running
/// past it is an out-of-bounds trap, never a write over the heap.
const STACK_SIZE: u32 = 1 << 20;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-link-arg-bins=-zstack-size={STACK_SIZE}");
        // Debug sections of the C and Rust code are most of an unstripped
        // module; the name section stays, for readable traps.
        println!("cargo:rustc-link-arg-bins=--strip-debug");
    }
}

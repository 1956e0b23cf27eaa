//! What one request's `Store` holds: the guest's WASI context, its
//! environment block and its memory cap. Kept apart from the code that runs
//! a request so that the linker, the module checks and the environment
//! functions can name the state without depending on the runner.

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

use super::environ::{EnvBlock, GuestEnv};
use super::limiter::MemoryCap;

/// The state of one request's store.
pub(crate) struct StoreState {
    wasi: WasiP1Ctx,
    /// The environment, served by `environ.rs`, not by `wasi`.
    env: EnvBlock,
    limiter: MemoryCap,
}

impl StoreState {
    /// The state a guest runs with.
    pub(super) fn new(wasi: WasiP1Ctx, env: EnvBlock, limiter: MemoryCap) -> Self {
        Self { wasi, env, limiter }
    }

    /// The state of a store that never runs a guest (listing linker items).
    pub(super) fn empty() -> Self {
        Self::new(
            WasiCtxBuilder::new().build_p1(),
            EnvBlock::default(),
            MemoryCap::for_module(0),
        )
    }

    pub(super) fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }

    pub(super) fn limiter(&mut self) -> &mut MemoryCap {
        &mut self.limiter
    }

    /// Whether the guest asked for more memory than its cap.
    pub(super) fn memory_cap_hit(&self) -> bool {
        self.limiter.hit()
    }
}

impl GuestEnv for StoreState {
    fn env_block(&self) -> &EnvBlock {
        &self.env
    }
}

//! What one request's `Store` holds when it runs a component, for both
//! kinds: the WASI 0.2 context, the wasi:http context, the resource table
//! they share, the outbound-request policy and the memory cap.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limiter::MemoryCap;
use super::outbound::OutboundPolicy;

/// The state of one component run.
pub(crate) struct ComponentState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: OutboundPolicy,
    limiter: MemoryCap,
}

impl ComponentState {
    /// The state a guest runs with.
    pub(super) fn new(wasi: WasiCtx, outbound: OutboundPolicy, max_memory: usize) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound,
            limiter: MemoryCap::for_component(max_memory),
        }
    }

    pub(super) fn limiter(&mut self) -> &mut MemoryCap {
        &mut self.limiter
    }

    /// Whether the guest asked for more memory than its cap.
    pub(super) fn memory_cap_hit(&self) -> bool {
        self.limiter.hit()
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

//! The per-instance memory cap. The pool is sized for the largest plugin;
//! each request's `Store` carries its own plugin's (smaller) cap, and records
//! that the cap was hit so the trap that usually follows (a Rust guest aborts
//! on allocation failure) is reported as "out of memory", not a crash.
//!
//! The cap is on the sum of a store's linear memories: a p1 module has one,
//! a component one per core module that defines one (wasm-component-ld,
//! componentize-py and componentize-js all produce one today).

use wasmtime::ResourceLimiter;

/// Caps the linear memory of one store at a plugin's `max_memory`.
#[derive(Debug)]
pub(super) struct MemoryCap {
    max_memory: usize,
    /// Bytes granted so far across the store's memories.
    total: usize,
    /// How many memories the store may hold.
    max_memories: usize,
    hit: bool,
}

impl MemoryCap {
    /// A cap for a store running one core module.
    pub(super) fn for_module(max_memory: usize) -> Self {
        Self::with_memories(max_memory, 1)
    }

    /// A cap for a store running one component, whose count of memories is
    /// bounded by the pool's per-component limit instead.
    pub(super) fn for_component(max_memory: usize) -> Self {
        Self::with_memories(max_memory, wasmtime::DEFAULT_MEMORY_LIMIT)
    }

    fn with_memories(max_memory: usize, max_memories: usize) -> Self {
        Self {
            max_memory,
            total: 0,
            max_memories,
            hit: false,
        }
    }

    /// Whether a growth (or the initial allocation) was refused.
    pub(super) fn hit(&self) -> bool {
        self.hit
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = self.total.saturating_add(desired.saturating_sub(current));
        if grown > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        self.total = grown;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The pool's per-table element count is the bound.
        Ok(true)
    }

    fn memories(&self) -> usize {
        self.max_memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_cap_is_refused_and_remembered() {
        let mut cap = MemoryCap::for_module(1 << 20);
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!cap.hit());
        assert!(!cap.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(cap.hit());
    }

    #[test]
    fn a_components_memories_share_one_cap() {
        let mut cap = MemoryCap::for_component(3 << 20);
        assert!(cap.memory_growing(0, 2 << 20, None).unwrap());
        assert!(!cap.memory_growing(0, 2 << 20, None).unwrap());
        assert!(cap.hit());
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
    }
}

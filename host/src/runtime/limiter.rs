//! The per-instance memory cap. The pool is sized for the largest plugin;
//! each request's `Store` carries its own plugin's (smaller) cap, and records
//! that the cap was hit so the trap that usually follows (a Rust guest aborts
//! on allocation failure) is reported as "out of memory", not a crash.

use wasmtime::ResourceLimiter;

/// Caps linear memory growth at a plugin's `max_memory`.
#[derive(Debug)]
pub(super) struct MemoryCap {
    max_memory: usize,
    hit: bool,
}

impl MemoryCap {
    pub(super) fn new(max_memory: usize) -> Self {
        Self {
            max_memory,
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
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
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
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_cap_is_refused_and_remembered() {
        let mut cap = MemoryCap::new(1 << 20);
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!cap.hit());
        assert!(!cap.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(cap.hit());
    }
}

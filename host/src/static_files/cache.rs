//! A bounded map from request path to file snapshot.
//!
//! Keyed by the raw (still-encoded) request path: resolution is a pure
//! function of it, so a hit skips decoding and validation entirely, and
//! entries are revalidated against the disk on every use anyway. Differently
//! encoded spellings of one file simply take separate entries.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::snapshot::Snapshot;

/// At most this many paths are remembered.
pub(crate) const MAX_ENTRIES: usize = 4096;
/// At most this many bytes of file content (and bookkeeping) are held.
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The snapshot cache, shared by all workers.
#[derive(Debug)]
pub(crate) struct Cache {
    inner: RwLock<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Box<str>, (Arc<Snapshot>, usize)>,
    bytes: usize,
}

impl Cache {
    /// An empty cache with the given bounds.
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Cache {
        Cache {
            inner: RwLock::new(Inner::default()),
            max_entries,
            max_bytes,
        }
    }

    /// The snapshot for `key`, if any (possibly stale: callers revalidate).
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Snapshot>> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // map itself is always consistent, so keep using it.
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.map.get(key).map(|(entry, _)| Arc::clone(entry))
    }

    /// Remember `entry` for `key`, evicting others to stay within bounds.
    /// Eviction is arbitrary (hash order, i.e. effectively random): cheap, no
    /// per-hit bookkeeping, and a scan of junk paths cannot pin good entries.
    pub(crate) fn insert(&self, key: &str, entry: Arc<Snapshot>) {
        let cost = entry.cost() + key.len();
        if cost > self.max_bytes {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some((_, old)) = inner.map.remove(key) {
            inner.bytes -= old;
        }
        while !inner.map.is_empty()
            && (inner.map.len() >= self.max_entries || inner.bytes + cost > self.max_bytes)
        {
            let Some(victim) = inner.map.keys().next().cloned() else {
                break;
            };
            if let Some((_, old)) = inner.map.remove(&victim) {
                inner.bytes -= old;
            }
        }
        inner.bytes += cost;
        inner.map.insert(key.into(), (entry, cost));
    }

    /// Number of entries (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.read().map(|i| i.map.len()).unwrap_or(0)
    }

    /// Bytes accounted (for tests).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner.read().map(|i| i.bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::confine::Confinement;
    use super::super::snapshot::{load, Resolution};
    use super::*;

    fn entry(c: &Confinement, raw: &str) -> Arc<Snapshot> {
        match load(c, raw) {
            Resolution::Found(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!("f{i}")), vec![b'x'; 1000]).unwrap();
        }
        let c = Confinement::new(dir.path(), vec![]).unwrap();
        let cache = Cache::new(4, usize::MAX);
        for i in 0..10 {
            cache.insert(&format!("/f{i}"), entry(&c, &format!("/f{i}")));
            assert!(cache.len() <= 4);
        }
        assert!(cache.get("/f9").is_some());

        let one = entry(&c, "/f0").cost() + 3;
        let cache = Cache::new(100, one * 3);
        for i in 0..10 {
            cache.insert(&format!("/f{i}"), entry(&c, &format!("/f{i}")));
            assert!(cache.bytes() <= one * 3);
        }
        assert_eq!(cache.len(), 3);
        cache.insert("/f9", entry(&c, "/f9"));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.bytes(), one * 3);

        let tiny = Cache::new(100, 10);
        tiny.insert("/f0", entry(&c, "/f0"));
        assert!(tiny.get("/f0").is_none());
    }
}

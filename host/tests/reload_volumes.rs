//! Hot reload on the volumes wasibin meets in Kubernetes: a ConfigMap volume,
//! updated exactly as kubelet updates one, with clients requesting every
//! route all along (not one request may fail), the same under `--watch
//! poll=`, and the fall back to polling when the folder cannot be watched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reload_support;
mod support;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use reload_support::*;
use support::{parse_response, send_raw};

/// ConfigMap updates under load.
const SWAPS: usize = 10;
/// Upper bound on each client's requests, so the test is bounded even if
/// the swaps stall.
const MAX_REQUESTS: usize = 50_000;
/// The routes the clients request all along.
const ROUTES: [&str; 2] = ["a", "b"];

/// A folder laid out and updated the way kubelet's `AtomicWriter` writes a
/// ConfigMap volume:
///
/// ```text
/// ..2026_12_01_14_00_00.0001/a.wasm    the payload, in a timestamped folder
/// ..data -> ..2026_12_01_14_00_00.0001
/// a.wasm -> ..data/a.wasm              one link per key
/// ```
///
/// An update writes a new timestamped folder, points a `..data_tmp` link at
/// it, renames that over `..data`, adds and removes the per-key links, and
/// deletes the old folder. The per-key links never change for a key that
/// stays: only the rename of `..data` says anything changed.
struct ConfigMapVolume {
    dir: PathBuf,
    generation: usize,
    keys: Vec<String>,
}

impl ConfigMapVolume {
    fn create(dir: &Path, files: &[(&str, Vec<u8>)]) -> ConfigMapVolume {
        let mut volume = ConfigMapVolume {
            dir: dir.to_owned(),
            generation: 0,
            keys: Vec::new(),
        };
        volume.update(files);
        volume
    }

    fn timestamped(generation: usize) -> String {
        format!("..2026_12_01_14_00_00.{generation:04}")
    }

    fn update(&mut self, files: &[(&str, Vec<u8>)]) {
        let old = (self.generation > 0).then(|| self.dir.join(Self::timestamped(self.generation)));
        self.generation += 1;
        let name = Self::timestamped(self.generation);
        let payload = self.dir.join(&name);
        fs::create_dir(&payload).unwrap();
        for (key, bytes) in files {
            fs::write(payload.join(key), bytes).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        symlink(&name, &tmp).unwrap();
        fs::rename(&tmp, self.dir.join("..data")).unwrap();
        let keys: Vec<String> = files.iter().map(|(k, _)| (*k).to_owned()).collect();
        for key in &keys {
            let link = self.dir.join(key);
            if fs::symlink_metadata(&link).is_err() {
                symlink(format!("..data/{key}"), &link).unwrap();
            }
        }
        for gone in self.keys.iter().filter(|k| !keys.contains(k)) {
            fs::remove_file(self.dir.join(gone)).unwrap();
        }
        self.keys = keys;
        if let Some(old) = old {
            fs::remove_dir_all(old).unwrap();
        }
    }
}

/// Both routes at generation `n`.
fn generation(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.wasm", version(&format!("a{n}"))),
        ("b.wasm", version(&format!("b{n}"))),
    ]
}

/// What one client saw on its route: versions in order, and failures.
#[derive(Default)]
struct Seen {
    versions: Vec<usize>,
    failures: Vec<String>,
}

/// Requests `/ROUTE` on fresh connections until `stop`; a connection error,
/// an incomplete answer, a non-200 or a body not wholly one version of this
/// route is a failure.
fn client(addr: SocketAddr, route: &'static str, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let raw = format!("GET /{route} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    while !stop.load(Ordering::Relaxed) && seen.versions.len() < MAX_REQUESTS {
        let reply = send_raw(addr, raw.as_bytes());
        let version = parse_response(&reply, false).and_then(|(resp, _)| {
            let n = tag_of(&resp.body)?.strip_prefix(route)?.parse().ok()?;
            (resp.status == 200).then_some(n)
        });
        match version {
            Some(n) => seen.versions.push(n),
            None => seen
                .failures
                .push(String::from_utf8_lossy(&reply[..reply.len().min(200)]).into_owned()),
        }
    }
    seen
}

/// Starts a site on a ConfigMap volume with `env`, swaps the volume
/// [`SWAPS`] times under load, then changes its keys.
fn swaps_under_load(env: &[(&str, &str)]) -> LiveSite {
    let mut volume = None;
    let site = LiveSite::start_with_env(
        |dir| volume = Some(ConfigMapVolume::create(dir, &generation(0))),
        env,
    );
    let mut volume = volume.unwrap();
    for route in ROUTES {
        site.wait_version(&format!("/{route}"), &format!("{route}0"));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = ROUTES
        .iter()
        .map(|&route| {
            let (addr, stop) = (site.addr(), Arc::clone(&stop));
            thread::spawn(move || client(addr, route, &stop))
        })
        .collect();
    let started = Instant::now();
    for n in 1..=SWAPS {
        volume.update(&generation(n));
        for route in ROUTES {
            site.wait_version(&format!("/{route}"), &format!("{route}{n}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for (route, client) in ROUTES.iter().zip(clients) {
        let seen = client.join().unwrap();
        assert!(
            seen.failures.is_empty(),
            "/{route}: {} failed requests, first: {:?}\n{}",
            seen.failures.len(),
            seen.failures[0],
            site.server.log()
        );
        assert!(!seen.versions.is_empty(), "/{route}: no request made");
        assert!(
            seen.versions.windows(2).all(|w| w[0] <= w[1]),
            "/{route} went back to an older version"
        );
        total += seen.versions.len();
    }
    eprintln!(
        "{total} requests, 0 failed, during {SWAPS} ConfigMap swaps in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for route in ROUTES {
        assert_eq!(
            site.log_count(&format!("plugin /{route} reloaded")),
            SWAPS,
            "/{route} reloads once per swap:\n{}",
            site.server.log()
        );
    }

    // A key added and one removed: the new link appears after the swap,
    // the removed one goes.
    volume.update(&[("a.wasm", version("afinal")), ("c.wasm", version("c0"))]);
    site.wait_version("/c", "c0");
    site.wait_version("/a", "afinal");
    site.wait_status("/b", 404);

    // The hidden entries never became routes, nor were they reported.
    let log = site.server.log();
    assert!(!log.contains("plugin /."), "{log}");
    assert!(!log.contains("refused"), "{log}");
    assert!(!log.contains("ignoring"), "{log}");
    site
}

#[test]
fn configmap_swaps_reload_every_changed_plugin_with_no_failed_request() {
    let site = swaps_under_load(&[]);
    assert!(
        !site.server.log().contains("polling"),
        "{}",
        site.server.log()
    );
}

/// The same swaps seen by polling alone, as on a network volume.
#[test]
fn polling_sees_the_configmap_swaps_too() {
    let site = swaps_under_load(&[("WASIBIN_WATCH", "poll=0.2")]);
    site.wait_log(&format!(
        "watching {} by polling every 200ms",
        site.plugins.display()
    ));
}

/// A folder that cannot be watched (here: missing at start) is polled
/// instead, with a log line saying so, and changes still arrive.
#[test]
fn an_unwatchable_folder_is_polled() {
    let site = LiveSite::start(|dir| fs::remove_dir(dir).unwrap());
    site.wait_log(&format!(
        "cannot watch the plugins folder {} for changes; polling it every 2s instead",
        site.plugins.display()
    ));
    fs::create_dir(&site.plugins).unwrap();
    write_atomic(&site.path("late.wasm"), &version("late1"));
    site.wait_version("/late", "late1");
}

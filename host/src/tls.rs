//! HTTPS with rustls: the certificate and key from PEM files, HTTP/1.1
//! offered by ALPN, and a certificate that can be replaced while the server
//! runs (on SIGHUP, or when the files change, as cert-manager or certbot
//! replace them) without dropping a connection: a new handshake gets the
//! new certificate, connections already open keep theirs.
//!
//! The files are polled (a `stat` of each every [`POLL_INTERVAL`]) rather
//! than watched with inotify: a Kubernetes secret or a certbot renewal
//! replaces them by swapping symlinks, which a watch on the files misses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;

use crate::bounded_file;
use crate::file_stamp::FileStamp;

/// How often the certificate files are looked at for a change.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Largest PEM file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub(crate) cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
}

/// The certificate handshakes are answered with, replaceable at run time.
#[derive(Debug)]
pub(crate) struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// The files' stamps when `current` was read from them.
    stamps: std::sync::Mutex<(Option<FileStamp>, Option<FileStamp>)>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl Certificates {
    /// Reads and checks the files; the error says which file and why, in
    /// one line.
    pub(crate) fn load(files: TlsFiles) -> Result<Arc<Certificates>, String> {
        let provider = Arc::new(ring::default_provider());
        let stamps = stamps(&files);
        let key = read_pair(&files, &provider)?;
        Ok(Arc::new(Certificates {
            files,
            provider,
            current: ArcSwap::from_pointee(key),
            stamps: std::sync::Mutex::new(stamps),
        }))
    }

    /// The rustls configuration of the listener: TLS 1.2 and 1.3, no
    /// client certificates, ALPN `http/1.1`.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, String> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Re-reads the files; a bad new pair is logged and the old one kept.
    pub(crate) fn reload(&self) {
        *self
            .stamps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stamps(&self.files);
        match read_pair(&self.files, &self.provider) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                tracing::info!(
                    "TLS certificate reloaded from {}",
                    self.files.cert.display()
                );
            }
            Err(reason) => tracing::warn!("{reason}; the previous certificate stays in use"),
        }
    }

    /// Reloads when either file changed since it was last read.
    pub(crate) fn reload_if_changed(&self) {
        let now = stamps(&self.files);
        let changed = *self
            .stamps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            != now;
        if changed {
            self.reload();
        }
    }
}

/// Reload `certs` on SIGHUP and when their files change, until shutdown.
/// The SIGHUP stream is this task's own: the plugin folder's reloader gets
/// every delivery as well.
pub(crate) async fn watch(
    certs: Arc<Certificates>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!(error = %e, "cannot handle SIGHUP for the TLS certificate; its files are still watched"))
        .ok();
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            Some(()) = async { match &mut hangup { Some(h) => h.recv().await, None => std::future::pending().await } } => certs.reload(),
            _ = poll.tick() => certs.reload_if_changed(),
        }
    }
}

fn stamps(files: &TlsFiles) -> (Option<FileStamp>, Option<FileStamp>) {
    (FileStamp::at(&files.cert), FileStamp::at(&files.key))
}

fn read_pair(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let cert_pem = bounded_file::read(&files.cert, MAX_PEM_BYTES)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate {}: {e}", files.cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {}: no CERTIFICATE block in it",
            files.cert.display()
        ));
    }
    let key_pem = bounded_file::read(&files.key, MAX_PEM_BYTES)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("TLS key {}: {e}", files.key.display()))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        format!(
            "TLS key {} does not go with certificate {}: {e}",
            files.key.display(),
            files.cert.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn write_pair(dir: &Path, name: &str) -> TlsFiles {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        fs::write(&files.cert, cert.cert.pem()).unwrap();
        fs::write(&files.key, cert.signing_key.serialize_pem()).unwrap();
        files
    }

    #[test]
    fn a_matching_pair_loads_and_a_broken_one_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_pair(dir.path(), "a");
        assert!(Certificates::load(good.clone()).is_ok());

        let other = write_pair(dir.path(), "b");
        let mismatched = TlsFiles {
            cert: good.cert.clone(),
            key: other.key.clone(),
        };
        let err = Certificates::load(mismatched).unwrap_err();
        assert!(err.contains("does not go with"), "{err}");

        let not_pem = dir.path().join("junk.pem");
        fs::write(&not_pem, b"hello").unwrap();
        let err = Certificates::load(TlsFiles {
            cert: not_pem.clone(),
            key: good.key.clone(),
        })
        .unwrap_err();
        assert!(
            err.contains("junk.pem") && err.contains("no CERTIFICATE"),
            "{err}"
        );
        let err = Certificates::load(TlsFiles {
            cert: good.cert.clone(),
            key: not_pem,
        })
        .unwrap_err();
        assert!(err.starts_with("TLS key"), "{err}");
        let err = Certificates::load(TlsFiles {
            cert: dir.path().join("missing.crt"),
            key: good.key,
        })
        .unwrap_err();
        assert!(
            err.contains("cannot open") && err.contains("missing.crt"),
            "{err}"
        );
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_old_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "a");
        let certs = Certificates::load(files.clone()).unwrap();
        let first = certs.current.load_full();

        certs.reload_if_changed();
        assert!(
            Arc::ptr_eq(&first, &certs.current.load_full()),
            "unchanged files"
        );

        let next = write_pair(dir.path(), "next");
        fs::rename(&next.cert, &files.cert).unwrap();
        fs::rename(&next.key, &files.key).unwrap();
        certs.reload_if_changed();
        let second = certs.current.load_full();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_ne!(first.cert, second.cert);

        fs::write(&files.key, b"broken").unwrap();
        certs.reload_if_changed();
        assert!(Arc::ptr_eq(&second, &certs.current.load_full()));
    }
}

//! HTTPS end to end: a certificate made for the test (rcgen), a rustls
//! client, the real binary. The same site and plugins over TLS, the CGI
//! variables Apache sets, keep-alive, the certificate replaced while a
//! connection stays open, a plain-HTTP client on the TLS port, a silent
//! one, and bad certificate files at start-up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugins_support::*;
use support::*;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A self-signed certificate for `localhost` and its key, as PEM files.
struct Pair {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn make_pair(dir: &Path, name: &str) -> Pair {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    Pair {
        cert,
        key,
        der: issued.cert.der().clone(),
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection trusting only `roots`, offering ALPN http/1.1.
fn connect_tls(addr: SocketAddr, roots: &[&CertificateDer<'static>]) -> Tls {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = connect(addr);
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

/// One request on `tls`, kept alive; the parsed answer.
fn exchange(tls: &mut Tls, path: &str) -> Resp {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    tls.flush().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some((resp, _)) = parse_response(&got, false) {
            return resp;
        }
        let n = tls.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed mid-answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

fn tls_site() -> Site {
    let site = Site::new();
    site.plugin("echo", &echo())
        .static_file("index.html", b"<!DOCTYPE html><title>secure</title>\n")
        .static_file("big.bin", &vec![b'x'; 3 << 20]);
    site
}

fn start(site: &Site, pair: &Pair, extra: &[&str]) -> Server {
    let mut args = vec![
        "--tls-cert",
        pair.cert.to_str().unwrap(),
        "--tls-key",
        pair.key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    site.start(&args)
}

#[test]
fn the_site_and_its_plugins_answer_over_https_with_apaches_variables() {
    let dir = tempdir();
    let pair = make_pair(dir.path(), "server");
    let site = tls_site();
    let server = start(&site, &pair, &[]);
    assert!(server.log().contains("at https://"), "{}", server.log());

    let mut tls = connect_tls(server.addr, &[&pair.der]);
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let page = exchange(&mut tls, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<title>secure</title>"));
    // Same connection: keep-alive over TLS, a plugin this time.
    let env = exchange(&mut tls, "/echo/x?a=1").text();
    assert!(env.contains("\nHTTPS=on\n"), "{env}");
    assert!(env.contains("\nREQUEST_SCHEME=https\n"), "{env}");
    assert!(env.contains("X_FULL_URL=https://localhost:"), "{env}");
    // A file larger than any buffer, which plain TCP would sendfile.
    let big = exchange(&mut tls, "/big.bin");
    assert_eq!(big.body.len(), 3 << 20);
    assert!(big.body.iter().all(|&b| b == b'x'));
}

#[test]
fn a_plain_http_client_on_the_tls_port_is_told_so_at_once() {
    let dir = tempdir();
    let pair = make_pair(dir.path(), "server");
    let site = tls_site();
    let server = start(&site, &pair, &[]);
    let started = Instant::now();
    let reply = send_raw(server.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (resp, _) = parse_response(&reply, false).expect("a plain-text answer");
    assert_eq!(resp.status, 400);
    assert!(resp.text().contains("HTTPS"), "{}", resp.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_that_never_starts_its_handshake_is_dropped_at_the_header_timeout() {
    let dir = tempdir();
    let pair = make_pair(dir.path(), "server");
    let site = tls_site();
    let server = start(&site, &pair, &["--header-timeout", "1"]);
    let mut silent = connect(server.addr);
    let started = Instant::now();
    let got = read_to_close(&mut silent);
    assert!(got.is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // The server serves on.
    let mut tls = connect_tls(server.addr, &[&pair.der]);
    assert_eq!(exchange(&mut tls, "/").status, 200);
}

#[test]
fn a_replaced_certificate_serves_new_handshakes_and_open_connections_stay() {
    let dir = tempdir();
    let live = make_pair(dir.path(), "live");
    let site = tls_site();
    let server = start(&site, &live, &[]);
    let mut old = connect_tls(server.addr, &[&live.der]);
    assert_eq!(exchange(&mut old, "/").status, 200);

    // The way certbot and Kubernetes do it: new files renamed over the old.
    let next = make_pair(dir.path(), "next");
    std::fs::rename(&next.key, &live.key).unwrap();
    std::fs::rename(&next.cert, &live.cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let tls = connect_tls(server.addr, &[&live.der, &next.der]);
        let presented = tls.conn.peer_certificates().unwrap()[0].clone();
        if presented == next.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.wait_for_log("TLS certificate reloaded", Duration::from_secs(5)));
    assert_eq!(
        exchange(&mut old, "/").status,
        200,
        "the open connection stays"
    );

    // SIGHUP reloads too; a broken key on reload keeps the working pair.
    std::fs::write(&live.key, b"not a key").unwrap();
    server.signal("HUP");
    assert!(server.wait_for_log(
        "the previous certificate stays in use",
        Duration::from_secs(5)
    ));
    let tls = connect_tls(server.addr, &[&next.der]);
    assert_eq!(tls.conn.peer_certificates().unwrap()[0], next.der);
}

#[test]
fn bad_certificate_files_stop_the_start_with_one_line() {
    let dir = tempdir();
    let good = make_pair(dir.path(), "good");
    let other = make_pair(dir.path(), "other");
    let missing = dir.path().join("missing.pem");
    let cases: [(&Path, &Path, &str); 3] = [
        (&missing, &good.key, "missing.pem"),
        (&good.cert, &other.key, "does not go with"),
        (&good.key, &good.key, "no CERTIFICATE"),
    ];
    for (cert, key, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_wasibin"))
            .args(["--quiet", "--bind", "127.0.0.1", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .arg("0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_wasibin"))
        .args(["--tls-cert", good.cert.to_str().unwrap(), "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a certificate without its key");
}

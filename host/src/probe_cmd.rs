//! `wasibin probe URL`: one `GET` over plain HTTP, exit 0 on a 2xx answer
//! and 1 otherwise. A container image built `FROM scratch` has no shell and
//! no curl, so its `HEALTHCHECK` runs the binary it already has against the
//! admin listener (`wasibin probe http://127.0.0.1:9090/healthz`).
//!
//! Deliberately tiny: no TLS, no redirects, no body; the status line is all
//! a health check needs, and every step is bounded by `--timeout`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;

/// Most bytes read looking for the end of the status line.
const MAX_STATUS_LINE: usize = 1024;

/// What `wasibin probe` asks.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// `http://HOST[:PORT]/PATH` to GET (plain HTTP only).
    pub(crate) url: ProbeUrl,

    /// Seconds the whole exchange may take before the probe fails.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub(crate) timeout: f64,
}

/// A parsed `http://` URL: where to connect, what to send as `Host`, the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeUrl {
    authority: String,
    path: String,
}

impl FromStr for ProbeUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<ProbeUrl, String> {
        let rest = s
            .strip_prefix("http://")
            .ok_or("expected an http:// URL (the probe speaks plain HTTP)")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err("the URL has no host".to_owned());
        }
        let path = if path.is_empty() { "/" } else { path };
        if !path.bytes().all(|b| b.is_ascii_graphic())
            || !authority.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err("the URL has spaces or control characters".to_owned());
        }
        Ok(ProbeUrl {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl ProbeUrl {
    /// The socket addresses the authority names (port 80 when none is given).
    fn addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let with_port = match self.authority.rsplit_once(':') {
            Some((_, port)) if !port.contains(']') => self.authority.clone(),
            _ => format!("{}:80", self.authority),
        };
        let addrs: Vec<_> = with_port
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {}", self.authority))?
            .collect();
        if addrs.is_empty() {
            bail!("{} resolves to no address", self.authority);
        }
        Ok(addrs)
    }
}

/// Runs the probe: prints the status on stdout and exits 0 for 2xx; prints
/// why on stderr and exits 1 otherwise.
pub fn main(args: &ProbeArgs) -> ExitCode {
    let url = format!("http://{}{}", args.url.authority, args.url.path);
    let result = Duration::try_from_secs_f64(args.timeout)
        .context("the timeout must be a positive number of seconds")
        .and_then(|timeout| status_of(&args.url, timeout));
    match result {
        Ok(status) if (200..300).contains(&status) => {
            println!("{url}: {status}");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!("wasibin probe: {url}: {status}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("wasibin probe: {url}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The status code `GET url` answers within `timeout`.
fn status_of(url: &ProbeUrl, timeout: Duration) -> anyhow::Result<u16> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .context("timed out")
    };
    let addr = url.addrs()?[0];
    let mut stream = TcpStream::connect_timeout(&addr, left()?)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_write_timeout(Some(left()?))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: wasibin-probe\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    stream.write_all(request.as_bytes()).context("sending")?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < MAX_STATUS_LINE {
        stream.set_read_timeout(Some(left()?))?;
        match stream.read(&mut buf).context("reading the answer")? {
            0 => bail!("the connection closed before a status line"),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    parse_status_line(&head).context("the answer does not start with an HTTP status line")
}

/// The status code of `HTTP/1.x NNN ...`.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    let version = words.next()?;
    let code = words.next()?.trim_end();
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Result<ProbeUrl, String> {
        s.parse()
    }

    #[test]
    fn urls_name_an_authority_and_a_path() {
        let u = url("http://127.0.0.1:9090/healthz").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("127.0.0.1:9090", "/healthz")
        );
        let u = url("http://localhost").unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("localhost", "/"));
        assert_eq!(
            url("http://[::1]:9090/readyz").unwrap().addrs().unwrap()[0].port(),
            9090
        );
        assert_eq!(
            url("http://127.0.0.1/").unwrap().addrs().unwrap()[0].port(),
            80
        );
        for bad in [
            "https://x/",
            "127.0.0.1:9090",
            "http:///x",
            "http://a b/",
            "http://x/\r\n",
        ] {
            assert!(url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\nx"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204\r\n"), Some(204));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), None);
    }
}

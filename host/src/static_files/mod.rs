//! The static site: safe path resolution, index pages, the 404 page, MIME
//! types, validators, ranges and precompressed siblings.
//!
//! The hot path is a cache hit: one map look-up, one `stat` of the file
//! (revalidation; plus one of its folder when the client negotiates an
//! encoding), then a response built from precomputed header values and a
//! reference-counted body. Everything that touches the
//! disk harder (open, confinement check, read) runs on a cache miss only.

mod cache;
mod cache_control;
mod conditional;
mod confine;
mod encoding;
mod range;
mod resolve;
mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::http::{Body, FileBody, Request, Response};
use cache::Cache;
pub(crate) use cache_control::CachePolicy;
use conditional::Precondition;
pub(crate) use conditional::Validators;
use confine::Confinement;
use encoding::Coding;
pub(crate) use range::{evaluate as evaluate_range, RangeOutcome};
pub(crate) use resolve::UrlPath;
use snapshot::{Representation, Resolution, Snapshot, Source};

/// The methods a static resource supports, for `Allow`. OPTIONS is listed
/// because we answer it.
const ALLOW: &str = "GET, HEAD, OPTIONS";

/// The custom 404 page, looked up in the root like any file.
const NOT_FOUND_PAGE: &str = "/404.html";

/// The page sent with 404 when the site has no `404.html`.
const BUILTIN_404: &[u8] = b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>\n<body><h1>404 Not Found</h1><p>There is nothing at this address.</p></body></html>\n";

/// How often a request retries building a snapshot of a file that keeps
/// changing under it before answering 503.
const LOAD_ATTEMPTS: usize = 3;

/// The static file service for one root folder.
#[derive(Debug, Clone)]
pub(crate) struct StaticFiles {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    confinement: Confinement,
    cache: Cache,
    cache_policy: CachePolicy,
}

impl StaticFiles {
    /// Serve `root` (canonicalised; it must exist). `exclude` are folders
    /// never served even if under root: the plugins folder, so `.wasm` files
    /// and their sidecars are never static content. `cache_policy` says
    /// which `Cache-Control` each path's answers carry.
    pub(crate) fn new(
        root: &Path,
        exclude: Vec<PathBuf>,
        cache_policy: CachePolicy,
    ) -> anyhow::Result<StaticFiles> {
        Ok(StaticFiles {
            inner: Arc::new(Inner {
                confinement: Confinement::new(root, exclude)?,
                cache: Cache::new(cache::MAX_ENTRIES, cache::MAX_BYTES),
                cache_policy,
            }),
        })
    }

    /// Answer a request for a static path. GET and HEAD serve; OPTIONS
    /// answers 204 with `Allow`; other registered methods get 405 and unknown
    /// method tokens 501, both with `Allow`.
    pub(crate) async fn serve(&self, req: &Request) -> Response {
        let mut response = self.resolve_and_answer(req).await;
        self.inner.cache_policy.apply(&req.path, &mut response);
        response
    }

    async fn resolve_and_answer(&self, req: &Request) -> Response {
        match req.method.as_str() {
            "GET" | "HEAD" => {}
            "OPTIONS" => return with_allow(Response::new(204)),
            "POST" | "PUT" | "DELETE" | "PATCH" | "CONNECT" | "TRACE" => {
                return with_allow(Response::error_page(405))
            }
            _ => return with_allow(Response::error_page(501)),
        }
        if let Some(entry) = self.inner.cache.get(&req.path) {
            if let Some(response) = respond(&entry, req) {
                return response;
            }
        }
        for _ in 0..LOAD_ATTEMPTS {
            let inner = Arc::clone(&self.inner);
            let raw = req.path.clone();
            // A miss opens, checks and reads files, which may wait on the
            // disk: keep that off the async workers.
            let lookup =
                tokio::task::spawn_blocking(move || snapshot::load(&inner.confinement, &raw)).await;
            match lookup {
                Ok(Resolution::Found(entry)) => {
                    self.inner.cache.insert(&req.path, Arc::clone(&entry));
                    if let Some(response) = respond(&entry, req) {
                        return response;
                    }
                }
                Ok(Resolution::Folder(url)) => {
                    let mut response = Response::error_page(301);
                    response.headers.push_slices(
                        "Location",
                        url.folder_location(req.query.as_deref()).as_bytes(),
                    );
                    return response;
                }
                Ok(Resolution::NotFound) => return self.not_found(req),
                Ok(Resolution::BadPath(e)) => {
                    tracing::debug!(id = %req.id, path = %req.path, "refused path: {e}");
                    return Response::error_page(400);
                }
                Err(e) => {
                    tracing::error!(id = %req.id, path = %req.path, "static file look-up failed: {e}");
                    return Response::error_page(500);
                }
            }
        }
        tracing::warn!(id = %req.id, path = %req.path, "file kept changing while being served");
        Response::error_page(503)
    }

    /// The 404 page (the root's `404.html`, else a built-in one) with status
    /// 404. Usually a cache hit; the first call reads the page on the calling
    /// thread, which is acceptable for one small file.
    pub(crate) fn not_found(&self, _req: &Request) -> Response {
        let mut response = Response::new(404);
        match self.not_found_page() {
            Some((source, entry)) => {
                let len = entry.original.len();
                response
                    .headers
                    .push_slices("Content-Type", entry.content_type.as_bytes());
                response.body = body(source, 0, len);
            }
            None => {
                response
                    .headers
                    .push_slices("Content-Type", b"text/html; charset=utf-8");
                response.body = Body::Bytes(Bytes::from_static(BUILTIN_404));
            }
        }
        response
    }

    /// The site's `404.html`, revalidated like any cached file.
    fn not_found_page(&self) -> Option<(Source, Arc<Snapshot>)> {
        if let Some(entry) = self.inner.cache.get(NOT_FOUND_PAGE) {
            if let Some(source) = entry.original.current() {
                return Some((source, entry));
            }
        }
        match snapshot::load(&self.inner.confinement, NOT_FOUND_PAGE) {
            Resolution::Found(entry) => {
                self.inner.cache.insert(NOT_FOUND_PAGE, Arc::clone(&entry));
                Some((entry.original.current()?, entry))
            }
            _ => None,
        }
    }

    /// Whether a URL path names an existing file or folder that would be
    /// served (for the start-up report of plugins shadowing static files).
    pub(crate) fn contains(&self, url_path: &str) -> bool {
        snapshot::exists(&self.inner.confinement, url_path)
    }
}

fn with_allow(mut response: Response) -> Response {
    response.headers.push_slices("Allow", ALLOW.as_bytes());
    response
}

/// Answer GET/HEAD from a snapshot; `None` when the snapshot is stale.
fn respond(entry: &Snapshot, req: &Request) -> Option<Response> {
    // Only a client that sends Accept-Encoding can be given a sibling, so only
    // then is the folder looked at to learn whether siblings came or went. A
    // client without it always gets the file itself, exactly as on disk; at
    // worst its `Vary` reflects the siblings of a moment ago, which no cache
    // can turn into a wrong body. This keeps the common case at one `stat`.
    let coding = if req.headers.contains("accept-encoding") {
        if !entry.folder_unchanged() {
            return None;
        }
        encoding::choose(
            req.headers.get_all("accept-encoding"),
            entry.has(Coding::Br),
            entry.has(Coding::Gzip),
        )
    } else {
        None
    };
    let rep = match coding {
        Some(c) => entry.sibling(c)?,
        None => &entry.original,
    };
    let source = rep.current()?;
    Some(answer(entry, rep, coding, source, req))
}

/// The response for a revalidated representation: preconditions first
/// (412, 304), then `Range` (206, 416), else the whole file.
fn answer(
    entry: &Snapshot,
    rep: &Representation,
    coding: Option<Coding>,
    source: Source,
    req: &Request,
) -> Response {
    let validators = &rep.validators;
    let len = rep.len();
    let (status, payload) = match validators.evaluate(&req.headers) {
        Precondition::Failed => return Response::error_page(412),
        Precondition::NotModified => (304, None),
        Precondition::Proceed => match requested_range(req, validators, len) {
            RangeOutcome::Full => (200, Some((0, len))),
            RangeOutcome::Partial { start, len } => (206, Some((start, len))),
            RangeOutcome::Unsatisfiable => {
                let mut response = Response::error_page(416);
                let range = format!("bytes */{len}");
                response
                    .headers
                    .push_slices("Content-Range", range.as_bytes());
                return response;
            }
        },
    };
    let mut response = Response::new(status);
    let headers = &mut response.headers;
    if payload.is_some() {
        headers.push_slices("Content-Type", entry.content_type.as_bytes());
        if let Some(c) = coding {
            headers.push_slices("Content-Encoding", c.token().as_bytes());
        }
        headers.push_slices("Accept-Ranges", b"bytes");
    }
    headers.push_slices("ETag", validators.etag.as_bytes());
    headers.push_slices("Last-Modified", validators.last_modified.as_bytes());
    if entry.has_siblings() {
        headers.push_slices("Vary", b"Accept-Encoding");
    }
    if let Some((start, n)) = payload {
        if status == 206 {
            let range = format!("bytes {start}-{}/{len}", start + n - 1);
            headers.push_slices("Content-Range", range.as_bytes());
        }
        response.body = body(source, start, n);
    }
    response
}

/// What the request's `Range` asks for. Range is defined for GET only (RFC
/// 9110 §14.2): HEAD gets the whole length. Several `Range` lines are
/// malformed and ignored; `If-Range` may veto the range.
fn requested_range(req: &Request, validators: &Validators, len: u64) -> RangeOutcome {
    if req.method != "GET" {
        return RangeOutcome::Full;
    }
    let mut values = req.headers.get_all("range");
    match (values.next(), values.next()) {
        (Some(value), None) if validators.range_allowed(&req.headers) => {
            range::evaluate(value, len)
        }
        _ => RangeOutcome::Full,
    }
}

/// The body for `len` bytes from `start` of a revalidated source.
fn body(source: Source, start: u64, len: u64) -> Body {
    match source {
        Source::Memory(bytes) => {
            let start = usize::try_from(start)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = usize::try_from(len)
                .map_or(bytes.len(), |n| start.saturating_add(n))
                .min(bytes.len());
            Body::Bytes(bytes.slice(start..end))
        }
        Source::File(file) => Body::File(FileBody {
            file,
            offset: start,
            len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        let addr = "127.0.0.1:80".parse().unwrap();
        let mut req = Request::empty(addr, addr);
        req.method = method.to_string();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path, None),
        };
        req.target = path.to_string();
        req.path = path.to_string();
        req.query = query;
        for (name, value) in headers {
            req.headers.push_slices(name, value.as_bytes());
        }
        req
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers.get_str(name)
    }

    fn bytes(r: &Response) -> &[u8] {
        match &r.body {
            Body::Bytes(b) => b,
            Body::Empty => b"",
            Body::File(_) | Body::Stream(_) => panic!("not an in-memory body"),
        }
    }

    fn site() -> (tempfile::TempDir, StaticFiles) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "0123456789").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let files = StaticFiles::new(dir.path(), vec![], CachePolicy::default()).unwrap();
        (dir, files)
    }

    #[tokio::test]
    async fn methods() {
        let (_dir, files) = site();
        let r = files.serve(&request("OPTIONS", "/", &[])).await;
        assert_eq!((r.status, header(&r, "allow")), (204, Some(ALLOW)));
        let r = files.serve(&request("DELETE", "/", &[])).await;
        assert_eq!((r.status, header(&r, "allow")), (405, Some(ALLOW)));
        let r = files.serve(&request("get", "/", &[])).await;
        assert_eq!((r.status, header(&r, "allow")), (501, Some(ALLOW)));
    }

    #[tokio::test]
    async fn hits_misses_and_ranges() {
        let (dir, files) = site();
        let r = files.serve(&request("GET", "/", &[])).await;
        assert_eq!(r.status, 200);
        assert_eq!(bytes(&r), b"0123456789");
        let etag = header(&r, "etag").unwrap().to_string();
        // Second time from the cache.
        let r = files
            .serve(&request("GET", "/", &[("Range", "bytes=2-4")]))
            .await;
        assert_eq!(r.status, 206);
        assert_eq!(header(&r, "content-range"), Some("bytes 2-4/10"));
        assert_eq!(bytes(&r), b"234");
        let r = files
            .serve(&request("GET", "/", &[("If-None-Match", &etag)]))
            .await;
        assert_eq!((r.status, r.body.len()), (304, Some(0)));
        let r = files
            .serve(&request("GET", "/", &[("Range", "bytes=10-")]))
            .await;
        assert_eq!(r.status, 416);
        assert_eq!(header(&r, "content-range"), Some("bytes */10"));
        std::fs::write(dir.path().join("index.html"), "changed").unwrap();
        let r = files.serve(&request("GET", "/", &[])).await;
        assert_eq!(bytes(&r), b"changed");
    }

    #[tokio::test]
    async fn redirects_bad_paths_and_404() {
        let (dir, files) = site();
        let r = files.serve(&request("GET", "/sub?a=1", &[])).await;
        assert_eq!((r.status, header(&r, "location")), (301, Some("/sub/?a=1")));
        let r = files.serve(&request("GET", "/%2e%2e/x", &[])).await;
        assert_eq!(r.status, 400);
        let r = files.serve(&request("HEAD", "/sub/", &[])).await;
        assert_eq!(r.status, 404);
        assert_eq!(bytes(&r), BUILTIN_404);
        std::fs::write(dir.path().join("404.html"), "custom").unwrap();
        let r = files.not_found(&request("GET", "/x", &[]));
        assert_eq!((r.status, bytes(&r)), (404, &b"custom"[..]));
        assert!(files.contains("/sub"));
        assert!(!files.contains("/nothing"));
    }
}

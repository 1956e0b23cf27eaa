//! One request through a `wasi:http` handler component, without a hyper
//! server: the caller builds the `http::Request` (its body fed as it
//! arrives), the guest runs in a task of its own on the same worker, the
//! response head comes back through the outparam's oneshot, and the body is
//! read frame by frame while the guest still writes it.
//!
//! A guest that traps or runs out of time after it set its response ends
//! the body stream as if it were complete (wasmtime-wasi-http drops the
//! body without finishing it); only the guest's own result tells. So the
//! body this module hands out ends only after the guest task has ended, and
//! ends with that task's error if it failed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView as _;

use super::component_store::ComponentState;
use super::outbound::{Origin, OutboundPolicy};
use super::outcome::{arm_deadline, failure, RunError, HOST_CALL_GRACE};
use super::stdio::StderrLog;
use super::GuestLimits;

/// Everything a wasi:http guest sees of one request.
pub struct HttpInvocation<B> {
    /// Method, absolute URI (scheme, authority, path and query), headers,
    /// and the body as it arrives.
    pub request: http::Request<B>,
    /// Whether the client came over TLS.
    pub https: bool,
    /// Origins the guest may send requests to.
    pub allowed_outbound: Arc<[Origin]>,
    /// Tags the guest's stdout and stderr lines in the log.
    pub log_tag: String,
}

/// The guest's task: its result says whether what it wrote is complete.
type GuestTask = JoinHandle<Result<(), RunError>>;

/// A handler run whose response head may still be coming.
pub struct HttpRun {
    head: oneshot::Receiver<Result<http::Response<HyperOutgoingBody>, ErrorCode>>,
    guest: Option<GuestTask>,
}

/// Starts a fresh instance of `pre` on `inv`; the run goes on in its own
/// task until the guest returns, fails, or runs out of time.
pub(super) fn start_http<B>(
    engine: &Engine,
    pre: &ProxyPre<ComponentState>,
    inv: HttpInvocation<B>,
    limits: &GuestLimits,
) -> Result<HttpRun, RunError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    // A wasi:http guest's stdout is not its response: both streams are log.
    let mut world = WasiCtxBuilder::new();
    world
        .stdout(StderrLog::new(inv.log_tag.clone()))
        .stderr(StderrLog::new(inv.log_tag));
    let outbound = OutboundPolicy::new(inv.allowed_outbound, limits.timeout);
    let mut store = Store::new(
        engine,
        ComponentState::new(world.build(), outbound, limits.max_memory),
    );
    store.limiter(|s| s.limiter());
    arm_deadline(&mut store, limits.timeout);

    let (head_tx, head) = oneshot::channel();
    let scheme = if inv.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let mut http = store.data_mut().http();
    let request = http
        .new_incoming_request(scheme, inv.request)
        .map_err(|e| RunError::Host(format!("cannot hand the request over: {e:#}")))?;
    let outparam = http
        .new_response_outparam(head_tx)
        .map_err(|e| RunError::Host(format!("cannot make the response outparam: {e:#}")))?;

    let pre = pre.clone();
    let timeout = limits.timeout;
    let guest = tokio::spawn(async move {
        let outcome = tokio::time::timeout(timeout + HOST_CALL_GRACE, async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await
        })
        .await;
        match outcome {
            Err(_elapsed) => Err(RunError::Timeout),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failure(&e, false, store.data().memory_cap_hit())),
        }
    });
    Ok(HttpRun {
        head,
        guest: Some(guest),
    })
}

impl HttpRun {
    /// The response once the guest has set it, its body still being
    /// written; or why there is none.
    pub async fn response(mut self) -> Result<http::Response<GuestBody>, RunError> {
        match (&mut self.head).await {
            Ok(Ok(response)) => {
                let guest = self.guest.take();
                Ok(response.map(|body| GuestBody { body, guest }))
            }
            Ok(Err(code)) => Err(RunError::Trap(format!(
                "the handler answered with the error {code:?} instead of a response"
            ))),
            // The outparam was dropped with the store: the guest ended
            // without setting a response, and its task says why.
            Err(_) => Err(match self.guest.take() {
                Some(guest) => match guest.await {
                    Ok(Ok(())) => RunError::Trap("returned without setting a response".to_owned()),
                    Ok(Err(e)) => e,
                    Err(join) => RunError::Host(format!("the guest task failed: {join}")),
                },
                None => RunError::Host("the guest task is gone".to_owned()),
            }),
        }
    }
}

impl Drop for HttpRun {
    /// A request abandoned before its head (the client went away, its body
    /// failed) stops its guest rather than letting it run to its deadline.
    fn drop(&mut self) {
        if let Some(guest) = self.guest.take() {
            guest.abort();
        }
    }
}

/// The body a guest writes; it ends when the guest's task ends, with the
/// task's failure as the last item if it failed.
pub struct GuestBody {
    body: HyperOutgoingBody,
    guest: Option<GuestTask>,
}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = RunError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RunError>>> {
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                // Trailers have no place in an HTTP/1.1 response we frame.
                Some(Ok(frame)) if frame.is_data() => return Poll::Ready(Some(Ok(frame))),
                Some(Ok(_trailers)) => continue,
                Some(Err(e)) => {
                    return Poll::Ready(Some(Err(RunError::Trap(format!(
                        "the response body failed: {e}"
                    )))))
                }
                None => break,
            }
        }
        let Some(guest) = self.guest.as_mut() else {
            return Poll::Ready(None);
        };
        let result = ready!(Pin::new(guest).poll(cx));
        self.guest = None;
        Poll::Ready(match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(join) => Some(Err(RunError::Host(format!(
                "the guest task failed: {join}"
            )))),
        })
    }
}

impl Drop for GuestBody {
    /// A body dropped before its end (the client went away, a HEAD request)
    /// stops its guest.
    fn drop(&mut self) {
        if let Some(guest) = self.guest.take() {
            guest.abort();
        }
    }
}

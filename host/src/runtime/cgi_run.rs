//! A CGI handler's run in progress (a p1 module or a `wasi:cli` command):
//! the guest's run as a future driven by the connection's own task while
//! the answer's head is awaited (no task of its own for the common answer
//! that is done at once), given a task of its own once its answer streams;
//! and its stdout, a pipe read while it runs.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::task::JoinHandle;

use super::outcome::RunError;
use super::stdout::{StdoutPipe, StdoutReader};
use super::GuestOutput;

/// A running CGI guest and its stdout.
pub struct CgiRun {
    /// What the guest writes, as it writes it.
    pub stdout: StdoutReader,
    /// The guest's run.
    pub guest: GuestTask,
}

/// A guest's run, and its result once it ended. It runs inside the polls of
/// whoever waits for it, until [`GuestTask::run_apart`] gives it a task of
/// its own; dropping it stops the guest either way.
pub struct GuestTask {
    running: Option<Running>,
    /// The guest's stdout, closed when its run ends, however it ends.
    pipe: StdoutPipe,
    status: Option<Result<i32, RunError>>,
}

/// The guest's whole run, boxed once where it is made: a run future holds
/// the states of instantiation and of the call, and each move of it (into a
/// wrapping future, then into its box) was a `memcpy` of all of it, 1 % of
/// an instance's CPU in perf.
pub(super) type Run = Pin<Box<dyn Future<Output = Result<i32, RunError>> + Send>>;

enum Running {
    Inline(Run),
    Apart(JoinHandle<Result<i32, RunError>>),
}

impl CgiRun {
    /// `run` (the guest's whole run, writing into `pipe`), not started yet;
    /// the pipe is closed when the run ends, however it ends.
    pub(super) fn new(run: Run, pipe: StdoutPipe, stdout: StdoutReader) -> CgiRun {
        CgiRun {
            stdout,
            guest: GuestTask {
                running: Some(Running::Inline(run)),
                pipe,
                status: None,
            },
        }
    }

    /// All the guest wrote and its exit status, for callers that want the
    /// answer whole.
    pub async fn output(mut self) -> Result<GuestOutput, RunError> {
        let mut stdout = BytesMut::new();
        // The guest runs only while polled: drive it and read its stdout
        // together (a full pipe would hold it back), then read the rest.
        let mut running = true;
        while running {
            tokio::select! {
                biased;
                () = self.guest.done() => running = false,
                bytes = self.stdout.next() => match bytes {
                    Some(bytes) => stdout.extend_from_slice(&bytes),
                    None => running = false,
                },
            }
        }
        while let Some(bytes) = self.stdout.next().await {
            stdout.extend_from_slice(&bytes);
        }
        self.guest.done().await;
        let exit_code = self
            .guest
            .take_status()
            .unwrap_or_else(|| Err(RunError::Host("the guest task is gone".to_owned())))?;
        Ok(GuestOutput {
            stdout: stdout.freeze(),
            exit_code,
        })
    }
}

impl GuestTask {
    /// Runs the guest until it is done (it may still have output waiting
    /// in the pipe) or pauses; cancel-safe, and ready at once afterwards.
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let status = match self.running.as_mut() {
            None => return Poll::Ready(()),
            Some(Running::Inline(run)) => std::task::ready!(run.as_mut().poll(cx)),
            Some(Running::Apart(task)) => std::task::ready!(Pin::new(task).poll(cx))
                .unwrap_or_else(|join| {
                    Err(RunError::Host(format!("the guest task failed: {join}")))
                }),
        };
        self.running = None;
        self.pipe.close();
        self.status = Some(status);
        Poll::Ready(())
    }

    /// Gives the guest a task of its own on this worker, so that it keeps
    /// running (and its time limit keeps counting) while its answer waits
    /// on a slow client; a failure is logged with `log_tag` when it happens,
    /// not when the client gets to read that far.
    pub(crate) fn run_apart(&mut self, log_tag: String) {
        if let Some(Running::Inline(run)) = self.running.take() {
            let pipe = self.pipe.clone();
            self.running = Some(Running::Apart(tokio::spawn(async move {
                let status = run.await;
                pipe.close();
                if let Err(err) = &status {
                    tracing::warn!("{log_tag}: plugin failed after its answer started: {err}");
                }
                status
            })));
        }
    }

    /// Waits for the guest to be done.
    pub(crate) async fn done(&mut self) {
        poll_fn(|cx| self.poll_done(cx)).await;
    }

    /// The exit status, or why the run failed; once it is done.
    pub(crate) fn take_status(&mut self) -> Option<Result<i32, RunError>> {
        self.status.take()
    }
}

impl Drop for GuestTask {
    /// A guest whose answer nobody waits for any more (the client went
    /// away, a local redirect) stops.
    fn drop(&mut self) {
        if let Some(Running::Apart(task)) = self.running.take() {
            task.abort();
        }
    }
}

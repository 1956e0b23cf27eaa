//! A CGI handler's run in progress (a p1 module or a `wasi:cli` command):
//! the guest in a task of its own on this worker, its stdout a pipe that is
//! read while it runs, so that an answer can be sent while it is written.

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
    /// The guest's task.
    pub guest: GuestTask,
}

/// The task a guest runs in, and its result once it ended.
pub struct GuestTask {
    task: Option<JoinHandle<Result<i32, RunError>>>,
    status: Option<Result<i32, RunError>>,
}

impl CgiRun {
    /// Starts `run` (the guest's whole run, writing into `pipe`) in a task;
    /// the pipe is closed when the run ends, however it ends.
    pub(super) fn spawn(
        run: impl Future<Output = Result<i32, RunError>> + Send + 'static,
        pipe: StdoutPipe,
        stdout: StdoutReader,
    ) -> CgiRun {
        let guest = tokio::spawn(async move {
            let status = run.await;
            pipe.close();
            status
        });
        CgiRun {
            stdout,
            guest: GuestTask {
                task: Some(guest),
                status: None,
            },
        }
    }

    /// All the guest wrote and its exit status, for callers that want the
    /// answer whole.
    pub async fn output(mut self) -> Result<GuestOutput, RunError> {
        let mut stdout = BytesMut::new();
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
    /// Resolves when the guest is done (it may still have output waiting in
    /// the pipe); cancel-safe, and ready at once afterwards.
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.status.is_some() {
            return Poll::Ready(());
        }
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(());
        };
        let status = std::task::ready!(Pin::new(task).poll(cx));
        self.task = None;
        self.status =
            Some(status.unwrap_or_else(|join| {
                Err(RunError::Host(format!("the guest task failed: {join}")))
            }));
        Poll::Ready(())
    }

    /// Whether the guest is done, without waiting.
    pub(crate) fn is_finished(&self) -> bool {
        self.status.is_some() || self.task.as_ref().is_none_or(JoinHandle::is_finished)
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
    /// A run whose answer nobody waits for any more (the client went away,
    /// a local redirect) stops its guest.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

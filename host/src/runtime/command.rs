//! One request's run of a `wasi:cli` command component: the same CGI world
//! as a p1 module (argv, environment, stdin, captured stdout, stderr to the
//! log, granted folders), a fresh `Store`, `wasi:cli/run`.

use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::I32Exit;

use super::component_store::ComponentState;
use super::invoke::cgi_world;
use super::outbound::OutboundPolicy;
use super::outcome::{arm_deadline, failure, RunError, HOST_CALL_GRACE};
use super::stdout::StdoutPipe;
use super::{GuestLimits, Invocation};

/// Runs `wasi:cli/run` of a fresh instance with `inv` as its world and
/// `stdout` as its stdout; the exit status.
///
/// The exit status: 0 when `run` returns `ok`, 1 for `err`, the code of an
/// `exit` call otherwise. Rust's std on WASI 0.2 cannot pass any other code
/// than 0 or 1 (its `exit` has no code until 0.2.12's `exit-with-code`), so
/// handlers say what went wrong with a CGI `Status:` line instead.
pub(super) async fn run_cli(
    engine: Engine,
    pre: CommandPre<ComponentState>,
    mut inv: Invocation,
    limits: GuestLimits,
    stdout: StdoutPipe,
) -> Result<i32, RunError> {
    let env = std::mem::take(&mut inv.env);
    let outbound = OutboundPolicy::new(inv.allowed_outbound.clone(), limits.timeout);
    let mut world = cgi_world(inv, &stdout)?;
    world.envs(&env.iter().collect::<Vec<_>>());
    let state = ComponentState::new(world.build(), outbound, limits.max_memory);
    let mut store = Store::new(&engine, state);
    store.limiter(|s| s.limiter());
    arm_deadline(&mut store, limits.timeout);

    let outcome = tokio::time::timeout(limits.timeout + HOST_CALL_GRACE, async {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await
    })
    .await;
    let exit_code = match outcome {
        Err(_elapsed) => return Err(RunError::Timeout),
        Ok(Ok(Ok(()))) => 0,
        Ok(Ok(Err(()))) => 1,
        Ok(Err(e)) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => {
                return Err(failure(
                    &e,
                    stdout.overflowed(),
                    store.data().memory_cap_hit(),
                ))
            }
        },
    };
    Ok(exit_code)
}

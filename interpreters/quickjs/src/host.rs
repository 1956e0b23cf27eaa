//! The native half of the JS API: the functions `prelude.js` gets as its
//! `host` object (the CGI environment, stdin, stdout, UTF-8, the clock and
//! Math.random's generator), and the per-process state behind them.
//!
//! Request-time work (reading the environment, argv, stdin, the clock or
//! the random generator, or writing output) during `wizer-initialize` would
//! freeze one moment's answer into a snapshot that serves every request, so
//! there it throws and marks the init as failed (`top_level_work`).

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rquickjs::prelude::Opt;
use rquickjs::{Coerced, Ctx, Exception, Function, Object, Result, TypedArray, Value};

/// Whether the script's top level runs once for a snapshot or per request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Inside `wizer-initialize`: no request exists.
    Init,
    /// A plain run's top level, or any handler call.
    Request,
}

/// Output is buffered and written in pieces of about this size, so a small
/// response is one `fd_write` and a big one streams in bounded memory.
const CHUNK: usize = 64 << 10;

/// The answer when the handler never responded (its promise never settled).
const INTERNAL_ERROR: &[u8] = b"Status: 500 Internal Server Error\n\
Content-Type: text/plain; charset=utf-8\nContent-Length: 22\n\nInternal Server Error\n";

thread_local! {
    static PHASE: Cell<Phase> = const { Cell::new(Phase::Request) };
    /// The first request-time thing the top level did during init.
    static TOP_LEVEL_WORK: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// Output not yet written to stdout.
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Whether anything was written (buffered or already on stdout).
    static WROTE: Cell<bool> = const { Cell::new(false) };
    /// Whether the handler's response was written.
    static RESPONDED: Cell<bool> = const { Cell::new(false) };
    /// xorshift64* state for Math.random, reseeded per request.
    static RNG: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) };
    /// When this request started: the origin of `performance.now()`.
    static START: Cell<Option<(Instant, f64)>> = const { Cell::new(None) };
}

pub fn set_phase(phase: Phase) {
    PHASE.set(phase);
}

/// What request-time work the top level did during init, if any.
pub fn top_level_work() -> Option<&'static str> {
    TOP_LEVEL_WORK.get()
}

/// Per-request state that must not come from a snapshot: the clock origin
/// and the random seed (QuickJS seeds its own generator from the clock when
/// the context is made, which a snapshot would freeze, hence the prelude's
/// replacement of Math.random by `host.random`).
pub fn start_request() {
    let epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    START.set(Some((Instant::now(), epoch_ms)));
    let mut seed = [0u8; 8];
    let seed = match getrandom::getrandom(&mut seed) {
        Ok(()) => u64::from_le_bytes(seed),
        // random_get does not fail under wasmtime; the clock is a weaker
        // but still per-request fallback.
        Err(_) => epoch_ms.to_bits(),
    };
    RNG.set(seed | 1);
}

/// Throws (and, during init, records `what`) if this is no request's time.
fn request_time(ctx: &Ctx<'_>, what: &'static str) -> Result<()> {
    if PHASE.get() == Phase::Request {
        return Ok(());
    }
    if TOP_LEVEL_WORK.get().is_none() {
        TOP_LEVEL_WORK.set(Some(what));
    }
    Err(Exception::throw_message(
        ctx,
        &format!("wasibin: the top level {what}: that is per-request work, do it inside the serve() handler"),
    ))
}

/// Calls `f` with the bytes of `array` (empty if detached).
fn with_bytes<R>(array: &TypedArray<'_, u8>, f: impl FnOnce(&[u8]) -> R) -> R {
    // rquickjs offers no safe view of a typed array's bytes because JS could
    // detach or resize the buffer while the slice lives; every `f` here is
    // Rust code that copies or decodes the bytes and runs no JS.
    #[allow(unsafe_code)]
    // SAFETY: no JS runs while `bytes` is alive (see above).
    let bytes = unsafe { array.as_bytes() };
    f(bytes.unwrap_or(&[]))
}

/// Appends a string's UTF-8 or a Uint8Array's bytes (null and undefined
/// are empty); anything else is a TypeError.
fn append_bytes(ctx: &Ctx<'_>, value: &Value<'_>, out: &mut Vec<u8>) -> Result<()> {
    if let Some(s) = value.as_string() {
        out.extend_from_slice(s.to_string()?.as_bytes());
    } else if let Ok(array) = TypedArray::<u8>::from_value(value.clone()) {
        with_bytes(&array, |bytes| out.extend_from_slice(bytes));
    } else if !value.is_null() && !value.is_undefined() {
        return Err(Exception::throw_type(
            ctx,
            "expected a string or a Uint8Array",
        ));
    }
    Ok(())
}

/// Writes the buffered output to stdout.
pub fn flush() -> std::io::Result<()> {
    OUTPUT.with_borrow_mut(|out| {
        if out.is_empty() {
            return Ok(());
        }
        // std's stdout is line-buffered: a buffer ending in a newline (every
        // text response) goes out in one write, the rest of one that does
        // not in a second at `flush`.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out)?;
        stdout.flush()?;
        out.clear();
        Ok(())
    })
}

/// Drops output that was not written yet (a failed run writes nothing).
pub fn discard_output() {
    OUTPUT.with_borrow_mut(Vec::clear);
}

pub fn has_output() -> bool {
    WROTE.get()
}

pub fn responded() -> bool {
    RESPONDED.get()
}

/// Answers 500 (the handler never responded).
pub fn internal_error() {
    OUTPUT.with_borrow_mut(|out| {
        out.clear();
        out.extend_from_slice(INTERNAL_ERROR);
    });
}

/// A thrown non-Error value, for the log.
pub fn to_display(value: &Value<'_>) -> String {
    value
        .get::<Coerced<String>>()
        .map_or_else(|_| format!("{value:?}"), |s| s.0)
}

fn flush_for_js(ctx: &Ctx<'_>) -> Result<()> {
    flush().map_err(|e| Exception::throw_message(ctx, &format!("writing to stdout: {e}")))
}

/// The `host` object the prelude is called with.
pub fn natives<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;
    host.set("init", PHASE.get() == Phase::Init)?;

    let f = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<Object<'js>> {
        request_time(&ctx, "read the environment")?;
        let env = Object::new(ctx)?;
        for (name, value) in std::env::vars_os() {
            env.set(
                name.to_string_lossy().as_ref(),
                value.to_string_lossy().as_ref(),
            )?;
        }
        Ok(env)
    })?;
    host.set("env", f)?;

    let f = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<Vec<String>> {
        request_time(&ctx, "read argv")?;
        Ok(std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    })?;
    host.set("args", f)?;

    let f = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>| -> Result<TypedArray<'js, u8>> {
            request_time(&ctx, "read the request body")?;
            let mut body = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut body)
                .map_err(|e| {
                    Exception::throw_message(&ctx, &format!("reading the request body: {e}"))
                })?;
            TypedArray::new(ctx, body)
        },
    )?;
    host.set("body", f)?;

    let f = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, data: Value<'js>| -> Result<()> {
            request_time(&ctx, "wrote output")?;
            let full = OUTPUT.with_borrow_mut(|out| {
                append_bytes(&ctx, &data, out).map(|()| out.len() >= CHUNK)
            })?;
            WROTE.set(true);
            if full {
                flush_for_js(&ctx)?;
            }
            Ok(())
        },
    )?;
    host.set("write", f)?;

    // respond(head, body, withLength): `head` is the header lines, each
    // ending in "\n"; the Content-Length line (when asked for) and the
    // blank line are added here, where the body's byte length is known.
    let f = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, head: String, body: Value<'js>, with_length: bool| -> Result<()> {
            request_time(&ctx, "wrote output")?;
            if RESPONDED.get() || WROTE.get() {
                return Err(Exception::throw_message(
                    &ctx,
                    "the response was already written",
                ));
            }
            OUTPUT.with_borrow_mut(|out| {
                out.extend_from_slice(head.as_bytes());
                let start = out.len();
                append_bytes(&ctx, &body, out)?;
                if with_length {
                    let line = format!("Content-Length: {}\n\n", out.len() - start);
                    out.splice(start..start, line.bytes());
                } else {
                    out.insert(start, b'\n');
                }
                Ok::<_, rquickjs::Error>(())
            })?;
            RESPONDED.set(true);
            WROTE.set(true);
            flush_for_js(&ctx)
        },
    )?;
    host.set("respond", f)?;

    let f = Function::new(ctx.clone(), |line: String| {
        eprintln!("{line}");
    })?;
    host.set("log", f)?;

    let f = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<f64> {
        request_time(&ctx, "called Math.random()")?;
        // xorshift64* (Vigna), the generator QuickJS's own Math.random uses.
        let mut x = RNG.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        RNG.set(x);
        let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        Ok(bits as f64 / (1u64 << 53) as f64)
    })?;
    host.set("random", f)?;

    let f = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<()> {
        request_time(&ctx, "read the clock")
    })?;
    host.set("clock", f)?;

    let f = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<f64> {
        request_time(&ctx, "read the clock")?;
        Ok(START
            .get()
            .map_or(0.0, |(start, _)| start.elapsed().as_secs_f64() * 1000.0))
    })?;
    host.set("now", f)?;

    let f = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<f64> {
        request_time(&ctx, "read the clock")?;
        Ok(START.get().map_or(0.0, |(_, origin)| origin))
    })?;
    host.set("timeOrigin", f)?;

    let f = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, text: String| -> Result<TypedArray<'js, u8>> {
            TypedArray::new(ctx, text.into_bytes())
        },
    )?;
    host.set("utf8Encode", f)?;

    // utf8Decode(bytes, fatal): invalid UTF-8 becomes U+FFFD, or a
    // TypeError when `fatal`.
    let f = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, fatal: Opt<bool>| -> Result<String> {
            let fatal = fatal.0.unwrap_or(false);
            with_bytes(&bytes, |b| match std::str::from_utf8(b) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) if !fatal => Ok(String::from_utf8_lossy(b).into_owned()),
                Err(e) => Err(e),
            })
            .map_err(|e| Exception::throw_type(&ctx, &format!("invalid UTF-8: {e}")))
        },
    )?;
    host.set("utf8Decode", f)?;

    Ok(host)
}

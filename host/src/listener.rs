//! The listening sockets: one per connection worker, in one `SO_REUSEPORT`
//! group, and the kernel program that gives a new connection to the socket
//! of the worker pinned to the CPU that received it.
//!
//! Why one socket per worker rather than one accepting thread handing
//! connections over: with a new connection per request (`Connection:
//! close`, health checkers, old clients) that thread was a fifth of the
//! server's CPU on 2 cores (its wake-ups, `accept4`, the hand-over's
//! wake-up of the worker), measured with perf. Here each worker accepts on
//! its own reactor, and the kernel steers the connection (nginx's
//! `reuseport` spreads by a hash of the addresses instead, which puts half
//! the connections on the other core's worker: `cpu_affinity` says what
//! that costs).

use std::io::ErrorKind;
use std::net::SocketAddr;

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use crate::server::StartError;

/// Listen backlog: connection bursts queue in the kernel rather than being refused.
const LISTEN_BACKLOG: i32 = 4096;

/// Bind with a deep backlog and SO_REUSEADDR (restarts do not wait for
/// TIME_WAIT), mapping "address in use" to its own error; registered with
/// the current runtime.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listener = listen(addr, false)?;
    Ok(TcpListener::from_std(listener).context("watching the listening socket")?)
}

/// `count` listening sockets on `addr` (at least one), in one `SO_REUSEPORT`
/// group when there are several; the first one's port when `addr` asks for
/// any. Not yet registered with any runtime: each worker registers its own.
/// A port another process listens on is refused, as [`bind`] refuses it,
/// even when that process's sockets allow sharing it: `SO_REUSEPORT` would
/// otherwise let a second server started by the same user take half of the
/// first one's connections.
pub(crate) fn bind_group(
    addr: SocketAddr,
    count: usize,
) -> Result<Vec<std::net::TcpListener>, StartError> {
    if count <= 1 {
        return Ok(vec![listen(addr, false)?]);
    }
    // A socket without `SO_REUSEPORT` cannot join anyone's group: binding
    // it says whether the port is free (and picks one for port 0). It is
    // closed before the group binds: until it listens it holds nothing.
    let addr = {
        let probe = socket(addr)?;
        bind_socket(&probe, addr)?;
        probe
            .local_addr()
            .ok()
            .and_then(|local| local.as_socket())
            .context("reading the bound address")?
    };
    (0..count).map(|_| listen(addr, true)).collect()
}

/// A non-blocking TCP socket for `addr`'s family, with `SO_REUSEADDR` and
/// `TCP_NODELAY`.
fn socket(addr: SocketAddr) -> Result<Socket, StartError> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("creating the listening socket")?;
    socket
        .set_nonblocking(true)
        .context("making the listening socket non-blocking")?;
    socket
        .set_reuse_address(true)
        .context("setting SO_REUSEADDR")?;
    // Responses are written whole (or head, then a file): Nagle's algorithm
    // would only delay the second segment behind a delayed ACK. Set once
    // here, not per connection: Linux copies a listener's TCP options into
    // every connection it accepts (`an_accepted_connection_has_no_nagle`).
    socket
        .set_tcp_nodelay(true)
        .context("setting TCP_NODELAY")?;
    Ok(socket)
}

fn bind_socket(socket: &Socket, addr: SocketAddr) -> Result<(), StartError> {
    socket.bind(&addr.into()).map_err(|err| match err.kind() {
        ErrorKind::AddrInUse => StartError::AddrInUse(addr),
        _ => StartError::Other(anyhow::Error::new(err).context(format!("binding {addr}"))),
    })
}

fn listen(addr: SocketAddr, shared: bool) -> Result<std::net::TcpListener, StartError> {
    let socket = socket(addr)?;
    if shared {
        socket
            .set_reuse_port(true)
            .context("setting SO_REUSEPORT")?;
    }
    bind_socket(&socket, addr)?;
    socket
        .listen(LISTEN_BACKLOG)
        .with_context(|| format!("listening on {addr}"))?;
    Ok(socket.into())
}

/// Make the kernel give a connection to `group[i]` when its packets were
/// processed on `cpus[i]`; a connection from any other CPU (or every one,
/// where a worker is unpinned) goes where the addresses' hash sends it.
/// `group` must be in the order the sockets started listening: that order
/// is their index in the kernel's group. Fails where the kernel has no
/// classic BPF for `SO_REUSEPORT` (before Linux 4.5); the caller then
/// keeps the hash.
pub(crate) fn steer_by_cpu(
    group: &[std::net::TcpListener],
    cpus: &[Option<usize>],
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let Some(first) = group.first() else {
        return Ok(());
    };
    let mut program = cpu_program(cpus);
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| std::io::Error::other("too many CPUs"))?,
        filter: program.as_mut_ptr(),
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sock_fprog>())
        .map_err(std::io::Error::other)?;
    // SAFETY: `fprog` points at `program`, which outlives the call; the
    // kernel copies the program and reads nothing else. The descriptor is
    // `first`'s, alive for the call.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            first.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            std::ptr::from_ref(&fprog).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The classic BPF program: load the CPU number, compare it with each
/// worker's, return that worker's index; past them all return an index
/// no socket has, which the kernel answers with the hash.
fn cpu_program(cpus: &[Option<usize>]) -> Vec<libc::sock_filter> {
    // The opcodes are 16-bit values libc declares as u32.
    let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // SKF_AD_OFF is negative: the offset is its two's complement.
    let cpu_offset = (libc::SKF_AD_OFF + libc::SKF_AD_CPU).cast_unsigned();
    let mut program = vec![insn(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        0,
        0,
        cpu_offset,
    )];
    for (index, cpu) in cpus.iter().enumerate() {
        let (Some(cpu), Ok(index)) = (cpu, u32::try_from(index)) else {
            continue;
        };
        let Ok(cpu) = u32::try_from(*cpu) else {
            continue;
        };
        // Equal: fall through to the `ret`; else jump over it.
        program.push(insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, cpu));
        program.push(insn(libc::BPF_RET | libc::BPF_K, 0, 0, index));
    }
    program.push(insn(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX));
    program
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn the_program_maps_each_pinned_cpu_to_its_worker() {
        let program = cpu_program(&[Some(2), None, Some(5)]);
        let fields: Vec<_> = program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        let jeq = u16::try_from(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K).unwrap();
        let ret = u16::try_from(libc::BPF_RET | libc::BPF_K).unwrap();
        assert_eq!(
            fields[1..],
            [
                (jeq, 0, 1, 2),
                (ret, 0, 0, 0),
                (jeq, 0, 1, 5),
                (ret, 0, 0, 2),
                (ret, 0, 0, u32::MAX),
            ]
        );
    }

    /// Which of `group` holds a waiting connection.
    fn holder(group: &[std::net::TcpListener]) -> Option<usize> {
        group.iter().position(|listener| {
            listener.set_nonblocking(true).unwrap();
            listener.accept().is_ok()
        })
    }

    /// On loopback the client's CPU processes the handshake: a client
    /// pinned to a worker's CPU reaches that worker's socket, whichever
    /// CPU it is.
    #[test]
    fn a_connection_reaches_the_socket_of_its_cpu() {
        let allowed = crate::cpu_affinity::allowed_cpus();
        if allowed.len() < 2 {
            eprintln!("one CPU: nothing to steer between");
            return;
        }
        let cpus: Vec<_> = allowed.iter().copied().map(Some).collect();
        let group = bind_group("127.0.0.1:0".parse().unwrap(), cpus.len()).unwrap();
        steer_by_cpu(&group, &cpus).unwrap();
        let addr = group[0].local_addr().unwrap();
        std::thread::scope(|scope| {
            for (index, &cpu) in allowed.iter().enumerate().rev() {
                let client = scope.spawn(move || {
                    assert!(crate::cpu_affinity::pin_current_thread(cpu));
                    TcpStream::connect(addr).unwrap()
                });
                let _stream = client.join().unwrap();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                let mut found = holder(&group);
                while found.is_none() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    found = holder(&group);
                }
                assert_eq!(found, Some(index), "the client on CPU {cpu}");
            }
        });
    }

    #[test]
    fn an_accepted_connection_has_no_nagle() {
        for group in [1, 2] {
            let listeners = bind_group("127.0.0.1:0".parse().unwrap(), group).unwrap();
            let addr = listeners[0].local_addr().unwrap();
            let _client = TcpStream::connect(addr).unwrap();
            let accepted = listeners.iter().find_map(|listener| {
                listener.set_nonblocking(true).unwrap();
                listener.accept().ok()
            });
            let (stream, _) = accepted.expect("the connection is in a backlog");
            assert!(stream.nodelay().unwrap());
        }
    }

    #[test]
    fn a_port_in_use_is_refused_even_to_a_sharing_group() {
        let first = bind_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = first[0].local_addr().unwrap();
        assert!(matches!(bind_group(addr, 2), Err(StartError::AddrInUse(_))));
        assert!(matches!(bind_group(addr, 1), Err(StartError::AddrInUse(_))));
    }
}

//! The server's own listening sockets, with the kernel saving each
//! connection's SYN (mod_tcpfingerprint's method, no privileges needed).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::http::{self, AppState, Conn, ConnSyn};
use super::sys;
use crate::analyze::Engine;
use crate::packet;

const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds a listening socket with `TCP_SAVE_SYN`. An IPv6 wildcard address
/// accepts IPv4 too (IPV6_V6ONLY off), so `[::]:8249` serves both.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    sys::set_save_syn(socket.as_raw_fd())?;
    socket.bind(&addr.into())?;
    // The kernel caps the backlog at net.core.somaxconn.
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Reads the accepted connection's saved SYN and fingerprints it.
///
/// The kernel's saved SYN carries no timestamp; the record's `ts` is the
/// accept time, a few microseconds to one RTT after the SYN arrived. Only
/// this serving layer uses the wall clock; the fingerprint core never does.
pub fn read_syn(stream: &TcpStream, engine: &Engine) -> ConnSyn {
    let fd = stream.as_raw_fd();
    let ts = http::now();
    // IPv4 and IPv6 headers with options plus a 60-byte TCP header fit.
    let mut buf = [0u8; 512];
    let n = match sys::saved_syn(fd, &mut buf) {
        Ok(Some(n)) => n,
        Ok(None) => return ConnSyn::NotSaved,
        Err(e) => return ConnSyn::Undecodable(format!("TCP_SAVED_SYN failed: {e}")),
    };
    let Some(bytes) = buf.get(..n) else {
        return ConnSyn::Undecodable("kernel reported a longer SYN than the buffer".into());
    };
    match packet::decode_ip(ts, bytes) {
        Ok(Some(obs)) => ConnSyn::Saved {
            record: Arc::new(engine.fingerprint(obs, None)),
            rtt_us: sys::tcp_rtt_us(fd).ok(),
        },
        Ok(None) => ConnSyn::Undecodable("the saved packet is not a SYN".into()),
        Err(skip) => ConnSyn::Undecodable(skip.as_str().to_string()),
    }
}

/// Accepts connections until `shutdown` turns true. Each connection task
/// holds a clone of `alive`; the caller waits for them all to finish.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<AppState>,
    engine: Arc<Engine>,
    mut shutdown: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                eprintln!("synprint serve: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, state, &engine, shutdown).await;
            drop(alive);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<AppState>,
    engine: &Engine,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let syn = read_syn(&stream, engine);
    match &syn {
        ConnSyn::Saved { record, .. } => {
            state.metrics.listener_syns.fetch_add(1, Relaxed);
            state.store.insert(Arc::clone(record));
        }
        ConnSyn::NotSaved => {
            state.metrics.listener_no_syn.fetch_add(1, Relaxed);
        }
        ConnSyn::Undecodable(_) => {
            state.metrics.listener_bad_syn.fetch_add(1, Relaxed);
        }
    }
    let conn = Arc::new(Conn { peer, syn });
    let svc = service_fn(move |req| {
        let resp = http::handle(&state, &conn, &req);
        async move { Ok::<_, Infallible>(resp) }
    });
    // A client that never finishes its request head (slowloris) is
    // dropped after the timeout instead of holding a task and a socket.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

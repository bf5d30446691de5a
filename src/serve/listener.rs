//! The server's own listening sockets, with the kernel saving each
//! connection's SYN (mod_tcpfingerprint's method, no privileges needed).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Sleep;

use super::config::MAX_REQUEST_HEAD;
use super::http::{self, AppState, Conn, ConnSyn, UnreadableSyn};
use super::metrics::Refusal;
use super::slots::{Activity, Slots, RECLAIM_GRACE};
use super::sys;
use crate::analyze::Engine;
use crate::packet;

const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a response may wait for a client that does not read it: after
/// that the connection is dropped, so a client that pipelines requests and
/// never reads the answers cannot hold a socket forever.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a failing `accept` (EMFILE: out of file descriptors) is logged.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Binds a listening socket with `TCP_SAVE_SYN` for `addr`, one of the
/// addresses in `listen`. An IPv6 wildcard address accepts IPv4 too
/// (IPV6_V6ONLY off), so `[::]:8249` alone serves both; listed with an IPv4
/// address of the same port (`0.0.0.0:8249` and `[::]:8249`, as nginx
/// configurations say it), it keeps to IPv6, as nginx does, where it would
/// otherwise fail with "address in use".
pub fn bind(addr: SocketAddr, listen: &[SocketAddr]) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        let v4_too = listen
            .iter()
            .any(|a| a.is_ipv4() && a.port() == addr.port() && addr.port() != 0);
        socket.set_only_v6(v4_too)?;
    }
    socket.set_reuse_address(true)?;
    sys::set_save_syn(socket.as_fd())?;
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
    let fd = stream.as_fd();
    let ts = http::now();
    // IPv4 and IPv6 headers with options plus a 60-byte TCP header fit;
    // longer IPv6 extension headers grow it.
    let mut buf = vec![0u8; 512];
    let n = match sys::saved_syn(fd, &mut buf) {
        Ok(Some(n)) => n,
        Ok(None) => return ConnSyn::NotSaved,
        Err(e) => return ConnSyn::Undecodable(UnreadableSyn::Failed(Arc::new(e))),
    };
    // `saved_syn` never reports more than the buffer holds.
    buf.truncate(n);
    match packet::decode_saved_syn(ts, buf) {
        Ok(Some(obs)) => ConnSyn::Saved {
            record: Arc::new(engine.fingerprint(obs, None)),
            rtt_us: sys::tcp_rtt_us(fd).ok(),
        },
        Ok(None) => ConnSyn::Undecodable(UnreadableSyn::NotASyn),
        Err(skip) => ConnSyn::Undecodable(UnreadableSyn::Skipped(skip)),
    }
}

/// Accepts connections until `shutdown` turns true, serving at most as many
/// at once as there are `slots` (shared by every listener; when all are
/// taken, a quiet connection gives its slot up, if there is one, and
/// meanwhile one accepted connection per listener waits and the rest wait
/// in the kernel's accept queue). Each connection task holds a clone of
/// `alive`; the caller waits for them all to finish.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<AppState>,
    engine: Arc<Engine>,
    slots: Arc<Slots>,
    mut shutdown: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                failures.note(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Accepted first, then a slot awaited: a slot taken before
        // `accept` would sit idle in every listener that has no client.
        // While this one waits, nothing more is accepted here.
        let slot = tokio::select! {
            s = slots.acquire() => s,
            _ = shutdown.changed() => return,
        };
        let Some(slot) = slot else { return };
        let state = Arc::clone(&state);
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, state, &engine, &slot.activity, shutdown).await;
            drop(slot);
            drop(alive);
        });
    }
}

/// Logs failing `accept`s once per [`ACCEPT_ERROR_LOG_EVERY`] with how many
/// there were, not twenty lines a second.
#[derive(Default)]
struct AcceptFailures {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptFailures {
    fn note(&mut self, e: &io::Error) {
        if let Some(line) = self.message(e, Instant::now()) {
            crate::say!("{line}");
        }
    }

    /// The line to log for this failure at `now`, if one is due.
    fn message(&mut self, e: &io::Error, now: Instant) -> Option<String> {
        self.unlogged += 1;
        if self
            .last_logged
            .is_some_and(|t| now.saturating_duration_since(t) < ACCEPT_ERROR_LOG_EVERY)
        {
            return None;
        }
        let line = format!(
            "synprint serve: accept failed ({} time{} since the last message): {e}",
            self.unlogged,
            if self.unlogged == 1 { "" } else { "s" }
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
        Some(line)
    }
}

/// A stream whose writes fail once they have waited [`WRITE_STALL_TIMEOUT`]
/// for a client that does not read (hyper's own timeouts cover reading the
/// request head only).
struct StallGuard {
    inner: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    /// Told whenever bytes move either way.
    activity: Option<Arc<Activity>>,
}

impl StallGuard {
    fn new(inner: TcpStream, timeout: Duration, activity: Option<Arc<Activity>>) -> Self {
        StallGuard {
            inner,
            timeout,
            stalled: None,
            activity,
        }
    }

    /// Bytes moved, written or read: a connection doing so keeps its slot.
    fn moved(&self, written: bool) {
        if let Some(a) = &self.activity {
            a.moved(written);
        }
    }

    /// `poll` is the inner write or flush: while it is pending, the stall
    /// clock runs (and wakes the task when it expires); once it is ready, the
    /// clock stops.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let clock = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match clock.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read its responses",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved(false);
        }
        read
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = self.guard(cx, |s, cx| s.poll_write(cx, buf));
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.moved(true);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<AppState>,
    engine: &Engine,
    activity: &Arc<Activity>,
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
    let metrics = Arc::clone(&state.metrics);
    let svc = service_fn(move |req| {
        let (state, conn) = (Arc::clone(&state), Arc::clone(&conn));
        async move { Ok::<_, Infallible>(http::handle(&state, &conn, &req).await) }
    });
    // A client that never finishes its request head (slowloris) is
    // dropped after the timeout instead of holding a task and a socket.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(true)
        // A client may shut its sending side once its request is out (`nc
        // -N`, scripts, health checkers); without this, hyper closes on
        // that end of input and the answer can be lost.
        .half_close(true)
        .serve_connection(
            TokioIo::new(StallGuard::new(
                stream,
                WRITE_STALL_TIMEOUT,
                Some(Arc::clone(activity)),
            )),
            svc,
        );
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => {
            match served.err().as_ref().and_then(refusal) {
                // hyper's head timeout also runs between requests: a
                // keep-alive connection left idle that long is closed, as
                // servers do, and refused nothing.
                Some(Refusal::HeadTimeout) if activity.between_requests() => {}
                Some(why) => metrics.refused(why),
                None => {}
            }
        }
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
        _ = activity.reclaim.notified() => {
            metrics.connections_reclaimed.fetch_add(1, Relaxed);
            // An idle keep-alive connection closes at once; one mid-answer
            // finishes it first.
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(RECLAIM_GRACE, connection).await;
        }
    }
}

/// What the HTTP layer refused a request for, where it did (it answers
/// those with a status of its own, or closes on a slow head); connections
/// that merely end are none.
fn refusal(e: &hyper::Error) -> Option<Refusal> {
    if e.is_parse_too_large() {
        Some(Refusal::TooLarge)
    } else if e.is_parse() {
        Some(Refusal::Malformed)
    } else if e.is_timeout() {
        Some(Refusal::HeadTimeout)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Out of file descriptors, `accept` fails every 50 ms: one line per
    /// ten seconds, counting the failures it stands for.
    #[test]
    fn accept_failures_are_logged_once_per_interval() {
        let e = io::Error::from_raw_os_error(24);
        let mut f = AcceptFailures::default();
        let t0 = Instant::now();
        let first = f.message(&e, t0).expect("the first failure is logged");
        assert!(first.contains("1 time since"), "{first}");
        for i in 1..200 {
            assert_eq!(f.message(&e, t0 + Duration::from_millis(50 * i)), None);
        }
        let next = f
            .message(&e, t0 + ACCEPT_ERROR_LOG_EVERY)
            .expect("logged again after the interval");
        assert!(next.contains("200 times since"), "{next}");
    }

    /// `0.0.0.0:P` and `[::]:P` listed together both bind, and each
    /// accepts its own family; `[::]:P` alone accepts IPv4 too.
    #[tokio::test]
    async fn an_ipv4_and_an_ipv6_wildcard_on_one_port_both_bind() {
        let probe = bind("0.0.0.0:0".parse().expect("addr"), &[]).expect("bind");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        let v4: SocketAddr = format!("0.0.0.0:{port}").parse().expect("addr");
        let v6: SocketAddr = format!("[::]:{port}").parse().expect("addr");
        let both = [v4, v6];
        let l4 = bind(v4, &both).expect("bind 0.0.0.0");
        let l6 = bind(v6, &both).expect("bind [::] next to 0.0.0.0");
        for (listener, peer) in [(l4, "127.0.0.1"), (l6, "::1")] {
            let listener = TcpListener::from_std(listener).expect("tokio listener");
            let peer: SocketAddr = SocketAddr::new(peer.parse().expect("ip"), port);
            let _client = TcpStream::connect(peer).await.expect("connect");
            let (_, from) = listener.accept().await.expect("accept");
            assert_eq!(
                from.is_ipv4(),
                peer.is_ipv4(),
                "{from} on the listener of {peer}"
            );
        }

        let alone = bind(v6, &[v6]).expect("bind [::] alone");
        let listener = TcpListener::from_std(alone).expect("tokio listener");
        let _client = TcpStream::connect(SocketAddr::new([127, 0, 0, 1].into(), port))
            .await
            .expect("connect over IPv4");
        listener.accept().await.expect("[::] alone accepts IPv4");
    }

    /// A peer that never reads: writes fail once they have waited the
    /// timeout, instead of waiting for ever.
    #[tokio::test]
    async fn writes_to_a_peer_that_never_reads_time_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _peer = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let mut guarded = StallGuard::new(server, Duration::from_millis(200), None);
        let chunk = vec![0u8; 1 << 16];
        let writes = async {
            loop {
                if let Err(e) = guarded.write_all(&chunk).await {
                    return e;
                }
            }
        };
        // Unguarded, the writes would wait for ever once the socket
        // buffers are full; the outer limit turns that into a failure.
        let err = tokio::time::timeout(Duration::from_secs(20), writes)
            .await
            .expect("the stalled write never failed");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    }
}

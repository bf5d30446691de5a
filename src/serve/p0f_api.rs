//! p0f's query socket (`p0f -s`), so that what already asks p0f about a
//! host (its `p0f-client`, mail filters' p0f plugins, the p0f API libraries
//! of Python, Perl, PHP, Go, Node) asks synprint instead, unchanged.
//!
//! The protocol is p0f 3's (its README, section 4): a Unix stream socket;
//! each query is 21 bytes (magic `0x50304601` in the machine's byte order,
//! an address type of 4 or 6, sixteen bytes of address, IPv4 at the left)
//! and is answered by 232 bytes (magic `0x50304602`, a status, and the
//! host's data). A connection may ask any number of queries, answered in
//! order.
//!
//! The answer comes from the [`crate::store`], so it covers what the store
//! remembers of the address: the records the address sent (client SYNs and,
//! from a capture, server SYN+ACKs) within the store's time-to-live.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};

use super::metrics::Metrics;
use crate::packet::Timestamp;
use crate::store::{FingerprintStore, IpHistory};

pub const QUERY_LEN: usize = 21;
pub const RESPONSE_LEN: usize = 232;
const QUERY_MAGIC: u32 = 0x5030_4601;
const RESPONSE_MAGIC: u32 = 0x5030_4602;
/// Each text field, NUL included.
const STR_LEN: usize = 32;
/// p0f's default for `-S`: a client that holds a connection open costs a
/// task and a descriptor, so their number is capped; more wait to be
/// accepted.
pub const MAX_CLIENTS: usize = 20;
/// How long an answer may wait for a client to read: one that sends
/// queries and never reads its answers would otherwise keep its place
/// among the [`MAX_CLIENTS`] for good, once the socket's buffer is full.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Who may query: the owner and the group. p0f makes its socket 0666, but
/// the socket answers about every address, which the HTTP API does only
/// with its key.
const SOCKET_MODE: u32 = 0o660;

/// p0f's status dword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    BadQuery = 0x00,
    Ok = 0x10,
    NoMatch = 0x20,
}

/// Why a query is answered with [`Status::BadQuery`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("bad magic 0x{0:08x}")]
    Magic(u32),
    #[error("unknown address type {0} (4 or 6)")]
    AddressType(u8),
}

/// The address a query asks about.
pub fn parse_query(q: &[u8; QUERY_LEN]) -> Result<IpAddr, QueryError> {
    let [m0, m1, m2, m3, kind, addr @ ..] = *q;
    let magic = u32::from_ne_bytes([m0, m1, m2, m3]);
    if magic != QUERY_MAGIC {
        return Err(QueryError::Magic(magic));
    }
    match kind {
        4 => {
            let [a, b, c, d, ..] = addr;
            Ok(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
        }
        6 => Ok(IpAddr::V6(Ipv6Addr::from(addr))),
        other => Err(QueryError::AddressType(other)),
    }
}

/// What p0f's answer says of a host, as far as synprint knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAnswer {
    /// Unix seconds of the oldest and newest record remembered.
    pub first_seen: u32,
    pub last_seen: u32,
    /// SYNs the address sent and SYN+ACKs it answered with: p0f counts a
    /// host in every connection it takes part in.
    pub total_conn: u32,
    /// From the newest record that carried an uptime; 0 when none did.
    pub uptime_min: u32,
    pub up_mod_days: u32,
    /// Unix seconds of the newest `ip sharing` and `host change` p0f's
    /// host tracking reported (a capture's records only); 0 for none.
    pub last_nat: u32,
    pub last_chg: u32,
    /// Hops from the newest record whose signature does not randomise its
    /// TTL; 255 when there is none.
    pub distance: i16,
    /// 1 fuzzy, 2 generic, 3 both: of the newest OS match.
    pub os_match_q: u8,
    /// The newest p0f OS match (not a userland tool's); empty when none.
    pub os_name: String,
    pub os_flavor: String,
    /// The newest MTU with a link label; empty when none.
    pub link_type: String,
}

impl HostAnswer {
    /// As p0f keeps a host: each part from the newest record that had it
    /// ([`crate::store::HostFacts`]), so a host that turns unknown keeps
    /// its last known OS.
    pub fn of(h: &IpHistory) -> HostAnswer {
        let secs = |t: Timestamp| u32::try_from(t.0 / 1_000_000_000).unwrap_or(u32::MAX);
        let f = &h.facts;
        let os = f.os;
        HostAnswer {
            first_seen: secs(f.first_seen),
            last_seen: h
                .fingerprints
                .iter()
                .map(|s| s.last_seen)
                .max()
                .map_or(0, secs),
            total_conn: u32::try_from(h.syns.saturating_add(h.syn_acks)).unwrap_or(u32::MAX),
            uptime_min: f.uptime.map_or(0, |u| u.uptime_min),
            up_mod_days: f.uptime.map_or(0, |u| u.modulo_days),
            last_nat: f.last_nat.map_or(0, secs),
            last_chg: f.last_chg.map_or(0, secs),
            // p0f's host keeps its distance in a byte set to -1, so 3.09b
            // answers 255 for "none" (its README says -1).
            distance: f.hops.map_or(255, i16::from),
            os_match_q: os.map_or(0, |m| u8::from(m.fuzzy) | u8::from(m.generic) << 1),
            os_name: os.map(|m| m.label.name.clone()).unwrap_or_default(),
            os_flavor: os.and_then(|m| m.label.flavor.clone()).unwrap_or_default(),
            link_type: f.link.unwrap_or_default().to_string(),
        }
    }
}

/// The 232 bytes of an answer. The host's fields are zero unless `Ok`.
/// `bad_sw`, the HTTP fields and the language stay zero and empty:
/// synprint does not read HTTP signatures.
pub fn encode(status: Status, host: Option<&HostAnswer>) -> [u8; RESPONSE_LEN] {
    let mut out = [0u8; RESPONSE_LEN];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(slot) = out.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    put(&RESPONSE_MAGIC.to_ne_bytes());
    put(&(status as u32).to_ne_bytes());
    let empty = HostAnswer::default();
    let h = match (status, host) {
        (Status::Ok, Some(h)) => h,
        _ => &empty,
    };
    for n in [
        h.first_seen,
        h.last_seen,
        h.total_conn,
        h.uptime_min,
        h.up_mod_days,
        h.last_nat,
        h.last_chg,
    ] {
        put(&n.to_ne_bytes());
    }
    put(&h.distance.to_ne_bytes());
    put(&[0, h.os_match_q]); // bad_sw, os_match_q
    for text in [&h.os_name, &h.os_flavor, "", "", &h.link_type, ""] {
        let mut field = [0u8; STR_LEN];
        // At most 31 bytes, so that the field always ends in a NUL.
        let n = text.len().min(STR_LEN - 1);
        field[..n].copy_from_slice(&text.as_bytes()[..n]);
        put(&field);
    }
    debug_assert_eq!(at, RESPONSE_LEN);
    out
}

/// The answer to one query at `now`.
pub fn respond(
    q: &[u8; QUERY_LEN],
    store: &dyn FingerprintStore,
    now: Timestamp,
) -> [u8; RESPONSE_LEN] {
    match parse_query(q) {
        Err(_) => encode(Status::BadQuery, None),
        Ok(ip) => host_answer(store.by_ip(ip, now)),
    }
}

/// The answer about a host the store knows, or `no match`.
fn host_answer(host: Option<IpHistory>) -> [u8; RESPONSE_LEN] {
    match host {
        Some(h) => encode(Status::Ok, Some(&HostAnswer::of(&h))),
        None => encode(Status::NoMatch, None),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    #[error("{0} is in use: another process answers on it")]
    InUse(PathBuf),
    #[error("cannot listen on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// A bound query socket. Dropping it removes the socket file, if it is
/// still the one this process made.
pub struct QuerySocket {
    listener: Option<UnixListener>,
    path: PathBuf,
    identity: (u64, u64),
}

impl QuerySocket {
    /// Whether [`QuerySocket::bind`] could bind `path` once the server
    /// answering there now (if any) has stopped: its folder exists, and
    /// nothing but a socket is there.
    pub fn check_place(path: &Path) -> Result<(), SocketError> {
        let io_err = |source| SocketError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => return Ok(()),
            Ok(_) => return Err(SocketError::NotASocket(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match std::fs::metadata(folder) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(io_err(io::Error::from(io::ErrorKind::NotADirectory))),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Binds `path`. A socket file left by a process that is gone is
    /// replaced; a live one, or any other file, is refused.
    pub fn bind(path: &Path) -> Result<QuerySocket, SocketError> {
        let io_err = |source| SocketError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => return Err(SocketError::InUse(path.to_path_buf())),
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        std::fs::remove_file(path).map_err(io_err)?;
                    }
                    Err(e) => return Err(io_err(e)),
                }
            }
            Ok(_) => return Err(SocketError::NotASocket(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let std_listener = std::os::unix::net::UnixListener::bind(path).map_err(io_err)?;
        // The file is changed through a descriptor of what the path names
        // now, never followed: another user who may write to the folder
        // could swap the socket for a link to a file of root's between the
        // bind and a chmod by path. A socket put there instead is only
        // that user's own to open up.
        let placed = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(path)
            .map_err(io_err)?;
        let meta = placed.metadata().map_err(io_err)?;
        if !meta.file_type().is_socket() {
            return Err(SocketError::NotASocket(path.to_path_buf()));
        }
        // From here on, dropping `socket` removes the file again.
        let mut socket = QuerySocket {
            listener: None,
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
        };
        // chmod has no descriptor form for a path-only descriptor; its
        // /proc link reaches the same file without a path lookup.
        let by_descriptor = format!("/proc/self/fd/{}", placed.as_raw_fd());
        std::fs::set_permissions(by_descriptor, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_err)?;
        std_listener.set_nonblocking(true).map_err(io_err)?;
        socket.listener = Some(UnixListener::from_std(std_listener).map_err(io_err)?);
        Ok(socket)
    }

    /// Answers queries from the store until `shutdown`.
    /// Each query first waits, up to `capture_wait`, for the captures to
    /// catch up with it, as the HTTP API's lookups do: a mail filter asks
    /// as soon as it accepts. With `late_captures` (a capture off the
    /// host's path, which may see a SYN after the query), a host not
    /// found is looked for again until then, as there.
    pub async fn serve(
        mut self,
        store: Arc<dyn FingerprintStore>,
        metrics: Arc<Metrics>,
        capture_wait: Duration,
        late_captures: bool,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
        loop {
            let permit = tokio::select! {
                p = Arc::clone(&clients).acquire_owned() => p,
                _ = shutdown.changed() => return,
            };
            let Ok(permit) = permit else { return };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => return,
            };
            match accepted {
                Ok((stream, _)) => {
                    let (store, shutdown) = (Arc::clone(&store), shutdown.clone());
                    let metrics = Arc::clone(&metrics);
                    tokio::spawn(async move {
                        let waits = CaptureWait {
                            metrics: &metrics,
                            wait: capture_wait,
                            late: late_captures,
                        };
                        answer_client(stream, store.as_ref(), waits, shutdown, WRITE_STALL_TIMEOUT)
                            .await;
                        drop(permit);
                    });
                }
                // Out of descriptors or memory: wait rather than spin.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for QuerySocket {
    fn drop(&mut self) {
        // Another process may have replaced the file since: leave theirs.
        if identity(&self.path).is_ok_and(|id| id == self.identity) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn identity(path: &Path) -> io::Result<(u64, u64)> {
    let m = std::fs::symlink_metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// How long a query waits for the captures (zero without any), and
/// whether a miss is looked for again meanwhile.
struct CaptureWait<'a> {
    metrics: &'a Metrics,
    wait: Duration,
    late: bool,
}

/// Answers one client's queries in order until it hangs up (a partial
/// query at the end is dropped, as p0f drops it), leaves an answer unread
/// for `stall`, or the server stops.
async fn answer_client(
    mut stream: UnixStream,
    store: &dyn FingerprintStore,
    waits: CaptureWait<'_>,
    mut shutdown: watch::Receiver<bool>,
    stall: Duration,
) {
    let mut q = [0u8; QUERY_LEN];
    loop {
        let read = tokio::select! {
            r = stream.read_exact(&mut q) => r,
            _ = shutdown.changed() => return,
        };
        if read.is_err() {
            return;
        }
        // A bad query is answered at once; a good one after the captures.
        let answer = match parse_query(&q) {
            Err(_) => encode(Status::BadQuery, None),
            Ok(ip) => {
                let host = super::http::look_up_after_captures(
                    waits.metrics,
                    waits.wait,
                    waits.late,
                    || store.by_ip(ip, super::http::now()),
                );
                tokio::select! {
                    host = host => host_answer(host),
                    _ = shutdown.changed() => return,
                }
            }
        };
        let written = tokio::time::timeout(stall, stream.write_all(&answer)).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
    use crate::craft::{OptionBytes, Stack, TcpPacket};
    use crate::packet::decode_ip;
    use crate::store::{MemoryStore, StoreConfig};

    const SEC: u64 = 1_000_000_000;
    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    fn query(magic: u32, kind: u8, ip: IpAddr) -> [u8; QUERY_LEN] {
        let mut q = [0u8; QUERY_LEN];
        q[..4].copy_from_slice(&magic.to_ne_bytes());
        q[4] = kind;
        match ip {
            IpAddr::V4(a) => q[5..9].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => q[5..].copy_from_slice(&a.octets()),
        }
        q
    }

    fn insert(store: &MemoryStore, engine: &Engine, p: &TcpPacket, secs: u64) {
        let obs = decode_ip(Timestamp(secs * SEC), &p.ip_bytes())
            .expect("decodes")
            .expect("a SYN");
        store.insert(Arc::new(engine.fingerprint(obs, None)));
    }

    /// A client that sends queries and never reads its answers is let go
    /// once an answer has waited `stall`; one that reads is answered.
    #[tokio::test]
    async fn a_client_that_never_reads_is_let_go() {
        let store = MemoryStore::new(StoreConfig::default());
        let (_stop, shutdown) = watch::channel(false);
        let (mut client, server) = UnixStream::pair().expect("pair");
        let stall = Duration::from_millis(300);
        let answering = tokio::spawn(async move {
            let waits = CaptureWait {
                metrics: &Metrics::default(),
                wait: Duration::ZERO,
                late: false,
            };
            answer_client(server, &store, waits, shutdown, stall).await;
        });
        let q = query(QUERY_MAGIC, 4, HOST);
        let mut a = [0u8; RESPONSE_LEN];
        client.write_all(&q).await.expect("query");
        client.read_exact(&mut a).await.expect("answered");
        assert_eq!(u32::from_ne_bytes([a[0], a[1], a[2], a[3]]), RESPONSE_MAGIC);
        // Queries without reading, until the server stops taking them:
        // its answers fill the socket's buffer, then it gives up.
        let flood = async { while client.write_all(&q).await.is_ok() {} };
        let _ = tokio::time::timeout(Duration::from_secs(20), flood).await;
        tokio::time::timeout(Duration::from_secs(5), answering)
            .await
            .expect("the client was let go")
            .expect("task");
    }

    /// With a capture off the host's path, a miss is looked for again
    /// until the wait is up (here the host's SYN is stored meanwhile); a
    /// bad query, and a miss with on-path captures only, are answered at
    /// once.
    #[tokio::test]
    async fn only_a_miss_behind_a_late_capture_is_looked_for_again() {
        const WAIT: Duration = Duration::from_secs(10);
        let store = Arc::new(MemoryStore::new(StoreConfig::default()));
        let (_stop, shutdown) = watch::channel(false);
        let ask = |late: bool, q: [u8; QUERY_LEN]| {
            let (store, shutdown) = (Arc::clone(&store), shutdown.clone());
            async move {
                let (mut client, server) = UnixStream::pair().expect("pair");
                let answering = tokio::spawn(async move {
                    let metrics = Metrics::default();
                    let waits = CaptureWait {
                        metrics: &metrics,
                        wait: WAIT,
                        late,
                    };
                    answer_client(server, store.as_ref(), waits, shutdown, WAIT).await;
                });
                let asked = std::time::Instant::now();
                client.write_all(&q).await.expect("query");
                let mut a = [0u8; RESPONSE_LEN];
                client.read_exact(&mut a).await.expect("answered");
                drop(client);
                answering.await.expect("task");
                let status = u32::from_ne_bytes([a[4], a[5], a[6], a[7]]);
                (status, asked.elapsed())
            }
        };
        let good = query(QUERY_MAGIC, 4, HOST);
        let bad = query(QUERY_MAGIC, 5, HOST);
        let (status, took) = ask(false, good).await;
        assert_eq!(status, Status::NoMatch as u32);
        assert!(took < WAIT / 2, "a miss on the host's path waited {took:?}");
        let (status, took) = ask(true, bad).await;
        assert_eq!(status, Status::BadQuery as u32);
        assert!(took < WAIT / 2, "a bad query waited {took:?}");
        let arriving = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let syn = Stack::Linux.syn(HOST, 40000, SERVER, 443, 1);
                let obs = decode_ip(super::super::http::now(), &syn.ip_bytes())
                    .expect("decodes")
                    .expect("a SYN");
                store.insert(Arc::new(Engine::default().fingerprint(obs, None)));
            })
        };
        let (status, _) = ask(true, good).await;
        arriving.await.expect("stored");
        assert_eq!(status, Status::Ok as u32, "the late SYN was not looked for");
    }

    #[test]
    fn queries_are_read_as_p0f_writes_them() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(parse_query(&query(QUERY_MAGIC, 4, HOST)), Ok(HOST));
        assert_eq!(parse_query(&query(QUERY_MAGIC, 6, v6)), Ok(v6));
        assert_eq!(
            parse_query(&query(QUERY_MAGIC.swap_bytes(), 4, HOST)),
            Err(QueryError::Magic(QUERY_MAGIC.swap_bytes()))
        );
        assert_eq!(
            parse_query(&query(QUERY_MAGIC, 5, HOST)),
            Err(QueryError::AddressType(5))
        );
    }

    /// A host that switches between Windows and Linux: each switch is a
    /// `host change` (an OS difference scores 8), the third an `ip
    /// sharing`; the answer carries the newest of each.
    #[test]
    fn host_changes_and_ip_sharing_are_answered_with_their_times() {
        let store = MemoryStore::new(StoreConfig::default());
        let engine = Engine::default();
        let mut analyzer = Analyzer::new(
            &engine,
            AnalyzerConfig {
                track_hosts: true,
                ..AnalyzerConfig::default()
            },
        );
        let mut feed = |stack: Stack, i: u16| {
            let mut syn = stack.syn(HOST, 40000 + i, SERVER, 443, u32::from(i));
            syn.seq = u32::from(i) * 1000;
            let secs = 10 * u64::from(i);
            let obs = decode_ip(Timestamp(secs * SEC), &syn.ip_bytes())
                .expect("decodes")
                .expect("a SYN");
            let r = analyzer.process_observation(obs).expect("a record");
            store.insert(Arc::new(r));
            HostAnswer::of(&store.by_ip(HOST, Timestamp(secs * SEC)).expect("known"))
        };
        let a = feed(Stack::Windows, 1);
        assert_eq!((a.last_nat, a.last_chg), (0, 0));
        let a = feed(Stack::Linux, 2);
        assert_eq!((a.last_nat, a.last_chg), (0, 20));
        let a = feed(Stack::Windows, 3);
        assert_eq!((a.last_nat, a.last_chg), (0, 30));
        let a = feed(Stack::Linux, 4);
        assert_eq!((a.last_nat, a.last_chg), (40, 30));
    }

    #[test]
    fn answers_are_p0f_layout() {
        let host = HostAnswer {
            first_seen: 1,
            last_seen: 2,
            total_conn: 3,
            uptime_min: 4,
            up_mod_days: 5,
            last_nat: 6,
            last_chg: 7,
            distance: -1,
            os_match_q: 3,
            os_name: "Linux".into(),
            os_flavor: "x".repeat(40),
            link_type: "DSL".into(),
        };
        let a = encode(Status::Ok, Some(&host));
        let word = |at: usize| u32::from_ne_bytes(a[at..at + 4].try_into().unwrap());
        let dwords: Vec<u32> = (0..9).map(|i| word(4 * i)).collect();
        assert_eq!(dwords, [RESPONSE_MAGIC, 0x10, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(i16::from_ne_bytes([a[36], a[37]]), -1);
        assert_eq!((a[38], a[39]), (0, 3));
        let text = |i: usize| &a[40 + 32 * i..72 + 32 * i];
        assert_eq!(&text(0)[..6], b"Linux\0");
        // Cut to 31 bytes: a C client's string always ends.
        assert_eq!(text(1), [[b'x'; 31].as_slice(), &[0]].concat());
        assert_eq!(&text(4)[..4], b"DSL\0");
        for empty in [2, 3, 5] {
            assert!(text(empty).iter().all(|&b| b == 0));
        }
        // Without a host, only the magic and the status.
        let a = encode(Status::NoMatch, Some(&host));
        assert_eq!(a[4..8], 0x20u32.to_ne_bytes());
        assert!(a[8..].iter().all(|&b| b == 0));
    }

    /// The store keeps the newest few fingerprints of an address; what the
    /// host was known by outlives them, as p0f keeps it (found by a
    /// review: after eight unknown SYNs the OS was gone).
    #[test]
    fn known_parts_outlive_the_fingerprints_the_store_drops() {
        let store = MemoryStore::new(StoreConfig {
            per_ip: 2,
            ..StoreConfig::default()
        });
        let engine = Engine::default();
        insert(
            &store,
            &engine,
            &Stack::Windows.syn(HOST, 40000, SERVER, 443, 1),
            10,
        );
        for i in 1..=3u16 {
            let mut unknown = Stack::Linux.syn(HOST, 40000 + i, SERVER, 443, 2);
            unknown.window = 4000 + i;
            unknown.options = OptionBytes::new().sok().mss(1400 + i).nop().nop().0;
            insert(&store, &engine, &unknown, 10 + u64::from(i));
        }
        let history = store.by_ip(HOST, Timestamp(20 * SEC)).expect("known");
        assert_eq!(history.fingerprints.len(), 2);
        let a = HostAnswer::of(&history);
        assert_eq!(a.os_name, "Windows");
        assert_eq!((a.first_seen, a.last_seen, a.total_conn), (10, 13, 4));
        assert_eq!(a.link_type, "Ethernet or modem");
    }

    /// Each part comes from the newest record that has it: an unknown SYN
    /// after a known one leaves the OS (p0f: "this field is not reset"),
    /// and a userland tool's SYN never names the host's OS.
    #[test]
    fn a_host_keeps_its_newest_known_parts() {
        let store = MemoryStore::new(StoreConfig::default());
        let engine = Engine::default();
        let windows = Stack::Windows.syn(HOST, 40000, SERVER, 443, 1);
        insert(&store, &engine, &windows, 10);
        // Nothing in p0f.fp has this window and layout; its MSS is a
        // tunnel's (MTU 1440).
        let mut unknown = Stack::Linux.syn(HOST, 40001, SERVER, 443, 2);
        unknown.window = 4321;
        unknown.ttl = 61;
        unknown.options = OptionBytes::new().sok().mss(1400).nop().nop().0;
        insert(&store, &engine, &unknown, 20);
        // NMap's SYN scan, the newest: a p0f match, but of a tool, which
        // p0f gives no MTU.
        let mut nmap = TcpPacket::syn(HOST, 40002, SERVER, 80);
        (nmap.ttl, nmap.window, nmap.df) = (50, 1024, false);
        nmap.options = OptionBytes::new().mss(1460).0;
        insert(&store, &engine, &nmap, 25);

        let history = store.by_ip(HOST, Timestamp(30 * SEC)).expect("known");
        let p0f_of = |port: u16| {
            history
                .fingerprints
                .iter()
                .find(|s| s.record.obs().src_port == port)
                .map(|s| *s.record.p0f())
                .expect("stored")
        };
        let (known, unmatched, tool) = (p0f_of(40000), p0f_of(40001), p0f_of(40002));
        let label = known.os.expect("p0f knows Windows");
        assert!(unmatched.os.is_none(), "{}", unmatched.raw_sig);
        assert!(tool.os.is_some_and(|l| l.is_app()), "{tool:?}");

        let a = HostAnswer::of(&history);
        assert_eq!(a.os_name, label.name);
        assert_eq!(a.os_flavor, label.flavor.clone().unwrap_or_default());
        assert_eq!(
            a.os_match_q,
            u8::from(known.fuzzy) | u8::from(known.generic) << 1
        );
        // Hops and link from the unknown SYN: the tool's signature says
        // its TTL is random (`64-`), and p0f gives a tool no MTU.
        assert!(tool.bad_ttl);
        assert_eq!(a.distance, i16::from(unmatched.dist));
        assert_eq!(a.distance, 3);
        assert_eq!(a.link_type, "generic tunnel or VPN");
        assert_eq!((a.first_seen, a.last_seen, a.total_conn), (10, 25, 3));
        assert_eq!((a.uptime_min, a.up_mod_days), (0, 0));

        // A host seen only through a random-TTL signature has no distance:
        // p0f 3.09b answers 255.
        let lone = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
        nmap.src = lone;
        insert(&store, &engine, &nmap, 26);
        let history = store.by_ip(lone, Timestamp(30 * SEC)).expect("known");
        assert_eq!(HostAnswer::of(&history).distance, 255);

        let ask = |q| respond(&q, &store, Timestamp(30 * SEC));
        assert_eq!(
            ask(query(QUERY_MAGIC, 4, HOST)),
            encode(Status::Ok, Some(&a))
        );
        let elsewhere = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
        assert_eq!(
            ask(query(QUERY_MAGIC, 4, elsewhere)),
            encode(Status::NoMatch, None)
        );
        let bad = ask(query(0, 4, HOST));
        assert_eq!(bad, encode(Status::BadQuery, None));
        // p0f 3.09b answers a bad query with its magic too.
        assert_eq!(bad[..4], RESPONSE_MAGIC.to_ne_bytes());
    }
}

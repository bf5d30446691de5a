//! `serve --p0f-socket`: p0f's query protocol (its README, section 4)
//! answered from synprint's store, over a real Unix socket, by a client
//! written here from that description.
//!
//! - From the server's own listener (no privileges): a host's answer agrees
//!   with the fingerprint the HTTP API gives for its newest connection;
//!   queries are answered in order, also when they arrive byte by byte.
//! - The socket file: a stale one is replaced; a live one or another file
//!   is refused and left alone; the file is removed at shutdown.
//! - With p0f 3.09b as the oracle (root, p0f installed): p0f and synprint
//!   capture the same loopback connections and must give the same answer
//!   for the client and the server, and the same status to bad queries.

mod skipped;
use skipped::skipped;
mod kernel;
use kernel::{p0f, p0f_missing};
mod serve_common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serve_common::{connect, get_on, SynShape, TestServer, TtlClassifier};
use synprint::analyze::Engine;
use synprint::capture::{CaptureOptions, LiveCapture};
use synprint::serve::{ServeConfig, ServeError, Server};

use serve_common::{p0f_query as query, P0F_QUERY_MAGIC as QUERY_MAGIC};

const RESPONSE_MAGIC: u32 = 0x5030_4602;
const OK: u32 = 0x10;
const NO_MATCH: u32 = 0x20;
const BAD_QUERY: u32 = 0x00;

/// One 232-byte answer, field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    magic: u32,
    status: u32,
    first_seen: u32,
    last_seen: u32,
    total_conn: u32,
    uptime_min: u32,
    up_mod_days: u32,
    last_nat: u32,
    last_chg: u32,
    distance: i16,
    bad_sw: u8,
    os_match_q: u8,
    os_name: String,
    os_flavor: String,
    http_name: String,
    http_flavor: String,
    link_type: String,
    language: String,
}

impl Reply {
    fn decode(b: &[u8; 232]) -> Reply {
        let d = |i: usize| u32::from_ne_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
        let text = |i: usize| {
            let field = &b[40 + 32 * i..72 + 32 * i];
            let end = field.iter().position(|&c| c == 0).expect("NUL-terminated");
            String::from_utf8_lossy(&field[..end]).into_owned()
        };
        Reply {
            magic: d(0),
            status: d(1),
            first_seen: d(2),
            last_seen: d(3),
            total_conn: d(4),
            uptime_min: d(5),
            up_mod_days: d(6),
            last_nat: d(7),
            last_chg: d(8),
            distance: i16::from_ne_bytes([b[36], b[37]]),
            bad_sw: b[38],
            os_match_q: b[39],
            os_name: text(0),
            os_flavor: text(1),
            http_name: text(2),
            http_flavor: text(3),
            link_type: text(4),
            language: text(5),
        }
    }

    /// The host's data without the times, which the callers compare with
    /// a tolerance.
    fn comparable(&self) -> Reply {
        Reply {
            first_seen: 0,
            last_seen: 0,
            last_nat: 0,
            last_chg: 0,
            ..self.clone()
        }
    }
}

fn ask_raw(socket: &Path, q: [u8; 21]) -> Reply {
    let mut s = UnixStream::connect(socket).expect("connect to the query socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&q).expect("query");
    let mut b = [0u8; 232];
    s.read_exact(&mut b).expect("a whole answer");
    Reply::decode(&b)
}

fn ask(socket: &Path, ip: IpAddr) -> Reply {
    let kind = if ip.is_ipv4() { 4 } else { 6 };
    ask_raw(socket, query(QUERY_MAGIC, kind, ip))
}

fn unix_now() -> u32 {
    let s = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    s.as_secs() as u32
}

fn with_socket(config: ServeConfig, socket: &Path) -> ServeConfig {
    ServeConfig {
        p0f_socket: Some(socket.to_path_buf()),
        ..config
    }
}

/// A GET on a connection of the given shape; the detailed answer's `fp`.
fn fingerprint_of(addr: SocketAddr, shape: SynShape) -> serde_json::Value {
    let mut s = connect(addr, shape);
    let reply = get_on(&mut s, "/classify?detail=1", &[]);
    assert_eq!(reply.status, 200);
    reply.json()["fp"].clone()
}

#[test]
fn a_host_is_answered_from_the_own_listeners_saved_syns() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p0f.sock");
    let config = ServeConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..ServeConfig::default()
    };
    let before = unix_now();
    let server = TestServer::start(with_socket(config, &socket));
    let meta = std::fs::metadata(&socket).expect("the socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let addr = server.addr(false);
    let older = fingerprint_of(addr, SynShape::default());
    // The newest connection has a tunnel's MSS: MTU 1400 + 40 is one of
    // p0f's "generic tunnel or VPN" values.
    let newest = fingerprint_of(
        addr,
        SynShape {
            mss: Some(1400),
            ..SynShape::default()
        },
    );
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    let a = ask(&socket, me);
    assert_eq!((a.magic, a.status), (RESPONSE_MAGIC, OK));
    // The OS of the newest connection p0f knows (it knows the default
    // SYN on loopback; the smaller MSS changes the window).
    let known = [&newest, &older]
        .into_iter()
        .map(|fp| &fp["p0f"])
        .find(|p0f| p0f["os"].is_string())
        .expect("p0f knows this kernel's SYN");
    let os = if a.os_flavor.is_empty() {
        a.os_name.clone()
    } else {
        format!("{} {}", a.os_name, a.os_flavor)
    };
    assert_eq!(os, known["os"].as_str().unwrap());
    let quality = u8::from(known["fuzzy"] == true) | u8::from(known["generic"] == true) << 1;
    assert_eq!(a.os_match_q, quality);
    let p0f = &newest["p0f"];
    assert_eq!(i64::from(a.distance), p0f["dist"].as_i64().unwrap());
    assert_eq!(Some(a.link_type.as_str()), newest["mtu"]["link"].as_str());
    assert_eq!(a.link_type, "generic tunnel or VPN");
    assert_eq!(a.total_conn, 2);
    assert!(before <= a.first_seen && a.first_seen <= a.last_seen && a.last_seen <= unix_now());
    // Nothing synprint does not know is made up.
    assert_eq!((a.last_nat, a.last_chg, a.bad_sw), (0, 0, 0));
    assert_eq!([&a.http_name, &a.http_flavor, &a.language], ["", "", ""]);

    // Three queries in one write, answered in order on one connection; then
    // one sent a byte at a time.
    let unknown: IpAddr = "192.0.2.9".parse().unwrap();
    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let three = [
        query(QUERY_MAGIC, 4, me),
        query(QUERY_MAGIC, 4, unknown),
        query(0x1234_5678, 4, me),
    ]
    .concat();
    s.write_all(&three).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let mut b = [0u8; 232];
        s.read_exact(&mut b).unwrap();
        let r = Reply::decode(&b);
        assert_eq!(r.magic, RESPONSE_MAGIC);
        statuses.push(r.status);
    }
    assert_eq!(statuses, [OK, NO_MATCH, BAD_QUERY]);
    for byte in query(QUERY_MAGIC, 4, me) {
        s.write_all(&[byte]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut b = [0u8; 232];
    s.read_exact(&mut b).unwrap();
    assert_eq!(Reply::decode(&b), a);
    // An address type p0f does not know.
    assert_eq!(
        ask_raw(&socket, query(QUERY_MAGIC, 9, me)).status,
        BAD_QUERY
    );

    drop(server);
    assert!(!socket.exists(), "the socket file is removed at shutdown");
}

fn start(config: &ServeConfig) -> (tokio::runtime::Runtime, Result<Server, ServeError>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(Server::start_with(
        config,
        Arc::new(Engine::default()),
        Arc::new(TtlClassifier),
        Vec::new(),
    ));
    (rt, r)
}

#[test]
fn the_socket_file_is_replaced_only_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let config = |path: &Path| {
        with_socket(
            ServeConfig {
                listen: vec!["127.0.0.1:0".parse().unwrap()],
                ..ServeConfig::default()
            },
            path,
        )
    };

    // Another file under that name is never removed.
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let (_rt, refused) = start(&config(&file));
    let e = refused.err().expect("refused").to_string();
    assert!(e.contains("is not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    // A socket whose process is gone is replaced.
    let socket: PathBuf = dir.path().join("p0f.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let first = TestServer::start(config(&socket));
    assert_eq!(ask(&socket, "192.0.2.1".parse().unwrap()).status, NO_MATCH);

    // A live one is not taken over.
    let (_rt, refused) = start(&config(&socket));
    let e = refused.err().expect("refused").to_string();
    assert!(e.contains("in use"), "{e}");
    assert_eq!(ask(&socket, "192.0.2.1".parse().unwrap()).status, NO_MATCH);

    drop(first);
    assert!(!socket.exists());
}

/// A p0f child, killed and waited for even when the test fails.
struct P0f(Child);

impl Drop for P0f {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks both until `ready` holds for both answers, or ten seconds pass
/// (p0f and the capture read packets on their own time).
fn both_when(
    p0f: &Path,
    ours: &Path,
    ip: IpAddr,
    ready: impl Fn(&Reply) -> bool,
) -> (Reply, Reply) {
    let start = Instant::now();
    loop {
        let (theirs, mine) = (ask(p0f, ip), ask(ours, ip));
        if (ready(&theirs) && ready(&mine)) || start.elapsed() > Duration::from_secs(10) {
            return (theirs, mine);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection from `from`, one request line and its echo, closed.
fn exchange(from: IpAddr, to: SocketAddr, mss: Option<u32>) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    if let Some(m) = mss {
        s.set_tcp_mss(m).unwrap();
    }
    s.connect(&to.into()).unwrap();
    let mut t: TcpStream = s.into();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    t.write_all(b"hello\n").unwrap();
    let mut echo = [0u8; 6];
    t.read_exact(&mut echo).unwrap();
}

/// A server on `ip` that echoes a six-byte line per connection.
fn echo_server(ip: &str) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let mut line = [0u8; 6];
            if s.read_exact(&mut line).is_ok() {
                let _ = s.write_all(&line);
            }
        }
    });
    addr
}

#[test]
fn answers_match_p0f_for_the_same_loopback_connections() {
    if p0f_missing() {
        return;
    }
    if !synprint::sys::is_root() {
        skipped("capturing on lo needs root (CAP_NET_RAW)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (theirs, ours) = (dir.path().join("p0f.sock"), dir.path().join("syn.sock"));
    // Only this test's addresses: other tests of this binary use 127.0.0.1
    // and ::1.
    let filter = "tcp and net 127.0.0.0/8 and not host 127.0.0.1";
    let p0f = P0f(p0f()
        .args(["-i", "lo", "-s"])
        .arg(&theirs)
        .arg(filter)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start p0f"));
    let capture = LiveCapture::open("lo", &CaptureOptions::default()).expect("capture on lo");
    let server = TestServer::start_with(
        with_socket(
            ServeConfig {
                listen: vec!["127.0.0.1:0".parse().unwrap()],
                ..ServeConfig::default()
            },
            &ours,
        ),
        Arc::new(TtlClassifier),
        vec![capture],
    );

    let to = echo_server("127.0.0.3");
    let probe_to = echo_server("127.0.0.6");

    // Until both capture: a probe from 127.0.0.5, asked until both know it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let probe: IpAddr = "127.0.0.5".parse().unwrap();
    while std::fs::metadata(&theirs).is_err() {
        assert!(Instant::now() < deadline, "p0f made no socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    loop {
        exchange(probe, probe_to, None);
        let (a, b) = (ask(&theirs, probe), ask(&ours, probe));
        if a.status == OK && b.status == OK {
            break;
        }
        assert!(Instant::now() < deadline, "p0f {a:?}, synprint {b:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The measured client: three connections, the middle one with a
    // tunnel's MSS, which p0f keeps as the host's link after the third.
    let client: IpAddr = "127.0.0.2".parse().unwrap();
    for mss in [None, Some(1400), None] {
        exchange(client, to, mss);
        std::thread::sleep(Duration::from_millis(100));
    }
    for ip in [client, to.ip()] {
        let (a, b) = both_when(&theirs, &ours, ip, |r| r.total_conn >= 3);
        assert_eq!(a.status, OK, "p0f on {ip}: {a:?}");
        assert_eq!(b.comparable(), a.comparable(), "{ip}: synprint, p0f");
        for (mine, p0fs) in [
            (b.first_seen, a.first_seen),
            (b.last_seen, a.last_seen),
            (b.last_nat, a.last_nat),
            (b.last_chg, a.last_chg),
        ] {
            // Both unset, or set within the same second or so.
            assert_eq!(mine == 0, p0fs == 0, "{ip}: {b:?} / {a:?}");
            assert!(mine.abs_diff(p0fs) <= 1, "{ip}: times {b:?} / {a:?}");
        }
    }
    // The client's second and third SYNs change its MSS, and Linux starts
    // each connection's timestamps anew: p0f reports a host change.
    assert_ne!(ask(&theirs, client).last_chg, 0, "p0f saw no host change");
    assert_eq!(ask(&ours, client).link_type, "generic tunnel or VPN");

    // Bad and unknown queries get the same status and magic from both.
    for q in [
        query(QUERY_MAGIC, 4, "192.0.2.77".parse().unwrap()),
        query(0xdead_beef, 4, client),
        query(QUERY_MAGIC, 5, client),
    ] {
        let (a, b) = (ask_raw(&theirs, q), ask_raw(&ours, q));
        assert_eq!((b.magic, b.status), (a.magic, a.status), "{q:?}");
    }
    drop(server);
    drop(p0f);
}

//! Shared by the serve tests: a server on loopback and a tiny HTTP client
//! over sockets whose options shape the SYN the kernel sends.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use synprint::analyze::{Engine, Record};
use synprint::classify::{os_from_user_agent, Family, Os};
use synprint::serve::{Judgements, OsClassifier, OsProbabilities, OsView, ServeConfig, Server};

/// A stand-in classifier with a visible rule (TTL above 64 → Windows, else
/// Linux; a User-Agent naming another family is a mismatch), so tests can
/// check how the API reads the User-Agent and maps a classifier's answer;
/// the real classifier and its verdict are tested in `classify` and,
/// through the server, in `serve_browser.rs`.
pub struct TtlClassifier;

impl OsClassifier for TtlClassifier {
    fn view(&self, r: &Record, ua: Option<&str>) -> Option<OsView> {
        let windows = r.obs().ttl > 64;
        let family = if windows {
            Family::Windows
        } else {
            Family::Linux
        };
        let claimed = ua.and_then(|ua| os_from_user_agent(ua).ok().flatten());
        let p = if windows {
            OsProbabilities {
                windows: 0.9,
                linux: 0.1,
                ..Default::default()
            }
        } else {
            OsProbabilities {
                linux: 0.7,
                android: 0.2,
                windows: 0.1,
                ..Default::default()
            }
        };
        Some(OsView {
            probabilities: p,
            classification: serde_json::value::RawValue::from_string(
                serde_json::json!({ "os": if windows { "Windows" } else { "Linux" } }).to_string(),
            )
            .ok(),
            verdict: None,
            judgements: Judgements {
                os_mismatch: claimed
                    .filter(|&os| os != Os::Unknown)
                    .map(|os| os.family() != family),
                ..Judgements::default()
            },
        })
    }
}

pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<Server>,
}

impl TestServer {
    /// A server with the stand-in [`TtlClassifier`] and no capture.
    pub fn start(config: ServeConfig) -> TestServer {
        TestServer::start_with(config, Arc::new(TtlClassifier), Vec::new())
    }

    /// A server with the given classifier and already opened captures.
    pub fn start_with(
        config: ServeConfig,
        classifier: Arc<dyn OsClassifier>,
        captures: Vec<synprint::capture::LiveCapture>,
    ) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(Server::start_with(
                &config,
                Arc::new(Engine::default()),
                classifier,
                captures,
            ))
            .expect("server starts");
        TestServer {
            rt,
            server: Some(server),
        }
    }

    pub fn addr(&self, v6: bool) -> SocketAddr {
        *self
            .server
            .as_ref()
            .expect("running")
            .local_addrs()
            .iter()
            .find(|a| a.is_ipv6() == v6)
            .expect("an address of that family")
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown(Duration::from_secs(2)));
        }
    }
}

/// Loopback IPv4 and IPv6 on ephemeral ports.
pub fn loopback_config() -> ServeConfig {
    ServeConfig {
        listen: vec![
            "127.0.0.1:0".parse().expect("addr"),
            "[::1]:0".parse().expect("addr"),
        ],
        ..ServeConfig::default()
    }
}

/// Options applied to the client socket before connecting, so its SYN
/// differs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SynShape {
    pub mss: Option<u32>,
    pub ttl: Option<u32>,
    pub rcvbuf: Option<usize>,
}

pub fn connect(addr: SocketAddr, shape: SynShape) -> TcpStream {
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).expect("socket");
    if let Some(m) = shape.mss {
        s.set_tcp_mss(m).expect("TCP_MAXSEG");
    }
    if let Some(t) = shape.ttl {
        if addr.is_ipv6() {
            s.set_unicast_hops_v6(t).expect("IPV6_UNICAST_HOPS");
        } else {
            s.set_ttl_v4(t).expect("IP_TTL");
        }
    }
    if let Some(b) = shape.rcvbuf {
        s.set_recv_buffer_size(b).expect("SO_RCVBUF");
    }
    s.connect_timeout(&addr.into(), Duration::from_secs(5))
        .expect("connect");
    let t: TcpStream = s.into();
    t.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    t
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One GET on an open (keep-alive) connection.
pub fn get_on(s: &mut TcpStream, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("Host", "test")];
    all.extend_from_slice(headers);
    request_on(s, "GET", path, &all)
}

/// One HTTP/1.1 request of `method` with exactly these headers (`Host`
/// among them, or not) on an open connection.
pub fn request_on(s: &mut TcpStream, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send request");
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read head");
        assert!(n == 1, "connection closed mid-head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    // RFC 9110: no body after HEAD, 204 or 304, whatever the headers say.
    let body = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if header("transfer-encoding") == Some("chunked") {
        read_chunked(s)
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).expect("read body");
        body
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A chunked body (RFC 9112 section 7.1), without trailers.
fn read_chunked(s: &mut TcpStream) -> Vec<u8> {
    let mut r = std::io::BufReader::new(s);
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut r, &mut line).expect("chunk size line");
        let size = usize::from_str_radix(line.trim_end(), 16).expect("hex chunk size");
        let mut chunk = vec![0u8; size + 2];
        r.read_exact(&mut chunk).expect("chunk");
        assert!(chunk.ends_with(b"\r\n"), "chunk not followed by CRLF");
        chunk.truncate(size);
        body.extend_from_slice(&chunk);
        if size == 0 {
            assert!(
                r.buffer().is_empty(),
                "bytes after the last chunk would be lost"
            );
            return body;
        }
    }
}

/// One GET on a fresh connection.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = connect(addr, SynShape::default());
    get_on(&mut s, path, headers)
}

/// The server's `/metrics` text.
pub fn metrics_text(addr: SocketAddr) -> String {
    String::from_utf8_lossy(&get(addr, "/metrics", &[]).body).into_owned()
}

/// The first `n` addresses a `synprint serve` child announces on its
/// standard error (which must be piped); the rest of its standard error is
/// drained from then on, so the child never blocks on a full pipe.
pub fn announced_addresses(child: &mut std::process::Child, n: usize) -> Vec<SocketAddr> {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut addrs = Vec::new();
    while addrs.len() < n {
        let line = lines
            .next()
            .expect("serve printed its addresses")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("synprint serve: listening on http://") {
            let addr = rest.trim_end_matches("/classify");
            addrs.push(addr.parse().expect("an address"));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    addrs
}

/// p0f 3's query magic (p0f's `api.h`).
pub const P0F_QUERY_MAGIC: u32 = 0x5030_4601;

/// A p0f query socket's 21-byte query: `magic`, address type `kind` (4,
/// 6), the address.
pub fn p0f_query(magic: u32, kind: u8, ip: std::net::IpAddr) -> [u8; 21] {
    let mut q = [0u8; 21];
    q[..4].copy_from_slice(&magic.to_ne_bytes());
    q[4] = kind;
    match ip {
        std::net::IpAddr::V4(a) => q[5..9].copy_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => q[5..].copy_from_slice(&a.octets()),
    }
    q
}

/// A TCP socket bound to `ip` (any port), not yet connected: a client
/// whose address or port a test chooses before its SYN leaves.
pub fn client_bound_to(ip: std::net::Ipv4Addr) -> Socket {
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    client
        .bind(&SocketAddr::from((ip, 0)).into())
        .expect("bind");
    client
}

//! Capture mode end to end: two network namespaces joined by a veth pair;
//! crafted Windows, macOS and Android SYNs leave one end through a raw
//! socket, and the AF_PACKET capture on the other end stores and classifies
//! them. Needs root and `ip` (iproute2); skips with a message otherwise.
//! The namespaces are always deleted, also when the test fails.

mod skipped;
use skipped::skipped;
mod kernel;
use kernel::in_netns;
mod serve_common;

use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use serve_common::{get, metrics_text, TestServer};
use synprint::capture::{CaptureCounters, CaptureOptions, Delivery, LiveCapture};
use synprint::craft::{ethernet_frame, Stack, TcpPacket};
use synprint::packet::{flags, Timestamp};
use synprint::serve::{ApiKey, ServeConfig};
use synprint::sys;

/// Capture options with only a port filter.
fn port(port: Option<u16>) -> CaptureOptions {
    CaptureOptions {
        port,
        ..CaptureOptions::default()
    }
}

const KEY: &str = "capture-test-key";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Two namespaces and a veth pair, removed on drop.
struct NetnsPair {
    a: String,
    b: String,
    veth_a: String,
    veth_b: String,
}

impl NetnsPair {
    fn create() -> Result<NetnsPair, String> {
        // Tests run in parallel: each pair has names of its own.
        static PAIRS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = PAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = std::process::id();
        let pair = NetnsPair {
            a: format!("synprint-a{n}-{id}"),
            b: format!("synprint-b{n}-{id}"),
            // Interface names are at most 15 bytes.
            veth_a: format!("spa{n}-{}", id % 1_000_000),
            veth_b: format!("spb{n}-{}", id % 1_000_000),
        };
        let (va, vb) = (pair.veth_a.as_str(), pair.veth_b.as_str());
        ip(&["netns", "add", &pair.a])?;
        ip(&["netns", "add", &pair.b])?;
        let steps: [&[&str]; 10] = [
            &[
                "link", "add", va, "netns", &pair.a, "type", "veth", "peer", "name", vb, "netns",
                &pair.b,
            ],
            &["-n", &pair.a, "addr", "add", "10.77.0.1/24", "dev", va],
            &["-n", &pair.b, "addr", "add", "10.77.0.2/24", "dev", vb],
            &[
                "-n",
                &pair.a,
                "addr",
                "add",
                "fd77::1/64",
                "dev",
                va,
                "nodad",
            ],
            &[
                "-n",
                &pair.b,
                "addr",
                "add",
                "fd77::2/64",
                "dev",
                vb,
                "nodad",
            ],
            &["-n", &pair.a, "link", "set", va, "up"],
            &["-n", &pair.b, "link", "set", vb, "up"],
            &["-n", &pair.a, "link", "set", "lo", "up"],
            &["-n", &pair.b, "link", "set", "lo", "up"],
            &["-n", &pair.b, "link", "show", vb],
        ];
        for s in steps {
            ip(s)?;
        }
        Ok(pair)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with
        // it the other end.
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

fn can_run() -> bool {
    if !sys::is_root() {
        skipped("needs root (network namespaces, AF_PACKET)");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        skipped("`ip` (iproute2) is not installed");
        return false;
    }
    kernel::packet_sockets_allowed() && kernel::namespaces_allowed()
}

fn addr(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// Captures in namespace b on the veth end (SOCK_RAW, Ethernet frames)
/// and on `any` (SOCK_DGRAM, bare IP): both read the same packets through
/// their own code paths.
fn both_captures(pair: &NetnsPair, options: CaptureOptions) -> Vec<LiveCapture> {
    let vb = pair.veth_b.clone();
    let captures = in_netns(&pair.b, move || {
        [
            LiveCapture::open(&vb, &options),
            LiveCapture::open("any", &options),
        ]
    });
    captures
        .into_iter()
        .map(|c| c.expect("capture opens as root"))
        .collect()
}

/// Sends `frames` out of namespace a's veth end, byte for byte.
fn send_from_a(pair: &NetnsPair, frames: Vec<Vec<u8>>) {
    let va = pair.veth_a.clone();
    in_netns(&pair.a, move || {
        let idx = sys::ifindex(&va).expect("veth index");
        let sock = sys::PacketSocket::open(false).expect("raw socket");
        for f in &frames {
            sock.send_to(idx, f).expect("send frame");
        }
    });
}

#[test]
fn capture_on_veth_stores_and_classifies_crafted_syns() {
    if !can_run() {
        return;
    }
    let pair = NetnsPair::create().expect("network namespaces");
    let captures = both_captures(&pair, port(Some(443)));

    let config = ServeConfig {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        api_key: ApiKey::new(KEY.into()),
        ..ServeConfig::default()
    };
    let srv = TestServer::start_with(config, synprint::serve::installed_classifier(), captures);

    // (stack, client address, source port)
    let sends = [
        (Stack::Windows, "10.77.0.1", 41001u16),
        (Stack::MacOs, "10.77.0.1", 41002),
        (Stack::Android, "10.77.0.1", 41003),
        (Stack::Windows, "fd77::1", 41004),
        (Stack::MacOs, "fd77::1", 41005),
        (Stack::Android, "fd77::1", 41006),
    ];
    let frames: Vec<Vec<u8>> = {
        let mut v = Vec::new();
        for (i, (stack, src, port)) in sends.iter().enumerate() {
            let dst = if src.contains(':') {
                "fd77::2"
            } else {
                "10.77.0.2"
            };
            let syn = stack.syn(addr(src), *port, addr(dst), 443, i as u32);
            v.push(ethernet_frame(&syn.ip_bytes()));
        }
        // The first SYN sent again (a retransmission): read, no record.
        let again = v.first().cloned().expect("a SYN");
        v.push(again);
        // Filtered out in the kernel: a SYN to another port, and a bare ACK.
        let other = Stack::Windows.syn(addr("10.77.0.1"), 41100, addr("10.77.0.2"), 80, 9);
        v.push(ethernet_frame(&other.ip_bytes()));
        let mut ack = Stack::Linux.syn(addr("10.77.0.1"), 41101, addr("10.77.0.2"), 443, 10);
        ack.flags = flags::ACK;
        v.push(ethernet_frame(&ack.ip_bytes()));
        // A server's SYN+ACK from port 443 passes.
        let syn = Stack::Linux.syn(addr("10.77.0.1"), 41102, addr("10.77.0.2"), 443, 11);
        let mut synack = TcpPacket::syn_ack_for(&syn);
        synack.ttl = 64;
        v.push(ethernet_frame(&synack.ip_bytes()));
        v
    };
    send_from_a(&pair, frames);

    let store = srv.server().store();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = 0;
    while Instant::now() < deadline {
        found = sends
            .iter()
            .filter(|(_, src, port)| {
                store
                    .by_connection(addr(src), *port, synprint_now())
                    .is_some()
            })
            .count();
        if found == sends.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(found, sends.len(), "every crafted SYN reached the store");

    let a = srv.addr(false);
    for (stack, src, port) in sends {
        let j = get(
            a,
            &format!("/classify?key={KEY}&ip={src}&port={port}&detail=1"),
            &[],
        )
        .json();
        assert_eq!(j["syn_source"], "store", "{j}");
        assert_eq!(j["fp"]["src_port"], port);
        assert_eq!(j["fp"]["dst_port"], 443);
        let expected_ttl = if stack == Stack::Windows { 128 } else { 64 };
        assert_eq!(j["fp"]["ip_ttl"], expected_ttl, "{stack:?} {j}");
        let windows = j["avg_score_os_class"]["Windows"]
            .as_f64()
            .expect("classified");
        assert_eq!(windows > 0.5, stack == Stack::Windows, "{stack:?} {j}");
        assert!(j["classification"]["os"].is_string());
        assert_eq!(j["kind"], "syn", "{j}");
    }
    // Filtered in the kernel: never stored.
    assert!(store
        .by_connection(addr("10.77.0.1"), 41100, synprint_now())
        .is_none());
    assert!(store
        .by_connection(addr("10.77.0.1"), 41101, synprint_now())
        .is_none());
    // The SYN+ACK is stored under the server's address.
    let server_side = store
        .by_connection(addr("10.77.0.2"), 443, synprint_now())
        .expect("syn+ack stored");
    assert_eq!(server_side.obs().kind, synprint::packet::Kind::SynAck);
    // The server, known only by its SYN+ACK: its answer says so, and a
    // server's stack says nothing of a browser's User-Agent.
    let j = get(
        a,
        &format!("/classify?key={KEY}&ip=10.77.0.2"),
        &[("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)")],
    )
    .json();
    assert_eq!(j["kind"], "syn_ack", "{j}");
    assert_eq!(j["lookup_port"], 443, "{j}");
    assert!(j["os_mismatch"].is_null(), "{j}");

    // Both captures must have delivered everything; either may lag the
    // other (a ring block timeout, a thread still zeroing its tables).
    let metrics = || metrics_text(a);
    let needles: Vec<String> = [pair.veth_b.as_str(), "any"]
        .iter()
        .map(|i| format!("synprint_syns_total{{source=\"capture\",interface=\"{i}\"}} 7"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut m = metrics();
    while !needles.iter().all(|n| m.contains(n.as_str())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        m = metrics();
    }
    let line = |p: &str| {
        m.lines()
            .find(|l| l.starts_with(p))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{p} in\n{m}"))
    };
    for iface in [pair.veth_b.as_str(), "any"] {
        assert_eq!(
            line(&format!(
                "synprint_capture_packets_total{{interface=\"{iface}\",stage=\"received\"}}"
            )),
            8,
            "{iface}: six SYNs, one of them twice, and one SYN+ACK pass the filter"
        );
        assert_eq!(
            line(&format!(
                "synprint_syns_total{{source=\"capture\",interface=\"{iface}\"}}"
            )),
            7,
            "{iface}"
        );
        assert_eq!(
            line(&format!(
                "synprint_capture_packets_total{{interface=\"{iface}\",stage=\"not_fingerprinted\"}}"
            )),
            1,
            "{iface}: every packet made a record but the retransmission"
        );
    }
    drop(srv);
    drop(pair);
}

/// `capture_tunnels`: SYNs inside VXLAN and GRE reach the store, from the
/// veth end and from `any`; one inside a tunnel to another port does not
/// (the kernel passes the tunnel whole; the capture's analyzer keeps the
/// port).
#[test]
fn capture_tunnels_store_the_inner_syns() {
    use synprint::craft::Encapsulation;
    if !can_run() {
        return;
    }
    let pair = NetnsPair::create().expect("network namespaces");
    let options = CaptureOptions {
        tunnels: true,
        ..port(Some(443))
    };
    let captures = both_captures(&pair, options);
    let config = ServeConfig {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        ..ServeConfig::default()
    };
    let srv = TestServer::start_with(config, synprint::serve::installed_classifier(), captures);

    // (encapsulation, stack, client, source port, server port)
    let sends = [
        (
            Encapsulation::Vxlan,
            Stack::Windows,
            "10.77.0.1",
            42001u16,
            443u16,
        ),
        (Encapsulation::Gre, Stack::MacOs, "fd77::1", 42002, 443),
        (Encapsulation::Vxlan, Stack::Android, "10.77.0.1", 42003, 80),
    ];
    let frames: Vec<Vec<u8>> = sends
        .iter()
        .map(|&(enc, stack, src, sport, dport)| {
            let dst = if src.contains(':') {
                "fd77::2"
            } else {
                "10.77.0.2"
            };
            let syn = stack.syn(addr(src), sport, addr(dst), dport, u32::from(sport));
            enc.wrap(&syn.ip_bytes()).1
        })
        .collect();
    send_from_a(&pair, frames);

    let a = srv.addr(false);
    let needles: Vec<String> = [pair.veth_b.as_str(), "any"]
        .iter()
        .map(|i| format!("synprint_syns_total{{source=\"capture\",interface=\"{i}\"}} 2"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut m = metrics_text(a);
    while !needles.iter().all(|n| m.contains(n.as_str())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        m = metrics_text(a);
    }
    for n in &needles {
        assert!(m.contains(n.as_str()), "{n} in\n{m}");
    }
    let store = srv.server().store();
    for (_, stack, src, sport, dport) in sends {
        let stored = store.by_connection(addr(src), sport, synprint_now());
        assert_eq!(stored.is_some(), dport == 443, "{stack:?} to port {dport}");
        if let Some(r) = stored {
            assert_eq!(r.obs().dst_port, 443);
        }
    }
    drop(srv);
    drop(pair);
}

/// `capture_filter` keeps what its expression names: of three SYNs, the
/// one to port 80 over IPv4 is left out.
#[test]
fn a_capture_filter_keeps_what_it_names() {
    if !can_run() {
        return;
    }
    let pair = NetnsPair::create().expect("network namespaces");
    let captures = both_captures(&pair, port(None));
    let config = ServeConfig {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        capture_filter: Some(
            synprint::packet::Filter::parse("dst port 443 or ip6").expect("filter"),
        ),
        ..ServeConfig::default()
    };
    let srv = TestServer::start_with(config, synprint::serve::installed_classifier(), captures);
    // The one left out goes first: once the last is stored, it was read.
    let sends = [
        ("10.77.0.1", "10.77.0.2", 43001u16, 80u16, false),
        ("10.77.0.1", "10.77.0.2", 43002, 443, true),
        ("fd77::1", "fd77::2", 43003, 80, true),
    ];
    let frames = sends
        .iter()
        .map(|&(src, dst, sport, dport, _)| {
            let syn = Stack::Linux.syn(addr(src), sport, addr(dst), dport, u32::from(sport));
            ethernet_frame(&syn.ip_bytes())
        })
        .collect();
    send_from_a(&pair, frames);
    let store = srv.server().store();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store
        .by_connection(addr("fd77::1"), 43003, synprint_now())
        .is_none()
    {
        assert!(Instant::now() < deadline, "the last SYN was not stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (src, _, sport, dport, kept) in sends {
        let stored = store.by_connection(addr(src), sport, synprint_now());
        assert_eq!(stored.is_some(), kept, "{src} to port {dport}");
    }
    drop(srv);
    drop(pair);
}

/// Store lookups need a "now" within the TTL of records stamped with the
/// kernel's capture time (the wall clock).
fn synprint_now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
}

/// Clears CAP_NET_RAW from the calling thread's effective capabilities
/// (capabilities are per thread on Linux), so a root test can see the
/// unprivileged failure.
fn drop_cap_net_raw() -> std::io::Result<()> {
    let mut c = sys::Capabilities::of_this_thread()?;
    c.effective &= !(1 << sys::CAP_NET_RAW);
    c.apply_to_this_thread()
}

#[test]
fn capture_without_cap_net_raw_says_what_is_missing() {
    let result = std::thread::spawn(|| {
        if sys::is_root() {
            drop_cap_net_raw().expect("capset");
        }
        LiveCapture::open("lo", &port(None)).map(|_| ())
    })
    .join()
    .expect("thread");
    match result {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                matches!(e, synprint::capture::LiveCaptureError::NoCapNetRaw { .. }),
                "{msg}"
            );
            assert!(msg.contains("CAP_NET_RAW"), "{msg}");
            assert!(msg.contains("leave out --interface"), "{msg}");
        }
        Ok(()) => panic!("opened an AF_PACKET socket without CAP_NET_RAW"),
    }
}

/// A site listening on loopback, and a capture of the SYNs to it.
fn a_loopback_site_and_its_capture() -> (std::net::TcpListener, u16, LiveCapture) {
    let site = std::net::TcpListener::bind("127.0.0.1:0").expect("site");
    let site_port = site.local_addr().expect("addr").port();
    let capture = LiveCapture::open("lo", &port(Some(site_port))).expect("capture opens as root");
    (site, site_port, capture)
}

/// A site listening on loopback, and a server capturing SYNs to it.
fn a_loopback_site_and_a_capture_of_it() -> (std::net::TcpListener, u16, TestServer) {
    let (site, site_port, capture) = a_loopback_site_and_its_capture();
    let srv = TestServer::start_with(
        serve_common::loopback_config(),
        std::sync::Arc::new(serve_common::TtlClassifier),
        vec![capture],
    );
    (site, site_port, srv)
}

/// A proxy that asks for its client's fingerprint as soon as it accepts
/// the connection (a LAN client, a local proxy: the SYN was a fraction of a
/// millisecond earlier) still gets it, though the capture hands SYNs over
/// up to 10 ms late: a lookup waits for the capture.
#[test]
fn a_proxy_asking_at_once_gets_the_captured_syn() {
    if !can_run() {
        return;
    }
    let (site, site_port, srv) = a_loopback_site_and_a_capture_of_it();
    // Steady state first: the capture thread is up (it zeroes its tables
    // before its first block) once a connection's SYN can be found at all.
    let started = Instant::now();
    loop {
        let _client = std::net::TcpStream::connect(("127.0.0.1", site_port)).expect("connect");
        let (_conn, peer) = site.accept().expect("accept");
        std::thread::sleep(Duration::from_millis(100));
        let port = peer.port().to_string();
        let headers = [("X-Real-IP", "127.0.0.1"), ("X-Real-Port", port.as_str())];
        let body = get(srv.addr(false), "/classify", &headers).json();
        if body["avg_score_os_class"].is_object() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "capture never started"
        );
    }
    for _ in 0..5 {
        let _client = std::net::TcpStream::connect(("127.0.0.1", site_port)).expect("connect");
        let (_conn, peer) = site.accept().expect("accept");
        let port = peer.port().to_string();
        let reply = get(
            srv.addr(false),
            "/classify",
            &[("X-Real-IP", "127.0.0.1"), ("X-Real-Port", &port)],
        );
        let body = reply.json();
        assert_eq!(body["lookup_port"], peer.port(), "{body}");
        assert!(body["avg_score_os_class"].is_object(), "{body}");
    }
}

/// A proxy that asks at once is answered with its client's SYN, not with
/// an older one of the same address and port that the capture delivered
/// first: here a Windows-shaped SYN a client sent from the port just before
/// connecting from it with its real (Linux) stack, which would otherwise
/// choose the answer.
#[test]
fn a_proxy_asking_at_once_gets_this_connections_syn_not_an_earlier_one() {
    if !can_run() {
        return;
    }
    let (site, site_port, srv) = a_loopback_site_and_a_capture_of_it();
    let lo = sys::ifindex("lo").expect("lo");
    let sender = sys::PacketSocket::open(false).expect("raw socket");
    let localhost = addr("127.0.0.1");
    let windows = |body: &serde_json::Value| {
        let p = &body["avg_score_os_class"];
        p["Windows"].as_f64() > p["Linux"].as_f64()
    };
    for round in 0..5 {
        let client = serve_common::client_bound_to(std::net::Ipv4Addr::LOCALHOST);
        let client_port = client
            .local_addr()
            .expect("addr")
            .as_socket()
            .expect("inet")
            .port();
        let p = client_port.to_string();
        let headers = [("X-Real-IP", "127.0.0.1"), ("X-Real-Port", p.as_str())];
        // The earlier SYN (not for this host's stack: lo's Ethernet header
        // names another host), stored before the real one is made.
        let earlier = Stack::Windows.syn(localhost, client_port, localhost, site_port, round);
        sender
            .send_to(lo, &ethernet_frame(&earlier.ip_bytes()))
            .expect("send");
        let started = Instant::now();
        while !windows(&get(srv.addr(false), "/classify", &headers).json()) {
            assert!(started.elapsed() < Duration::from_secs(10), "never stored");
            std::thread::sleep(Duration::from_millis(10));
        }
        client
            .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], site_port)).into())
            .expect("connect");
        let (_conn, peer) = site.accept().expect("accept");
        assert_eq!(peer.port(), client_port);
        let body = get(srv.addr(false), "/classify", &headers).json();
        assert_eq!(body["lookup_port"], client_port, "{body}");
        assert!(!windows(&body), "round {round}: the earlier SYN: {body}");
    }
}

/// A capture off the host's own path (a mirror port, read promiscuously;
/// a tunnel collector) can see a SYN only after the request for it came:
/// the lookup looks again for it rather than answering at once that there
/// is none.
#[test]
fn a_syn_a_mirror_port_captures_after_the_request_is_still_found() {
    let mirror = CaptureOptions {
        promiscuous: true,
        ..port(Some(443))
    };
    let Some((pair, srv)) =
        serving_a_capture_on_veth_b_with(mirror, serve_common::loopback_config())
    else {
        return;
    };
    capture_has_started(&pair, &srv);
    let api = srv.addr(false);
    let mut s = std::net::TcpStream::connect(api).expect("connect");
    let (asked, request_sent) = std::sync::mpsc::channel();
    let asking = std::thread::spawn(move || {
        let headers = [("X-Real-IP", "10.77.0.1"), ("X-Real-Port", "41501")];
        asked.send(()).expect("told");
        serve_common::get_on(&mut s, "/classify", &headers).json()
    });
    // Well after the request, well within the lookup's 250 ms.
    request_sent.recv().expect("request sent");
    std::thread::sleep(Duration::from_millis(40));
    let late = Stack::Windows.syn(addr("10.77.0.1"), 41501, addr("10.77.0.2"), 443, 2);
    send_from_a(&pair, vec![ethernet_frame(&late.ip_bytes())]);
    let body = asking.join().expect("lookup");
    assert_eq!(body["lookup_port"], 41501, "{body}");
    assert!(body["avg_score_os_class"].is_object(), "{body}");
}

/// p0f's query socket, like the API, looks again for a host not found
/// when a capture is off the host's path: here a host never seen before,
/// whose SYN a mirror port's capture sees after the query.
#[test]
fn a_p0f_query_finds_a_host_a_mirror_port_captures_after_the_query() {
    let mirror = CaptureOptions {
        promiscuous: true,
        ..port(Some(443))
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("p0f.sock");
    let config = ServeConfig {
        p0f_socket: Some(socket.clone()),
        ..serve_common::loopback_config()
    };
    let Some((pair, srv)) = serving_a_capture_on_veth_b_with(mirror, config) else {
        return;
    };
    capture_has_started(&pair, &srv);
    let (sent, query_sent) = std::sync::mpsc::channel();
    let asking = std::thread::spawn(move || {
        p0f_status(&socket, addr("10.77.0.3"), || sent.send(()).expect("told"))
    });
    // Well after the query, well within its 250 ms.
    query_sent.recv().expect("query sent");
    std::thread::sleep(Duration::from_millis(40));
    let late = Stack::Windows.syn(addr("10.77.0.3"), 41502, addr("10.77.0.2"), 443, 3);
    send_from_a(&pair, vec![ethernet_frame(&late.ip_bytes())]);
    let status = asking.join().expect("query");
    assert_eq!(status, 0x10, "not known (0x20 is no match)");
}

/// Sends a first SYN from veth A and waits until the capture on veth B
/// has stored it.
fn capture_has_started(pair: &NetnsPair, srv: &TestServer) {
    let first = Stack::Linux.syn(addr("10.77.0.1"), 41500, addr("10.77.0.2"), 443, 1);
    send_from_a(pair, vec![ethernet_frame(&first.ip_bytes())]);
    let store = srv.server().store();
    let started = Instant::now();
    while store
        .by_connection(addr("10.77.0.1"), 41500, synprint_now())
        .is_none()
    {
        assert!(started.elapsed() < Duration::from_secs(10), "never stored");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// p0f's query socket waits for the captures as the API does: a mail
/// filter that asks as soon as it accepts knows the host that connected
/// (here one never seen before).
#[test]
fn a_p0f_query_at_once_knows_the_host_that_just_connected() {
    if !can_run() {
        return;
    }
    let (site, site_port, capture) = a_loopback_site_and_its_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("p0f.sock");
    let config = ServeConfig {
        p0f_socket: Some(socket.clone()),
        ..serve_common::loopback_config()
    };
    let _srv = TestServer::start_with(
        config,
        std::sync::Arc::new(serve_common::TtlClassifier),
        vec![capture],
    );
    for host in 1..=5u8 {
        // 127.N.0.host: a host no other test connects from.
        let n = 1 + (std::process::id() % 200) as u8;
        let client_ip = std::net::Ipv4Addr::new(127, n, 0, host);
        let client = serve_common::client_bound_to(client_ip);
        client
            .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], site_port)).into())
            .expect("connect");
        let _accepted = site.accept().expect("accept");
        let status = p0f_status(&socket, client_ip.into(), || ());
        assert_eq!(status, 0x10, "{client_ip}: not known (0x20 is no match)");
    }
}

/// The status p0f's query socket at `socket` answers a query about `ip`
/// with (0x10 known, 0x20 no match); `sent` runs once the query is sent.
fn p0f_status(socket: &std::path::Path, ip: IpAddr, sent: impl FnOnce()) -> u32 {
    use std::io::{Read, Write};
    let q = serve_common::p0f_query(serve_common::P0F_QUERY_MAGIC, 4, ip);
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("query socket");
    s.write_all(&q).expect("query");
    sent();
    let mut answer = [0u8; 232];
    s.read_exact(&mut answer).expect("answer");
    u32::from_ne_bytes(answer[4..8].try_into().expect("4 bytes"))
}

/// A capture whose reader panics counts as stopped, and no lookup waits
/// for it any more.
#[test]
fn a_capture_whose_reader_panics_is_stopped_and_waited_for_no_more() {
    if !can_run() {
        return;
    }
    let (_site, site_port, mut capture) = a_loopback_site_and_its_capture();
    let counters = CaptureCounters::default();
    let connecting = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", site_port)).expect("connect")
    });
    let started = Instant::now();
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = capture.stream(
            &counters,
            || started.elapsed() < Duration::from_secs(10),
            &mut |d| match d {
                Delivery::Frame { .. } => panic!("the reader panics (as this test wants)"),
                _ => Ok::<(), std::convert::Infallible>(()),
            },
        );
    }));
    assert!(read.is_err(), "no SYN was read");
    drop(connecting.join());
    assert!(counters.stopped.load(std::sync::atomic::Ordering::Relaxed));
    assert!(counters.caught_up_to(Timestamp(u64::MAX)));
}

/// A namespace pair, and a server capturing SYNs to port 443 on the veth
/// end in the second namespace (bound as `let (pair, srv)`, the server is
/// dropped first); `None`, saying why, where this process cannot.
fn serving_a_capture_on_veth_b() -> Option<(NetnsPair, TestServer)> {
    serving_a_capture_on_veth_b_with(port(Some(443)), serve_common::loopback_config())
}

fn serving_a_capture_on_veth_b_with(
    options: CaptureOptions,
    config: ServeConfig,
) -> Option<(NetnsPair, TestServer)> {
    if !can_run() {
        return None;
    }
    let pair = NetnsPair::create().expect("network namespaces");
    let vb = pair.veth_b.clone();
    let capture =
        in_netns(&pair.b, move || LiveCapture::open(&vb, &options)).expect("capture opens as root");
    let srv = TestServer::start_with(
        config,
        std::sync::Arc::new(serve_common::TtlClassifier),
        vec![capture],
    );
    Some((pair, srv))
}

/// A capture whose interface goes away stops, and says so: `/healthz`
/// answers 503 naming the interface (it may have been the only source of
/// answers), `synprint_capture_up` drops to 0.
#[test]
fn a_capture_that_stops_fails_the_health_check() {
    let Some((pair, srv)) = serving_a_capture_on_veth_b() else {
        return;
    };
    let a = srv.addr(false);
    let health = get(a, "/healthz", &[]);
    assert_eq!(
        health.status,
        200,
        "{}",
        String::from_utf8_lossy(&health.body)
    );
    let up = format!("synprint_capture_up{{interface=\"{}\"}}", pair.veth_b);
    let metrics = || metrics_text(a);
    assert!(metrics().contains(&format!("{up} 1")));

    ip(&["-n", &pair.b, "link", "del", &pair.veth_b]).expect("delete the veth pair");
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let h = get(a, "/healthz", &[]);
        if h.status != 200 || Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        health.status,
        503,
        "{}",
        String::from_utf8_lossy(&health.body)
    );
    let body = health.json();
    assert_eq!(body["status"], "capture_stopped", "{body}");
    assert_eq!(body["interfaces"][0], pair.veth_b.as_str(), "{body}");
    assert!(metrics().contains(&format!("{up} 0")));
}

/// A link that goes down, or loses its carrier, is waited for, and said:
/// `/healthz` answers 200 with `link_down`, `/metrics` has the link at 0.
/// Up again, both say so without a packet having to pass the capture's
/// filter first.
#[test]
fn a_link_that_goes_down_is_said_until_it_is_up_again() {
    let Some((pair, srv)) = serving_a_capture_on_veth_b() else {
        return;
    };
    let a = srv.addr(false);
    let link = format!("synprint_capture_link_up{{interface=\"{}\"}}", pair.veth_b);
    let metrics = || metrics_text(a);
    let health_when = |status: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let h = get(a, "/healthz", &[]);
            let body = h.json();
            if body["status"] == status || Instant::now() > deadline {
                return (h.status, body);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(health_when("ok").1["status"], "ok");
    assert!(metrics().contains(&format!("{link} 1")));

    ip(&["-n", &pair.b, "link", "set", &pair.veth_b, "down"]).expect("link down");
    let (status, body) = health_when("link_down");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "link_down", "{body}");
    assert_eq!(body["interfaces"][0], pair.veth_b.as_str(), "{body}");
    assert!(metrics().contains(&format!("{link} 0")));

    ip(&["-n", &pair.b, "link", "set", &pair.veth_b, "up"]).expect("link up");
    let (status, body) = health_when("ok");
    assert_eq!((status, &body["status"]), (200, &"ok".into()), "{body}");
    assert!(metrics().contains(&format!("{link} 1")));

    // The carrier lost (the peer set down: the capture's own link stays
    // administratively up), and back.
    ip(&["-n", &pair.a, "link", "set", &pair.veth_a, "down"]).expect("peer down");
    let (status, body) = health_when("link_down");
    assert_eq!(
        (status, &body["status"]),
        (200, &"link_down".into()),
        "{body}"
    );
    assert!(metrics().contains(&format!("{link} 0")));
    ip(&["-n", &pair.a, "link", "set", &pair.veth_a, "up"]).expect("peer up");
    let (status, body) = health_when("ok");
    assert_eq!((status, &body["status"]), (200, &"ok".into()), "{body}");
    assert!(metrics().contains(&format!("{link} 1")));

    // A dormant link (802.1X authenticating: carrier, no operational state)
    // is not down: it passes packets. A second of idle polls asks it. (The
    // mode takes hold when the link comes up.)
    let b = |args: &[&str]| {
        let mut all = vec!["-n", pair.b.as_str(), "link", "set", pair.veth_b.as_str()];
        all.extend_from_slice(args);
        ip(&all).expect("ip link set");
    };
    b(&["mode", "dormant"]);
    b(&["down"]);
    b(&["up"]);
    let shown = Command::new("ip")
        .args(["-n", &pair.b, "link", "show", &pair.veth_b])
        .output()
        .expect("ip link show");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("state DORMANT"), "{shown}");
    std::thread::sleep(Duration::from_secs(1));
    let (status, body) = health_when("ok");
    assert_eq!((status, &body["status"]), (200, &"ok".into()), "{body}");
    assert!(metrics().contains(&format!("{link} 1")));
}

/// A ring whose frame count does not fit the kernel's u32 is refused by
/// name, not wrapped into a smaller ring (nor a panic in a debug build).
#[test]
fn a_ring_past_u32_is_refused() {
    if !sys::is_root() {
        skipped("needs root (AF_PACKET)");
        return;
    }
    if !kernel::packet_sockets_allowed() {
        return;
    }
    for (block_size, block_nr) in [
        (1 << 20, u32::MAX),
        (1 << 20, 1 << 23),
        (1 << 20, 0),
        (1024, 4),
    ] {
        let socket = sys::PacketSocket::open(false).expect("AF_PACKET socket");
        let err = socket
            .map_ring(block_size, block_nr, 10)
            .err()
            .unwrap_or_else(|| panic!("{block_nr} blocks of {block_size} bytes mapped"));
        // Ours, not the kernel's EINVAL for a wrapped count.
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.raw_os_error().is_none(), "{err}");
    }
    // Not vacuous: a ring that fits is mapped.
    let socket = sys::PacketSocket::open(false).expect("AF_PACKET socket");
    let ring = socket.map_ring(1 << 16, 4, 10).expect("a small ring");
    assert_eq!(ring.block_count(), 4);
}

//! Tunnels built by this machine's kernel, not crafted: VXLAN (the tunnel
//! type kernels most often have built in) between two network namespaces
//! joined by a veth pair, over an IPv4 and over an IPv6 underlay, each
//! carrying IPv4 and IPv6 connections. Captured on the underlay (VXLAN in
//! UDP in Ethernet) and on the tunnel devices (the inner packets), synprint
//! must make the same records from both: every inner SYN and SYN+ACK once,
//! every field but the capture time equal, nothing skipped as an unknown
//! encapsulation.
//!
//! Needs root, iproute2, tcpdump and a kernel with VXLAN; skipped with a
//! message otherwise. Other tunnel types (GRE, IPIP, Geneve, ERSPAN) are
//! compared with tshark on crafted frames in `tshark_encapsulations.rs`.

mod skipped;
use skipped::skipped;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod kernel;
use kernel::{netns_for_test, synprint_analyze, tcpdump_missing, Capture, Netns};

const HELPER_ENV: &str = "SYNPRINT_TUNNEL_HELPER";
const PORT: u16 = 8443;

/// Inner addresses of the two tunnels (client side `.1`, server `.2`).
const INNER: [&str; 4] = ["10.98.0.2", "fd98::2", "10.97.0.2", "fd97::2"];
const ROUNDS: usize = 2;

/// Runs inside a namespace (re-executed by the test below): `serve`
/// answers `INNER.len() * ROUNDS` connections on every address; `connect`
/// opens them.
#[test]
fn tunnel_helper() {
    let Ok(role) = std::env::var(HELPER_ENV) else {
        return;
    };
    let n = INNER.len() * ROUNDS;
    if role == "serve" {
        let listener = TcpListener::bind(("::", PORT)).expect("bind [::]");
        println!("listening");
        for _ in 0..n {
            let (mut s, _) = listener.accept().expect("accept");
            let mut hi = [0u8; 2];
            let _ = s.read_exact(&mut hi);
            let _ = s.write_all(b"ok");
        }
        return;
    }
    for _ in 0..ROUNDS {
        for a in INNER {
            let ip: IpAddr = a.parse().expect("address");
            let mut s = TcpStream::connect_timeout(&(ip, PORT).into(), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connect to {a}: {e}"));
            s.write_all(b"hi").expect("send");
            let mut ok = Vec::new();
            let _ = s.read_to_end(&mut ok);
        }
    }
}

/// `ip` inside a namespace.
fn try_ip(ns: &Netns, args: &str) -> bool {
    let argv: Vec<&str> = std::iter::once("ip").chain(args.split(' ')).collect();
    ns.exec(&argv)
}

/// As [`try_ip`], failing the test with the command.
fn ip(ns: &Netns, args: &str) {
    assert!(try_ip(ns, args), "ip netns exec {} ip {args}", ns.0);
}

/// The namespaces' links and addresses; `None` when the kernel has no
/// VXLAN.
fn build(a: &Netns, b: &Netns) -> Option<()> {
    ip(
        a,
        &format!("link add va type veth peer name vb netns {}", b.0),
    );
    for (ns, me, peer, dev) in [(a, 1, 2, "va"), (b, 2, 1, "vb")] {
        ip(ns, &format!("addr add 10.99.0.{me}/24 dev {dev}"));
        ip(ns, &format!("-6 addr add fd99::{me}/64 dev {dev} nodad"));
        ip(ns, &format!("link set {dev} up"));
        let vx4 = format!(
            "link add vx4 type vxlan id 42 dstport 4789 local 10.99.0.{me} remote 10.99.0.{peer} dev {dev}"
        );
        if !try_ip(ns, &vx4) {
            return None;
        }
        ip(
            ns,
            &format!(
                "link add vx6 type vxlan id 43 dstport 4789 local fd99::{me} remote fd99::{peer} dev {dev}"
            ),
        );
        for (dev, v4, v6) in [("vx4", "10.98.0", "fd98::"), ("vx6", "10.97.0", "fd97::")] {
            ip(ns, &format!("addr add {v4}.{me}/24 dev {dev}"));
            ip(ns, &format!("-6 addr add {v6}{me}/64 dev {dev} nodad"));
            ip(ns, &format!("link set {dev} up"));
        }
    }
    Some(())
}

/// synprint's JSON records of a capture without their capture times, and
/// its summary.
fn records(pcap: &Path) -> (Vec<String>, String) {
    let (out, err) = synprint_analyze(pcap, "jsonl");
    let mut recs: Vec<String> = out
        .lines()
        .map(|l| {
            let mut v: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(l).expect("JSON record");
            v.remove("ts");
            serde_json::to_string(&v).expect("JSON")
        })
        .collect();
    recs.sort();
    (recs, err)
}

#[test]
fn kernel_vxlan_records_equal_the_inner_packets() {
    if tcpdump_missing() {
        return;
    }
    let (Some(a), Some(b)) = (
        netns_for_test("synprint-vxa"),
        netns_for_test("synprint-vxb"),
    ) else {
        return;
    };
    if build(&a, &b).is_none() {
        skipped("this kernel cannot make a VXLAN device");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let under = dir.path().join("under.pcap");
    let inner4 = dir.path().join("vx4.pcap");
    let inner6 = dir.path().join("vx6.pcap");
    let mut dumps = [
        Capture::start(&a, "va", &under, "udp port 4789"),
        Capture::start(&a, "vx4", &inner4, "tcp"),
        Capture::start(&a, "vx6", &inner6, "tcp"),
    ];

    let exe = std::env::current_exe().expect("test binary");
    let helper = |ns: &Netns, role: &str| {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &ns.0,
            "env",
            &format!("{HELPER_ENV}={role}"),
        ])
        .arg(&exe)
        .args([
            "--exact",
            "tunnel_helper",
            "--nocapture",
            "--test-threads=1",
        ]);
        c
    };
    let mut server = helper(&b, "serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server");
    let mut line = String::new();
    let stdout = server.stdout.take().expect("server stdout");
    let mut lines = BufReader::new(stdout);
    while !line.contains("listening") {
        line.clear();
        let n = lines.read_line(&mut line).expect("server output");
        assert!(n > 0, "the server ended before listening");
    }
    let client = helper(&a, "connect")
        .stdout(Stdio::null())
        .status()
        .expect("run the client");
    let served = server.wait().expect("server");
    assert!(
        client.success() && served.success(),
        "connections through the tunnels"
    );

    // Each connection: SYN, SYN+ACK, ACK, two data segments, FINs.
    let n = INNER.len() * ROUNDS;
    let _ = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        records(&under).0.len() >= 2 * n
    });
    for d in &mut dumps {
        d.stop();
    }
    drop((a, b));

    let (outer, summary) = records(&under);
    let (mut inner, _) = records(&inner4);
    inner.extend(records(&inner6).0);
    inner.sort();
    // tcpdump's own account (packets it received and the kernel dropped),
    // should the underlay capture come up short.
    let tcpdump_log = std::fs::read_to_string(under.with_extension("log")).unwrap_or_default();
    assert_eq!(
        outer.len(),
        2 * n,
        "one SYN and one SYN+ACK per connection:\n{summary}\ntcpdump: {tcpdump_log}"
    );
    assert_eq!(
        outer, inner,
        "records from the underlay differ from the inner packets'"
    );
    for reason in [
        "unsupported_encapsulation",
        "unknown_link_type",
        "truncated",
    ] {
        assert!(!summary.contains(reason), "{reason} in\n{summary}");
    }
    // Both inner versions over both underlay versions.
    for a in INNER {
        assert!(
            outer
                .iter()
                .any(|r| r.contains(&format!("\"dst_ip\":\"{a}\""))),
            "no SYN to {a}"
        );
    }
}

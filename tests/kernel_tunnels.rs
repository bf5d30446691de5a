//! Tunnels built by this machine's kernel, not crafted: VXLAN (the tunnel
//! type kernels most often have built in) between two network namespaces
//! joined by a veth pair, over an IPv4 underlay on IANA's port 4789 and
//! over an IPv6 underlay on the kernel's own default port 8472 (flannel's
//! and Cilium's), each carrying IPv4 and IPv6 connections. Captured on the
//! underlay (VXLAN in
//! UDP in Ethernet) and on the tunnel devices (the inner packets), synprint
//! must make the same records from both: every inner SYN and SYN+ACK once,
//! every field but the capture time equal, nothing skipped as an unknown
//! encapsulation.
//!
//! `synprint analyze --interface` on the underlay with `--capture-tunnels`
//! must make those records too, and none without it.
//!
//! Needs root, iproute2, tcpdump and a kernel with VXLAN; skipped with a
//! message otherwise. Other tunnel types (GRE, IPIP, Geneve, ERSPAN) are
//! compared with tshark on crafted frames in `tshark_encapsulations.rs`.

mod signals;
mod skipped;
use skipped::skipped;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod kernel;
use kernel::{in_netns, netns_for_test, synprint_analyze, tcpdump_missing, Capture, Netns};

const HELPER_ENV: &str = "SYNPRINT_TUNNEL_HELPER";
const PORT: u16 = 8443;

/// Inner addresses of the two tunnels (client side `.1`, server `.2`).
const INNER: [&str; 4] = ["10.98.0.2", "fd98::2", "10.97.0.2", "fd97::2"];
const ROUNDS: usize = 2;

/// Runs inside a namespace (re-executed by [`connections`]): `serve`
/// answers `ROUNDS` connections to each of the comma-separated addresses in
/// the role, on every address; `connect` opens them.
#[test]
fn tunnel_helper() {
    let Ok(role) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (role, targets) = role.split_once(':').expect("role:addresses");
    let targets: Vec<IpAddr> = targets
        .split(',')
        .map(|a| a.parse().expect("address"))
        .collect();
    if role == "serve" {
        let listener = TcpListener::bind(("::", PORT)).expect("bind [::]");
        println!("listening");
        for _ in 0..targets.len() * ROUNDS {
            let (mut s, _) = listener.accept().expect("accept");
            let mut hi = [0u8; 2];
            let _ = s.read_exact(&mut hi);
            let _ = s.write_all(b"ok");
        }
        return;
    }
    for _ in 0..ROUNDS {
        for &ip in &targets {
            let mut s = TcpStream::connect_timeout(&(ip, PORT).into(), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connect to {ip}: {e}"));
            s.write_all(b"hi").expect("send");
            let mut ok = Vec::new();
            let _ = s.read_to_end(&mut ok);
        }
    }
}

/// `ROUNDS` connections from namespace `a` to each of `targets`, served in
/// `b`; returns once all are closed.
fn connections(a: &Netns, b: &Netns, targets: &[&str]) {
    let exe = std::env::current_exe().expect("test binary");
    let helper = |ns: &Netns, role: &str| {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &ns.0,
            "env",
            &format!("{HELPER_ENV}={role}:{}", targets.join(",")),
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
    let mut server = helper(b, "serve")
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
    let client = helper(a, "connect")
        .stdout(Stdio::null())
        .status()
        .expect("run the client");
    let served = server.wait().expect("server");
    assert!(
        client.success() && served.success(),
        "connections to {targets:?}"
    );
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
                "link add vx6 type vxlan id 43 dstport 8472 local fd99::{me} remote fd99::{peer} dev {dev}"
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

/// `synprint analyze --interface` inside a namespace, writing JSON lines
/// to a file; interrupted (as Ctrl-C would) by `stop` or on drop.
struct LiveAnalyze {
    child: std::process::Child,
    out: PathBuf,
    log: PathBuf,
}

impl LiveAnalyze {
    /// Returns once synprint says it is capturing.
    fn start(ns: &Netns, interface: &str, extra: &[&str], out: PathBuf) -> LiveAnalyze {
        let log = out.with_extension("log");
        let child = signals::with_default_stop_signals(&mut ns.synprint())
            .args([
                "analyze",
                "--interface",
                interface,
                "--format",
                "jsonl",
                "-o",
            ])
            .arg(&out)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("synprint log"))
            .spawn()
            .expect("spawn synprint");
        let live = LiveAnalyze { child, out, log };
        let started = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(25));
            std::fs::read_to_string(&live.log).is_ok_and(|l| l.contains("capturing on"))
        });
        assert!(
            started,
            "synprint {extra:?} did not start: {}",
            live.messages()
        );
        live
    }

    fn messages(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Interrupts it; its records without capture times, and its messages.
    fn stop(&mut self) -> (Vec<String>, String) {
        self.interrupt();
        let status = self.child.wait().expect("wait for synprint");
        assert!(status.success(), "synprint: {status}: {}", self.messages());
        let out = std::fs::read_to_string(&self.out).expect("live records");
        (without_times(&out), self.messages())
    }

    fn interrupt(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // `ip netns exec` runs synprint in its own process.
            let _ = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status();
        }
    }
}

impl Drop for LiveAnalyze {
    fn drop(&mut self) {
        self.interrupt();
        let _ = self.child.wait();
    }
}

/// synprint's JSON records of a capture without their capture times, and
/// its summary.
fn records(pcap: &Path) -> (Vec<String>, String) {
    let (out, err) = synprint_analyze(pcap, "jsonl");
    (without_times(&out), err)
}

/// JSON records, sorted, each without its capture time.
fn without_times(jsonl: &str) -> Vec<String> {
    let mut recs: Vec<String> = jsonl
        .lines()
        .map(|l| {
            let mut v: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(l).expect("JSON record");
            v.remove("ts");
            serde_json::to_string(&v).expect("JSON")
        })
        .collect();
    recs.sort();
    recs
}

/// `recs` without their `tunnel`, which must name the VXLAN device the
/// inner addresses belong to: VNI 42 between the IPv4 underlay addresses
/// for `vx4`'s, 43 between the IPv6 ones for `vx6`'s, from the sender's
/// underlay address to the receiver's.
fn without_checked_tunnels(recs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = recs
        .iter()
        .map(|r| {
            let mut v: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(r).expect("JSON record");
            let tunnel = v.remove("tunnel").unwrap_or_default();
            let inner_src = v["src_ip"].as_str().unwrap_or_default();
            let inner_dst = v["dst_ip"].as_str().unwrap_or_default();
            let (vni, underlay) =
                if inner_src.starts_with("10.98.") || inner_src.starts_with("fd98:") {
                    (42, "10.99.0.")
                } else {
                    (43, "fd99::")
                };
            let host = |inner: &str| format!("{underlay}{}", &inner[inner.len() - 1..]);
            let want = serde_json::json!({
                "type": "vxlan",
                "id": vni,
                "outer_src_ip": host(inner_src),
                "outer_dst_ip": host(inner_dst),
            });
            assert_eq!(tunnel, want, "{r}");
            serde_json::to_string(&v).expect("JSON")
        })
        .collect();
    out.sort();
    out
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
        Capture::start(&a, "va", &under, "udp port 4789 or udp port 8472"),
        Capture::start(&a, "vx4", &inner4, "tcp"),
        Capture::start(&a, "vx6", &inner6, "tcp"),
    ];
    // synprint's own capture on the underlay: with tunnels, of every port
    // and of the test's; without tunnels; with tunnels but another port
    // (the kernel passes the tunnel whole, so user space checks the port).
    let port = PORT.to_string();
    let live_setups: [&[&str]; 4] = [
        &["--capture-tunnels"],
        &["--capture-tunnels", "--capture-port", &port],
        &[],
        &["--capture-tunnels", "--capture-port", "9"],
    ];
    let mut live: Vec<LiveAnalyze> = live_setups
        .iter()
        .enumerate()
        .map(|(i, extra)| {
            let out = dir.path().join(format!("live{i}.jsonl"));
            LiveAnalyze::start(&a, "va", extra, out)
        })
        .collect();

    connections(&a, &b, &INNER);

    // Each connection: SYN, SYN+ACK, ACK, two data segments, FINs.
    let n = INNER.len() * ROUNDS;
    let _ = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        records(&under).0.len() >= 2 * n
    });
    for d in &mut dumps {
        d.stop();
    }
    let live: Vec<(Vec<String>, String)> = live.iter_mut().map(LiveAnalyze::stop).collect();
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
        without_checked_tunnels(&outer),
        inner,
        "records from the underlay differ from the inner packets'"
    );
    for reason in [
        "unsupported_encapsulation",
        "unknown_link_type",
        "truncated",
    ] {
        assert!(!summary.contains(reason), "{reason} in\n{summary}");
    }
    for (setup, (recs, messages)) in live_setups.iter().zip(&live) {
        let want: &[String] = match setup.last() {
            Some(&"9") | None => &[],
            _ => &outer,
        };
        assert_eq!(
            recs, want,
            "live capture of the underlay with {setup:?}:\n{messages}"
        );
        if setup.last() == Some(&"9") {
            let other = format!("other ports:         {} syn or syn_ack", 2 * n);
            assert!(messages.contains(&other), "{messages}");
        }
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

/// Sends `frames` out of `interface` in `ns`, byte for byte.
fn inject(ns: &Netns, interface: &str, frames: Vec<Vec<u8>>) {
    let interface = interface.to_string();
    in_netns(&ns.0, move || {
        let index = synprint::sys::ifindex(&interface).expect("interface index");
        let socket = synprint::sys::PacketSocket::open(false).expect("AF_PACKET socket");
        for f in &frames {
            socket.send_to(index, f).expect("send a frame");
        }
    });
}

/// What a capture filter that looked at plain IP only would miss: frames
/// that keep a VLAN tag after the kernel took the outer one off (QinQ, and
/// the old 0x9100 outer tag it does not take off), IPv6 extension headers
/// (one walked in the kernel, a chain passed whole), an IPv4
/// authentication header. Crafted frames sent through a veth pair, read by
/// `analyze --interface --capture-port 443` on the other end without
/// `--capture-tunnels`: it must make the records `analyze` makes of the
/// same frames in a file, and none for the SYNs to another port (one the
/// kernel drops, one it passes whole and synprint drops).
#[test]
fn tags_and_extension_headers_are_captured_live() {
    use synprint::capture::PcapWriter;
    use synprint::craft::{ethernet_tagged, ipv6_with_extensions, with_auth_header, Ipv6Ext};
    use synprint::craft::{Stack, TcpPacket};
    use synprint::packet::{LinkType, Timestamp};

    let Some(ns) = netns_for_test("synprint-tags") else {
        return;
    };
    ip(&ns, "link add x0 type veth peer name x1");
    // The crafted frames' destination.
    ip(&ns, "link set x1 address 02:00:00:00:00:02");
    ip(&ns, "link set x0 up");
    ip(&ns, "link set x1 up");

    let v4 = |a: u8| IpAddr::from([192, 0, 2, a]);
    let v6 = |a: u16| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, a]);
    let syn = |stack: Stack, from: IpAddr, to: IpAddr, src_port: u16, dst_port: u16| {
        stack.syn(from, src_port, to, dst_port, u32::from(src_port))
    };
    let qinq =
        |p: &TcpPacket, outer: u16| ethernet_tagged(&p.ip_bytes(), &[(outer, 100), (0x8100, 10)]);
    let plain = |ip: &[u8]| ethernet_tagged(ip, &[]);
    let behind =
        |p: &TcpPacket, exts: &[Ipv6Ext]| plain(&ipv6_with_extensions(&p.ip_bytes(), exts));
    let long = |number| Ipv6Ext::PaddedOptions { number, units: 3 };
    let windows = syn(Stack::Windows, v4(1), v4(2), 50001, 443);
    let wanted = vec![
        qinq(&windows, 0x88a8),
        qinq(&TcpPacket::syn_ack_for(&windows), 0x88a8),
        qinq(&syn(Stack::MacOs, v6(1), v6(2), 50002, 443), 0x88a8),
        qinq(&syn(Stack::Linux, v4(3), v4(2), 50003, 443), 0x9100),
        behind(
            &syn(Stack::Android, v6(3), v6(2), 50004, 443),
            &[Ipv6Ext::HopByHop, Ipv6Ext::DestinationOptions],
        ),
        behind(&syn(Stack::Ios, v6(7), v6(2), 50009, 443), &[long(60)]),
        plain(&with_auth_header(
            &syn(Stack::FreeBsd, v4(4), v4(2), 50005, 443).ip_bytes(),
        )),
        plain(&syn(Stack::Windows, v4(5), v4(2), 50006, 443).ip_bytes()),
    ];
    let other_port = vec![
        qinq(&syn(Stack::Windows, v4(6), v4(2), 50007, 80), 0x88a8),
        behind(&syn(Stack::Ios, v6(8), v6(2), 50010, 80), &[long(0)]),
        behind(
            &syn(Stack::Linux, v6(6), v6(2), 50008, 80),
            &[Ipv6Ext::HopByHop, Ipv6Ext::Routing],
        ),
    ];

    let dir = tempfile::tempdir().expect("tempdir");
    let reference = dir.path().join("sent.pcap");
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("pcap header");
    for f in &wanted {
        w.write(Timestamp::default(), f).expect("pcap record");
    }
    std::fs::write(&reference, w.into_inner()).expect("write the pcap");
    let (want, summary) = records(&reference);
    assert_eq!(want.len(), wanted.len(), "{summary}");

    let mut live = LiveAnalyze::start(
        &ns,
        "x1",
        &["--capture-port", "443"],
        dir.path().join("live.jsonl"),
    );
    inject(&ns, "x0", wanted.into_iter().chain(other_port).collect());
    // The kernel hands a block over within 10 ms.
    std::thread::sleep(Duration::from_millis(300));
    let (recs, messages) = live.stop();
    drop(ns);
    assert_eq!(
        recs, want,
        "live records of the crafted frames:\n{messages}"
    );
    // The chain to port 80 reached synprint; the QinQ one and the one
    // behind a single header did not.
    assert!(
        messages.contains("other ports:         1 syn or syn_ack"),
        "{messages}"
    );
}

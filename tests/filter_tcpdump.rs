//! `analyze --filter EXPR` against tcpdump as the oracle: for each
//! expression, the records synprint makes of a crafted capture with the
//! filter must be the records it makes of what `tcpdump -r ALL -w SUB EXPR`
//! keeps of the same capture. The capture holds handshakes (SYN and
//! SYN+ACK) between IPv4 and IPv6 hosts of several networks on several
//! ports, with no tunnels or IPv6 extension headers, where a BPF program
//! and synprint read the same header. Skips when tcpdump is missing.

mod kernel;
mod skipped;
use kernel::tcpdump_missing;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use synprint::capture::PcapWriter;
use synprint::craft::{ethernet_frame, Stack, TcpPacket};
use synprint::packet::{LinkType, Timestamp};

type Key = (String, String, u64, String, u64);

fn write_capture(path: &Path) {
    let clients = [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.7.3",
        "10.1.0.5",
        "192.168.1.10",
        "172.16.5.5",
        "2001:db8::1",
        "2001:db8:1::2",
        "2001:db9::3",
    ];
    let servers_v4 = ["10.0.0.100", "198.51.100.7"];
    let servers_v6 = ["2001:db8::100", "2001:db8:ff::7"];
    let ports = [22u16, 80, 443, 8080, 8443];
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    let mut n = 0u32;
    for (c, client) in clients.iter().enumerate() {
        let client: IpAddr = client.parse().unwrap();
        let servers = if client.is_ipv4() {
            servers_v4
        } else {
            servers_v6
        };
        for (s, server) in servers.iter().enumerate() {
            let port = ports[(c + s) % ports.len()];
            for stack in [Stack::Windows, Stack::Linux] {
                n += 1;
                let sport = 40000 + n as u16;
                let syn = stack.syn(client, sport, server.parse().unwrap(), port, n);
                let answer = TcpPacket::syn_ack_for(&syn);
                for (i, p) in [syn, answer].iter().enumerate() {
                    let ts = Timestamp((1_700_000_000 + u64::from(n)) * 1_000_000_000 + i as u64);
                    w.write(ts, &ethernet_frame(&p.ip_bytes())).expect("write");
                }
            }
        }
    }
    std::fs::write(path, w.into_inner()).expect("write capture");
}

fn records(capture: &Path, filter: Option<&str>) -> BTreeSet<Key> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synprint"));
    cmd.args(["analyze", "--format", "jsonl"]);
    if let Some(f) = filter {
        cmd.args(["--filter", f]);
    }
    let out = cmd.arg(capture).output().expect("run synprint");
    assert!(
        out.status.success(),
        "{filter:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            let s = |k: &str| v[k].as_str().expect(k).to_string();
            let n = |k: &str| v[k].as_u64().expect(k);
            (
                s("kind"),
                s("src_ip"),
                n("src_port"),
                s("dst_ip"),
                n("dst_port"),
            )
        })
        .collect()
}

/// `tcpdump -r FROM -w TO EXPR`.
fn tcpdump(from: &Path, to: &Path, expr: &str) -> std::process::Output {
    Command::new("tcpdump")
        .arg("-r")
        .arg(from)
        .arg("-w")
        .arg(to)
        .arg(expr)
        .output()
        .expect("run tcpdump")
}

#[test]
fn the_filter_keeps_what_tcpdump_keeps() {
    if tcpdump_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.pcap");
    write_capture(&all);
    let everything = records(&all, None);
    assert_eq!(everything.len(), 9 * 2 * 2 * 2);
    let expressions = [
        "port 443",
        "port 80 or 443",
        "dst port 443",
        "src port 443",
        "tcp dst port 22 or 80",
        "src or dst port 40003",
        "portrange 8000-8500",
        "host 10.0.0.1",
        "src host 10.0.0.2",
        "src 10.0.7.3",
        "net 10.0.0.0/16",
        "net 10",
        "net 192.168.1.0 mask 255.255.255.0",
        "not net 10.0.0.0/8",
        "src and dst net 10.0.0.0/8",
        "ip",
        "ip6",
        "ip6 and port 443",
        "ip6 net 2001:db8::/32",
        "dst net 2001:db8:ff::/48",
        "host 2001:db8::1",
        "not host 10.0.0.1 and 10.0.0.2",
        "port 22 or port 80 and ip6",
        "(port 22 or port 80) and not ip6",
        "! port 443 && ip",
        "not (src net 10.0.0.0/8 || dst net 10.0.0.0/8)",
        // After a group, a bare value takes the qualifiers from before it.
        "src host 10.0.0.1 and (dst host 10.0.0.100) or 10.0.0.2",
        "port 80 and (host 10.0.0.1) or 443",
        "port 80 and not (host 10.0.0.1) or 22",
        // Numbers and addresses as pcap's lexer reads them.
        "port 0120",
        "port 0x1bb",
        "portrange 8080",
        "host 10.1",
        "src host 010.000.000.001",
        "net 10.0/16",
        "net 10.1 mask 255.255",
        "net 012",
        "dst or src port 443",
    ];
    let mut partial = 0;
    for expr in expressions {
        let sub = dir.path().join("sub.pcap");
        let out = tcpdump(&all, &sub, expr);
        assert!(
            out.status.success(),
            "tcpdump {expr:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kept_by_tcpdump = records(&sub, None);
        let kept = records(&all, Some(expr));
        assert_eq!(kept, kept_by_tcpdump, "{expr}");
        if !kept.is_empty() && kept.len() < everything.len() {
            partial += 1;
        }
    }
    // The expressions select: each keeps some records and leaves others.
    assert_eq!(partial, expressions.len());
}

/// What tcpdump refuses, synprint refuses too, saying where.
#[test]
fn what_tcpdump_refuses_is_refused() {
    if tcpdump_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.pcap");
    write_capture(&all);
    for expr in [
        "net 10.0.0.1/8",
        "net 10.1.0.0 mask 255.0.0.0",
        "net 2001:db8::1/32",
        "ip6 host 10.0.0.1",
        "10.0.0.1",
        "()",
        "port 1 or",
        "port 80 and and port 1",
        "(port 1",
        "port 70000",
        "port 08",
        "net 10/8",
        "(dst port 2) or 3",
        "tcp host 10.0.0.1",
        "ip port 80",
        "ip6 portrange 1-2",
    ] {
        let theirs = tcpdump(&all, Path::new("/dev/null"), expr);
        assert!(!theirs.status.success(), "tcpdump took {expr:?}");
        let ours = Command::new(env!("CARGO_BIN_EXE_synprint"))
            .args(["analyze", "--format", "none", "--filter", expr])
            .arg(&all)
            .output()
            .expect("run synprint");
        let err = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(ours.status.code(), Some(2), "{expr:?}: {err}");
        assert!(err.contains("(at byte "), "{expr:?}: {err}");
    }
}

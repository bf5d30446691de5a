//! End-to-end: `synprint analyze --inventory` over a capture this test
//! writes (clients of several stacks, an address two stacks share, a
//! server on two ports), checked against the same run's records.

mod common;
mod shared_fixtures;
mod signals;
mod skipped;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use synprint::capture::PcapWriter;
use synprint::craft::{ethernet_frame, OptionBytes, Stack, TcpPacket};
use synprint::packet::{flags, LinkType, Timestamp};

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn synprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synprint"))
        .args(args)
        .output()
        .expect("synprint runs")
}

const SERVER: u8 = 200;

/// (seconds, packet): SYNs of four clients and the server's answers.
fn traffic() -> Vec<(u64, TcpPacket)> {
    let mut t = Vec::new();
    let connect = |t: &mut Vec<(u64, TcpPacket)>, secs, syn: TcpPacket| {
        let mut answer = TcpPacket::syn_ack_for(&syn);
        answer.options = OptionBytes::new().mss(1460).sok().ts(77, 1).nop().ws(7).0;
        t.push((secs, syn));
        t.push((secs, answer));
    };
    let server = v4(SERVER);
    // A Windows client, twice.
    connect(&mut t, 0, Stack::Windows.syn(v4(1), 40000, server, 443, 1));
    connect(&mut t, 5, Stack::Windows.syn(v4(1), 40001, server, 443, 2));
    // One address, two stacks: a NAT.
    connect(&mut t, 6, Stack::Windows.syn(v4(2), 50000, server, 443, 3));
    connect(&mut t, 7, Stack::MacOs.syn(v4(2), 50001, server, 22, 4));
    // A Linux client whose timestamp clock runs at 1000 Hz, a minute apart:
    // p0f's uptime.
    for (secs, port, clock) in [(10, 41000, 5_000_000u32), (70, 41001, 5_060_000)] {
        let mut syn = Stack::Linux.syn(v4(3), port, server, 443, 5);
        syn.options = OptionBytes::new()
            .mss(1460)
            .sok()
            .ts(clock, 0)
            .nop()
            .ws(7)
            .0;
        connect(&mut t, secs, syn);
    }
    t
}

fn write_capture(path: &Path) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    for (secs, p) in traffic() {
        let ts = Timestamp((1_700_000_000 + secs) * 1_000_000_000);
        w.write(ts, &ethernet_frame(&p.ip_bytes())).expect("write");
    }
    std::fs::write(path, w.into_inner()).expect("write capture");
}

fn json_lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn each_host_is_listed_with_the_stacks_its_records_show() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cap, inv, recs) = (
        dir.path().join("c.pcap"),
        dir.path().join("hosts.jsonl"),
        dir.path().join("records.jsonl"),
    );
    write_capture(&cap);
    let out = synprint(&[
        "analyze",
        "-o",
        recs.to_str().expect("utf-8"),
        "--inventory",
        inv.to_str().expect("utf-8"),
        cap.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "inventory:           4 hosts, to {}",
            inv.display()
        )),
        "{err}"
    );
    let hosts = json_lines(&std::fs::read(&inv).expect("inventory"));
    let records = json_lines(&std::fs::read(&recs).expect("records"));
    let ips: Vec<&str> = hosts.iter().filter_map(|h| h["ip"].as_str()).collect();
    assert_eq!(ips, ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.200"]);

    // Every host agrees with its records: counts, times, and each stack is
    // a record's fingerprint and answer.
    for host in &hosts {
        let own: Vec<&Value> = records
            .iter()
            .filter(|r| r["src_ip"] == host["ip"])
            .collect();
        let count = |kind: &str| own.iter().filter(|r| r["kind"] == kind).count();
        assert_eq!(host["syns"], count("syn"), "{host}");
        assert_eq!(host["syn_acks"], count("syn_ack"), "{host}");
        let times: Vec<f64> = own.iter().filter_map(|r| r["ts"].as_f64()).collect();
        let first = times.iter().copied().fold(f64::INFINITY, f64::min);
        let last = times.iter().copied().fold(0.0, f64::max);
        assert_eq!(
            (host["first_seen"].as_f64(), host["last_seen"].as_f64()),
            (Some(first), Some(last))
        );
        let stacks = host["stacks"].as_array().expect("stacks");
        let listed: u64 = stacks.iter().filter_map(|s| s["count"].as_u64()).sum();
        assert_eq!(listed as usize, own.len(), "{host}");
        for stack in stacks {
            let kind = stack["kind"].as_str().expect("kind");
            let ja4 = if kind == "syn" { "ja4t" } else { "ja4ts" };
            let same =
                |r: &&&Value| r["kind"] == kind && r["p0f"]["raw_sig"] == stack["p0f_raw_sig"];
            let first = own.iter().find(same).unwrap_or_else(|| panic!("{stack}"));
            assert_eq!(own.iter().filter(same).count() as u64, stack["count"]);
            assert_eq!(stack[ja4], first[ja4], "{stack}");
            assert_eq!(stack["p0f_os"], first["p0f"]["os"], "{stack}");
            assert_eq!(stack["hops"], first["p0f"]["dist"], "{stack}");
            assert_eq!(stack["link"], first["mtu"]["link"], "{stack}");
            for key in ["os", "family", "confidence"] {
                assert_eq!(stack[key], first["classification"][key], "{key} {stack}");
            }
        }
    }
    let host = |ip: &str| hosts.iter().find(|h| h["ip"] == ip).expect("host");
    let windows = host("192.0.2.1");
    assert_eq!(windows["os"], "Windows");
    assert_eq!(windows["client_families"], json!(["Windows"]));
    assert_eq!(windows["server_ports"], json!([]));
    let shared = host("192.0.2.2");
    assert_eq!(shared["client_families"], json!(["Windows", "Apple"]));
    let linux = host("192.0.2.3");
    assert_eq!(linux["family"], "Linux");
    // The newest uptime of its records.
    let uptime = records
        .iter()
        .rfind(|r| r["src_ip"] == "192.0.2.3" && r["uptime"].is_object())
        .map(|r| r["uptime"].clone());
    assert!(uptime.is_some(), "no uptime in the records");
    assert_eq!(Some(linux["uptime"].clone()), uptime);
    let server = host("192.0.2.200");
    assert_eq!(server["server_ports"], json!([22, 443]));
    assert_eq!(server["server_ports_complete"], true);
    assert_eq!(server["client_families"], json!([]));
    assert_eq!(server["family"], "Linux", "{server}");
    assert_eq!(server["unlisted_stack_records"], 0);
}

/// `analyze -f none --inventory - ARGS` over the test's capture.
fn inventory_to_stdout(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("c.pcap");
    write_capture(&cap);
    let mut all = vec!["analyze", "-f", "none", "--inventory", "-"];
    all.extend(args);
    all.push(cap.to_str().expect("utf-8"));
    let out = synprint(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_text_inventory_reads_as_blocks() {
    let out = inventory_to_stdout(&["--inventory-format", "text"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let block = |ip: &str| {
        let head = format!(".-[ {ip} ]-");
        let found = text.split("\n\n").find(|b| b.starts_with(&head));
        found.unwrap_or_else(|| panic!("{ip}: {text}"))
    };
    let shared = block("192.0.2.2");
    for line in [
        "| families = Windows, Apple: several client stacks (NAT, a proxy, or a changed OS)",
        "| seen     = 2023/11/14 22:13:26 to 2023/11/14 22:13:27 UTC",
        "| records  = 2 syn, 0 syn_ack",
        "| stack    = syn x1: p0f ",
        "|            raw_sig 4:",
        "`----",
    ] {
        assert!(shared.contains(line), "{line}\n{shared}");
    }
    assert!(block("192.0.2.200").contains("| serves   = 22, 443"));
    assert!(block("192.0.2.3").contains("| uptime   = "));
}

/// The first N addresses are listed, the others' records counted.
#[test]
fn hosts_past_the_limit_are_counted() {
    let out = inventory_to_stdout(&["--inventory-max-hosts", "2"]);
    let ips: Vec<Value> = json_lines(&out.stdout)
        .iter()
        .map(|h| h["ip"].clone())
        .collect();
    // In the order first seen: the first client, then the server.
    assert_eq!(ips, [json!("192.0.2.1"), json!("192.0.2.200")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "2 hosts, to standard output; 4 records from addresses past the first 2 not listed"
        ),
        "{err}"
    );
}

/// Records and inventory in one stream would be one unreadable mix, and
/// one file written twice: refused before anything is read or emptied.
#[test]
fn records_and_inventory_in_one_place_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("c.pcap");
    write_capture(&cap);
    let cap = cap.to_str().expect("utf-8");
    let kept = dir.path().join("kept.jsonl");
    std::fs::write(&kept, "yesterday\n").expect("write");
    let kept_s = kept.to_str().expect("utf-8");
    let same_file_two_names = dir.path().join(".").join("kept.jsonl");
    let fresh = dir.path().join("fresh.jsonl");
    let fresh_twice = dir.path().join(".").join("fresh.jsonl");
    for args in [
        vec!["analyze", "-f", "jsonl", "--inventory", "-", cap],
        vec!["analyze", "-o", "-", "--inventory", "-", cap],
        // Standard output by another name (the test's pipe).
        vec!["analyze", "-f", "jsonl", "--inventory", "/dev/stdout", cap],
        vec!["analyze", "-o", "/dev/stdout", "--inventory", "-", cap],
        vec![
            "analyze",
            "-o",
            kept_s,
            "--inventory",
            same_file_two_names.to_str().expect("utf-8"),
            cap,
        ],
        vec![
            "analyze",
            "-o",
            fresh.to_str().expect("utf-8"),
            "--inventory",
            fresh_twice.to_str().expect("utf-8"),
            cap,
        ],
    ] {
        let out = synprint(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the records and the inventory would go to the same place"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), "yesterday\n");
    assert!(!fresh.exists(), "the refused run's new file is taken back");
    // Nor does a run that fails to start empty an earlier inventory.
    let out = synprint(&[
        "analyze",
        "-o",
        "/nonexistent/r.jsonl",
        "--inventory",
        kept_s,
        cap,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), "yesterday\n");
    // /dev/null takes both.
    let out = synprint(&[
        "analyze",
        "-o",
        "/dev/null",
        "--inventory",
        "/dev/null",
        cap,
    ]);
    assert_eq!(out.status.code(), Some(0));
    // An inventory never overwrites a capture either.
    let out = synprint(&["analyze", "-f", "none", "--inventory", cap, cap]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write to it"));
    // An inventory that cannot be written fails the run, after the summary.
    let out = synprint(&["analyze", "-f", "none", "--inventory", "/dev/full", cap]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("records:") && err.contains("inventory: /dev/full: No space left"),
        "{err}"
    );
}

/// A new inventory file that cannot be written (here: past the file-size
/// limit) is taken back, not left empty to read as "no hosts seen"; an
/// earlier inventory stays as it was.
#[test]
fn an_inventory_that_cannot_be_written_leaves_no_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("c.pcap");
    write_capture(&cap);
    let run = |inventory: &Path| {
        signals::with_file_size_limit(&mut signals::synprint(), 16)
            .args(["analyze", "-f", "none", "--inventory"])
            .arg(inventory)
            .arg(&cap)
            .output()
            .expect("synprint runs")
    };
    let fresh = dir.path().join("fresh.jsonl");
    let out = run(&fresh);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the empty file this run made is removed"),
        "{err}"
    );
    assert!(!fresh.exists(), "{err}");
    // An earlier inventory stays, an empty one too.
    for earlier in ["yesterday\n", ""] {
        let kept = dir.path().join("kept.jsonl");
        std::fs::write(&kept, earlier).expect("write");
        let out = run(&kept);
        assert_eq!(out.status.code(), Some(1));
        let now = std::fs::read_to_string(&kept).expect("kept");
        assert_eq!(now, earlier);
    }
}

/// Per source address, as tshark counts them: SYNs, SYN+ACKs, the ports
/// the SYN+ACKs came from, and the first and last such packet's time.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    syns: u64,
    syn_acks: u64,
    ports: BTreeSet<u64>,
    first: f64,
    last: f64,
}

fn tshark_tally(capture: &Path) -> BTreeMap<IpAddr, Tally> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args([
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.reset == 0 && tcp.flags.fin == 0",
        ])
        .args(["-T", "fields", "-E", "separator=\t"])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.flags.ack"])
        .args(["-e", "tcp.srcport", "-e", "frame.time_epoch"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut hosts: BTreeMap<IpAddr, Tally> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [v4, v6, ack, port, time] = f[..] else {
            panic!("{line}");
        };
        let ip: IpAddr = if v4.is_empty() { v6 } else { v4 }
            .parse()
            .expect("address");
        let t = hosts.entry(ip).or_default();
        if ack == "1" || ack == "True" {
            t.syn_acks += 1;
            t.ports.insert(port.parse().expect("port"));
        } else {
            t.syns += 1;
        }
        // The double nearest the decimal time: the records' `ts`.
        let time: f64 = time.parse().expect("time");
        if t.first == 0.0 {
            t.first = time;
        }
        t.last = time;
    }
    hosts
}

/// The inventory of a capture of this machine's kernel (the repository's
/// loopback sample) and of the crafted one agrees with tshark's count of
/// each address's SYNs, SYN+ACKs, served ports and first and last times
/// (neither capture holds a retransmission, which only synprint leaves
/// out).
#[test]
fn hosts_agree_with_tshark() {
    if common::tshark_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let crafted = dir.path().join("c.pcap");
    write_capture(&crafted);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/linux-loopback.pcap");
    for capture in [crafted, sample] {
        assert_agrees_with_tshark(&capture);
    }
}

/// The same of the shared public captures (IPv4 and IPv6, pcap and
/// pcapng).
#[test]
fn fixture_hosts_agree_with_tshark() {
    let Some(files) = shared_fixtures::captures() else {
        return;
    };
    if common::tshark_missing() {
        return;
    }
    for capture in files {
        assert_agrees_with_tshark(&capture);
    }
}

fn assert_agrees_with_tshark(capture: &Path) {
    let out = synprint(&[
        "analyze",
        "-f",
        "none",
        "--inventory",
        "-",
        capture.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success());
    let ours: BTreeMap<IpAddr, Tally> = json_lines(&out.stdout)
        .iter()
        .map(|h| {
            let ip = h["ip"].as_str().expect("ip").parse().expect("address");
            let ports = h["server_ports"].as_array().expect("ports");
            let time = |k: &str| h[k].as_f64().expect("time");
            let tally = Tally {
                syns: h["syns"].as_u64().expect("syns"),
                syn_acks: h["syn_acks"].as_u64().expect("syn_acks"),
                ports: ports.iter().filter_map(Value::as_u64).collect(),
                first: time("first_seen"),
                last: time("last_seen"),
            };
            (ip, tally)
        })
        .collect();
    assert!(!ours.is_empty());
    assert_eq!(ours, tshark_tally(capture), "{}", capture.display());
}

/// A host's uptime is that of its newest record that has one, whatever
/// order the files are given in (`day-10.pcap` sorts before `day-2.pcap`).
#[test]
fn the_uptime_is_the_newest_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two pairs of SYNs a minute apart, each pair giving an estimate; the
    // later pair's clock reads twice the earlier's.
    let pair = |name: &str, start: u64, clock: u32| {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
        for (i, (secs, tick)) in [(0, 0), (60, 60_000)].into_iter().enumerate() {
            let port = 41000 + i as u16 + u16::from(start > 0) * 2;
            let mut syn = Stack::Linux.syn(v4(3), port, v4(SERVER), 443, u32::from(port));
            syn.options = OptionBytes::new()
                .mss(1460)
                .sok()
                .ts(clock + tick, 0)
                .nop()
                .ws(7)
                .0;
            let ts = Timestamp((1_700_000_000 + start + secs) * 1_000_000_000);
            w.write(ts, &ethernet_frame(&syn.ip_bytes()))
                .expect("write");
        }
        let path = dir.path().join(name);
        std::fs::write(&path, w.into_inner()).expect("write capture");
        path.to_str().expect("utf-8").to_string()
    };
    let later = pair("day-10.pcap", 86_400, 10_000_000);
    let earlier = pair("day-2.pcap", 0, 5_000_000);
    let recs = dir.path().join("r.jsonl");
    let recs_s = recs.to_str().expect("utf-8");
    let out = synprint(&[
        "analyze",
        "-o",
        recs_s,
        "--inventory",
        "-",
        &later,
        &earlier,
    ]);
    assert!(out.status.success());
    let records = json_lines(&std::fs::read(&recs).expect("records"));
    let with_uptime: Vec<&Value> = records.iter().filter(|r| r["uptime"].is_object()).collect();
    assert_eq!(with_uptime.len(), 2, "{records:?}");
    // Read second, yet the newest.
    assert_ne!(with_uptime[0]["uptime"], with_uptime[1]["uptime"]);
    let newest = with_uptime
        .iter()
        .max_by(|a, b| {
            a["ts"]
                .as_f64()
                .partial_cmp(&b["ts"].as_f64())
                .expect("times")
        })
        .expect("two");
    assert_eq!(newest["ts"], with_uptime[0]["ts"]);
    let hosts = json_lines(&out.stdout);
    assert_eq!(hosts[0]["uptime"], newest["uptime"]);
}

/// p0f also estimates uptime from a connection's later segments (here a
/// single connection, which gives no estimate from SYNs alone): the
/// formats that follow connections write those lines, and the inventory
/// takes them, also beside `--format none`; JSON lines, one record per
/// SYN, do not follow connections, and the inventory beside them has the
/// records' uptimes only.
#[test]
fn the_uptime_of_a_followed_connection_reaches_the_inventory() {
    let (client, server) = (v4(30), v4(SERVER));
    let mut syn = Stack::Linux.syn(client, 40_000, server, 443, 9);
    assert!(
        syn.set_timestamp(1_000_000, 0),
        "Linux SYNs carry timestamps"
    );
    let mut answer = TcpPacket::syn_ack_for(&syn);
    answer.options = OptionBytes::new()
        .mss(1460)
        .sok()
        .ts(2_000_000, 1_000_000)
        .nop()
        .ws(7)
        .0;
    let segment = |bits: u16, seq: u32, ts: u32, data: &[u8]| {
        let mut p = TcpPacket::syn(client, 40_000, server, 443);
        p.flags = bits;
        p.seq = seq;
        p.ack = answer.seq.wrapping_add(1);
        p.window = 502;
        p.options = OptionBytes::new().nop().nop().ts(ts, 2_000_000).0;
        p.payload = data.to_vec();
        p
    };
    let (ack, psh, fin) = (flags::ACK, flags::ACK | flags::PSH, flags::ACK | flags::FIN);
    let next = syn.seq.wrapping_add(1);
    // Not HTTP: p0f stops reading a client's bytes after 15.
    let hello = b"\x16\x03\x01\x00\x05hello";
    let ms = |n: u64| Timestamp((1_700_000_000_000 + n) * 1_000_000);
    let frames = [
        (ms(0), syn.clone()),
        (ms(1), answer.clone()),
        (ms(2), segment(ack, next, 1_000_001, b"")),
        (ms(10), segment(psh, next, 1_000_010, hello)),
        (
            ms(1000),
            segment(fin, next.wrapping_add(hello.len() as u32), 1_001_000, b""),
        ),
    ];
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    for (ts, p) in &frames {
        w.write(*ts, &ethernet_frame(&p.ip_bytes())).expect("write");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("one-connection.pcap");
    std::fs::write(&pcap, w.into_inner()).expect("write capture");
    let pcap = pcap.to_str().expect("utf-8");
    let uptime_of_client = |format: &str| {
        let records = dir.path().join(format!("records.{format}"));
        let records = records.to_str().expect("utf-8");
        let mut args = vec!["analyze", "-f", format, "--inventory", "-", pcap];
        if format != "none" {
            args.extend(["-o", records]);
        }
        let out = synprint(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hosts = json_lines(&out.stdout);
        let host = hosts
            .iter()
            .find(|h| h["ip"] == "192.0.2.30")
            .expect("the client");
        let written = std::fs::read_to_string(records).unwrap_or_default();
        (host["uptime"].clone(), written)
    };
    let (from_p0f, lines) = uptime_of_client("p0f");
    assert!(
        lines
            .lines()
            .any(|l| l.contains("mod=uptime|") && l.contains("|subj=cli|")),
        "{lines}"
    );
    assert!(from_p0f.is_object(), "{from_p0f}");
    assert_eq!(uptime_of_client("none").0, from_p0f);
    assert!(uptime_of_client("jsonl").0.is_null());
}

/// When whoever reads the records goes away (`| head`), reading stops,
/// and the inventory says it covers only what was read before.
#[test]
fn an_inventory_cut_short_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("many.pcap");
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    // Records enough to fill a pipe many times over.
    for i in 0..20_000u32 {
        let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let syn = Stack::Windows.syn(src, 40000, v4(SERVER), 443, i);
        let ts = Timestamp(1_700_000_000_000_000_000 + u64::from(i) * 1000);
        w.write(ts, &ethernet_frame(&syn.ip_bytes()))
            .expect("write");
    }
    std::fs::write(&cap, w.into_inner()).expect("write capture");
    let inv = dir.path().join("hosts.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_synprint"))
        .args(["analyze", "-f", "jsonl", "--inventory"])
        .args([&inv, &cap])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("synprint runs");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first)
        .expect("a record");
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().expect("synprint ends");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("; of the packets read before the records' reader went away"),
        "{err}"
    );
    let hosts = json_lines(&std::fs::read(&inv).expect("inventory"));
    assert!(!hosts.is_empty() && hosts.len() < 20_000, "{}", hosts.len());
    // Every record the summary counts is in it, those the analyzer still
    // held when the pipe closed too: each SYN is another host.
    let syns: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("records:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a records line");
    assert_eq!(hosts.len(), syns, "{err}");
}

//! Differential test against p0f 3.09b itself: the same captures go through
//! `p0f -r FILE -o LOG` and through synprint's p0f module, and every
//! connection p0f reports must get the identical `raw_sig`, `os` (or `app`),
//! `dist`, `params` (generic / fuzzy / random_ttl / excess_dist / tos), MTU
//! `link` and `raw_mtu`, and `uptime` / `raw_freq`; synprint must report
//! nothing p0f does not.
//!
//! Two kinds of captures:
//! - crafted handshakes with the layouts, TTLs, windows and quirks of many
//!   stacks, and every quirk p0f knows;
//! - real SYNs and SYN+ACKs of this machine's kernel over loopback in a
//!   throw-away network namespace, for every combination of the
//!   `net.ipv4.tcp_{timestamps,window_scaling,sack,ecn}` sysctls, IPv4 and
//!   IPv6 (needs root and `ip netns`; skipped with a message otherwise).
//!
//! Skipped with a message when `p0f` is not installed (CI installs it).

mod shared_fixtures;
mod skipped;
use skipped::skipped;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use synprint::analyze::{Analyzer, AnalyzerConfig, ConnUptime, Engine, Record, Side};
use synprint::capture::{CaptureReader, PcapWriter};
use synprint::craft::{ethernet_frame, OptionBytes, Stack, TcpPacket};
use synprint::p0f::{Database, Uptime};
use synprint::packet::{flags, Kind, LinkType, Timestamp};

mod kernel;
use kernel::{
    netns_for_test, p0f, p0f_missing, synprint_analyze, tcpdump_missing, Capture, LOGGED_MODULES,
};

/// One logged observation, keyed as p0f keys its log lines.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    module: String,
    cli: String,
    srv: String,
    subj: String,
}

type Report = BTreeMap<Key, Vec<BTreeMap<String, String>>>;

const COMPARED_MODULES: [&str; 4] = ["syn", "syn+ack", "mtu", "uptime"];

/// p0f's log of a capture (dates in UTC, as synprint's p0f format writes
/// them).
fn p0f_log(pcap: &Path) -> String {
    let log = pcap.with_extension("log");
    // p0f appends to its log.
    let _ = std::fs::remove_file(&log);
    let out = p0f()
        .env("TZ", "UTC")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(&log)
        .output()
        .expect("run p0f");
    assert!(
        out.status.success(),
        "p0f failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log).expect("read p0f log")
}

fn run_p0f(pcap: &Path) -> Report {
    report_of(&p0f_log(pcap))
}

/// p0f's log lines of the compared modules, keyed as p0f keys them.
fn report_of(text: &str) -> Report {
    let mut report = Report::new();
    for line in text.lines() {
        // "[date time] mod=...|cli=...|srv=...|subj=...|k=v|..."
        let Some((_, rest)) = line.split_once("] ") else {
            continue;
        };
        let mut fields = BTreeMap::new();
        for kv in rest.split('|') {
            if let Some((k, v)) = kv.split_once('=') {
                fields.insert(k.to_string(), v.to_string());
            }
        }
        let module = fields.remove("mod").unwrap_or_default();
        if !COMPARED_MODULES.contains(&module.as_str()) {
            continue;
        }
        let key = Key {
            module,
            cli: fields.remove("cli").unwrap_or_default(),
            srv: fields.remove("srv").unwrap_or_default(),
            subj: fields.remove("subj").unwrap_or_default(),
        };
        report.entry(key).or_default().push(fields);
    }
    report
}

/// p0f's address format: dotted quad, or eight unpadded hex groups.
fn p0f_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => a
            .segments()
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

/// How many uptimes connection following finds in a capture.
fn later_uptimes(pcap: &Path) -> usize {
    pipeline(pcap)
        .iter()
        .filter(|m| matches!(m, Made::Later(_)))
        .count()
}

/// What the real pipeline (capture reader, decoder, retransmission
/// tracking, `Engine`, uptime tracker, connection following) makes of a
/// capture file, in capture order.
enum Made {
    Record(Box<Record>),
    /// An uptime found by following a connection past its handshake.
    Later(ConnUptime),
}

fn pipeline(path: &Path) -> Vec<Made> {
    let engine = Engine::default();
    let config = AnalyzerConfig {
        follow_connections: true,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = Analyzer::new(&engine, config);
    let mut reader = CaptureReader::open(path).expect("open capture");
    let mut made = Vec::new();
    while let Some(frame) = reader.next_frame().expect("read capture") {
        if let Some(r) = analyzer.process_frame(frame.link, frame.ts, frame.data) {
            made.push(Made::Record(Box::new(r)));
        }
        made.extend(analyzer.take_conn_uptime().map(Made::Later));
    }
    made
}

/// Frames readable so far from a capture that may still be being written.
fn frames_in(path: &Path) -> usize {
    let Ok(mut reader) = CaptureReader::open(path) else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(_)) = reader.next_frame() {
        n += 1;
    }
    n
}

/// The pipeline's records in p0f's log form, plus the keys p0f may
/// legitimately lack: SYN+ACKs whose SYN p0f never tracked (not seen, or
/// its connection ended on a userland-tool match), which synprint still
/// reports.
fn synprint_report(made: &[Made]) -> (Report, Vec<Key>) {
    let mut report = Report::new();
    let mut tracked: HashMap<(IpAddr, u16, IpAddr, u16), bool> = HashMap::new();
    let mut untracked = Vec::new();
    for m in made {
        let r = match m {
            Made::Record(r) => r,
            Made::Later(u) => {
                let key = Key {
                    module: "uptime".to_string(),
                    cli: format!("{}/{}", p0f_addr(u.client.0), u.client.1),
                    srv: format!("{}/{}", p0f_addr(u.server.0), u.server.1),
                    subj: match u.side {
                        Side::Client => "cli",
                        Side::Server => "srv",
                    }
                    .to_string(),
                };
                report
                    .entry(key)
                    .or_default()
                    .push(uptime_fields(&u.uptime));
                continue;
            }
        };
        let obs = &r.obs();
        let m = &r.p0f();
        let (cli_ip, cli_port, srv_ip, srv_port) = match obs.kind {
            Kind::Syn => (obs.src_ip, obs.src_port, obs.dst_ip, obs.dst_port),
            Kind::SynAck => (obs.dst_ip, obs.dst_port, obs.src_ip, obs.src_port),
        };
        let flow = (cli_ip, cli_port, srv_ip, srv_port);
        let key = |module: &str| Key {
            module: module.to_string(),
            cli: format!("{}/{}", p0f_addr(cli_ip), cli_port),
            srv: format!("{}/{}", p0f_addr(srv_ip), srv_port),
            subj: if obs.kind == Kind::Syn { "cli" } else { "srv" }.to_string(),
        };
        match obs.kind {
            Kind::Syn => {
                tracked.insert(flow, !m.ends_connection());
            }
            Kind::SynAck => {
                if tracked.remove(&flow) != Some(true) {
                    untracked.extend(["syn+ack", "mtu", "uptime"].map(key));
                }
            }
        }

        let mut f = BTreeMap::new();
        let label_key = if m.os.is_some_and(|l| l.is_app()) {
            "app"
        } else {
            "os"
        };
        f.insert(
            label_key.to_string(),
            m.os.map_or("???".to_string(), |l| l.to_string()),
        );
        let dist = if m.bad_ttl {
            format!("<= {}", m.dist)
        } else {
            m.dist.to_string()
        };
        f.insert("dist".to_string(), dist);
        let mut params = Vec::new();
        if m.generic {
            params.push("generic".to_string());
        }
        if m.fuzzy {
            params.push("fuzzy".to_string());
        }
        if m.bad_ttl {
            params.push("random_ttl".to_string());
        }
        if m.dist > 35 {
            params.push("excess_dist".to_string());
        }
        let tos = obs.tos >> 2;
        if tos != 0 {
            params.push(format!("tos:0x{tos:02x}"));
        }
        let params = if params.is_empty() {
            "none".to_string()
        } else {
            params.join(" ")
        };
        f.insert("params".to_string(), params);
        f.insert("raw_sig".to_string(), m.raw_sig.to_string());
        let module = if obs.kind == Kind::Syn {
            "syn"
        } else {
            "syn+ack"
        };
        report.entry(key(module)).or_default().push(f);

        if let Some(mtu) = &r.mtu() {
            let mut f = BTreeMap::new();
            f.insert("link".to_string(), mtu.link.unwrap_or("???").to_string());
            f.insert("raw_mtu".to_string(), mtu.raw_mtu.to_string());
            report.entry(key("mtu")).or_default().push(f);
        }
        if let Some(up) = &r.uptime() {
            report
                .entry(key("uptime"))
                .or_default()
                .push(uptime_fields(up));
        }
    }
    (report, untracked)
}

/// An uptime as p0f logs it.
fn uptime_fields(u: &Uptime) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    f.insert("uptime".to_string(), u.to_string());
    f.insert("raw_freq".to_string(), format!("{:.2} Hz", u.raw_freq_hz));
    f
}

/// Runs p0f and the pipeline over one capture and requires identical
/// reports, uptimes included (those p0f estimates from segments after the
/// handshake too).
fn differential(name: &str, pcap: &Path, min_connections: usize) {
    let log = p0f_log(pcap);
    let theirs = report_of(&log);
    let (mut ours, untracked) = synprint_report(&pipeline(pcap));
    for k in &untracked {
        if !theirs.contains_key(k) {
            ours.remove(k);
        }
    }
    compare(name, &ours, &theirs, min_connections);
    p0f_format_agrees(name, pcap, &log);
}

/// `synprint analyze --format p0f` writes, for every observation p0f logs
/// in the compared modules, the very line p0f writes, date included.
fn p0f_format_agrees(name: &str, pcap: &Path, log: &str) {
    // "[date] mod=..|cli=..|srv=..|subj=..|..." keyed by its first four
    // fields; the first line of each key.
    fn by_key(text: &str) -> BTreeMap<String, String> {
        let mut lines = BTreeMap::new();
        for line in text.lines() {
            let Some((_, rest)) = line.split_once("] ") else {
                continue;
            };
            let key: Vec<&str> = rest.splitn(5, '|').take(4).collect();
            lines
                .entry(key.join("|"))
                .or_insert_with(|| line.to_string());
        }
        lines
    }
    let theirs = by_key(log);
    let (text, _) = synprint_analyze(pcap, "p0f");
    let ours = by_key(&text);
    let mut compared = 0;
    for (key, line) in &theirs {
        let module = key.split('|').next().unwrap_or_default();
        let module = module.trim_start_matches("mod=");
        if !LOGGED_MODULES.contains(&module) {
            continue;
        }
        if ours.get(key) != Some(line) {
            // Everything both wrote about this connection, to tell a
            // missing line from a different one (a run on 2026-12-04 once
            // lacked an uptime line that 2,000 reruns always had).
            let conn: Vec<&str> = key.split('|').skip(1).take(2).collect();
            let about = |text: &str| -> Vec<String> {
                let conn = conn.join("|");
                text.lines()
                    .filter(|l| l.contains(&conn))
                    .map(String::from)
                    .collect()
            };
            panic!(
                "{name}: --format p0f lacks or differs from p0f's line\n{line}\n\
                 ours ({} lines in all) about this connection:\n{}\n\
                 p0f's ({} lines in all):\n{}",
                text.lines().count(),
                about(&text).join("\n"),
                log.lines().count(),
                about(log).join("\n"),
            );
        }
        compared += 1;
    }
    assert!(compared > 0, "{name}: no p0f line compared");
    eprintln!("{name}: {compared} p0f log lines written identically");
}

fn compare(name: &str, ours: &Report, theirs: &Report, min_connections: usize) {
    let syns = theirs.keys().filter(|k| k.module == "syn").count();
    assert!(
        syns >= min_connections,
        "{name}: p0f reported only {syns} SYNs, expected at least {min_connections}"
    );
    let mut diffs = Vec::new();
    for (k, v) in theirs {
        match ours.get(k) {
            Some(o) if o == v => {}
            o => diffs.push(format!("{k:?}\n   p0f:      {v:?}\n   synprint: {o:?}")),
        }
    }
    for (k, o) in ours {
        if !theirs.contains_key(k) {
            diffs.push(format!("{k:?}\n   p0f:      (nothing)\n   synprint: {o:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{name}: {} differences from p0f:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    eprintln!(
        "{name}: {} p0f records identical ({} connections)",
        theirs.values().map(Vec::len).sum::<usize>(),
        syns
    );
}

// ---------------------------------------------------------------------
// Crafted captures
// ---------------------------------------------------------------------

struct Conn {
    syn: TcpPacket,
    /// None: the server never answers.
    syn_ack: Option<TcpPacket>,
    /// Gap before this connection's SYN.
    gap_ms: u64,
}

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
}

fn v6(n: u32) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        0,
        0,
        0,
        0,
        (n >> 16) as u16,
        n as u16,
    ))
}

/// Server answers modelled on p0f.fp's [tcp:response] section.
#[derive(Clone, Copy)]
enum Server {
    Linux,
    LinuxNoTs,
    Windows,
    FreeBsd,
    OpenBsd,
    MacOs,
    Solaris,
    HpUx,
}

const SERVERS: [Server; 8] = [
    Server::Linux,
    Server::LinuxNoTs,
    Server::Windows,
    Server::FreeBsd,
    Server::OpenBsd,
    Server::MacOs,
    Server::Solaris,
    Server::HpUx,
];

fn answer(syn: &TcpPacket, server: Server, n: u32) -> TcpPacket {
    let mut p = TcpPacket::syn_ack_for(syn);
    p.ip_id = (n as u16).wrapping_mul(31) | 1;
    let ts = n.wrapping_mul(7919) | 1;
    let tsecr = syn_ts(syn).unwrap_or(0);
    let mss = if syn.src.is_ipv6() { 1440 } else { 1460 };
    let (ttl, df, id, window, opts) = match server {
        Server::Linux => (
            64,
            true,
            0,
            mss * 10,
            OptionBytes::new().mss(mss).sok().ts(ts, tsecr).nop().ws(7),
        ),
        Server::LinuxNoTs => (
            64,
            true,
            0,
            mss * 4,
            OptionBytes::new().mss(mss).nop().nop().sok().nop().ws(2),
        ),
        Server::Windows => (
            128,
            true,
            p.ip_id,
            8192,
            OptionBytes::new().mss(mss).nop().ws(8).nop().nop().sok(),
        ),
        Server::FreeBsd => (
            64,
            true,
            p.ip_id,
            65535,
            OptionBytes::new().mss(mss).nop().ws(6).sok().ts(ts, tsecr),
        ),
        Server::OpenBsd => (
            64,
            true,
            p.ip_id,
            16384,
            OptionBytes::new().mss(1460).nop().nop().sok().nop().ws(3),
        ),
        Server::MacOs => (
            64,
            true,
            p.ip_id,
            65535,
            OptionBytes::new()
                .mss(mss)
                .nop()
                .ws(0)
                .nop()
                .nop()
                .ts(ts, tsecr)
                .sok()
                .eol()
                .eol(),
        ),
        Server::Solaris => (
            64,
            true,
            p.ip_id,
            mss * 37,
            OptionBytes::new().mss(mss).nop().ws(0).nop().nop().sok(),
        ),
        Server::HpUx => (
            64,
            true,
            p.ip_id,
            32768,
            OptionBytes::new().mss(mss).nop().nop().sok(),
        ),
    };
    p.ttl = ttl - (n % 5) as u8;
    p.df = df;
    p.ip_id = id;
    p.window = window;
    p.options = opts.0;
    if p.src.is_ipv6() {
        p.flow_label = n & 0xF_FFFF;
    }
    p
}

fn syn_ts(p: &TcpPacket) -> Option<u32> {
    let o = &p.options;
    let mut i = 0;
    while i < o.len() {
        match o[i] {
            0 => return None,
            1 => i += 1,
            8 if i + 10 <= o.len() => {
                return Some(u32::from_be_bytes([o[i + 2], o[i + 3], o[i + 4], o[i + 5]]))
            }
            _ => i += usize::from(*o.get(i + 1)?).max(2),
        }
    }
    None
}

/// Builds the crafted connection list. Every connection gets its own client
/// port and address so p0f's per-host state cannot couple them, except the
/// uptime series which deliberately reuse one host.
fn crafted() -> Vec<Conn> {
    let mut conns = Vec::new();
    let mut n: u32 = 0;
    let mut next = |v6_: bool| {
        n += 1;
        let cli = if v6_ { v6(n) } else { v4(n) };
        let srv = if v6_ {
            v6(0x10000 + n)
        } else {
            v4(0x10000 + n)
        };
        (cli, srv, n)
    };
    let mut push = |syn: TcpPacket, syn_ack: Option<TcpPacket>| {
        conns.push(Conn {
            syn,
            syn_ack,
            gap_ms: 1000,
        })
    };

    // Every client stack against every server stack, IPv4 and IPv6.
    for v6_ in [false, true] {
        for stack in Stack::ALL {
            for server in SERVERS {
                let (c, s, n) = next(v6_);
                let syn = stack.syn(c, 10_000 + n as u16, s, 443, n);
                let sa = answer(&syn, server, n);
                push(syn, Some(sa));
            }
        }
    }

    // TTLs around every initial-TTL boundary, for three layouts.
    let ttls = [
        1u8, 2, 31, 32, 33, 34, 35, 40, 50, 60, 63, 64, 65, 92, 93, 94, 100, 110, 127, 128, 129,
        160, 200, 219, 220, 221, 240, 254, 255,
    ];
    for stack in [Stack::Linux, Stack::Windows, Stack::MacOs] {
        for (k, &ttl) in ttls.iter().enumerate() {
            let (c, s, n) = next(k % 2 == 1);
            let mut syn = stack.syn(c, 20_000 + n as u16, s, 80, n);
            syn.ttl = ttl;
            let mut sa = answer(&syn, Server::Linux, n);
            sa.ttl = ttl;
            push(syn, Some(sa));
        }
    }

    // One quirk (or irregularity) at a time on a Linux SYN, and the same
    // change on a Linux SYN+ACK.
    type Tweak = fn(&mut TcpPacket);
    let tweaks: Vec<(&str, Tweak)> = vec![
        ("no df, id set", |p| p.df = false),
        ("no df, id 0", |p| {
            p.df = false;
            p.ip_id = 0
        }),
        ("df, id 0", |p| p.ip_id = 0),
        ("ecn ect0", |p| p.tos = 0x02),
        ("ecn ce", |p| p.tos = 0x03),
        ("tos dscp", |p| p.tos = 0xb8),
        ("tos dscp + ecn", |p| p.tos = 0x29),
        ("reserved ip flag", |p| p.ip_reserved_flag = true),
        ("seq 0", |p| p.seq = 0),
        ("ack bit 24", |p| p.ack = 0x0100_0000),
        ("ack low bits", |p| p.ack = 0x0000_00ff),
        ("ack all", |p| p.ack = 0xffff_ffff),
        ("ack 0", |p| p.ack = 0),
        ("urgent ptr", |p| p.urgent = 5),
        ("urg flag", |p| p.flags |= flags::URG),
        ("urg flag and ptr", |p| {
            p.flags |= flags::URG;
            p.urgent = 1
        }),
        ("push", |p| p.flags |= flags::PSH),
        ("ece cwr", |p| p.flags |= flags::ECE | flags::CWR),
        ("ece", |p| p.flags |= flags::ECE),
        ("ns", |p| p.flags |= flags::NS),
        ("payload", |p| p.payload = b"hello".to_vec()),
        ("ts1 zero", |p| set_ts(p, 0, 0)),
        ("ts2 nonzero", |p| set_ts(p, 12345, 777)),
        ("ws 14", |p| set_ws(p, 14)),
        ("ws 15", |p| set_ws(p, 15)),
        ("ws 255", |p| set_ws(p, 255)),
        ("eol pad zero", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .nop()
                .ws(7)
                .eol()
                .raw(&[0, 0, 0, 0, 0, 0, 0])
                .0
        }),
        ("eol pad nonzero last", |p| {
            // 12 bytes: the non-zero byte is the header's last one.
            p.options = OptionBytes::new()
                .mss(1460)
                .nop()
                .ws(7)
                .eol()
                .raw(&[0, 0, 9])
                .0
        }),
        ("eol pad nonzero middle", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .nop()
                .ws(7)
                .eol()
                .raw(&[0, 9, 0])
                .0
        }),
        ("eol first", |p| {
            p.options = OptionBytes::new().eol().raw(&[0, 0, 0]).0
        }),
        ("mss bad length", |p| {
            p.options = OptionBytes::new()
                .raw(&[2, 5, 5, 180])
                .sok()
                .ts(5, 0)
                .nop()
                .ws(7)
                .0
        }),
        ("ws bad length", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .sok()
                .ts(5, 0)
                .nop()
                .raw(&[3, 4, 7])
                .0
        }),
        ("sok bad length", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .raw(&[4, 3])
                .ts(5, 0)
                .nop()
                .ws(7)
                .0
        }),
        ("ts bad length", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .sok()
                .raw(&[8, 12, 0, 0, 0, 5, 0, 0, 0, 0])
                .nop()
                .ws(7)
                .0
        }),
        ("ts truncated", |p| {
            p.options = OptionBytes::new().mss(1460).sok().raw(&[8, 10, 0, 0]).0
        }),
        ("mss truncated", |p| {
            p.options = OptionBytes::new().nop().nop().nop().raw(&[2]).0
        }),
        ("unknown len 0", |p| {
            p.options = OptionBytes::new().mss(1460).raw(&[30, 0, 0, 0]).0
        }),
        ("unknown len 41", |p| {
            p.options = OptionBytes::new().mss(1460).raw(&[30, 41, 0, 0]).0
        }),
        ("unknown past end", |p| {
            p.options = OptionBytes::new().mss(1460).raw(&[30, 8, 0, 0]).0
        }),
        ("sack bad length", |p| {
            p.options = OptionBytes::new().mss(1460).raw(&[5, 4, 0, 0]).0
        }),
        ("sack in syn", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .raw(&[5, 10, 0, 0, 0, 1, 0, 0, 0, 2])
                .nop()
                .nop()
                .0
        }),
        ("tfo and mptcp", |p| {
            p.options = OptionBytes::new()
                .mss(1460)
                .sok()
                .ts(9, 0)
                .nop()
                .ws(7)
                .raw(&[34, 2, 30, 4, 0, 0])
                .0
        }),
        ("md5", |p| {
            p.options = OptionBytes::new().mss(1460).raw(&[19, 18]).raw(&[0; 16]).0
        }),
        ("24 nops", |p| p.options = vec![1; 24]),
        ("25 nops", |p| p.options = vec![1; 25]),
        ("40 nops", |p| p.options = vec![1; 40]),
        ("23 nops then mss", |p| {
            p.options = OptionBytes::new().raw(&[1; 23]).mss(1460).0
        }),
        ("24 nops then mss", |p| {
            p.options = OptionBytes::new().raw(&[1; 24]).mss(1460).0
        }),
        ("24 nops then eol", |p| {
            p.options = OptionBytes::new().raw(&[1; 24]).eol().raw(&[0, 5, 0]).0
        }),
        ("two mss", |p| {
            p.options = OptionBytes::new().mss(1460).mss(536).0
        }),
        ("two ts", |p| {
            p.options = OptionBytes::new().ts(0, 0).ts(77, 0).0
        }),
        ("mss 0", |p| {
            p.options = OptionBytes::new().mss(0).nop().ws(7).0
        }),
        ("mss 99", |p| {
            p.options = OptionBytes::new().mss(99).nop().ws(7).0;
            p.window = 99 * 10
        }),
        ("mss 1331", |p| {
            p.options = OptionBytes::new().mss(1331).nop().ws(7).0
        }),
        ("mss 65535", |p| p.options = OptionBytes::new().mss(65535).0),
        ("no options", |p| p.options.clear()),
        ("window 0", |p| p.window = 0),
        ("window 1", |p| p.window = 1),
        ("ip options nop", |p| p.ip_options = vec![1, 1, 1, 1]),
        ("ip options rr", |p| {
            p.ip_options = vec![7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        }),
    ];
    for (_, tweak) in &tweaks {
        for v6_ in [false, true] {
            let (c, s, n) = next(v6_);
            let mut syn = Stack::Linux.syn(c, 30_000 + n as u16, s, 8080, n);
            tweak(&mut syn);
            let mut sa = answer(&syn, Server::Linux, n);
            tweak(&mut sa);
            push(syn, Some(sa));
        }
    }
    // Quirks that are SYN+ACK-only.
    for v6_ in [false, true] {
        let (c, s, n) = next(v6_);
        let syn = Stack::Linux.syn(c, 31_000 + n as u16, s, 25, n);
        let mut sa = answer(&syn, Server::Linux, n);
        sa.ack = 0;
        push(syn, Some(sa));
        let (c, s, n) = next(v6_);
        let syn = Stack::Linux.syn(c, 31_000 + n as u16, s, 25, n);
        let mut sa = answer(&syn, Server::FreeBsd, n);
        sa.options = OptionBytes::new().mss(1331).nop().ws(3).0;
        push(syn, Some(sa));
    }

    // Windows as multiples of MSS / MTU, including the divisors p0f tries
    // (MSS, MSS-12 with timestamps, 1460, 1448, 1440, 1428, MSS+40,
    // MSS+header, MSS+60, 1500, and on SYN+ACKs the peer's MSS and MSS-12).
    let windows: [(u16, u16, bool); 16] = [
        (1460, 1460 * 44, true),
        (1460, 1448 * 10, true),
        (1400, 1460 * 3, false),
        (1400, 1448 * 3, false),
        (1380, 1440 * 5, false),
        (1380, 1428 * 5, false),
        (1360, 1400 * 7, false),
        (1360, 1420 * 7, false),
        (1360, 1500 * 9, false),
        (1000, 1040 * 4, false),
        (1000, 1060 * 4, false),
        (1000, 1000 * 65, false),
        (536, 536 * 100, false),
        (1200, 1212, false),
        (1460, 65535, true),
        (1220, 1220 * 13, true),
    ];
    for (mss, win, ts) in windows {
        for v6_ in [false, true] {
            let (c, s, n) = next(v6_);
            let mut syn = TcpPacket::syn(c, 40_000 + n as u16, s, 443);
            syn.ip_id = n as u16 | 1;
            syn.seq = n.wrapping_mul(2_654_435_761) | 1;
            syn.window = win;
            let mut o = OptionBytes::new().mss(mss).sok();
            if ts {
                o = o.ts(n * 3 + 1, 0);
            }
            syn.options = o.nop().ws(7).0;
            let mut sa = answer(&syn, Server::Linux, n);
            sa.window = win;
            sa.options = OptionBytes::new().mss(mss.saturating_sub(60)).nop().ws(5).0;
            push(syn, Some(sa));
        }
    }
    // SYN+ACK windows that only the peer's MSS divides.
    for (peer_mss, win) in [
        (1460u16, 1460u16 * 7),
        (1460, 1448 * 7),
        (1000, 988 * 3),
        (1000, 1000 * 5),
        (500, 500 * 3),
        (13, 13 * 5),
        (5, 21),
        (1, 20000),
        (1, 40000),
    ] {
        let (c, s, n) = next(false);
        let mut syn = TcpPacket::syn(c, 41_000 + n as u16, s, 443);
        syn.seq = n | 1;
        syn.options = OptionBytes::new().mss(peer_mss).0;
        let mut sa = answer(&syn, Server::Linux, n);
        sa.window = win;
        sa.options = OptionBytes::new().mss(1301).0;
        push(syn, Some(sa));
    }

    // A SYN whose MSS comes after 24 options: p0f never reads it, so it is
    // no window divisor for the SYN+ACK either.
    {
        let (c, s, n) = next(false);
        let mut syn = TcpPacket::syn(c, 41_500 + n as u16, s, 443);
        syn.seq = n | 1;
        syn.options = OptionBytes::new().raw(&[1; 24]).mss(1000).0;
        let mut sa = answer(&syn, Server::Linux, n);
        sa.window = 5000;
        sa.options = OptionBytes::new().mss(1301).0;
        push(syn, Some(sa));
    }

    // Known signatures with fixed MSS or windows, user tools and others.
    let specials: Vec<(u8, u16, Vec<u8>, bool, u16)> = vec![
        // NMap SYN scan: no DF, ID set, mss only.
        (50, 1024, OptionBytes::new().mss(1460).0, false, 77),
        (64, 2048, OptionBytes::new().mss(1460).0, false, 77),
        (64, 4096, OptionBytes::new().mss(1460).0, true, 77),
        // NMap OS detection probes.
        (
            45,
            1,
            OptionBytes::new()
                .ws(10)
                .nop()
                .mss(1460)
                .ts(0xffff_ffff, 0)
                .sok()
                .0,
            false,
            9,
        ),
        (
            45,
            4,
            OptionBytes::new().sok().ts(0xffff_ffff, 0).ws(10).eol().0,
            false,
            9,
        ),
        // Linux loopback and Google crawler style.
        (
            64,
            16396 * 2,
            OptionBytes::new().mss(16396).sok().ts(1, 0).nop().ws(4).0,
            true,
            1,
        ),
        (
            60,
            1430 * 4,
            OptionBytes::new().mss(1430).sok().ts(1, 0).nop().ws(6).0,
            false,
            1,
        ),
        // Blackberry, Nintendo.
        (
            120,
            65535,
            OptionBytes::new()
                .mss(1452)
                .nop()
                .nop()
                .sok()
                .nop()
                .nop()
                .ts(5, 0)
                .0,
            true,
            1,
        ),
        (
            64,
            32768,
            OptionBytes::new().mss(1360).nop().nop().sok().0,
            true,
            1,
        ),
        // Baidu spider.
        (
            64,
            1460 * 4,
            OptionBytes::new().mss(1460).sok().raw(&[1; 11]).ws(7).0,
            true,
            1,
        ),
        // Windows XP.
        (
            128,
            65535,
            OptionBytes::new().mss(1460).nop().nop().sok().0,
            true,
            1,
        ),
        (
            119,
            16384,
            OptionBytes::new().mss(1460).nop().ws(0).nop().nop().sok().0,
            true,
            1,
        ),
        // Solaris-ish: mss last.
        (
            255,
            1460 * 7,
            OptionBytes::new().nop().ws(0).mss(1460).0,
            true,
            1,
        ),
    ];
    for (ttl, win, opts, df, id) in specials {
        for v6_ in [false, true] {
            let (c, s, n) = next(v6_);
            let mut syn = TcpPacket::syn(c, 42_000 + n as u16, s, 22);
            syn.ttl = ttl;
            syn.window = win;
            syn.options = opts.clone();
            syn.df = df;
            syn.ip_id = id;
            syn.seq = n | 0x100;
            let sa = answer(&syn, Server::Windows, n);
            push(syn, Some(sa));
        }
    }

    // NMap OS detection, exact and (with ECN) only fuzzily: p0f then
    // reports no match at distance 0.
    for tos in [0u8, 1] {
        let (c, s, n) = next(false);
        let mut syn = TcpPacket::syn(c, 42_500 + n as u16, s, 22);
        syn.ttl = 50;
        syn.window = 512;
        syn.ack = 0x0100_0000;
        syn.df = false;
        syn.tos = tos;
        syn.options = OptionBytes::new().mss(265).sok().ts(1, 0).0;
        let sa = answer(&syn, Server::Linux, n);
        push(syn, Some(sa));
    }

    // A SYN nobody answers.
    let (c, s, n) = next(false);
    push(Stack::Windows.syn(c, 43_000, s, 445, n), None);

    conns
}

fn set_ts(p: &mut TcpPacket, val: u32, ecr: u32) {
    p.options = OptionBytes::new()
        .mss(1460)
        .sok()
        .ts(val, ecr)
        .nop()
        .ws(7)
        .0;
}

fn set_ws(p: &mut TcpPacket, ws: u8) {
    p.options = OptionBytes::new()
        .mss(1460)
        .sok()
        .ts(4242, 0)
        .nop()
        .ws(ws)
        .0;
}

/// Uptime series: one client host sends SYNs over time with its timestamp
/// clock at a given rate; its server answers with another clock.
fn uptime_series(conns: &mut Vec<Conn>) {
    let series: [(u32, u32, u64, &[u64]); 6] = [
        // (client Hz, initial TSval, first gap ms, further gaps ms)
        (
            1000,
            123_456_789,
            5000,
            &[1000, 30, 26, 60_000, 599_000, 700_000, 10],
        ),
        (100, 5_000_000, 2000, &[2000, 90, 50_000]),
        (250, 4_294_960_000, 3000, &[3000, 40_000, 20]),
        (10, 77, 1000, &[5000, 1000]),
        (1, 3_000_000, 10_000, &[10_000, 2000]),
        (2000, 1_000_000, 1000, &[1000]),
    ];
    for (i, (hz, ts0, first_gap, gaps)) in series.iter().enumerate() {
        let host = v4(0x2000 + i as u32);
        let server = v4(0x3000 + i as u32);
        let mut elapsed_ms: u64 = 0;
        let all_gaps: Vec<u64> = std::iter::once(*first_gap)
            .chain(gaps.iter().copied())
            .collect();
        for (j, gap) in all_gaps.iter().enumerate() {
            elapsed_ms += gap;
            let ts = ts0.wrapping_add((elapsed_ms * u64::from(*hz) / 1000) as u32);
            let mut syn =
                Stack::Linux.syn(host, 50_000 + (i * 100 + j) as u16, server, 443, j as u32);
            set_ts(&mut syn, ts, 0);
            let mut sa = answer(&syn, Server::Linux, j as u32);
            let srv_ts = 9_000_000u32.wrapping_add((elapsed_ms * 100 / 1000) as u32);
            sa.options = OptionBytes::new()
                .mss(1460)
                .sok()
                .ts(srv_ts, ts)
                .nop()
                .ws(7)
                .0;
            conns.push(Conn {
                syn,
                syn_ack: Some(sa),
                gap_ms: *gap,
            });
        }
    }
    // A clock that goes backwards.
    let host = v4(0x2100);
    let server = v4(0x3100);
    for (j, (gap, ts)) in [
        (1000u64, 500_000u32),
        (1000, 499_000),
        (50, 498_990),
        (1000, 600_000),
    ]
    .iter()
    .enumerate()
    {
        let mut syn = Stack::Linux.syn(host, 51_000 + j as u16, server, 443, j as u32);
        set_ts(&mut syn, *ts, 0);
        conns.push(Conn {
            syn,
            syn_ack: None,
            gap_ms: *gap,
        });
    }
}

fn write_capture(path: &Path, conns: &[Conn]) {
    let mut frames = Vec::new();
    let mut t = Timestamp::from_secs_nanos(1_700_000_000, 0).0;
    for c in conns {
        t += c.gap_ms * 1_000_000;
        frames.push((t, ethernet_frame(&c.syn.ip_bytes())));
        if let Some(sa) = &c.syn_ack {
            frames.push((t + 1_000_000, ethernet_frame(&sa.ip_bytes())));
        }
    }
    write_frames(path, &frames);
}

#[test]
fn crafted_handshakes_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conns = crafted();
    uptime_series(&mut conns);
    let pcap = dir.path().join("crafted.pcap");
    write_capture(&pcap, &conns);
    if let Ok(keep) = std::env::var("SYNPRINT_KEEP_PCAP") {
        let _ = std::fs::copy(&pcap, keep);
    }
    let frames = conns.len() + conns.iter().filter(|c| c.syn_ack.is_some()).count();
    assert_eq!(
        pipeline(&pcap)
            .iter()
            .filter(|m| matches!(m, Made::Record(_)))
            .count(),
        frames,
        "every crafted SYN and SYN+ACK is a record"
    );
    let uptimes = run_p0f(&pcap)
        .keys()
        .filter(|k| k.module == "uptime")
        .count();
    assert!(
        uptimes >= 5,
        "the uptime series gave p0f only {uptimes} estimates"
    );
    differential("crafted", &pcap, conns.len() - 20);
    binary_jsonl_agrees_with_p0f(&pcap);
}

/// The `synprint analyze --format jsonl` binary over the same capture: its
/// `p0f` and `mtu` objects carry what p0f logs (`os` null for `???`; for a
/// userland tool p0f's `app=` label).
fn binary_jsonl_agrees_with_p0f(pcap: &Path) {
    let theirs = run_p0f(pcap);
    let mut checked = 0;
    for line in synprint_analyze(pcap, "jsonl").0.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let ip = |k: &str| -> IpAddr { v[k].as_str().expect("ip").parse().expect("ip") };
        let port = |k: &str| v[k].as_u64().expect("port");
        let syn = v["kind"] == "syn";
        let (cli, srv) = if syn {
            (("src_ip", "src_port"), ("dst_ip", "dst_port"))
        } else {
            (("dst_ip", "dst_port"), ("src_ip", "src_port"))
        };
        let key = |module: &str| Key {
            module: module.to_string(),
            cli: format!("{}/{}", p0f_addr(ip(cli.0)), port(cli.1)),
            srv: format!("{}/{}", p0f_addr(ip(srv.0)), port(srv.1)),
            subj: if syn { "cli" } else { "srv" }.to_string(),
        };
        let Some(p0f_lines) = theirs.get(&key(if syn { "syn" } else { "syn+ack" })) else {
            continue; // a SYN+ACK p0f did not follow
        };
        let logged = &p0f_lines[0];
        let p = &v["p0f"];
        assert_eq!(
            p["raw_sig"].as_str(),
            logged.get("raw_sig").map(String::as_str),
            "{line}"
        );
        let label = logged
            .get("os")
            .or_else(|| logged.get("app"))
            .map(String::as_str);
        let ours = p["os"].as_str().unwrap_or("???");
        assert_eq!(Some(ours), label, "{line}");
        let dist = logged
            .get("dist")
            .map(|d| d.trim_start_matches("<= ").to_string());
        assert_eq!(Some(p["dist"].to_string()), dist, "{line}");
        if let Some(mtu) = theirs.get(&key("mtu")) {
            let m = &v["mtu"];
            assert_eq!(
                Some(m["link"].as_str().unwrap_or("???")),
                mtu[0].get("link").map(String::as_str),
                "{line}"
            );
            assert_eq!(
                Some(m["raw_mtu"].to_string()),
                mtu[0].get("raw_mtu").cloned(),
                "{line}"
            );
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} JSON records compared");
    eprintln!("synprint analyze --format jsonl: {checked} records agree with p0f");
}

/// A server's SYN+ACK that answers a SYN p0f stops following (its own
/// sendsyn probe, or a userland tool's SYN such as NMap's) is a stray to
/// p0f: it leaves no timestamp for the server's next SYN+ACK. So JSON
/// gives that next one no uptime either, as p0f logs none (synprint's
/// JSON used the stray's timestamp until a review found it).
#[test]
fn syn_acks_to_syns_p0f_drops_leave_no_uptime_behind() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = v4(1);
    let syn_ack = |syn: &TcpPacket, tsval: u32| {
        let mut p = TcpPacket::syn_ack_for(syn);
        p.window = 65535;
        p.options = OptionBytes::new().mss(1460).nop().nop().ts(tsval, 1).0;
        p
    };
    let probe = {
        let mut p = TcpPacket::syn(v4(100), 1000, server, 80);
        p.window = 1337;
        p.options = OptionBytes::new().mss(1331).0;
        p
    };
    let nmap = {
        let mut p = TcpPacket::syn(v4(100), 1000, server, 80);
        p.df = false;
        p.window = 1024;
        p.options = OptionBytes::new().mss(1460).0;
        p
    };
    let mut later = Stack::Linux.syn(v4(101), 2000, server, 80, 7);
    later.seq = 200;
    for (name, first) in [("sendsyn probe", probe), ("NMap SYN", nmap)] {
        // The SYN+ACKs' timestamps are 2,000 ticks apart in 2 s: a 1 kHz
        // clock, had the first one counted.
        let frames: Vec<(u64, Vec<u8>)> = [
            (0, first.clone()),
            (10, syn_ack(&first, 100_000)),
            (2_000, later.clone()),
            (2_010, syn_ack(&later, 102_000)),
        ]
        .into_iter()
        .map(|(ms, p)| {
            (
                1_700_000_000_000_000_000 + ms * 1_000_000,
                ethernet_frame(&p.ip_bytes()),
            )
        })
        .collect();
        let pcap = dir.path().join("stray.pcap");
        write_frames(&pcap, &frames);
        let theirs = run_p0f(&pcap);
        assert!(
            !theirs.keys().any(|k| k.module == "uptime"),
            "{name}: p0f logged an uptime: {theirs:?}"
        );
        assert!(
            theirs.keys().any(|k| k.module == "syn+ack"),
            "{name}: {theirs:?}"
        );
        let (jsonl, _) = synprint_analyze(&pcap, "jsonl");
        let records: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(records.len(), 4, "{name}: {jsonl}");
        for r in &records {
            assert!(r.get("uptime").is_none_or(|u| u.is_null()), "{name}: {r}");
        }
    }
}

/// Random handshakes from a fixed seed: random header fields, flags and
/// option bytes (well-formed, padded, truncated or garbage), IPv4 and IPv6.
fn random_handshakes(seed: u64, count: u32) -> Vec<Conn> {
    let mut rng = Lcg(seed);
    let mut conns = Vec::new();
    let kinds: [&[u8]; 12] = [
        &[1],
        &[0],
        &[2, 4, 5, 0xb4],
        &[2, 4, 0x3f, 0xd8],
        &[3, 3, 7],
        &[3, 3, 15],
        &[4, 2],
        &[8, 10, 0, 0, 1, 0, 0, 0, 0, 0],
        &[8, 10, 0, 0, 0, 0, 0, 0, 0, 9],
        &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        &[34, 2],
        &[30, 4, 0, 0],
    ];
    for n in 0..count {
        let v6_ = rng.next(4) == 0;
        let id = 0x5000 + n;
        let (c, s) = if v6_ {
            (v6(id), v6(0x15000 + n))
        } else {
            (v4(id), v4(0x15000 + n))
        };
        let mut syn = TcpPacket::syn(c, 1024 + (n as u16), s, 443);
        let mut sa = TcpPacket::syn_ack_for(&syn);
        for p in [&mut syn, &mut sa] {
            p.ttl = [1, 32, 33, 60, 64, 65, 100, 128, 129, 200, 255][rng.next(11)];
            p.tos = [0, 0, 1, 2, 3, 0x10, 0xb8][rng.next(7)];
            p.df = rng.next(3) != 0;
            p.ip_id = [0, 1, 0x1234][rng.next(3)];
            p.ip_reserved_flag = rng.next(10) == 0;
            p.flow_label = [0, 1, 0xabcde][rng.next(3)];
            p.window = [0, 1, 1024, 5840, 8192, 14600, 16384, 29200, 64240, 65535][rng.next(10)];
            p.urgent = if rng.next(8) == 0 { 1 } else { 0 };
            for f in [flags::URG, flags::PSH, flags::ECE, flags::CWR, flags::NS] {
                if rng.next(8) == 0 {
                    p.flags |= f;
                }
            }
            if rng.next(8) == 0 {
                p.seq = 0;
            }
            if rng.next(6) == 0 {
                p.ack = [0, 1, 0x0100_0000, 0xffff_ffff][rng.next(4)];
            }
            if rng.next(10) == 0 {
                p.payload = vec![0x41; 1 + rng.next(20)];
            }
            if !v6_ && rng.next(10) == 0 {
                p.ip_options = vec![1; 4 * (1 + rng.next(3))];
            }
            let mut o = Vec::new();
            for _ in 0..rng.next(12) {
                if rng.next(10) == 0 {
                    o.push(rng.next(256) as u8);
                } else {
                    o.extend_from_slice(kinds[rng.next(kinds.len())]);
                }
            }
            o.truncate(40);
            p.options = o;
        }
        // Keep the handshake one connection for p0f.
        sa.ack = if sa.ack == 0 && rng.next(2) == 0 {
            0
        } else {
            syn.seq.wrapping_add(1)
        };
        conns.push(Conn {
            syn,
            syn_ack: Some(sa),
            gap_ms: 1 + rng.next(3000) as u64,
        });
    }
    conns
}

/// Random uptime traffic: a few hosts opening many connections, their
/// timestamp clocks at various rates with jitter, jumps, zeros and
/// wraparound, at random intervals (some under p0f's 25 ms and over its
/// 10 minutes).
fn random_uptime_series(seed: u64, count: u32) -> Vec<Conn> {
    let mut rng = Lcg(seed);
    let hosts = 12usize;
    let rates = [
        1u64, 2, 10, 100, 250, 1000, 1000, 1000, 1200, 4000, 100, 1000,
    ];
    // Host 11's clock starts just below the 32-bit wrap.
    let mut clocks: Vec<u64> = (0..hosts).map(|h| (h as u64) * 0x1000_0000 + 5).collect();
    clocks[11] = 0xffff_0000;
    let mut srv_clocks: Vec<u64> = (0..hosts).map(|h| (h as u64) * 0x0700_0000 + 9).collect();
    let mut conns = Vec::new();
    for n in 0..count {
        let h = rng.next(hosts);
        let gap_ms = match rng.next(6) {
            0 => rng.next(30) as u64,
            1 => 30 + rng.next(100) as u64,
            2 => 590_000 + rng.next(20_000) as u64,
            _ => 100 + rng.next(20_000) as u64,
        };
        for (i, c) in clocks.iter_mut().enumerate() {
            *c += gap_ms * rates[i] / 1000;
        }
        for (i, c) in srv_clocks.iter_mut().enumerate() {
            *c += gap_ms * rates[(i + 3) % hosts] / 1000;
        }
        let mut ts = clocks[h] as u32;
        match rng.next(12) {
            0 => ts = 0,
            1 => ts = ts.wrapping_sub(rng.next(2000) as u32),
            2 => ts = rng.next(1 << 30) as u32,
            _ => {}
        }
        let cli = v4(0x7000 + h as u32);
        let srv = v4(0x7100 + h as u32);
        let mut syn = Stack::Linux.syn(cli, 2000 + n as u16, srv, 443, n);
        set_ts(&mut syn, ts, 0);
        let mut sa = answer(&syn, Server::Linux, n);
        let srv_ts = srv_clocks[h] as u32;
        sa.options = OptionBytes::new()
            .mss(1460)
            .sok()
            .ts(srv_ts, ts)
            .nop()
            .ws(7)
            .0;
        conns.push(Conn {
            syn,
            syn_ack: (rng.next(5) != 0).then_some(sa),
            gap_ms,
        });
    }
    conns
}

#[test]
fn random_uptime_series_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let conns = random_uptime_series(0x7e57, 600);
    let pcap = dir.path().join("uptime.pcap");
    write_capture(&pcap, &conns);
    let uptimes = run_p0f(&pcap)
        .keys()
        .filter(|k| k.module == "uptime")
        .count();
    assert!(uptimes > 100, "p0f made only {uptimes} uptime estimates");
    differential("random uptime", &pcap, 590);
}

#[test]
fn random_handshakes_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let conns = random_handshakes(0x0dd_ba11, 1500);
    let pcap = dir.path().join("random.pcap");
    write_capture(&pcap, &conns);
    if let Ok(keep) = std::env::var("SYNPRINT_KEEP_PCAP") {
        let _ = std::fs::copy(&pcap, keep);
    }
    differential("random", &pcap, 1400);
}

/// Whole connections, overlapping in time: handshakes (some unanswered and
/// retransmitted for a minute),
/// the client's ACK after a round trip of 1 to 400 ms, then data both ways
/// (TLS-like records, HTTP requests in small pieces, responses), pure
/// ACKs, segments out of sequence, and a FIN or RST from either side,
/// some after p0f's 30-second connection limit. Clients and servers run
/// timestamp clocks at various rates (some without timestamps, one with
/// values p0f cannot believe), so p0f estimates uptime at every kind of
/// segment it follows; a third of the clients offset their clock per
/// connection, as Linux does. Frames in capture order, with their times
/// (ns).
fn random_connections(seed: u64, count: u32, max_gap_ms: usize) -> Vec<(u64, Vec<u8>)> {
    const ACK: u16 = flags::ACK;
    const PSH_ACK: u16 = flags::ACK | flags::PSH;
    let mut rng = Lcg(seed);
    // Ticks per second; 0: no timestamps; 7000: beyond p0f's 1500 Hz;
    // 1001: 1000 Hz, but the handshake's ACK carries a jump of 2^30 ticks
    // (a rate p0f does not believe, which ends that side's estimates).
    let rates = [1000u64, 1000, 100, 250, 10, 0, 7000, 1001, 1000];
    let clients: Vec<IpAddr> = (0..24u32)
        .map(|h| {
            if h % 4 == 3 {
                v6(0x5000 + h)
            } else {
                v4(0x5000 + h)
            }
        })
        .collect();
    let servers: Vec<IpAddr> = (0..4u32)
        .map(|h| {
            if h == 3 {
                v6(0x6000 + h)
            } else {
                v4(0x6000 + h)
            }
        })
        .collect();
    let base = Timestamp::from_secs_nanos(1_700_000_000, 0).0;
    let clock = |host: usize, rate: u64, t_ms: u64| -> u32 {
        (host as u64 * 0x0100_0000 + 1 + t_ms * rate / 1000) as u32
    };
    let mut frames = Vec::new();
    let mut start_ms = 0u64;
    for n in 0..count {
        start_ms += match rng.next(4) {
            0 => rng.next(5) as u64,
            1 => rng.next(200.min(max_gap_ms)) as u64,
            _ => rng.next(max_gap_ms) as u64,
        };
        let ci = rng.next(clients.len());
        let si = rng.next(servers.len());
        let (cli, srv) = (clients[ci], servers[si]);
        if cli.is_ipv4() != srv.is_ipv4() {
            continue;
        }
        let (c_rate, s_rate) = (rates[ci % rates.len()], rates[(si + 1) % rates.len()]);
        // Like Linux since 4.10, a third of the clients add a random offset
        // per connection: their SYNs never pair with the previous one, so
        // p0f estimates from the connection's later segments instead.
        let offset = if ci % 3 == 0 {
            rng.next(1 << 30) as u32
        } else {
            0
        };
        let ts_of = |host: usize, rate: u64, t_ms: u64| -> Option<u32> {
            (rate != 0).then(|| {
                let v = clock(host, if rate == 1001 { 1000 } else { rate }, t_ms);
                if host < 100 {
                    v.wrapping_add(offset)
                } else {
                    v
                }
            })
        };
        let cport = 10_000 + (n % 50_000) as u16;
        let sport = if rng.next(2) == 0 { 443 } else { 80 };
        let mut syn = Stack::Linux.syn(cli, cport, srv, sport, n);
        let c_isn = syn.seq;
        match ts_of(ci, c_rate, start_ms) {
            Some(v) => set_ts(&mut syn, v, 0),
            None => syn.options = OptionBytes::new().mss(1460).sok().nop().ws(7).0,
        }
        let mut out = vec![(start_ms * 1_000_000, syn.clone())];
        let answered = rng.next(8) != 0;
        if !answered {
            // Unanswered: the client retransmits at Linux's backoff; p0f
            // fingerprints the SYN again once the connection expired.
            for after in [1000u64, 3000, 7000, 15_000, 31_000, 63_000] {
                let mut again = syn.clone();
                if let Some(v) = ts_of(ci, c_rate, start_ms + after) {
                    set_ts(&mut again, v, 0);
                }
                out.push(((start_ms + after) * 1_000_000, again));
            }
        }
        let s_isn = 0x5000_0000u32.wrapping_add(n.wrapping_mul(7919));
        // The server's SYN+ACK, 0.1 ms after a SYN sent at `at_ms`.
        let syn_ack = |at_ms: u64| {
            let mut sa = answer(&syn, Server::Linux, n);
            sa.seq = s_isn;
            match ts_of(100 + si, s_rate, at_ms) {
                Some(v) => set_ts(&mut sa, v, 1),
                None => sa.options = OptionBytes::new().mss(1460).sok().nop().ws(7).0,
            }
            (at_ms * 1_000_000 + 100_000, sa)
        };
        if answered {
            out.push(syn_ack(start_ms));
        }
        // One answered connection in ten is reset by its client, which
        // retries a second later with the same ISN, and the server (with
        // SYN cookies) answers with the same SYN+ACK: p0f follows the retry
        // as a new connection and fingerprints both packets again.
        let mut opened_ms = start_ms;
        if answered && rng.next(10) == 0 {
            let mut rst = TcpPacket::syn(cli, cport, srv, sport);
            rst.flags = flags::RST;
            rst.seq = c_isn.wrapping_add(1);
            rst.options = Vec::new();
            out.push(((start_ms + 5) * 1_000_000, rst));
            opened_ms = start_ms + 1000;
            let mut again = syn.clone();
            if let Some(v) = ts_of(ci, c_rate, opened_ms) {
                set_ts(&mut again, v, 0);
            }
            out.push((opened_ms * 1_000_000, again));
            out.push(syn_ack(opened_ms));
        }
        let rtt = [1u64, 10, 24, 26, 40, 120, 400][rng.next(7)];
        let mut t = opened_ms + rtt;
        let (mut c_seq, mut s_seq) = (c_isn.wrapping_add(1), s_isn.wrapping_add(1));
        let segment = |from_client: bool, t_ms: u64, seq: u32, ack: u32, fl: u16, data: &[u8]| {
            let (src, dst, sp, dp) = if from_client {
                (cli, srv, cport, sport)
            } else {
                (srv, cli, sport, cport)
            };
            let mut p = TcpPacket::syn(src, sp, dst, dp);
            p.flags = fl;
            p.seq = seq;
            p.ack = ack;
            p.window = 502;
            let ts = if from_client {
                ts_of(ci, c_rate, t_ms)
            } else {
                ts_of(100 + si, s_rate, t_ms)
            };
            p.options = match ts {
                // A clock p0f cannot believe jumps at random.
                Some(v) if (from_client && c_rate == 7000) => {
                    OptionBytes::new()
                        .nop()
                        .nop()
                        .ts(v ^ (t_ms as u32) << 12, 1)
                        .0
                }
                Some(v) => OptionBytes::new().nop().nop().ts(v, 1).0,
                None => Vec::new(),
            };
            p.payload = data.to_vec();
            (t_ms * 1_000_000, p)
        };
        // The handshake's ACK.
        out.push(segment(true, t, c_seq, s_seq, ACK, &[]));
        if c_rate == 1001 {
            if let (Some((_, ack)), Some(v)) = (out.last_mut(), ts_of(ci, 1000, t)) {
                ack.options = OptionBytes::new()
                    .nop()
                    .nop()
                    .ts(v.wrapping_add(1 << 30), 1)
                    .0;
            }
        }
        let http = sport == 80 && rng.next(3) != 0;
        let request: &[u8] =
            b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n";
        let mut sent = 0usize;
        for _ in 0..rng.next(7) {
            t += [0u64, 3, 20, 30, 60, 500, 31_000][rng.next(7)];
            match rng.next(8) {
                0 | 1 => {
                    // The client's next piece: HTTP in pieces of 3 to 30
                    // bytes, or a TLS-like record.
                    let data: Vec<u8> = if http {
                        let take = (3 + rng.next(28)).min(request.len() - sent.min(request.len()));
                        let piece = request[sent.min(request.len())..][..take].to_vec();
                        sent += take;
                        piece
                    } else {
                        let mut d = vec![0x16, 0x03, 0x01];
                        d.resize(5 + rng.next(300), 0xab);
                        d
                    };
                    out.push(segment(true, t, c_seq, s_seq, PSH_ACK, &data));
                    c_seq = c_seq.wrapping_add(data.len() as u32);
                }
                2 => {
                    let data: &[u8] = if http {
                        b"HTTP/1.1 200 OK\r\nServer: test\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        &[
                            0x16, 0x03, 0x03, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                        ]
                    };
                    out.push(segment(false, t, s_seq, c_seq, PSH_ACK, data));
                    s_seq = s_seq.wrapping_add(data.len() as u32);
                }
                3 => out.push(segment(true, t, c_seq, s_seq, ACK, &[])),
                4 => out.push(segment(false, t, s_seq, c_seq, ACK, &[])),
                // Out of sequence: a retransmission of old data.
                5 => out.push(segment(
                    true,
                    t,
                    c_seq.wrapping_sub(100),
                    s_seq,
                    ACK,
                    b"old",
                )),
                _ => out.push(segment(false, t, s_seq.wrapping_add(1000), c_seq, ACK, &[])),
            }
        }
        t += [1u64, 30, 200, 5000][rng.next(4)];
        match rng.next(5) {
            0 => out.push(segment(true, t, c_seq, s_seq, flags::FIN | ACK, &[])),
            1 => out.push(segment(false, t, s_seq, c_seq, flags::FIN | ACK, &[])),
            2 => out.push(segment(true, t, c_seq, 0, flags::RST, &[])),
            3 => out.push(segment(false, t, s_seq, c_seq, flags::RST | ACK, &[])),
            _ => {}
        }
        frames.extend(
            out.into_iter()
                .map(|(at, p)| (base + at, ethernet_frame(&p.ip_bytes()))),
        );
    }
    frames.sort_by_key(|(at, _)| *at);
    frames
}

/// Disorderly traffic on a few reused 4-tuples: every frame is a random
/// step of some connection (a SYN, new or repeating its ISN; a SYN+ACK,
/// possibly again or after the client's ACK; ACKs, data, FIN, RST from
/// either side), frames apart by 1 ms to 200 s. It lands where the
/// handshake table (minutes), p0f's connection table (30 s, expired every
/// 50 packets) and the hosts' uptime state disagree unless synprint keeps
/// p0f's order and tables: retransmissions long after, SYN+ACKs after the
/// connection expired or ended, the 50th packet being a handshake.
fn disorderly_connections(seed: u64, frames: usize, steps_ms: &[u64]) -> Vec<(u64, Vec<u8>)> {
    let mut rng = Lcg(seed);
    let server = v4(0x7000);
    let clients = [v4(0x7001), v4(0x7002), v4(0x7003)];
    // Ticks per second of each client's clock and the server's.
    let rates = [1000u64, 250, 100];
    let server_rate = 1000u64;
    let base = Timestamp::from_secs_nanos(1_700_000_000, 0).0;
    // Per tuple: the client's ISN, the server's ISN once it answered, and
    // the next sequence numbers.
    #[derive(Clone, Copy, Default)]
    struct Tuple {
        c_isn: u32,
        s_isn: Option<u32>,
    }
    let mut tuples: HashMap<(usize, u16), Tuple> = HashMap::new();
    let mut out = Vec::with_capacity(frames);
    let mut t_ms = 0u64;
    for n in 0..frames {
        t_ms += steps_ms[rng.next(steps_ms.len())];
        let ci = rng.next(clients.len());
        let cport = 1024 + rng.next(8) as u16;
        let (cli, sport) = (clients[ci], 80u16);
        let c_ts = (ci as u64 * 0x0100_0000 + 7 + t_ms * rates[ci] / 1000) as u32;
        let s_ts = (0x0800_0000 + t_ms * server_rate / 1000) as u32;
        let tuple = tuples.entry((ci, cport)).or_default();
        let mut p = TcpPacket::syn(cli, cport, server, sport);
        let from_server = |p: &mut TcpPacket| {
            std::mem::swap(&mut p.src, &mut p.dst);
            std::mem::swap(&mut p.src_port, &mut p.dst_port);
        };
        match rng.next(9) {
            // A SYN: half of them repeat the tuple's ISN (a retransmission,
            // however late), the others open anew.
            0 | 1 => {
                if tuple.c_isn == 0 || rng.next(2) == 0 {
                    tuple.c_isn = 0x1000_0000 + (n as u32).wrapping_mul(104_729);
                    tuple.s_isn = None;
                }
                p.seq = tuple.c_isn;
                set_ts(&mut p, c_ts, 0);
            }
            // A SYN+ACK for the tuple's SYN, the same one again if answered.
            2 | 3 => {
                from_server(&mut p);
                p.flags = flags::SYN | flags::ACK;
                let s_isn = *tuple
                    .s_isn
                    .get_or_insert(0x5000_0000 + (n as u32).wrapping_mul(7919));
                p.seq = s_isn;
                p.ack = tuple.c_isn.wrapping_add(1);
                p.window = 1460 * 44;
                set_ts(&mut p, s_ts, c_ts);
            }
            // The client's ACK, or six bytes of a request.
            4 | 5 => {
                p.flags = flags::ACK;
                p.seq = tuple.c_isn.wrapping_add(1);
                p.ack = tuple.s_isn.unwrap_or(0).wrapping_add(1);
                p.options = OptionBytes::new().nop().nop().ts(c_ts, s_ts).0;
                if rng.next(2) == 0 {
                    p.flags |= flags::PSH;
                    p.payload = if rng.next(2) == 0 {
                        b"GET / ".to_vec()
                    } else {
                        b"\x16\x03\x01\x02\x00\x01".to_vec()
                    };
                }
            }
            // The server's ACK or data.
            6 => {
                from_server(&mut p);
                p.flags = flags::ACK;
                p.seq = tuple.s_isn.unwrap_or(0).wrapping_add(1);
                p.ack = tuple.c_isn.wrapping_add(1);
                p.options = OptionBytes::new().nop().nop().ts(s_ts, c_ts).0;
                if rng.next(2) == 0 {
                    p.flags |= flags::PSH;
                    p.payload = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
                }
            }
            // A FIN or a RST, from either side.
            _ => {
                let (fin, server_side) = (rng.next(2) == 0, rng.next(2) == 0);
                p.flags = if fin {
                    flags::FIN | flags::ACK
                } else {
                    flags::RST
                };
                p.seq = tuple.c_isn.wrapping_add(1);
                if server_side {
                    from_server(&mut p);
                    p.seq = tuple.s_isn.unwrap_or(0).wrapping_add(1);
                }
                p.options = Vec::new();
            }
        }
        out.push((base + t_ms * 1_000_000, ethernet_frame(&p.ip_bytes())));
    }
    out
}

/// Disorderly traffic (see [`disorderly_connections`]), dense and sparse:
/// every line p0f writes, synprint writes identically.
#[test]
fn disorderly_connections_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dense: &[u64] = &[1, 100, 1000, 5000, 20_000];
    let sparse: &[u64] = &[1, 100, 1000, 5000, 20_000, 31_000, 61_000, 200_000];
    for seed in 0..200u64 {
        let steps = if seed % 2 == 0 { dense } else { sparse };
        let frames =
            disorderly_connections(0xd150_0000 + seed, 60 + (seed as usize % 5) * 40, steps);
        let pcap = dir.path().join(format!("disorderly-{seed}.pcap"));
        write_frames(&pcap, &frames);
        p0f_lines_in_order(&format!("disorderly connections, seed {seed}"), &pcap);
    }
}

/// `synprint analyze --format p0f` writes every line p0f writes in the
/// compared modules, identically and in p0f's order; the lines it adds
/// are only the SYN+ACKs (with their MTU) that p0f does not fingerprint,
/// as the README says.
fn p0f_lines_in_order(name: &str, pcap: &Path) {
    let compared = |line: &&str| {
        LOGGED_MODULES
            .iter()
            .any(|m| line.contains(&format!("] mod={m}|")))
    };
    let log = p0f_log(pcap);
    let theirs: Vec<&str> = log.lines().filter(compared).collect();
    let (text, _) = synprint_analyze(pcap, "p0f");
    let ours: Vec<&str> = text.lines().filter(compared).collect();
    let mut at = 0;
    for line in &ours {
        if theirs.get(at) == Some(line) {
            at += 1;
            continue;
        }
        let added = line.contains("|subj=srv|")
            && (line.contains("] mod=syn+ack|") || line.contains("] mod=mtu|"));
        assert!(
            added,
            "{name}: a line p0f does not write there:\n{line}\nnext of p0f's:\n{}\n\
             ours:\n{text}\np0f's:\n{log}",
            theirs.get(at).unwrap_or(&"(none)")
        );
    }
    assert_eq!(
        at,
        theirs.len(),
        "{name}: p0f's line {} is missing:\n{}\nours:\n{text}\np0f's:\n{log}",
        at + 1,
        theirs.get(at).unwrap_or(&"")
    );
    assert!(!theirs.is_empty(), "{name}: p0f wrote nothing");
}

/// Sets the MSS and the timestamp value of a SYN's options where it has
/// them.
fn patch_options(p: &mut TcpPacket, mss: Option<u16>, ts: Option<u32>) {
    let o = &mut p.options;
    let mut i = 0;
    while i < o.len() {
        match o[i] {
            0 => return,
            1 => i += 1,
            kind => {
                let len = usize::from(o.get(i + 1).copied().unwrap_or(2)).max(2);
                match (kind, mss, ts) {
                    (2, Some(m), _) if len == 4 && i + 4 <= o.len() => {
                        o[i + 2..i + 4].copy_from_slice(&m.to_be_bytes());
                    }
                    (8, _, Some(t)) if len == 10 && i + 10 <= o.len() => {
                        o[i + 2..i + 6].copy_from_slice(&t.to_be_bytes());
                    }
                    _ => {}
                }
                i += len;
            }
        }
    }
}

/// Clients whose SYNs change as p0f's host tracking notices: one stable
/// Linux host with the odd hop, MSS or clock change; one NAT gateway
/// with every stack behind it; one that switches between Windows and
/// Linux; an IPv6 Apple host. Ports sometimes go back, timestamps jump,
/// NMap's SYN scan shows up, hours pass; servers answer as one of
/// several stacks.
fn changing_hosts(seed: u64, count: u32) -> Vec<(u64, Vec<u8>)> {
    let mut rng = Lcg(seed);
    let clients = [v4(0x8001), v4(0x8002), v4(0x8003), v6(0x8004)];
    let servers = [v4(0x8100), v6(0x8101)];
    let base = Timestamp::from_secs_nanos(1_700_000_000, 0).0;
    let mut ports = [40_000u16; 4];
    let mut console = false;
    let mut t_ms = 0u64;
    let mut out = Vec::new();
    for n in 0..count {
        t_ms += [3u64, 40, 400, 5_000, 60_000][rng.next(5)];
        if rng.next(200) == 0 {
            // Past p0f's two hours: the host is forgotten.
            t_ms += 3 * 60 * 60 * 1000;
        }
        let ci = rng.next(clients.len());
        let (c, s) = (clients[ci], servers[usize::from(clients[ci].is_ipv6())]);
        ports[ci] = match rng.next(10) {
            0 => ports[ci].saturating_sub(500).max(1024),
            1 => ports[ci].saturating_sub(20).max(1024),
            _ => ports[ci].wrapping_add(1).max(1024),
        };
        let stack = match ci {
            0 => Stack::Linux,
            1 => Stack::ALL[rng.next(Stack::ALL.len())],
            2 => [Stack::Windows, Stack::Linux][rng.next(2)],
            _ => [Stack::MacOs, Stack::Ios][rng.next(2)],
        };
        let mut syn = TcpPacket::syn(c, ports[ci], s, 80);
        // NMap runs on the 3DS's address at times (it does not run there).
        let pick = if ci == 1 && console && rng.next(2) == 0 {
            0
        } else {
            rng.next(25)
        };
        if ci == 1 {
            console = false;
        }
        match pick {
            0 => {
                // NMap's SYN scan: a userland tool's signature.
                syn.df = false;
                syn.ttl = 40 + rng.next(20) as u8;
                syn.ip_id = 0x1234 + n as u16;
                syn.window = 1024;
                syn.options = OptionBytes::new().mss(1460).0;
            }
            // A Nintendo 3DS (p0f's class `other`, where NMap does not run)
            // behind the NAT gateway.
            1 | 2 if ci == 1 => {
                console = true;
                syn.ttl = 64;
                syn.df = true;
                syn.ip_id = 0x4321 + n as u16;
                syn.window = 32768;
                syn.options = OptionBytes::new().mss(1360).nop().nop().sok().0;
            }
            _ => {
                syn = stack.syn(c, ports[ci], s, 80, n);
                syn.ttl = syn
                    .ttl
                    .saturating_sub([0u8, 0, 0, 1, 2, 5, 6, 7, 9, 10, 11, 13][rng.next(12)]);
                let mss = [None, None, None, Some(1400), Some(1360)][rng.next(5)];
                let clock = (ci as u64 * 0x0300_0000 + t_ms) as u32;
                let ts = match rng.next(8) {
                    0 => clock.wrapping_add(0x4000_0000),
                    1 => clock.wrapping_sub(50),
                    _ => clock,
                };
                patch_options(&mut syn, mss, Some(ts));
                if rng.next(8) == 0 {
                    // DF off: p0f matches the same line fuzzily.
                    syn.df = false;
                    syn.ip_id = 0x2222 + n as u16;
                }
            }
        }
        syn.seq = 0x2000_0000u32.wrapping_add(n.wrapping_mul(2_654_435_761));
        let at = base + t_ms * 1_000_000;
        out.push((at, ethernet_frame(&syn.ip_bytes())));
        if rng.next(10) < 7 {
            let mut answer = answer(&syn, SERVERS[rng.next(SERVERS.len())], n);
            answer.seq = 0x6000_0000u32.wrapping_add(n.wrapping_mul(40_503));
            out.push((at + 1_000_000, ethernet_frame(&answer.ip_bytes())));
        }
    }
    out
}

/// p0f's host tracking: every `host change` and `ip sharing` line p0f
/// writes (and every other), in its order, with its reasons and hits.
#[test]
fn host_changes_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for seed in [0x4057_c4a1_u64, 0x17] {
        let pcap = dir.path().join(format!("hosts-{seed}.pcap"));
        write_frames(&pcap, &changing_hosts(seed, 1200));
        if let Ok(keep) = std::env::var("SYNPRINT_KEEP_PCAP") {
            let _ = std::fs::copy(&pcap, format!("{keep}.{seed}"));
        }
        let log = p0f_log(&pcap);
        let count = |what: &str| log.matches(what).count();
        let (changes, sharing) = (count("] mod=host change|"), count("] mod=ip sharing|"));
        // The capture exercises what it is meant to (each reason at least
        // once).
        assert!(changes > 20 && sharing > 5, "{changes} / {sharing}");
        for reason in [
            "app_vs_os",
            "os_diff",
            "sig_diff",
            "x_known",
            "tstamp",
            "ttl",
            "port",
            "mtu",
            "fuzzy",
        ] {
            assert!(
                log.lines()
                    .any(|l| l.contains("|reason=") && l.contains(reason)),
                "seed {seed}: no {reason} in p0f's log"
            );
        }
        p0f_lines_in_order(&format!("changing hosts, seed {seed}"), &pcap);
        eprintln!("seed {seed}: {changes} host changes, {sharing} ip sharing, as p0f");
    }
}

fn write_frames(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(std::io::BufWriter::new(file), LinkType::ETHERNET).expect("pcap");
    for (at, frame) in frames {
        w.write(Timestamp(*at), frame).expect("write");
    }
    use std::io::Write;
    w.into_inner().flush().expect("flush");
}

/// A server whose SYN+ACK gives a clock rate p0f does not believe (its
/// TSval jumps back between two SYN+ACKs): p0f gives up on that server's
/// clock for the connection, so the server's FIN after it gives no uptime,
/// while the same FIN after a believable SYN+ACK does.
#[test]
fn a_syn_ack_with_an_unbelievable_clock_ends_the_servers_estimates() {
    if p0f_missing() {
        return;
    }
    let srv = v4(0x7000);
    let base = Timestamp::from_secs_nanos(1_700_000_000, 0).0;
    let mut frames = Vec::new();
    // Two rounds: in the first, the second SYN+ACK's TSval falls back from
    // 3,000,000,000 to 1,000; in the second, it moves at 1 kHz.
    for (round, jump) in [(0u64, true), (1, false)] {
        let t0 = round * 20_000;
        let server_ts = |t_ms: u64| -> u32 {
            if jump && t_ms > t0 + 500 {
                1000 + (t_ms - t0 - 1000) as u32
            } else {
                3_000_000_000u32.wrapping_add(t_ms as u32)
            }
        };
        for (i, at) in [(0u32, t0), (1, t0 + 1000)] {
            let cli = v4(0x7100 + round as u32 * 2 + i);
            let mut syn = Stack::Linux.syn(cli, 40_000 + i as u16, srv, 80, i);
            set_ts(&mut syn, 5000 + at as u32, 0);
            let mut sa = answer(&syn, Server::Linux, i);
            set_ts(&mut sa, server_ts(at), 5000 + at as u32);
            frames.push((base + at * 1_000_000, ethernet_frame(&syn.ip_bytes())));
            frames.push((base + (at + 1) * 1_000_000, ethernet_frame(&sa.ip_bytes())));
            if i == 1 {
                let mut fin = TcpPacket::syn(srv, 80, cli, 40_000 + i as u16);
                fin.flags = flags::FIN | flags::ACK;
                fin.seq = sa.seq.wrapping_add(1);
                fin.ack = syn.seq.wrapping_add(1);
                fin.options = OptionBytes::new().nop().nop().ts(server_ts(at + 101), 1).0;
                frames.push((
                    base + (at + 101) * 1_000_000,
                    ethernet_frame(&fin.ip_bytes()),
                ));
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("server-clock.pcap");
    write_frames(&pcap, &frames);
    let log = p0f_log(&pcap);
    let server_uptimes = log
        .lines()
        .filter(|l| l.contains("] mod=uptime|") && l.contains("|subj=srv|"))
        .count();
    assert_eq!(server_uptimes, 1, "one FIN gives p0f an uptime:\n{log}");
    p0f_lines_in_order("a server clock p0f does not believe", &pcap);
}

/// A data segment longer than the 65,535 bytes p0f reads of a frame (a
/// GRO/TSO segment as loopback captures show them): p0f never sees it and
/// goes on following the connection, so a later segment still gives the
/// client's uptime.
#[test]
fn frames_longer_than_p0f_reads_are_not_followed() {
    if p0f_missing() {
        return;
    }
    let (cli, srv) = (v4(0x7200), v4(0x7201));
    let base = Timestamp::from_secs_nanos(1_700_000_000, 0).0;
    let opts = |ts: u32, ecr: u32| OptionBytes::new().nop().nop().ts(ts, ecr).0;
    let mut syn = Stack::Linux.syn(cli, 40_000, srv, 80, 1);
    set_ts(&mut syn, 1_000_000, 0);
    let mut sa = answer(&syn, Server::Linux, 1);
    set_ts(&mut sa, 2_000_000, 1_000_000);
    let segment = |ms: u64, seq: u32, fl: u16, ts: u32, data: Vec<u8>| {
        let mut p = TcpPacket::syn(cli, 40_000, srv, 80);
        p.flags = fl;
        p.seq = seq;
        p.ack = sa.seq.wrapping_add(1);
        p.window = 512;
        p.options = opts(ts, 2_000_000);
        p.payload = data;
        (base + ms * 1_000_000, ethernet_frame(&p.ip_bytes()))
    };
    // Not HTTP: p0f stops reading a connection's client bytes at 15.
    let big = [b"\x16\x03\x01".to_vec(), vec![b'A'; 65_480]].concat();
    let next = syn.seq.wrapping_add(1);
    let frames = vec![
        (base, ethernet_frame(&syn.ip_bytes())),
        (base + 100_000, ethernet_frame(&sa.ip_bytes())),
        segment(1, next, flags::ACK, 1_000_001, Vec::new()),
        segment(10, next, flags::ACK | flags::PSH, 1_000_010, big.clone()),
        segment(
            1000,
            next.wrapping_add(big.len() as u32),
            flags::FIN | flags::ACK,
            1_001_000,
            Vec::new(),
        ),
    ];
    assert!(frames[3].1.len() > 65_535);
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("big-segment.pcap");
    write_frames(&pcap, &frames);
    let log = p0f_log(&pcap);
    assert!(
        log.lines()
            .any(|l| l.contains("] mod=uptime|") && l.contains("|subj=cli|")),
        "p0f gives the client's uptime at the FIN:\n{log}"
    );
    p0f_lines_in_order("a frame longer than p0f reads", &pcap);
}

/// Connections followed past the handshake: p0f's uptime lines from ACK,
/// FIN and RST segments must all be there, identical.
#[test]
fn random_connections_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Unhurried traffic (connections live up to their FIN or the 30 s
    // limit), then a rush of 6000 connections within 30 seconds (p0f
    // prunes its oldest connections past 1000).
    for (name, seed, count, max_gap_ms) in [
        ("random connections", 0x00c0_ffee, 1500, 3000),
        ("rush of connections", 0x7a5e, 6000, 6),
    ] {
        let frames = random_connections(seed, count, max_gap_ms);
        let pcap = dir.path().join("connections.pcap");
        write_frames(&pcap, &frames);
        if let Ok(keep) = std::env::var("SYNPRINT_KEEP_PCAP") {
            let _ = std::fs::copy(&pcap, keep);
        }
        let later = later_uptimes(&pcap);
        eprintln!("{name}: {later} uptimes after the handshake");
        assert!(
            later > 100,
            "{name}: connection following gave only {later} uptimes"
        );
        differential(name, &pcap, count as usize * 6 / 10);
    }
}

// ---------------------------------------------------------------------
// Real kernel SYNs over loopback in a private network namespace
// ---------------------------------------------------------------------

const HELPER_ENV: &str = "SYNPRINT_P0F_NETNS_HELPER";

/// Runs inside the namespace (re-executed by the test below): one loopback
/// connection, unhurried enough for p0f to estimate uptime after the
/// handshake (it waits 25 ms): the client sends two bytes 30 ms after
/// connecting, the server answers 60 ms after accepting, then both close.
#[test]
fn netns_connection_helper() {
    let Ok(family) = std::env::var(HELPER_ENV) else {
        return;
    };
    let addr: IpAddr = if family == "6" {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let listener = std::net::TcpListener::bind((addr, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accept = std::thread::spawn(move || {
        use std::io::Write;
        if let Ok((mut s, _)) = listener.accept() {
            std::thread::sleep(Duration::from_millis(60));
            let _ = s.write_all(b"ok");
        }
    });
    let mut s = std::net::TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(5))
        .expect("connect");
    std::thread::sleep(Duration::from_millis(30));
    use std::io::{Read, Write};
    s.write_all(b"hi").expect("send");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    drop(s);
    let _ = accept.join();
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= (major, minor)
}

#[test]
fn kernel_loopback_syns_match_p0f() {
    if p0f_missing() {
        return;
    }
    if tcpdump_missing() {
        return;
    }
    // The four sysctls are per network namespace only since Linux 4.15;
    // on older kernels flipping them would change the host's settings.
    if !kernel_at_least(4, 15) {
        skipped("kernel older than 4.15 (TCP sysctls not per-namespace)");
        return;
    }
    let Some(ns) = netns_for_test("synprint-p0f") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("kernel.pcap");

    let mut dump = Capture::start(&ns, "lo", &pcap, "tcp");

    let exe = std::env::current_exe().expect("test binary");
    let exe = exe.to_str().expect("utf-8 path");
    let mut connections = 0;
    for combo in 0u32..16 {
        let set = |key: &str, val: u32| {
            assert!(
                ns.exec(&["sysctl", "-q", "-w", &format!("net.ipv4.{key}={val}")]),
                "sysctl {key} in the namespace"
            );
        };
        set("tcp_timestamps", combo & 1);
        set("tcp_window_scaling", (combo >> 1) & 1);
        set("tcp_sack", (combo >> 2) & 1);
        set("tcp_ecn", (combo >> 3) & 1);
        for family in ["4", "6"] {
            let ok = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns.0,
                    "env",
                    &format!("{HELPER_ENV}={family}"),
                ])
                .args([
                    exe,
                    "--exact",
                    "netns_connection_helper",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "loopback connection (IPv{family}, combination {combo})");
            connections += 1;
        }
    }
    // Stop tcpdump only once everything reached the file: on SIGINT it
    // drops what is still in the kernel's ring buffer.
    // At least SYN, SYN+ACK, ACK, two data segments and two FINs each.
    let expected = 7 * connections;
    let _ = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        frames_in(&pcap) >= expected
    });
    dump.stop();
    drop(ns);
    eprintln!(
        "{}",
        std::fs::read_to_string(pcap.with_extension("log")).unwrap_or_default()
    );

    if let Ok(keep) = std::env::var("SYNPRINT_KEEP_PCAP") {
        let _ = std::fs::copy(&pcap, keep);
    }
    // With timestamps on (half the combinations), each side's first data
    // comes 30 or 60 ms after its handshake: p0f's estimate from segments
    // after the handshake, on real kernel timestamps.
    let later = later_uptimes(&pcap);
    assert!(
        later >= connections / 2,
        "only {later} uptimes after the handshake in {connections} connections"
    );
    differential("kernel loopback", &pcap, connections);
}

// ---------------------------------------------------------------------
// Public captures shared by the team (real traffic of several OSes)
// ---------------------------------------------------------------------

#[test]
fn repository_samples_match_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    for e in std::fs::read_dir(&dir)
        .expect("samples/")
        .filter_map(Result::ok)
    {
        let f = e.path();
        if !f.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            continue;
        }
        let copy = tmp.path().join(f.file_name().expect("file name"));
        std::fs::copy(&f, &copy).expect("copy sample");
        differential(&f.display().to_string(), &copy, 1);
        n += 1;
    }
    assert!(n > 0, "no captures in samples/");
}

#[test]
fn shared_fixtures_match_p0f() {
    if p0f_missing() {
        return;
    }
    let Some(files) = shared_fixtures::captures() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    for f in &files {
        // p0f's log is written next to the capture; work on a copy.
        let copy = tmp.path().join(f.file_name().expect("file name"));
        std::fs::copy(f, &copy).expect("copy fixture");
        differential(&f.display().to_string(), &copy, 1);
    }
}

// ---------------------------------------------------------------------
// The p0f.fp parser against p0f's: the same files accepted, the same ones
// rejected at the same line.
// ---------------------------------------------------------------------

/// p0f's verdict on a database file: Ok(signature count) or Err(line).
fn p0f_loads(dir: &Path, text: &str, empty_pcap: &Path) -> Result<usize, Option<u32>> {
    let fp = dir.join("candidate.fp");
    std::fs::write(&fp, text).expect("write fp");
    let out = p0f()
        .arg("-f")
        .arg(&fp)
        .arg("-r")
        .arg(empty_pcap)
        .output()
        .expect("run p0f");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if let Some(pos) = text.find("PROGRAM ABORT") {
        let msg = &text[pos..];
        let line = msg
            .split("line ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok());
        return Err(line);
    }
    if text.contains("No signatures found") {
        return Ok(0);
    }
    let n = text
        .split("Loaded ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected p0f output: {text}"));
    Ok(n)
}

/// A tiny deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn database_parser_agrees_with_p0f() {
    if p0f_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.pcap");
    PcapWriter::new(
        std::fs::File::create(&empty).expect("pcap"),
        LinkType::ETHERNET,
    )
    .expect("pcap header");
    let builtin = include_str!("../data/p0f.fp");
    let lines: Vec<&str> = builtin.lines().collect();
    let sig_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].is_empty() && !lines[i].starts_with(';'))
        .collect();

    let mut candidates = vec![builtin.to_string()];
    let alphabet: &[u8] = b":,*+-?%=[]0123456789abcdefgilmnopstuwx! ";
    let mut rng = Lcg(0x5eed);
    for _ in 0..400 {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        let at = sig_lines[rng.next(sig_lines.len())];
        let mut b = l[at].clone().into_bytes();
        // Mostly keep "sig   = " / "label = " intact and mangle the value.
        let start = if rng.next(8) == 0 {
            0
        } else {
            b.iter()
                .position(|&c| c == b'=')
                .map_or(0, |p| p + 2)
                .min(b.len())
        };
        let pos = start + rng.next(b.len().saturating_sub(start).max(1));
        match rng.next(4) {
            0 if pos < b.len() => b[pos] = alphabet[rng.next(alphabet.len())],
            1 if pos < b.len() => {
                b.remove(pos);
            }
            2 => b.insert(pos.min(b.len()), alphabet[rng.next(alphabet.len())]),
            _ => {
                // Duplicate the line: exercises the "already covered" check.
                let copy = l[at].clone();
                l.insert(at + 1, copy);
            }
        }
        l[at] = String::from_utf8(b).expect("ascii");
        candidates.push(l.join("\n") + "\n");
    }

    let mut diffs = Vec::new();
    let mut rejected = 0;
    for text in &candidates {
        let theirs = p0f_loads(dir.path(), text, &empty);
        let ours = Database::parse(text)
            .map(|db| db.signature_count())
            .map_err(|e| Some(e.line));
        if theirs.is_err() {
            rejected += 1;
        }
        if theirs != ours {
            let first_diff = text
                .lines()
                .zip(builtin.lines())
                .position(|(a, b)| a != b)
                .map(|i| text.lines().nth(i).unwrap_or("").to_string());
            diffs.push(format!("p0f {theirs:?}, synprint {ours:?}: {first_diff:?}"));
        }
    }
    assert!(
        rejected > 50,
        "only {rejected} mutants rejected: the test is not exercising errors"
    );
    assert!(
        diffs.is_empty(),
        "{} disagreements:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    eprintln!(
        "p0f.fp parser: {} files, {rejected} rejected, all as p0f does",
        candidates.len()
    );
}

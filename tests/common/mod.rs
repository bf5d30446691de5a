//! Comparing synprint's decode with tshark's, field by field.
// Each test crate uses what it needs of this.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use synprint::capture::CaptureReader;
use synprint::packet::{decode, IpVersion, Observation};

/// tshark fields asked for; the first six are the IPv4 and IPv6 forms of
/// source, destination and TTL, of which [`Row`] keeps the inner version's.
const FIELDS: [&str; 16] = [
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.window_size_value",
    "tcp.hdr_len",
    "tcp.len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
];

/// One SYN or SYN+ACK as columns: src, dst, ttl, then the TCP fields of
/// [`FIELDS`] in order, all as tshark prints them.
pub type Row = Vec<String>;

/// True, after saying so, when there is no tshark to compare with: the
/// test then skips.
pub fn tshark_missing() -> bool {
    let installed = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        crate::skipped::skipped("tshark is not installed (apt-get install tshark)");
    }
    !installed
}

/// tshark's raw columns for every SYN without RST or FIN, keyed by frame.
fn tshark_columns(path: &Path) -> BTreeMap<u64, Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(path)
        .args([
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.reset == 0 && tcp.flags.fin == 0",
        ])
        // The last occurrence of a field is the innermost header's.
        .args(["-T", "fields", "-E", "occurrence=l", "-E", "separator=\t"])
        .args(["-e", "frame.number"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("tshark prints UTF-8");
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let mut cols = line.split('\t').map(str::to_owned);
        let frame: u64 = cols
            .next()
            .and_then(|n| n.parse().ok())
            .expect("frame number");
        let mut row: Vec<String> = cols.collect();
        row.resize(FIELDS.len(), String::new());
        rows.insert(frame, row);
    }
    rows
}

fn tshark_row(cols: &[String], version: IpVersion) -> Row {
    let ip = match version {
        IpVersion::V4 => &cols[0..3],
        IpVersion::V6 => &cols[3..6],
    };
    let mut row: Row = ip.to_vec();
    row.extend_from_slice(&cols[6..]);
    row
}

/// Our observation in tshark's column form.
fn our_row(o: &Observation) -> Row {
    let opt = |v: Option<String>| v.unwrap_or_default();
    vec![
        o.src_ip.to_string(),
        o.dst_ip.to_string(),
        o.ttl.to_string(),
        o.src_port.to_string(),
        o.dst_port.to_string(),
        o.seq.to_string(),
        o.ack.to_string(),
        format!("0x{:04x}", o.tcp_flags),
        o.window.to_string(),
        (usize::from(o.tcp_data_offset) * 4).to_string(),
        o.payload_len.to_string(),
        opt(o.options.mss.map(|m| m.to_string())),
        opt(o.options.window_scale.map(|w| w.to_string())),
    ]
}

/// synprint's SYN / SYN+ACK observations in a capture, with the frame
/// numbers of everything else it could not decode.
pub fn our_observations(path: &Path) -> (BTreeMap<u64, Observation>, usize) {
    let mut reader = CaptureReader::open(path).expect("open capture");
    let mut seen = BTreeMap::new();
    let mut frames = 0;
    let mut n = 0;
    while let Some(frame) = reader.next_frame().expect("read capture") {
        n += 1;
        frames += 1;
        if let Ok(Some(o)) = decode(frame.link, frame.ts, frame.data) {
            seen.insert(n, o);
        }
    }
    (seen, frames)
}

/// Compares both decodes of a capture; returns the number of SYNs compared.
pub fn compare_with_tshark(path: &Path) -> usize {
    let (ours, _) = our_observations(path);
    let theirs = tshark_columns(path);
    let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(k)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{}: SYNs only synprint sees in frames {only_ours:?}, only tshark in {only_theirs:?}",
        path.display()
    );
    for (frame, o) in &ours {
        let want = tshark_row(&theirs[frame], o.ip_version);
        assert_eq!(
            our_row(o),
            want,
            "{} frame {frame}: src, dst, ttl, {:?}",
            path.display(),
            &FIELDS[6..]
        );
    }
    ours.len()
}

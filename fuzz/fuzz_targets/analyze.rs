//! The whole pipeline on arbitrary capture files: every frame through the
//! analyzer's lookahead, every record (those the final drain returns too)
//! written as JSON both directly and through the memo (per-shape
//! templates), which must agree byte for byte; and again with connection
//! following on, which must add its uptime events without changing a
//! record but for its `uptime`, unless it wrote a retransmitted SYN again,
//! as p0f does (that adds a record and moves later uptimes), or took for a
//! retransmission a SYN the handshake table had forgotten while p0f, which
//! expires connections only every 50 packets, still followed its
//! connection (that takes a record away: a fuzz run found the same SYN
//! again seven years later in a two-packet file). Uptimes may differ:
//! following decides by p0f's connection table which SYN+ACKs p0f reads
//! (none for a connection it saw answered, ended or expired, whose
//! timestamp then does not count for the host either), where without it
//! the handshake table decides (a fuzz run found a second SYN+ACK, of
//! another sequence number, on an answered connection). And a SYN+ACK
//! minutes after its SYN, which the handshake table has forgotten while
//! p0f still follows the connection, may have its window rendered with
//! the client's MSS (`mss*1`) in one run and without it (`65535`) in the
//! other, and its p0f match and classification follow from that (found
//! by a fuzz run: a SYN+ACK 256 s after its SYN in a three-packet file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use synprint::analyze::{Analyzer, AnalyzerConfig, Engine, JsonMemo, Record};
use synprint::capture::CaptureReader;
use synprint::json::JsonBuf;
use synprint::output::{write_p0f_conn_uptime, write_text_conn_uptime};

/// Every record's JSON without its `uptime`, how many SYNs were written
/// again, and how many were taken for retransmissions.
fn records(engine: &Engine, data: &[u8], follow: bool) -> (Vec<Value>, u64, u64) {
    let Ok(mut reader) = CaptureReader::new(data) else {
        return (Vec::new(), 0, 0);
    };
    // Small tables: a fuzz input holds a few packets, and small tables
    // reach their eviction paths.
    let config = AnalyzerConfig {
        flow_capacity: 1 << 10,
        uptime_capacity: 1 << 8,
        shape_capacity: 8,
        follow_connections: follow,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = Analyzer::new(engine, config);
    let mut memo = JsonMemo::with_shapes(8);
    let mut all = Vec::new();
    let mut events = Vec::new();
    while let Ok(Some(frame)) = reader.next_frame() {
        let mut check = |r: &mut Record| write_checked(r, &mut memo, &mut all);
        let _ = analyzer.feed_frame(frame.link, frame.ts, frame.data, &mut check);
        if let Some(u) = analyzer.take_conn_uptime() {
            let _ = write_p0f_conn_uptime(&mut events, &u);
            let _ = write_text_conn_uptime(&mut events, &u);
        }
    }
    let _ = analyzer.drain(&mut |r: &mut Record| write_checked(r, &mut memo, &mut all));
    let stats = analyzer.stats();
    (
        all,
        stats.syn_fingerprinted_again,
        stats.syn_retransmissions,
    )
}

/// Appends the record's JSON without its `uptime` to `all`, after checking
/// that the memo's template fill writes the same bytes as the direct
/// writer.
fn write_checked(r: &Record, memo: &mut JsonMemo, all: &mut Vec<Value>) -> Result<(), ()> {
    let mut direct = JsonBuf::new();
    r.write_json(&mut direct);
    let mut via = JsonBuf::new();
    r.write_json_memo(&mut via, memo);
    assert_eq!(via.as_bytes(), direct.as_bytes());
    let mut value = r.to_json_value();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("uptime");
    }
    all.push(value);
    Ok(())
}

/// Whether two records differ only as a SYN+ACK's may when one run paired
/// it with its SYN's MSS and the other did not: in the window field of
/// the p0f signature, and in what the signature decides.
fn window_divisor_only(a: &Value, b: &Value) -> bool {
    let sig = |v: &Value| v["p0f"]["raw_sig"].as_str().unwrap_or("").to_string();
    let (sa, sb) = (sig(a), sig(b));
    let fields_but_window = |s: &str| {
        let mut f: Vec<&str> = s.split(':').collect();
        if let Some(w) = f.get_mut(4) {
            *w = w.split_once(',').map_or("", |(_, scale)| scale);
        }
        f.join(":")
    };
    let without = |v: &Value| {
        let mut v = v.clone();
        if let Some(fields) = v.as_object_mut() {
            fields.remove("p0f");
            fields.remove("classification");
        }
        v
    };
    a["kind"] == "syn_ack"
        && b["kind"] == "syn_ack"
        && sa != sb
        && fields_but_window(&sa) == fields_but_window(&sb)
        && without(a) == without(b)
}

fuzz_target!(|data: &[u8]| {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(Engine::default);
    let (plain, _, retransmissions) = records(engine, data, false);
    let (followed, again, followed_retransmissions) = records(engine, data, true);
    if again == 0 && followed_retransmissions == retransmissions {
        assert_eq!(plain.len(), followed.len());
        for (p, f) in plain.iter().zip(&followed) {
            assert!(p == f || window_divisor_only(p, f), "{p}\n{f}");
        }
    }
});

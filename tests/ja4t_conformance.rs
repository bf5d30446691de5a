//! JA4T and JA4TS conformance on the public captures in `../shared/fixtures`
//! (FoxIO's own test captures): our JA4T of each capture's client SYN and
//! JA4TS of its server's SYN+ACK must equal the values FoxIO publishes for
//! them (their `rust/ja4` snapshot tests and their Wireshark plugin's test
//! data), and likewise for the tcpdump test capture FoxIO publishes outputs
//! for (`scripts/fetch-corpus.sh`). Skips, saying so, when the captures are
//! absent.
//!
//! JA4T and JA4TS are licensed under the FoxIO License 1.1.
#![cfg(feature = "ja4t")]

mod shared_fixtures;
mod skipped;
use skipped::skipped;
use std::path::{Path, PathBuf};

use synprint::analyze::{Analyzer, AnalyzerConfig, Engine};
use synprint::capture::CaptureReader;
use synprint::packet::Kind;

fn fixtures() -> Option<PathBuf> {
    let dir = shared_fixtures::dir();
    if dir.is_dir() {
        Some(dir)
    } else {
        skipped(&format!(
            "{} is absent (public FoxIO captures)",
            dir.display()
        ));
        None
    }
}

/// One connection of a capture: the client's address and port, FoxIO's
/// JA4T of its SYN and, where FoxIO publishes one, JA4TS of the server's
/// SYN+ACK.
struct Expected {
    file: &'static str,
    client: &'static str,
    port: u16,
    ja4t: &'static str,
    ja4ts: Option<&'static str>,
}

/// From FoxIO's `rust/ja4` snapshots (JA4T) and their Wireshark plugin's
/// test data (`wireshark/test/testdata/*.json`, JA4T and JA4TS).
const EXPECTED: &[Expected] = &[
    // The plugin fingerprints only packets whose flags are exactly SYN or
    // SYN+ACK, so for these ECN-flagged ones only the Rust tool's JA4T is
    // published.
    Expected {
        file: "macos_tcp_flags.pcap",
        client: "172.16.5.16",
        port: 61311,
        ja4t: "65535_2-1-3-1-1-8-4-0-0_1460_6",
        ja4ts: None,
    },
    Expected {
        file: "https-connect.pcap",
        client: "10.11.12.13",
        port: 54723,
        ja4t: "29200_2-1-1-4-1-3_1460_7",
        ja4ts: Some("29200_2-1-1-4-1-3_1360_7"),
    },
    Expected {
        file: "socks4-https.pcap",
        client: "10.0.0.1",
        port: 50606,
        ja4t: "8192_2-1-3-1-1-4_1360_2",
        ja4ts: Some("5840_2-1-1-4-1-3_1460_7"),
    },
    Expected {
        file: "http1-with-cookies.pcapng",
        client: "127.0.0.1",
        port: 61256,
        ja4t: "65535_2-1-3-1-1-8-4-0-0_16344_6",
        ja4ts: Some("65535_2-1-3-1-1-8-4-0-0_16344_6"),
    },
    // BSD loopback, IPv6 (FoxIO's snapshot names the same stream
    // `tls-alpn-h2.pcap`).
    Expected {
        file: "ipv6.pcapng",
        client: "2001:4998:ef83:14:8000::100d",
        port: 64034,
        ja4t: "65535_2-1-3-1-1-8-4-0-0_1346_6",
        ja4ts: Some("65535_2-1-1-4-1-3_1346_10"),
    },
];

/// A capture of tcpdump's test suite FoxIO publishes outputs for (their
/// `tcpdump-geneve.pcap`): a connection inside a Geneve tunnel.
const EXPECTED_IN_CORPUS: &[Expected] = &[Expected {
    file: "geneve.pcap",
    client: "30.0.0.2",
    port: 51225,
    ja4t: "14600_2-4-8-1-3_1460_7",
    ja4ts: Some("28960_2-4-8-1-3_1460_7"),
}];

#[test]
fn ja4t_matches_foxio_reference_outputs() {
    let Some(dir) = fixtures() else { return };
    check(&dir, EXPECTED);
}

#[test]
fn ja4t_matches_foxio_on_tcpdumps_captures() {
    if shared_fixtures::corpus_captures().is_none() {
        return;
    }
    check(&shared_fixtures::corpus_dir(), EXPECTED_IN_CORPUS);
}

fn check(dir: &Path, expected: &[Expected]) {
    use synprint::fingerprint::ja4t::Ja4t;
    let engine = Engine::default();
    for e in expected {
        let mut reader = CaptureReader::open(&dir.join(e.file)).expect("fixture opens");
        let mut analyzer = Analyzer::new(&engine, AnalyzerConfig::default());
        let (mut ja4t, mut ja4ts) = (Vec::new(), Vec::new());
        while let Some(frame) = reader.next_frame().expect("fixture reads to the end") {
            if let Some(r) = analyzer.process_frame(frame.link, frame.ts, frame.data) {
                let o = r.obs();
                match o.kind {
                    Kind::Syn if o.src_ip.to_string() == e.client && o.src_port == e.port => {
                        ja4t.push(Ja4t(o).to_string())
                    }
                    Kind::SynAck if o.dst_ip.to_string() == e.client && o.dst_port == e.port => {
                        ja4ts.push(Ja4t(o).to_string())
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(ja4t, [e.ja4t], "JA4T, {}", e.file);
        if let Some(want) = e.ja4ts {
            assert_eq!(ja4ts, [want], "JA4TS, {}", e.file);
        }
    }
}

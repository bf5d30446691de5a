//! JA4T conformance on the public captures in `../shared/fixtures` (FoxIO's
//! own test captures): our JA4T must equal the value FoxIO's reference
//! implementation gives for each capture's client SYN. The expected strings
//! are FoxIO's published outputs for these files (their `rust/ja4`
//! snapshot tests), and likewise for tcpdump's test captures FoxIO
//! published outputs for (`scripts/fetch-corpus.sh`). Skips, saying so,
//! when the captures are absent.
//!
//! JA4T is licensed under the FoxIO License 1.1.
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

/// (file, client address/port, FoxIO's JA4T of that client's SYN).
const EXPECTED: &[(&str, &str, u16, &str)] = &[
    (
        "macos_tcp_flags.pcap",
        "172.16.5.16",
        61311,
        "65535_2-1-3-1-1-8-4-0-0_1460_6",
    ),
    (
        "https-connect.pcap",
        "10.11.12.13",
        54723,
        "29200_2-1-1-4-1-3_1460_7",
    ),
    (
        "socks4-https.pcap",
        "10.0.0.1",
        50606,
        "8192_2-1-3-1-1-4_1360_2",
    ),
    (
        "http1-with-cookies.pcapng",
        "127.0.0.1",
        61256,
        "65535_2-1-3-1-1-8-4-0-0_16344_6",
    ),
];

/// FoxIO's JA4T for a capture of tcpdump's test suite (their snapshot
/// `tcpdump-geneve.pcap`): a client SYN inside a Geneve tunnel.
const EXPECTED_IN_CORPUS: &[(&str, &str, u16, &str)] =
    &[("geneve.pcap", "30.0.0.2", 51225, "14600_2-4-8-1-3_1460_7")];

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

fn check(dir: &Path, expected: &[(&str, &str, u16, &str)]) {
    let engine = Engine::default();
    for (file, ip, port, want) in expected {
        let mut reader = CaptureReader::open(&dir.join(file)).expect("fixture opens");
        let mut analyzer = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut found = Vec::new();
        while let Some(frame) = reader.next_frame().expect("fixture reads to the end") {
            if let Some(r) = analyzer.process_frame(frame.link, frame.ts, frame.data) {
                if r.obs().kind == Kind::Syn
                    && r.obs().src_ip.to_string() == *ip
                    && r.obs().src_port == *port
                {
                    found.push(synprint::fingerprint::ja4t::Ja4t(r.obs()).to_string());
                }
            }
        }
        assert_eq!(found, vec![want.to_string()], "{file}");
    }
}

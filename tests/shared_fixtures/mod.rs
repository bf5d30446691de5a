//! Where the public captures the conformance tests read are, never copied
//! into the repository:
//! - the shared fixtures: `../shared/fixtures`, next to the repository, or
//!   `SYNPRINT_FIXTURES` (e.g. from a worktree); files of the `pcap/`
//!   folder of github.com/FoxIO-LLC/ja4;
//! - tcpdump 4.99.3's test captures, which `scripts/fetch-corpus.sh`
//!   fetches into `target/corpus/`, or `SYNPRINT_CORPUS`;
//! - FoxIO's JA4+ test captures with FoxIO's outputs for them, which the
//!   same script fetches, or `SYNPRINT_FOXIO_VECTORS`.
// Each test crate uses what it needs of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn dir() -> PathBuf {
    std::env::var_os("SYNPRINT_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
        PathBuf::from,
    )
}

/// The shared fixtures (`*.pcap`, `*.pcapng`), sorted; `None`, after a
/// skip line, when the folder is absent.
pub fn captures() -> Option<Vec<PathBuf>> {
    captures_in(&dir(), "no fixtures")
}

pub fn corpus_dir() -> PathBuf {
    std::env::var_os("SYNPRINT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/corpus/tcpdump-4.99.3/tests"),
        PathBuf::from,
    )
}

/// tcpdump's test captures, sorted; `None`, after a skip line, when they
/// have not been fetched.
pub fn corpus_captures() -> Option<Vec<PathBuf>> {
    captures_in(
        &corpus_dir(),
        "no capture corpus (scripts/fetch-corpus.sh fetches it)",
    )
}

pub fn foxio_vectors_dir() -> PathBuf {
    std::env::var_os("SYNPRINT_FOXIO_VECTORS").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/corpus/ja4plus-1.4.0/tests/foxio_vectors")
        },
        PathBuf::from,
    )
}

/// FoxIO's JA4+ test captures, sorted; `None`, after a skip line, when
/// they have not been fetched.
pub fn foxio_vectors() -> Option<Vec<PathBuf>> {
    captures_in(
        &foxio_vectors_dir(),
        "no FoxIO test captures (scripts/fetch-corpus.sh fetches them)",
    )
}

fn captures_in(dir: &Path, absent: &str) -> Option<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        crate::skipped::skipped(&format!("{absent} at {}", dir.display()));
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "pcap" || e == "pcapng")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no captures", dir.display());
    Some(files)
}

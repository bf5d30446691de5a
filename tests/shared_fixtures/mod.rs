//! Where the public fixture captures are: `../shared/fixtures`, next to
//! the repository (never copied into it), or `SYNPRINT_FIXTURES` (e.g. from
//! a worktree). They are files of the `pcap/` folder of
//! github.com/FoxIO-LLC/ja4.
// Each test crate uses what it needs of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn dir() -> PathBuf {
    std::env::var_os("SYNPRINT_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
        PathBuf::from,
    )
}

/// The captures there (`*.pcap`, `*.pcapng`), sorted; `None`, after a skip
/// line, when the folder is absent.
pub fn captures() -> Option<Vec<PathBuf>> {
    let dir = dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        crate::skipped::skipped(&format!("no fixtures at {}", dir.display()));
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

//! The shared fixture captures (`../shared/fixtures/*.pcap*`, next to the
//! repository; never copied into it), decoded by synprint and by tshark:
//! every SYN and SYN+ACK must agree field by field.

mod skipped;
use skipped::skipped;
mod common;
mod shared_fixtures;

use std::path::PathBuf;

#[test]
fn shared_fixtures_agree_with_tshark() {
    let dir = shared_fixtures::dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        skipped(&format!("no fixtures at {}", dir.display()));
        return;
    };
    if common::tshark_missing() {
        return;
    }
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
    for path in files {
        let n = common::compare_with_tshark(&path);
        eprintln!("{}: {n} SYN/SYN+ACK agree with tshark", path.display());
    }
}

//! A test whose peer is missing (a tool, root, a kernel feature, the shared
//! fixtures) ends early and says so here, as `SKIPPED <test>: <reason>`.
//! libtest keeps what a passing test prints with `eprintln!` to itself, so
//! the line goes to standard error directly, where `scripts/test.sh`
//! counts it in its closing line.

use std::io::Write;

pub fn skipped(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(unnamed)");
    // One write, so that libtest's own lines on the same pipe cannot land
    // inside it.
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

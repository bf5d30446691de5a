//! synprint over captures it was not written for: the 600-odd capture files
//! of tcpdump 4.99.3's own test suite, many of them fuzzer finds and
//! deliberately malformed (bad lengths, cut records, odd link types),
//! fetched by `scripts/fetch-corpus.sh` from Debian's archive (checked by
//! SHA-256, never committed). Every file must be read to its end, or
//! refused with a one-line error naming it: no panic, no hang. And for
//! every connection p0f 3.09b logs, `synprint analyze --format p0f` must
//! write the same lines (syn, syn+ack, mtu, uptime, host tracking), dates
//! included. synprint may write more: SYNs inside tunnels, which p0f does
//! not open, and SYN+ACKs whose SYN is not in the capture.
//!
//! The same for FoxIO's JA4+ test captures (fetched by the same script).
//!
//! Skips, saying so, when a corpus or p0f is absent.

mod kernel;
mod shared_fixtures;
mod skipped;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kernel::{p0f, p0f_missing, LOGGED_MODULES};

/// Runs `cmd` to its end, or kills it after `limit` and says so.
fn run(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // Both pipes drained beside the wait: a full pipe would stall the child.
    let out_reader = drain(child.stdout.take());
    let err_reader = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// The lines of the logged modules, by "mod|cli|srv|subj", in order.
fn by_key(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("] ") else {
            continue;
        };
        let key: Vec<&str> = rest.splitn(5, '|').take(4).collect();
        let module = key.first().and_then(|m| m.strip_prefix("mod="));
        if module.is_some_and(|m| LOGGED_MODULES.contains(&m)) {
            lines
                .entry(key.join("|"))
                .or_default()
                .push(line.to_string());
        }
    }
    lines
}

#[test]
fn tcpdump_test_captures_are_read_and_match_p0f() {
    let Some(files) = shared_fixtures::corpus_captures() else {
        return;
    };
    if p0f_missing() {
        return;
    }
    // p0f logs 295 lines for 23 of tcpdump 4.99.3's files: a floor that
    // fails the test if most of them stop being compared.
    read_all_and_match_p0f(&files, 20, 250);
}

/// FoxIO's JA4+ test captures (TLS, QUIC, SSH, HTTP, DHCP; GRE, ERSPAN,
/// VXLAN and Geneve tunnels; pcapng, IPv6, BSD loopback).
#[test]
fn foxios_test_captures_are_read_and_match_p0f() {
    let Some(files) = shared_fixtures::foxio_vectors() else {
        return;
    };
    if p0f_missing() {
        return;
    }
    // p0f logs 237 lines for 24 of the 39 files.
    read_all_and_match_p0f(&files, 20, 200);
}

/// Every file read to its end or refused with a line naming it, and every
/// line p0f logs written identically; `min_files` files with `min_lines`
/// lines at least compared.
fn read_all_and_match_p0f(files: &[std::path::PathBuf], min_files: usize, min_lines: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("p0f.log");
    let limit = Duration::from_secs(60);
    let (mut refused, mut files_compared, mut lines_compared) = (0, 0, 0);
    for f in files {
        let name = f.display();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_synprint"));
        cmd.args(["analyze", "--format", "p0f"]).arg(f);
        let ours = run(cmd, limit).unwrap_or_else(|e| panic!("synprint over {name}: {e}"));
        let err = String::from_utf8_lossy(&ours.stderr);
        match ours.status.code() {
            Some(0) => {}
            // A file it cannot read: one line naming the file and the byte.
            Some(1) => assert!(
                err.lines()
                    .any(|l| l.starts_with(&format!("{name}: error at byte"))),
                "{name}: synprint failed without naming the file and byte:\n{err}"
            ),
            _ => panic!("{name}: synprint ended with {}:\n{err}", ours.status),
        }
        let ours = by_key(&String::from_utf8_lossy(&ours.stdout));

        // p0f appends to its log.
        let _ = std::fs::remove_file(&log);
        let mut cmd = p0f();
        cmd.env("TZ", "UTC").arg("-r").arg(f).arg("-o").arg(&log);
        let p0f_run = run(cmd, limit).unwrap_or_else(|e| panic!("p0f over {name}: {e}"));
        if !p0f_run.status.success() {
            // libpcap refuses the file (or a record of it): p0f reports
            // nothing, or what it read before.
            refused += 1;
        }
        let theirs = by_key(&std::fs::read_to_string(&log).unwrap_or_default());
        for (key, lines) in &theirs {
            assert_eq!(
                ours.get(key),
                Some(lines),
                "{name}: --format p0f differs from p0f's lines for {key}"
            );
            lines_compared += lines.len();
        }
        files_compared += usize::from(!theirs.is_empty());
    }
    eprintln!(
        "{} captures read; {lines_compared} p0f lines in {files_compared} of them \
         written identically; p0f stopped early on {refused}",
        files.len()
    );
    assert!(
        files_compared >= min_files && lines_compared >= min_lines,
        "too little compared: {lines_compared} lines in {files_compared} files"
    );
}

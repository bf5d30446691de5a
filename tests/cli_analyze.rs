//! End-to-end: the `synprint analyze` binary over captures this test writes.

mod signals;
mod skipped;
use skipped::skipped;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use synprint::capture::PcapWriter;
use synprint::craft::{ethernet_frame, OptionBytes, Stack, TcpPacket};
use synprint::packet::{LinkType, Timestamp};

fn synprint(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let (child, stdin) = fed(&args, stdin.unwrap_or_default(), false);
    drop(stdin);
    child.wait_with_output().expect("synprint finishes")
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

/// `synprint analyze --format FORMAT` over `bytes` written to a file named
/// `name` (the path is returned for messages that name it).
fn analyze_file(name: &str, bytes: &[u8], format: &str) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    let out = synprint(
        &["analyze", "--format", format, path.to_str().expect("utf-8")],
        None,
    );
    (out, path, dir)
}

fn capture(packets: &[TcpPacket]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    for (i, p) in packets.iter().enumerate() {
        w.write(
            Timestamp(1_700_000_000_000_000_000 + i as u64 * 1_000_000),
            &ethernet_frame(&p.ip_bytes()),
        )
        .expect("write");
    }
    w.into_inner()
}

/// `packets` as a capture file named `name` in `dir`.
fn write_capture(dir: &tempfile::TempDir, name: &str, packets: &[TcpPacket]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, capture(packets)).expect("write");
    path
}

fn records(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn jsonl_records_carry_the_documented_fields() {
    let win = Stack::Windows.syn(v4(1), 50000, v4(2), 443, 1);
    let mut sa = TcpPacket::syn_ack_for(&win);
    sa.window = 65160;
    sa.options = OptionBytes::new().mss(1460).sok().ts(5, 6).nop().ws(7).0;
    let mac6 = Stack::MacOs.syn(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        50001,
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
        443,
        2,
    );
    let bytes = capture(&[win.clone(), win.clone(), sa, mac6]);
    let (out, _, _dir) = analyze_file("c.pcap", &bytes, "jsonl");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    assert_eq!(
        recs.len(),
        3,
        "the retransmitted SYN makes no second record"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 syn, 0 syn_ack (no record)"),
        "summary counts the retransmission: {stderr}"
    );

    let w = &recs[0];
    assert_eq!(w["kind"], "syn");
    assert_eq!(w["src_ip"], "192.0.2.1");
    assert_eq!(w["src_port"], 50000);
    assert_eq!(w["ip_version"], 4);
    assert_eq!(w["ip_ttl"], 128);
    assert_eq!(w["ip_df"], 1);
    assert_eq!(w["ip_hdr_length"], 5);
    assert_eq!(w["tcp_window_size"], 64240);
    assert_eq!(w["tcp_options"], "M1460,N,W8,N,N,S,");
    assert_eq!(
        w["tcp_options_kinds"],
        serde_json::json!([2, 1, 3, 1, 1, 4])
    );
    assert_eq!(w["tcp_mss"], 1460);
    assert_eq!(w["tcp_window_scaling"], 8);
    assert_eq!(w["tcp_timestamp"], serde_json::Value::Null);
    assert_eq!(w["tcp_off"], 8);
    // JA4T/JA4TS exist only with the default `ja4t` feature.
    let ja4t = cfg!(feature = "ja4t");
    if ja4t {
        assert_eq!(w["ja4t"], "64240_2-1-3-1-1-4_1460_8");
    } else {
        assert!(w.get("ja4t").is_none());
    }

    let s = &recs[1];
    assert_eq!(s["kind"], "syn_ack");
    assert_eq!(s["src_port"], 443);
    if ja4t {
        assert_eq!(s["ja4ts"], "65160_2-4-8-1-3_1460_7");
    }
    assert!(s.get("ja4t").is_none());

    let m = &recs[2];
    assert_eq!(m["ip_version"], 6);
    assert_eq!(m["ip_id"], serde_json::Value::Null);
    assert_eq!(m["tcp_options"], "M1440,N,W6,N,N,T,S,E,E,");
    if ja4t {
        assert_eq!(m["ja4t"], "65535_2-1-3-1-1-8-4-0-0_1440_6");
    }
    assert!(m["ip_flow_label"].as_u64().is_some());
}

#[test]
fn standard_input_is_read_with_dash() {
    let bytes = capture(&[Stack::Linux.syn(v4(3), 40000, v4(4), 80, 3)]);
    let out = synprint(&["analyze", "--format", "jsonl", "-"], Some(&bytes));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["tcp_options"], "M1460,S,T,N,W7,");
}

#[test]
fn a_cut_off_file_keeps_earlier_records_and_names_the_offset() {
    let full = capture(&[
        Stack::Linux.syn(v4(5), 40001, v4(6), 80, 4),
        Stack::Windows.syn(v4(7), 40002, v4(6), 80, 5),
    ]);
    let cut = &full[..full.len() - 10];
    let (out, path, _dir) = analyze_file("cut.pcap", cut, "jsonl");
    assert!(!out.status.success());
    assert_eq!(
        records(&out).len(),
        1,
        "the whole first record is still analysed"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first_line = stderr.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with(&format!("{}: error at byte ", path.display())),
        "{stderr}"
    );
}

/// With records and messages in one stream (`2>&1`), a file's error line
/// follows that file's records and precedes the next file's.
#[test]
fn an_error_line_follows_the_records_of_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = capture(&[
        Stack::Linux.syn(v4(30), 40030, v4(31), 80, 30),
        Stack::Windows.syn(v4(32), 40032, v4(31), 80, 32),
    ]);
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() - 10]).expect("write");
    let good = write_capture(
        &dir,
        "good.pcap",
        &[Stack::MacOs.syn(v4(33), 40033, v4(31), 80, 33)],
    );
    let log = dir.path().join("log");
    let file = std::fs::File::create(&log).expect("log");
    let status = signals::synprint()
        .args(["analyze", "--format", "jsonl"])
        .args([&cut, &good])
        .stdout(file.try_clone().expect("dup"))
        .stderr(file)
        .status()
        .expect("run synprint");
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}: {text}"))
    };
    let error = at(&format!("{}: error at byte", cut.display()));
    assert!(at("\"src_port\":40030") < error, "{text}");
    assert!(error < at("\"src_port\":40033"), "{text}");
}

/// `n` Windows SYNs of distinct connections: about 1.1 KB of JSON each.
fn many_syns(n: u16) -> Vec<TcpPacket> {
    (0..n)
        .map(|i| Stack::Windows.syn(v4(6), 10_000 + i, v4(7), 443, u32::from(i)))
        .collect()
}

/// `synprint analyze --format jsonl FILES > /dev/full`.
fn jsonl_to_a_full_disk(files: &[&Path]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    signals::synprint()
        .args(["analyze", "--format", "jsonl"])
        .args(files)
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run synprint")
}

/// Records that cannot be written (a full disk) end the run with that
/// error, after the message about the file that failed first.
#[test]
fn a_failed_write_keeps_the_message_of_the_file_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write_capture(
        &dir,
        "good.pcap",
        &[Stack::Linux.syn(v4(40), 40040, v4(41), 80, 40)],
    );
    let missing = dir.path().join("missing.pcap");
    let out = jsonl_to_a_full_disk(&[&good, &missing]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with(&format!("{}: ", missing.display()))),
        "{stderr}"
    );
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.contains("No space left on device")),
        "{stderr}"
    );
    // The output's failure ends the run with a summary, not an abort.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("packets read:        1\n"), "{stderr}");
}

/// A disk that fills in the middle of a capture: the error is said once,
/// naming the file, the files after it are not read (their records would
/// be refused too), and the summary of what was read still comes.
#[test]
fn a_disk_that_fills_mid_capture_ends_the_run_with_its_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Well over the 1 MiB the writer gathers before its first write.
    let syns = many_syns(3000);
    let big = write_capture(&dir, "big.pcap", &syns);
    let small = write_capture(
        &dir,
        "small.pcap",
        &[Stack::Linux.syn(v4(40), 40040, v4(41), 80, 40)],
    );
    let out = jsonl_to_a_full_disk(&[&big, &small]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("No space left on device").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.starts_with(&format!("{}: writing records: ", big.display())),
        "{stderr}"
    );
    assert!(!stderr.contains(&small.display().to_string()), "{stderr}");
    let read = stderr
        .lines()
        .find_map(|l| l.strip_prefix("packets read:"))
        .and_then(|n| n.trim().parse::<u32>().ok());
    assert!(read.is_some_and(|n| n > 0 && n < 3000), "{stderr}");
}

/// A disk that fills in the middle of a record (here: the file-size limit,
/// which takes the first bytes of a write and refuses the rest, at a few
/// places no record ends on): nothing is written after the failure, so
/// every whole line before it is a whole record, whatever the format and
/// whether the capture comes from a file or a pipe; in an `-o` file of its
/// own making, the record cut short is taken back as well, so the file
/// ends with a whole line. Standard output and p0f's appended log, which
/// others may write to, keep the cut piece.
#[test]
fn a_full_disk_leaves_whole_records_and_takes_back_a_cut_one() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    // Over the 1 MiB the writer gathers in every format (p0f's lines are
    // the shortest).
    let cap = write_capture(&dir, "big.pcap", &many_syns(8000));
    let cap_bytes = std::fs::read(&cap).expect("capture");
    let run = |format: &str, from_pipe: bool, to_stdout: bool, limit: u64| {
        let out_path = dir.path().join("out");
        let _ = std::fs::remove_file(&out_path);
        let mut cmd = signals::synprint();
        signals::with_file_size_limit(&mut cmd, limit);
        cmd.args(["analyze", "-f", format]);
        if from_pipe {
            cmd.arg("-").stdin(Stdio::piped());
        } else {
            cmd.arg(&cap).stdin(Stdio::null());
        }
        if to_stdout {
            cmd.stdout(std::fs::File::create(&out_path).expect("create"));
        } else {
            cmd.arg("-o").arg(&out_path).stdout(Stdio::null());
        }
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("run synprint");
        if let Some(mut stdin) = child.stdin.take() {
            // The run may stop reading once its output fails.
            let _ = stdin.write_all(&cap_bytes);
        }
        let out = child.wait_with_output().expect("wait");
        let written = std::fs::read(&out_path).expect("output");
        (out, written)
    };
    let whole = |format: &str, line: &[u8]| match format {
        "jsonl" => serde_json::from_slice::<serde_json::Value>(line).is_ok(),
        "p0f" => line.starts_with(b"[20"),
        _ => {
            line.is_empty()
                || [&b".-["[..], b"|", b"`----"]
                    .iter()
                    .any(|start| line.starts_with(start))
        }
    };
    let mut taken_backs = 0;
    for limit in [1_000_003, 1_000_100, 1_000_250] {
        for format in ["jsonl", "p0f", "text"] {
            for (from_pipe, to_stdout) in [(false, false), (true, false), (false, true)] {
                let case = format!("{format}, limit {limit}, pipe {from_pipe}, stdout {to_stdout}");
                let (out, written) = run(format, from_pipe, to_stdout, limit);
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(1), "{case}: {err}");
                assert!(
                    written.len() as u64 > limit - 2000,
                    "{case}: {}",
                    written.len()
                );
                let mut lines: Vec<&[u8]> = written.split(|&b| b == b'\n').collect();
                // What follows the last line end: empty, or the cut piece.
                let tail = lines.pop().unwrap_or_default();
                for (n, line) in lines.iter().enumerate() {
                    assert!(
                        whole(format, line),
                        "{case}: line {} is not whole: {}",
                        n + 1,
                        String::from_utf8_lossy(line)
                    );
                }
                let own_file = !to_stdout && format != "p0f";
                let taken_back = err.contains("(the line it cut short is taken back)");
                if own_file {
                    assert!(tail.is_empty(), "{case}: ends with a cut line");
                    taken_backs += u32::from(taken_back);
                } else {
                    assert!(!taken_back, "{case}: {err}");
                }
            }
        }
    }
    // (A limit that fell on a line end would leave nothing to take back.)
    assert!(taken_backs > 10, "{taken_backs}");
}

/// A capture cut off mid-record whose last records, written as the reader
/// stops, are the ones the full disk refuses: both errors are told, in
/// that order, and the summary still comes.
#[test]
fn a_cut_capture_whose_last_records_hit_a_full_disk_tells_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let syns = many_syns(1500);
    // The record whose line takes the output past the writer's 1 MiB batch
    // is the first one written out: end the capture with it, so that it
    // is among those the analyzer still holds when the reader stops.
    let whole = write_capture(&dir, "whole.pcap", &syns);
    let whole = whole.to_str().expect("utf-8");
    let out = synprint(&["analyze", "--format", "jsonl", whole], None);
    let mut written = 0;
    let crossing = String::from_utf8_lossy(&out.stdout)
        .lines()
        .position(|l| {
            written += l.len() + 1;
            written >= 1 << 20
        })
        .expect("over 1 MiB of records");
    let mut bytes = capture(&syns[..=crossing]);
    // Half of one more record.
    let next = capture(&syns[..1]);
    bytes.extend_from_slice(&next[24..24 + (next.len() - 24) / 2]);
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes).expect("write");

    let out = jsonl_to_a_full_disk(&[&cut]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}: error at byte ", cut.display())),
        "{stderr}"
    );
    assert!(
        first.contains("then writing records: ") && first.contains("No space left"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("records:             {} syn", crossing + 1)),
        "{stderr}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("to memory");
    e.finish().expect("to memory")
}

#[test]
fn gzip_compressed_captures_are_read_from_files_and_standard_input() {
    let bytes = capture(&[
        Stack::Linux.syn(v4(11), 40011, v4(12), 443, 11),
        Stack::MacOs.syn(v4(13), 40013, v4(12), 443, 13),
    ]);
    let (plain, _, _d1) = analyze_file("plain.pcap", &bytes, "jsonl");
    assert!(plain.status.success());
    assert_eq!(records(&plain).len(), 2);
    let (zipped, _, _d2) = analyze_file("zipped.pcap.gz", &gzip(&bytes), "jsonl");
    assert!(
        zipped.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&zipped.stderr)
    );
    assert_eq!(zipped.stdout, plain.stdout);
    let piped = synprint(&["analyze", "--format", "jsonl", "-"], Some(&gzip(&bytes)));
    assert_eq!(piped.stdout, plain.stdout);

    // Cut inside the compressed stream: an error naming the file.
    let z = gzip(&bytes);
    let (cut, path, _d3) = analyze_file("cut.pcap.gz", &z[..z.len() - 12], "jsonl");
    assert!(!cut.status.success());
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert!(
        stderr.starts_with(&format!("{}: error at byte ", path.display())),
        "{stderr}"
    );
}

/// Nothing to read is nothing done (status 2): yesterday's output and
/// inventory are left as they were, whether the files are not captures,
/// are empty or are missing.
#[test]
fn a_file_that_is_not_a_capture_is_a_one_line_error() {
    let (out, notes, dir) =
        analyze_file("notes.txt", b"hello, this is not a capture file\n", "none");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}: error at byte 0: not a pcap", notes.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));

    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").expect("write");
    let (records, inventory) = (dir.path().join("out.jsonl"), dir.path().join("hosts.txt"));
    std::fs::write(&records, "yesterday's records\n").expect("write");
    std::fs::write(&inventory, "yesterday's hosts\n").expect("write");
    let path = |p: &Path| p.to_str().expect("utf-8").to_string();
    let out = synprint(
        &[
            "analyze",
            "-o",
            &path(&records),
            "--inventory",
            &path(&inventory),
            &path(&notes),
            &path(&empty),
            &path(&dir.path().join("missing.pcap")),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("empty.pcap: error at byte 0: the input is empty"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&records).expect("read"),
        "yesterday's records\n"
    );
    assert_eq!(
        std::fs::read_to_string(&inventory).expect("read"),
        "yesterday's hosts\n"
    );

    // One capture among them is a run: the others are named, status 1.
    let good = dir.path().join("good.pcap");
    std::fs::write(
        &good,
        capture(&[Stack::Linux.syn(v4(20), 40020, v4(21), 443, 20)]),
    )
    .expect("write");
    let out = synprint(
        &[
            "analyze",
            "-o",
            &path(&records),
            &path(&notes),
            &path(&good),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&records)
            .expect("read")
            .lines()
            .count(),
        1
    );
}

/// As `cat` does: a file that cannot be opened gets its line, the files
/// after it are still read, and the status says something failed.
#[test]
fn a_file_that_cannot_be_opened_does_not_stop_the_run() {
    let bytes = capture(&[Stack::Linux.syn(v4(20), 40020, v4(21), 443, 20)]);
    let (_, good, dir) = analyze_file("good.pcap", &bytes, "none");
    let missing = dir.path().join("missing.pcap");
    let out = synprint(
        &[
            "analyze",
            "--format",
            "jsonl",
            missing.to_str().expect("utf-8"),
            dir.path().to_str().expect("utf-8"),
            good.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(records(&out).len(), 1, "the readable file's record");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{}: No such file or directory (os error 2)",
                missing.display()
            )
            .as_str()
        ),
        "{stderr}"
    );
    let second = lines.next().unwrap_or_default();
    assert!(
        second.starts_with(&format!("{}: ", dir.path().display())),
        "{stderr}"
    );
    assert!(stderr.contains("records:             1 syn"), "{stderr}");
}

/// p0f takes its filter as the last argument: given so here, it is a file
/// that is not there, and its line says how to give it.
#[test]
fn a_filter_given_as_a_file_is_pointed_to_the_filter_option() {
    let bytes = capture(&[Stack::Linux.syn(v4(20), 40020, v4(21), 443, 20)]);
    let (_, good, _dir) = analyze_file("good.pcap", &bytes, "none");
    let out = synprint(
        &[
            "analyze",
            "--format",
            "jsonl",
            good.to_str().expect("utf-8"),
            "port 443",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(records(&out).len(), 1, "the readable file's record");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some(
            "port 443: No such file or directory (os error 2) \
             (to keep what a filter keeps: --filter 'port 443')"
        ),
        "{stderr}"
    );
}

#[test]
fn text_format_is_readable() {
    let bytes = capture(&[Stack::Windows.syn(v4(8), 40003, v4(9), 443, 6)]);
    let (out, _, _dir) = analyze_file("t.pcap", &bytes, "text");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(".-[ 192.0.2.8/40003 -> 192.0.2.9/443 (syn) ]-"),
        "{text}"
    );
    assert_eq!(
        text.contains("64240_2-1-3-1-1-4_1460_8"),
        cfg!(feature = "ja4t"),
        "{text}"
    );
}

#[test]
fn records_from_a_live_stream_come_out_before_it_ends() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::Duration;

    let bytes = capture(&[Stack::Linux.syn(v4(10), 40010, v4(11), 443, 10)]);
    let args = ["analyze", "--format", "jsonl", "-"].map(std::ffi::OsStr::new);
    let (mut child, stdin) = fed(&args, &bytes, false);
    // Keep the stream open, as `tcpdump -w -` does, and wait for the record.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    drop(stdin);
    let _ = child.wait();
    let line = line.expect("the record arrives while the stream is still open");
    let rec: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(rec["src_port"], 40010);
}

/// A signal while the stream is idle (tcpdump still running, nothing new
/// to read) ends the run at once, with what was read flushed and the
/// summary; it used to wait for the writer to close the pipe.
#[test]
fn interrupting_an_idle_stream_gives_the_summary() {
    use std::time::Duration;

    let bytes = capture(&[Stack::Linux.syn(v4(10), 40010, v4(11), 443, 10)]);
    for (signal, sent) in [
        (libc::SIGINT, bytes.len()),
        (libc::SIGTERM, 24),
        // The terminal or SSH session went away.
        (libc::SIGHUP, bytes.len()),
    ] {
        let args = ["analyze", "--format", "jsonl", "-"].map(std::ffi::OsStr::new);
        // The whole capture, or only its file header.
        let (mut child, stdin) = fed(&args, &bytes[..sent], false);
        // Time to start and set the handler (without it the signal kills,
        // and the status below says so).
        std::thread::sleep(Duration::from_millis(300));
        // The write end stays open: synprint must not wait for its end.
        let (status, err) = signal_and_wait(&mut child, signal, Duration::from_secs(5));
        drop(stdin);
        assert!(status.success(), "{status:?}");
        assert!(err.contains("-: interrupted"), "{err}");
        let syns = if sent == bytes.len() { 1 } else { 0 };
        assert!(
            err.contains(&format!("records:             {syns} syn")),
            "{err}"
        );
    }
}

/// `--format p0f -o LOG` appends to the log, as p0f's `-o` does; the other
/// formats replace their file.
#[test]
fn the_p0f_log_is_appended_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = write_capture(
        &dir,
        "s.pcap",
        &[Stack::Linux.syn(v4(10), 40010, v4(11), 443, 1)],
    );
    let pcap = pcap.to_str().expect("utf-8");
    let log = dir.path().join("p0f.log");
    let log_s = log.to_str().expect("utf-8");
    std::fs::write(&log, "earlier line\n").expect("write");
    for _ in 0..2 {
        let o = synprint(&["analyze", "-f", "p0f", "-o", log_s, pcap], None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.starts_with("earlier line\n"), "{text}");
    assert_eq!(text.matches("] mod=syn|").count(), 2, "{text}");
    let o = synprint(&["analyze", "-f", "jsonl", "-o", log_s, pcap], None);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&log).expect("log");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// A labels file that cannot be read, or is not a labels CSV, fails the
/// run before the output file is opened: yesterday's output stays.
#[test]
fn bad_labels_keep_the_output_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = write_capture(
        &dir,
        "s.pcap",
        &[Stack::Linux.syn(v4(10), 40010, v4(11), 443, 1)],
    );
    let out = dir.path().join("yesterday.jsonl");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "no,columns,here\n1,2,3\n").expect("write");
    let missing = dir.path().join("missing.csv");
    for labels in [&bad, &missing] {
        std::fs::write(&out, "yesterday\n").expect("write");
        let o = synprint(
            &[
                "analyze",
                pcap.to_str().expect("utf-8"),
                "-o",
                out.to_str().expect("utf-8"),
                "--labels",
                labels.to_str().expect("utf-8"),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{labels:?}");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "yesterday\n");
    }
}

/// Ctrl-C (or SIGTERM) while reading capture files ends the run with the
/// summary and status 130, so a script does not take the records for the
/// whole files'. (A stream, above, ends that way normally: status 0.)
#[test]
fn interrupting_a_file_read_exits_130() {
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("syns.pcap");
    let syns: Vec<TcpPacket> = (0..10_000u32)
        .map(|i| Stack::Linux.syn(v4(10), 1024 + (i % 60_000) as u16, v4(11), 443, i))
        .collect();
    std::fs::write(&path, capture(&syns)).expect("write");
    // The same file 5,000 times: 50 million packets, more than any machine
    // reads in the time before the signal.
    let name = path.to_str().expect("utf-8");
    let mut child = signals::synprint()
        .args(["analyze", "--format", "none"])
        .args(std::iter::repeat_n(name, 5_000))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run synprint");
    std::thread::sleep(Duration::from_millis(300));
    let (status, err) = signal_and_wait(&mut child, libc::SIGINT, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains(&format!("{name}: interrupted")), "{err}");
}

/// `analyze --format jsonl` of several MiB of records (far more than a
/// pipe holds) into a pipe; the directory of its capture.
fn jsonl_of_many_syns_to_a_pipe() -> (std::process::Child, tempfile::TempDir) {
    let syns: Vec<TcpPacket> = (0..4000u32)
        .map(|i| Stack::Linux.syn(v4(1), 1024 + (i % 60_000) as u16, v4(2), 443, i))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.pcap");
    std::fs::write(&path, capture(&syns)).expect("write");
    let child = signals::synprint()
        .args(["analyze", "--format", "jsonl"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run synprint");
    (child, dir)
}

/// SIGTERM while the records' reader is not reading (`| less` left open, a
/// stalled consumer) still ends the run, with the summary: the blocked
/// write is given up rather than retried until the reader reads.
#[test]
fn a_stop_while_the_output_is_blocked_ends_the_run() {
    use std::time::Duration;

    let (mut child, _dir) = jsonl_of_many_syns_to_a_pipe();
    // Held open and never read.
    let _stdout = child.stdout.take();
    std::thread::sleep(Duration::from_millis(500));
    let (status, err) = signal_and_wait(&mut child, libc::SIGTERM, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("standard output: not read when the stop came"),
        "{err}"
    );
    assert!(err.contains("packets read:"), "{err}");
}

/// A reader that pauses for 2 s around the stop (`| gzip` on a slow disk)
/// still gets every record made, each line whole.
#[test]
fn a_reader_pausing_at_the_stop_gets_whole_records() {
    use std::io::Read;
    use std::time::Duration;

    let (mut child, _dir) = jsonl_of_many_syns_to_a_pipe();
    let mut stdout = child.stdout.take().expect("stdout");
    std::thread::sleep(Duration::from_millis(500));
    send_signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(2));
    let mut out = String::new();
    stdout.read_to_string(&mut out).expect("records");
    let status = child.wait().expect("exit");
    assert_eq!(status.code(), Some(130));
    assert!(
        out.ends_with('\n'),
        "cut: {:?}",
        &out[out.len().saturating_sub(80)..]
    );
    for line in out.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).expect("a whole record");
        assert_eq!(rec["kind"], "syn");
    }
}

fn send_signal(child: &std::process::Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) takes no pointers; the pid is our unreaped child's.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Sends `signal` to `child` and waits at most `limit` for it to end:
/// its status and standard error.
fn signal_and_wait(
    child: &mut std::process::Child,
    signal: libc::c_int,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    send_signal(child, signal);
    let status = signals::wait_within(child, limit);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    (status, err)
}

/// `synprint analyze ... | head -1`: once the reader has gone, synprint
/// stops and exits successfully without an error about the broken pipe,
/// and says that the summary is of part of the capture.
#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader, Read};

    let (mut child, _dir) = jsonl_of_many_syns_to_a_pipe();
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first record");
    // The BufReader (and with it the pipe's read end) is dropped here.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("synprint finishes");
    let rec: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(rec["kind"], "syn");
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    assert!(!stderr.to_lowercase().contains("pipe"), "{stderr}");
    assert!(
        stderr.contains("the records' reader went away; reading stopped"),
        "{stderr}"
    );
    // Every packet read is a SYN: the summary counts a record for each,
    // those still held for lookahead when the output failed included.
    let count = |prefix: &str| -> u64 {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(prefix))
            .expect(prefix);
        let digits = line[prefix.len()..].trim_start();
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().expect("a count")
    };
    assert_eq!(count("packets read:"), count("records:"), "{stderr}");
}

/// A connection whose client ACKs 40 ms after its SYN: p0f's uptime from
/// that ACK comes out as a text block and a p0f log line; JSON lines keep
/// one record per SYN and SYN+ACK.
#[test]
fn uptime_after_the_handshake_in_text_and_p0f_formats() {
    let mut syn = Stack::Linux.syn(v4(1), 40000, v4(2), 443, 1);
    assert!(
        syn.set_timestamp(7_000_000, 0),
        "the Linux SYN has timestamps"
    );
    let mut sa = TcpPacket::syn_ack_for(&syn);
    sa.options = OptionBytes::new()
        .mss(1460)
        .sok()
        .ts(9_000, 7_000_000)
        .nop()
        .ws(7)
        .0;
    let mut ack = TcpPacket::syn(v4(1), 40000, v4(2), 443);
    ack.flags = synprint::packet::flags::ACK;
    ack.seq = syn.seq.wrapping_add(1);
    ack.ack = sa.seq.wrapping_add(1);
    ack.options = OptionBytes::new().nop().nop().ts(7_000_040, 9_000).0;
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    for (ms, p) in [(0u64, &syn), (1, &sa), (40, &ack)] {
        w.write(
            Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000),
            &ethernet_frame(&p.ip_bytes()),
        )
        .expect("write");
    }
    let bytes = w.into_inner();

    let (out, _, _dir) = analyze_file("c.pcap", &bytes, "text");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(".-[ 192.0.2.1/40000 -> 192.0.2.2/443 (uptime) ]-")
            && text.contains("| client   = 192.0.2.1/40000")
            && text.contains("| uptime   = 0 days 1 hrs 56 min (modulo 49 days) (1000 Hz)")
            && text.contains("| raw_freq = 1000.00 Hz"),
        "{text}"
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("uptime after syn:    1 "), "{summary}");

    let (out, _, _dir) = analyze_file("c.pcap", &bytes, "p0f");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(
            "[2023/11/14 22:13:20] mod=uptime|cli=192.0.2.1/40000|srv=192.0.2.2/443|subj=cli\
             |uptime=0 days 1 hrs 56 min (modulo 49 days)|raw_freq=1000.00 Hz"
        ),
        "{log}"
    );

    let (out, _, _dir) = analyze_file("c.pcap", &bytes, "jsonl");
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["uptime"].is_null()), "{recs:?}");
}

/// Files given together are one stream (rotated files of one capture): a
/// SYN retransmitted after the first file's end makes no second record,
/// and the host's next SYN pairs its timestamp with the first file's.
#[test]
fn files_given_together_are_read_as_one_stream() {
    let with_ts = |port: u16, ts: u32| {
        let mut p = Stack::Linux.syn(v4(1), port, v4(2), 443, u32::from(port));
        p.options = OptionBytes::new().mss(1460).sok().ts(ts, 0).nop().ws(7).0;
        p
    };
    let syn = with_ts(40000, 1000);
    let later = with_ts(40001, 6000);
    let other = Stack::Windows.syn(v4(3), 50000, v4(2), 443, 9);
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, packets: &[(u64, &TcpPacket)]| {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
        for (secs, p) in packets {
            let ts = Timestamp((1_700_000_000 + secs) * 1_000_000_000);
            w.write(ts, &ethernet_frame(&p.ip_bytes())).expect("write");
        }
        let path = dir.path().join(name);
        std::fs::write(&path, w.into_inner()).expect("write file");
        path.display().to_string()
    };
    let first = write("part0.pcap", &[(0, &syn)]);
    let second = write("part1.pcap", &[(1, &syn), (2, &other), (5, &later)]);
    let out = synprint(&["analyze", "--format", "jsonl", &first, &second], None);
    assert!(out.status.success());
    let recs = records(&out);
    let ports: Vec<_> = recs.iter().map(|r| r["src_port"].clone()).collect();
    assert_eq!(ports, [40000, 50000, 40001], "{recs:?}");
    assert!(recs[2]["uptime"].is_object(), "{}", recs[2]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retransmissions:     1 syn"), "{err}");
}

/// `-o` naming an input (swapped arguments, a typo) is refused before the
/// output is created: it would empty the capture before reading it.
#[test]
fn output_that_is_an_input_is_refused() {
    let bytes = capture(&[Stack::Windows.syn(v4(1), 50000, v4(2), 443, 1)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.pcap");
    std::fs::write(&path, &bytes).expect("write");
    let p = path.to_str().expect("utf-8");
    // The same file by another name, too.
    let other = format!("{}/./in.pcap", dir.path().display());
    for out in [p, other.as_str()] {
        // `-f none` writes no record, but `-o` would still empty the file.
        for format in ["jsonl", "none"] {
            let o = synprint(&["analyze", "-f", format, "-o", out, p], None);
            assert!(!o.status.success());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("is also an input"), "{err}");
            assert_eq!(std::fs::read(&path).expect("still there"), bytes);
        }
    }
    // And standard input redirected from the output file.
    let o = signals::synprint()
        .args(["analyze", "-o", p, "-"])
        .stdin(std::fs::File::open(&path).expect("open"))
        .output()
        .expect("run synprint");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is also an input (standard input)"), "{err}");
    assert_eq!(std::fs::read(&path).expect("still there"), bytes);
    // And standard output appended to an input (`>> in.pcap`), for the
    // records and for the inventory; `-f none` writes nothing there.
    let appending = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open")
    };
    for args in [
        &["analyze", p][..],
        &["analyze", "-f", "none", "--inventory", "-", p][..],
    ] {
        let o = signals::synprint()
            .args(args)
            .stdout(appending())
            .output()
            .expect("run synprint");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("standard output: is also an input"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(&path).expect("still there"), bytes);
    }
    let o = signals::synprint()
        .args(["analyze", "-f", "none", p])
        .stdout(appending())
        .output()
        .expect("run synprint");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&path).expect("still there"), bytes);
    // So is naming the p0f database or the learned model read.
    let model = dir.path().join("m.toml");
    let model_text = synprint::classify::ModelFile::empty_learned().to_toml();
    std::fs::write(&model, &model_text).expect("write model");
    let db = dir.path().join("p0f.fp");
    let db_text = include_str!("../data/p0f.fp");
    std::fs::write(&db, db_text).expect("write p0f.fp");
    for (flag, file, text) in [
        ("--model", &model, &model_text),
        ("--p0f-db", &db, &db_text.to_string()),
    ] {
        let f = file.to_str().expect("utf-8");
        let o = synprint(&["analyze", flag, f, "-o", f, p], None);
        assert!(!o.status.success(), "{flag}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("is also an input"), "{flag}: {err}");
        assert_eq!(&std::fs::read_to_string(file).expect("still there"), text);
    }
    // A different output file is written as usual.
    let out = dir.path().join("out.jsonl");
    let o = synprint(&["analyze", "-o", out.to_str().expect("utf-8"), p], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&out)
        .expect("output")
        .contains("\"kind\":\"syn\""));
}

/// `-o FILE` reserves the file's blocks ahead of the writes and gives back
/// what it did not write when the run ends: the file holds its records
/// and no more blocks than they need (without the release, 8 MiB stay
/// allocated past the end).
#[test]
fn output_files_keep_no_reserved_blocks_after_the_run() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_capture(&dir, "in.pcap", &many_syns(1));
    let out = dir.path().join("out.jsonl");
    let o = synprint(
        &[
            "analyze",
            "-o",
            out.to_str().expect("utf-8"),
            path.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = std::fs::metadata(&out).expect("output");
    let text = std::fs::read_to_string(&out).expect("output");
    assert_eq!(text.lines().count(), 1);
    assert_eq!(m.len(), text.len() as u64);
    assert!(
        m.blocks() * 512 <= m.len() + (64 << 10),
        "{} bytes allocated for {}",
        m.blocks() * 512,
        m.len()
    );
}

/// A small ext4 file system on a loop device, mounted for one test and
/// unmounted when dropped; `None` (with the reason said) where this
/// machine cannot make one (not root, no mkfs.ext4, no loop devices).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        if !synprint::sys::is_root() {
            skipped("a loop-mounted file system needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mount point");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(u64::from(mib) << 20))
            .expect("image");
        let ok = |cmd: &mut Command| {
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(Command::new("mkfs.ext4").arg("-q").arg(&image)) {
            skipped("mkfs.ext4 is missing or failed");
            return None;
        }
        if !ok(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mnt))
        {
            skipped("cannot mount a loop device here");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

/// `synprint analyze --format jsonl -o FILE` over `syns` Windows SYNs,
/// FILE on a fresh 16 MiB ext4 disk (13 MiB free) that another file of
/// `taken_mib` already fills in part: what it wrote, next to what a run to
/// standard output writes.
struct SmallDiskRun {
    run: Output,
    whole: Vec<u8>,
    written: Vec<u8>,
    size: u64,
    allocated: u64,
}

fn jsonl_onto_a_small_disk(syns: u16, taken_mib: usize) -> Option<SmallDiskRun> {
    use std::os::unix::fs::MetadataExt;
    let disk = SmallDisk::mount(16)?;
    std::fs::write(disk.path().join("taken"), vec![1u8; taken_mib << 20]).expect("fill");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_capture(&dir, "in.pcap", &many_syns(syns));
    let input = input.to_str().expect("utf-8");
    let whole = synprint(&["analyze", "--format", "jsonl", input], None);
    assert!(whole.status.success());
    let out = disk.path().join("out.jsonl");
    let run = synprint(
        &[
            "analyze",
            "--format",
            "jsonl",
            "-o",
            out.to_str().expect("utf-8"),
            input,
        ],
        None,
    );
    let m = std::fs::metadata(&out).expect("output");
    Some(SmallDiskRun {
        run,
        whole: whole.stdout,
        written: std::fs::read(&out).expect("output"),
        size: m.len(),
        allocated: m.blocks() * 512,
    })
}

/// The run onto a small disk succeeds, with every byte a normal run
/// writes and no block reserved past the file's end.
fn assert_all_written_and_given_back(syns: u16, taken_mib: usize) {
    let Some(r) = jsonl_onto_a_small_disk(syns, taken_mib) else {
        return;
    };
    assert!(
        r.run.status.success(),
        "{}",
        String::from_utf8_lossy(&r.run.stderr)
    );
    assert!(r.written == r.whole);
    assert!(
        r.allocated <= r.size + 4096,
        "{} bytes allocated for {}",
        r.allocated,
        r.size
    );
}

/// A reservation that no longer fits (the next 8 MiB, on a disk with
/// less left) fails, but ext4 keeps what it allocated before failing:
/// the run still writes every record and gives those blocks back.
#[test]
fn a_reservation_that_no_longer_fits_is_given_back() {
    // About 10 MB of JSON: past the first 8 MiB reservation, and less than
    // the disk holds, but not 8 MiB more.
    assert_all_written_and_given_back(9_000, 0);
}

/// The same where not even the first reservation fits (6 MiB left): it
/// fails at once, having allocated most of what was left, and that is
/// given back too.
#[test]
fn a_first_reservation_that_does_not_fit_is_given_back() {
    // About 3 MB of JSON.
    assert_all_written_and_given_back(2_500, 7);
}

/// A disk that fills: the run ends with the error, said once, and its
/// summary; every byte written before the cut is as a normal run writes
/// it.
#[test]
fn a_filling_disk_keeps_the_records_before_the_cut() {
    // About 17 MB of JSON: more than the disk holds.
    let Some(r) = jsonl_onto_a_small_disk(16_000, 0) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&r.run.stderr);
    assert_eq!(r.run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
    assert!(stderr.contains("packets read:"), "{stderr}");
    assert!(r.written.len() > 8 << 20, "{} bytes", r.written.len());
    assert!(r.written.len() < r.whole.len(), "the disk filled");
    assert!(r.whole.starts_with(&r.written), "bytes before the cut");
}

/// A failed write names the output, not only the reason.
#[test]
fn a_failed_write_names_the_output() {
    if !Path::new("/dev/full").exists() {
        skipped("no /dev/full");
        return;
    }
    let bytes = capture(&[Stack::Windows.syn(v4(1), 50000, v4(2), 443, 1)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.pcap");
    std::fs::write(&path, &bytes).expect("write");
    let o = synprint(
        &["analyze", "-o", "/dev/full", path.to_str().expect("utf-8")],
        None,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/dev/full: No space left on device"), "{err}");
}

/// `--duration` says what it takes: more than zero seconds.
#[test]
fn a_duration_of_zero_is_refused_with_the_range() {
    for d in ["0", "-1", "nan", "1e12"] {
        let arg = format!("--duration={d}");
        let o = synprint(&["analyze", "--interface", "lo", &arg], None);
        assert!(!o.status.success(), "{d}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("above 0 and up to a century"), "{d}: {err}");
    }
}

/// `--p0f-db` with a file that is not a p0f.fp: an empty one, a binary
/// one or an endless one, is an error naming the file, not a run where nothing matches.
#[test]
fn a_p0f_db_that_is_not_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("in.pcap");
    let bytes = capture(&[Stack::Windows.syn(v4(1), 50000, v4(2), 443, 1)]);
    std::fs::write(&pcap, &bytes).expect("write");
    let empty = dir.path().join("empty.fp");
    std::fs::write(&empty, "; only a comment\n\n").expect("write");
    // An endless file is refused at the bound, not read into memory.
    let cases = [
        (empty, "no signatures".to_string()),
        (pcap.clone(), "NUL byte".to_string()),
        ("/dev/zero".into(), "larger than 16 MiB".to_string()),
        (
            dir.path().join("missing.fp"),
            "cannot read p0f database".to_string(),
        ),
    ];
    for (db, expected) in cases {
        let db = db.to_str().expect("utf-8").to_string();
        let o = synprint(
            &["analyze", "--p0f-db", &db, pcap.to_str().expect("utf-8")],
            None,
        );
        assert!(!o.status.success(), "{db}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("{db}: ")), "{err}");
        assert!(err.contains(&expected), "{err}");
    }
}

/// Frames of a link type synprint does not read are named by their link
/// type after the records, not only counted: a pcapng whose second
/// interface is USB (LINKTYPE 189) still gives the Ethernet interface's
/// SYN. A file of link types it reads gets no such note.
#[test]
fn link_types_it_does_not_read_are_named() {
    use synprint::capture::{ByteOrder, PcapngInterface, PcapngWriter};
    let mut w = PcapngWriter::new(Vec::new(), ByteOrder::Little).expect("section");
    let eth = w
        .add_interface(PcapngInterface::new(LinkType::ETHERNET))
        .expect("interface");
    let usb = w
        .add_interface(PcapngInterface::new(LinkType(189)))
        .expect("interface");
    let syn = Stack::Linux.syn(v4(7), 40000, v4(1), 443, 1);
    let ts = Timestamp(1_700_000_000_000_000_000);
    w.write(eth, ts, &ethernet_frame(&syn.ip_bytes()))
        .expect("write");
    for _ in 0..3 {
        w.write(usb, ts, &[0u8; 48]).expect("write");
    }
    let (out, path, _dir) = analyze_file("usb.pcapng", &w.into_inner(), "jsonl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(records(&out).len(), 1);
    assert!(
        err.contains(&format!(
            "{}: synprint does not read link type 189 ",
            path.display()
        )) && err.contains("3 frames skipped as unknown_link_type"),
        "{err}"
    );

    let (out, _, _dir) = analyze_file("eth.pcap", &capture(&[syn]), "jsonl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("does not read"), "{err}");
}

/// `--capture-port` keeps a file's records to one server port, as p0f's
/// `port 443` filter does: SYNs to it and SYN+ACKs from it; the others are
/// counted, not dropped without a word.
#[test]
fn capture_port_keeps_one_port_of_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let to_443 = Stack::Linux.syn(v4(10), 40010, v4(11), 443, 1);
    let to_80 = Stack::Windows.syn(v4(12), 40012, v4(11), 80, 2);
    // A client whose own port is 443 talks to port 22: not kept.
    let from_443 = Stack::MacOs.syn(v4(13), 443, v4(11), 22, 3);
    let packets = [
        TcpPacket::syn_ack_for(&to_443),
        TcpPacket::syn_ack_for(&to_80),
        TcpPacket::syn_ack_for(&from_443),
        to_443,
        to_80,
        from_443,
    ];
    let pcap = write_capture(&dir, "ports.pcap", &packets);
    let pcap = pcap.to_str().expect("utf-8");
    let o = synprint(
        &["analyze", "-f", "jsonl", "--capture-port", "443", pcap],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kept: Vec<(String, u64, u64)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).expect("JSON");
            let port = |k: &str| r[k].as_u64().expect("port");
            (
                r["kind"].as_str().expect("kind").to_string(),
                port("src_port"),
                port("dst_port"),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("syn_ack".to_string(), 443, 40010),
            ("syn".to_string(), 40010, 443)
        ]
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other ports:         4 syn or syn_ack (no record)"),
        "{err}"
    );
    // Without it, all six.
    let o = synprint(&["analyze", "-f", "jsonl", pcap], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 6);
}

/// Standard input can be read once: `-` given twice is refused before
/// anything is read (the second was an empty input and a failed run).
#[test]
fn standard_input_given_twice_is_refused() {
    let bytes = capture(&[Stack::Linux.syn(v4(10), 40010, v4(11), 443, 1)]);
    for args in [
        &["analyze", "-", "-"][..],
        &[
            "learn", "--pcap", "-", "-", "--labels", "l.csv", "--model", "m.toml",
        ],
        &["eval", "--pcap", "-", "--pcap", "-", "--labels", "l.csv"],
    ] {
        let o = synprint(args, Some(&bytes));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("`-` (standard input) is given twice"), "{err}");
        assert!(o.stdout.is_empty());
    }
}

/// Not one capture opens (a mistyped name, a directory): the run fails
/// before the output file is opened, naming each, and yesterday's output
/// stays. One that opens among them is a run (see
/// `a_file_that_cannot_be_opened_does_not_stop_the_run`).
#[test]
fn no_capture_that_opens_keeps_the_output_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("yesterday.jsonl");
    std::fs::write(&out, "yesterday\n").expect("write");
    let typo = dir.path().join("dump.pcpa");
    let o = synprint(
        &[
            "analyze",
            typo.to_str().expect("utf-8"),
            dir.path().to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "yesterday\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("no capture could be opened: {}: ", typo.display()))
            && err.contains(&format!("; {}: ", dir.path().display())),
        "{err}"
    );
}

/// A hang-up whose terminal is gone: standard error cannot be written, and
/// the run still ends as a stop does (records in the file, status 0 for a
/// stream) instead of a panic on its "interrupted" line. Under `nohup`
/// (SIGHUP ignored) a hang-up does not stop it at all.
#[test]
fn a_hang_up_stops_cleanly_or_not_at_all() {
    use std::time::Duration;

    let bytes = capture(&[Stack::Linux.syn(v4(10), 40010, v4(11), 443, 10)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    let start = |under_nohup| {
        let args = [
            "analyze".as_ref(),
            "--format".as_ref(),
            "jsonl".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            "-".as_ref(),
        ];
        let fed = fed(&args, &bytes, under_nohup);
        std::thread::sleep(Duration::from_millis(300));
        fed
    };

    let (mut child, stdin) = start(false);
    // Standard error's reader goes away, as a closed terminal does.
    drop(child.stderr.take());
    send_signal(&child, libc::SIGHUP);
    let status = signals::wait_within(&mut child, Duration::from_secs(5));
    drop(stdin);
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = std::fs::read_to_string(&out).expect("records");
    assert_eq!(text.lines().count(), 1, "{text}");

    let (mut child, stdin) = start(true);
    send_signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "stopped by an ignored SIGHUP"
    );
    let (status, err) = signal_and_wait(&mut child, libc::SIGINT, Duration::from_secs(5));
    drop(stdin);
    assert!(status.success(), "{status:?}");
    assert!(err.contains("-: interrupted"), "{err}");
}

/// synprint started with `args` (SIGINT, SIGTERM and SIGHUP at their
/// defaults, or SIGHUP ignored `under_nohup`), `bytes` written to its
/// standard input, which stays open (as a live `tcpdump -w -` keeps it)
/// until the caller drops it.
fn fed(
    args: &[&std::ffi::OsStr],
    bytes: &[u8],
    under_nohup: bool,
) -> (std::process::Child, std::process::ChildStdin) {
    let mut cmd = match under_nohup {
        true => signals::synprint_under_nohup(),
        false => signals::synprint(),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run synprint");
    let mut stdin = child.stdin.take().expect("stdin");
    // A run refused before it reads (bad arguments) closes its end.
    match stdin.write_all(bytes).and_then(|()| stdin.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("feed: {e}"),
        _ => (child, stdin),
    }
}

//! `synprint analyze --interface`: the binary capturing this machine's own
//! loopback connections, to a listener this test opens (its port is the
//! capture filter, so other tests' traffic stays out). Needs root for the
//! AF_PACKET socket; skips with a message otherwise.

mod signals;
mod skipped;
use skipped::skipped;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod kernel;

fn root() -> bool {
    if !synprint::sys::is_root() {
        skipped("live capture needs root (CAP_NET_RAW)");
        return false;
    }
    kernel::packet_sockets_allowed()
}

/// The capture is killed when the returned handle is dropped, so a failed
/// assertion leaves none running.
fn spawn(args: &[&str]) -> (signals::KillOnDrop, ChildStdout, ChildStderr) {
    let mut child = signals::synprint()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run synprint");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    (signals::KillOnDrop(child), out, err)
}

/// Lines of `reader` as they come, from a thread.
fn lines(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn next_line(rx: &mpsc::Receiver<String>, what: &str) -> String {
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("no {what} within 20 s: {e}"))
}

fn interrupt(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) takes no pointers; the pid is our own child's,
    // not yet reaped.
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "kill");
}

/// `analyze` capturing `port` on loopback as JSON lines: the child and its
/// output and error lines.
fn capture_lo_jsonl(
    port: u16,
) -> (
    signals::KillOnDrop,
    mpsc::Receiver<String>,
    mpsc::Receiver<String>,
) {
    let port = port.to_string();
    let (child, out, err) = spawn(&[
        "analyze",
        "--interface",
        "lo",
        "--capture-port",
        &port,
        "--format",
        "jsonl",
    ]);
    (child, lines(out), lines(err))
}

/// Records stream out while the capture runs, one per SYN and SYN+ACK
/// (loopback shows each packet leaving and arriving: still one record,
/// and no retransmission), over IPv4 and IPv6, from a process that gave
/// up CAP_NET_RAW once its capture was open; Ctrl-C ends it with the
/// summary and status 0.
#[test]
fn records_stream_out_until_interrupted() {
    if !root() {
        return;
    }
    let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (mut child, out, err) = capture_lo_jsonl(port);
    let banner = next_line(&err, "start-up line");
    assert_eq!(
        banner,
        format!("capturing on lo, port {port}; Ctrl-C stops")
    );
    // Its capture open, it holds no CAP_NET_RAW (root keeps the rest).
    for status in signals::thread_statuses(&child) {
        let (permitted, effective, inheritable, ambient) = signals::capabilities(&status);
        let held = permitted | effective | inheritable | ambient;
        assert_eq!(held & 1 << synprint::sys::CAP_NET_RAW, 0, "{status}");
    }

    let targets: [SocketAddr; 3] = [
        ([127, 0, 0, 1], port).into(),
        (Ipv6Addr::LOCALHOST, port).into(),
        ([127, 0, 0, 1], port).into(),
    ];
    let mut seen = Vec::new();
    for target in targets {
        let client = TcpStream::connect(target).expect("connect");
        let (_server, _) = listener.accept().expect("accept");
        let client_port = client.local_addr().expect("local").port();
        // Both records of this connection arrive before the next one is
        // opened: the capture is live, not written at the end.
        for kind in ["syn", "syn_ack"] {
            let line = next_line(&out, "record");
            let rec: serde_json::Value = serde_json::from_str(&line).expect("JSON record");
            assert_eq!(rec["kind"], kind, "{line}");
            let (from, to) = if kind == "syn" {
                (client_port, port)
            } else {
                (port, client_port)
            };
            assert_eq!(rec["src_port"], from, "{line}");
            assert_eq!(rec["dst_port"], to, "{line}");
            assert_eq!(rec["ip_version"], if target.is_ipv4() { 4 } else { 6 });
            assert!(rec["p0f"]["raw_sig"].is_string(), "{line}");
            assert_eq!(rec["classification"]["family"], "Linux", "{line}");
        }
        seen.push(client_port);
    }
    interrupt(&child);
    let status = signals::wait_within(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(
        out.recv_timeout(Duration::from_secs(5)).is_err(),
        "no more records"
    );
    let summary: Vec<String> = err.iter().collect();
    let summary = summary.join("\n");
    assert!(
        summary.contains("records:             3 syn, 3 syn_ack"),
        "{summary}"
    );
    assert!(
        summary.contains("retransmissions:     0 syn, 0 syn_ack"),
        "{summary}"
    );
    assert!(summary.contains("dropped (ring full)"), "{summary}");
}

/// `--filter` applies to a live capture too: of two connections, only the
/// IPv6 one makes records; the other is counted as filtered out.
#[test]
fn a_live_capture_keeps_what_the_filter_keeps() {
    if !root() {
        return;
    }
    let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let filter = format!("ip6 and port {port}");
    let (mut child, out, err) = spawn(&[
        "analyze",
        "--interface",
        "lo",
        "--filter",
        &filter,
        "--format",
        "jsonl",
    ]);
    let out = lines(out);
    let err = lines(err);
    let banner = next_line(&err, "start-up line");
    assert_eq!(
        banner,
        format!("capturing on lo, filter '{filter}'; Ctrl-C stops")
    );
    for target in [
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ] {
        let _client = TcpStream::connect(target).expect("connect");
        let _ = listener.accept().expect("accept");
    }
    for kind in ["syn", "syn_ack"] {
        let line = next_line(&out, "record");
        let rec: serde_json::Value = serde_json::from_str(&line).expect("JSON record");
        assert_eq!(
            (&rec["kind"], &rec["ip_version"]),
            (&kind.into(), &6.into()),
            "{line}"
        );
    }
    interrupt(&child);
    let status = signals::wait_within(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let summary = err.iter().collect::<Vec<String>>().join("\n");
    assert!(
        summary.contains("records:             1 syn, 1 syn_ack"),
        "{summary}"
    );
    // The IPv4 connection's, and whatever else crossed lo meanwhile.
    assert!(summary.contains("filtered out:        "), "{summary}");
}

/// Ctrl-C right after the last SYN loses nothing: what passed the kernel's
/// filter before the stop (here, in a block the kernel has not handed over
/// yet: it does so 10 ms after the block's first packet) is still read.
#[test]
fn a_stop_reads_what_the_kernel_already_passed() {
    if !root() {
        return;
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (mut child, out, err) = capture_lo_jsonl(port);
    next_line(&err, "start-up line");
    const N: usize = 20;
    let conns: Vec<_> = (0..N)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    interrupt(&child);
    let status = signals::wait_within(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    drop(conns);
    let records = out.iter().count();
    let summary = err.iter().collect::<Vec<_>>().join("\n");
    assert_eq!(records, 2 * N, "{summary}");
    assert!(
        summary.contains(&format!("records:             {N} syn, {N} syn_ack")),
        "{summary}"
    );
}

/// A reader of the records that stops reading holds the capture up; at a
/// stop, what the kernel passed and the ring still held is not read (the
/// stop gives a stalled output three seconds), and the summary says how
/// much, beside the kernel's own counts.
#[test]
fn packets_left_in_the_ring_at_a_stop_are_counted() {
    if !root() {
        return;
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("hosts.jsonl");
    let (mut child, _unread_stdout, err) = spawn(&[
        "analyze",
        "--interface",
        "lo",
        "--capture-port",
        &port.to_string(),
        "--format",
        "jsonl",
        "--inventory",
        inventory.to_str().expect("utf-8"),
    ]);
    let err = lines(err);
    next_line(&err, "start-up line");
    // About 1 KB a record: a pipe of 64 KiB holds a few dozen.
    for _ in 0..2000 {
        drop(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    }
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    signals::wait_within(&mut child, Duration::from_secs(20));
    let summary = err.iter().collect::<Vec<_>>().join("\n");
    let kernel = summary
        .lines()
        .find(|l| l.starts_with("kernel:"))
        .unwrap_or_else(|| panic!("no kernel line: {summary}"));
    let numbers: Vec<u64> = kernel
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [passed, dropped, unread] = numbers[..] else {
        panic!("passed, dropped, unread: {kernel}");
    };
    assert!(
        kernel.ends_with("still in the ring when the capture stopped (not read)"),
        "{kernel}"
    );
    let read: u64 = summary
        .lines()
        .find_map(|l| l.strip_prefix("packets read:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("packets read: {summary}"));
    // A SYN and a SYN+ACK each connection (the kernel counts its drops
    // among the packets passed).
    assert!(passed >= 2 * 2000, "{kernel}");
    assert!(unread > 0 && read + unread <= passed - dropped, "{summary}");
    // The inventory lists what was read, and says why not more.
    assert!(
        summary.contains("of the packets read before the records' reader stopped reading"),
        "{summary}"
    );
}

/// --duration stops a capture that saw nothing, with its summary.
#[test]
fn duration_ends_the_capture() {
    if !root() {
        return;
    }
    // A port nothing listens on: no SYN reaches the filter.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
        .to_string();
    let started = Instant::now();
    let (mut child, out, err) = spawn(&[
        "analyze",
        "-i",
        "lo",
        "--capture-port",
        &port,
        "--duration",
        "0.5",
    ]);
    let status = signals::wait_within(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    let mut text = String::new();
    BufReader::new(err)
        .read_to_string(&mut text)
        .expect("stderr");
    assert!(
        text.contains("records:             0 syn, 0 syn_ack"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "capturing on lo, port {port}; stops after 0.5 s, or at Ctrl-C"
        )),
        "{text}"
    );
    let mut records = String::new();
    BufReader::new(out)
        .read_to_string(&mut records)
        .expect("stdout");
    assert_eq!(records, "");
}

/// A capture that exists, for refusals that must be about the arguments
/// (a missing file is refused with the same exit status).
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/linux-loopback.pcap");

/// Refusals before any capture: an unknown interface (named), files and an
/// interface together, a capture option without an interface, a duration
/// that is not a positive number. No root needed.
#[test]
fn bad_live_arguments_are_refused() {
    let run = |args: &[&str]| {
        signals::synprint()
            .args(args)
            .output()
            .expect("run synprint")
    };
    let out = run(&["analyze", "-i", "synprint-nonexistent0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no network interface named `synprint-nonexistent0`"),
        "{err}"
    );
    // A capture that exists and an inventory path that can be written:
    // refused for the arguments, not for a file.
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("hosts.jsonl");
    let inventory = inventory.to_str().expect("a UTF-8 path");
    for args in [
        &["analyze", "-i", "lo", SAMPLE][..],
        &["analyze", "--duration", "5", SAMPLE],
        &["analyze", "--capture-tunnels", SAMPLE],
        &["analyze", "-i", "lo", "--duration", "-1"],
        &["analyze", "-i", "lo", "--duration", "soon"],
        &["analyze", "-i", "lo", "--duration", "1e19"],
        // Switching user is for a live capture, and to a user that exists.
        &["analyze", "--user", "root", SAMPLE],
        &["analyze", "-i", "lo", "--user", "no-such-user-synprint"],
        &["analyze", "-i", "lo", "--user", "root"],
        // Rewriting an inventory on the way is for a live capture's file.
        &[
            "analyze",
            "--inventory",
            inventory,
            "--inventory-every",
            "5",
            SAMPLE,
        ],
        &[
            "analyze",
            "-i",
            "lo",
            "-f",
            "none",
            "--inventory",
            "-",
            "--inventory-every",
            "5",
        ],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

/// A capture that cannot open leaves an existing output file as it was.
#[test]
fn a_failed_start_keeps_the_output_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("yesterday.jsonl");
    std::fs::write(&out, "yesterday\n").expect("write");
    let status = signals::synprint()
        .args(["analyze", "-i", "synprint-nonexistent0", "-o"])
        .arg(&out)
        .stderr(Stdio::null())
        .status()
        .expect("run synprint");
    assert!(!status.success());
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "yesterday\n");
}

/// `--user`, as root: the capture is opened and the labels are read as
/// root (from a folder only root may enter), then the run is the user's:
/// every thread's ids, groups and capabilities, the output made by it, and
/// the capture still delivers. An inventory of root's in a sticky folder,
/// which the user may write but not replace, is rewritten in place. A
/// folder the user may not write to is refused naming the user, an
/// existing output there left as it was.
#[test]
fn a_live_capture_runs_as_the_user_it_is_told() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !root() {
        return;
    }
    let Some(nobody) = synprint::sys::account("nobody").expect("user lookup") else {
        skipped("this system has no user `nobody`");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let closed = tempfile::tempdir().expect("tempdir");
    let labels = closed.path().join("labels.csv");
    std::fs::write(&labels, "src_ip,src_port,os\n127.0.0.1,1,Linux\n").expect("labels");
    let dir = tempfile::tempdir().expect("tempdir");
    let mode = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    mode(closed.path(), 0o700);
    mode(dir.path(), 0o1777);
    let (out, inventory) = (
        dir.path().join("syns.jsonl"),
        dir.path().join("hosts.jsonl"),
    );
    std::fs::write(&inventory, "yesterday\n").expect("write");
    mode(&inventory, 0o666);
    let run = |out: &std::path::Path| {
        let mut cmd = signals::synprint();
        cmd.args(["analyze", "-i", "lo", "--capture-port", &port.to_string()])
            .args(["--user", "nobody", "--format", "jsonl", "--labels"])
            .arg(&labels)
            .arg("-o")
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    let mut child = run(&out)
        .arg("--inventory")
        .arg(&inventory)
        .spawn()
        .expect("run synprint");
    let err = lines(child.stderr.take().expect("stderr"));
    let mut child = signals::KillOnDrop(child);
    // Capturing is said once the capture is open and the outputs made.
    let said = next_line(&err, "the capture line");
    assert!(said.starts_with("capturing on lo"), "{said}");
    signals::assert_runs_as(&child, &nobody);
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let client_port = client.local_addr().expect("addr").port();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&out).unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "no record within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    let status = signals::wait_within(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    // Said, once: a reader may see the inventory half written.
    let said: Vec<String> = err.iter().collect();
    let in_place = said
        .iter()
        .filter(|l| l.contains("rewriting it in place"))
        .count();
    assert_eq!(in_place, 1, "{said:#?}");
    let text = std::fs::read_to_string(&out).expect("records");
    let record: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a record")).expect("JSON");
    assert_eq!(record["src_port"], client_port);
    let owner = |file: &std::path::Path| {
        let meta = std::fs::metadata(file).expect("made");
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner(&out), (nobody.uid, nobody.gid));
    assert_eq!(
        owner(&inventory),
        (0, 0),
        "replaced, not rewritten in place"
    );
    let hosts = std::fs::read_to_string(&inventory).expect("inventory");
    assert!(
        hosts.contains("127.0.0.1") && !hosts.contains("yesterday"),
        "{hosts}"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let yesterday = closed.path().join("yesterday.jsonl");
    std::fs::write(&yesterday, "yesterday\n").expect("write");
    let refused = run(&yesterday).output().expect("run synprint");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    let said = "yesterday.jsonl: Permission denied (os error 13) (after --user, files are made as \
                user `nobody`)";
    assert!(err.contains(said), "{err}");
    assert_eq!(
        std::fs::read_to_string(&yesterday).expect("read"),
        "yesterday\n"
    );
}

/// A network namespace with a veth pair, deleted on drop.
struct Netns(String);

impl Netns {
    /// A namespace for a test, or `None` with the reason printed (the test
    /// then skips).
    fn for_test() -> Option<Netns> {
        if !root() {
            return None;
        }
        let ns = Netns::create();
        if ns.is_none() {
            skipped("cannot create a network namespace with a veth pair");
        }
        ns
    }

    fn create() -> Option<Netns> {
        let name = format!("spl{}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name);
        let made = ip(&[
            "-n", &ns.0, "link", "add", "va", "type", "veth", "peer", "name", "vb",
        ]) && ip(&["-n", &ns.0, "link", "set", "va", "up"])
            && ip(&["-n", &ns.0, "link", "set", "vb", "up"]);
        made.then_some(ns)
    }

    fn ip(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .expect("ip");
        assert!(status.success(), "ip {args:?}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The link going down is waited out (said once), and the interface being
/// deleted ends the capture with an error naming it, instead of a loop
/// polling a socket that reports ENETDOWN for ever.
#[test]
fn link_down_is_waited_out_and_deletion_ends_the_capture() {
    let Some(ns) = Netns::for_test() else {
        return;
    };
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_synprint")])
        .args(["analyze", "-i", "vb", "-f", "jsonl"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run synprint in the namespace");
    let err = lines(child.stderr.take().expect("stderr"));
    assert_eq!(
        next_line(&err, "start-up line"),
        "capturing on vb; Ctrl-C stops"
    );
    ns.ip(&["link", "set", "vb", "down"]);
    assert_eq!(
        next_line(&err, "link-down line"),
        "synprint: capture on vb: the link is down; waiting for it"
    );
    ns.ip(&["link", "del", "va"]);
    let status = signals::wait_within(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        next_line(&err, "deletion line"),
        "synprint: capture on `vb`: the interface was deleted"
    );
}

/// `--promiscuous` holds the interface in promiscuous mode while the
/// capture runs (`analyze` and `serve`), and the kernel drops it when
/// synprint exits; without the flag the interface is left as it was. The
/// count is the kernel's own (`ip -d link`'s `promiscuity`).
#[test]
fn promiscuous_mode_lasts_as_long_as_the_capture() {
    let Some(ns) = Netns::for_test() else {
        return;
    };
    let promiscuity = || {
        let out = Command::new("ip")
            .args(["-n", &ns.0, "-d", "link", "show", "vb"])
            .output()
            .expect("ip link show");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let count = text
            .split_whitespace()
            .skip_while(|w| *w != "promiscuity")
            .nth(1)
            .and_then(|n| n.parse::<u32>().ok());
        count.unwrap_or_else(|| panic!("no promiscuity count in: {text}"))
    };
    assert_eq!(promiscuity(), 0);
    let analyze = ["analyze", "-i", "vb", "-f", "jsonl"];
    let serve = ["serve", "--listen", "0.0.0.0:0", "--interface", "vb"];
    let serve_filtered = [
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--interface",
        "vb",
        "--capture-port",
        "443",
        "--capture-filter",
        "ip6",
    ];
    for (args, promiscuous, started) in [
        (
            &analyze[..],
            true,
            "capturing on vb (promiscuous); Ctrl-C stops",
        ),
        (&analyze[..], false, "capturing on vb; Ctrl-C stops"),
        (
            &serve[..],
            true,
            "synprint serve: capturing SYNs on vb (promiscuous)",
        ),
        (
            &serve_filtered[..],
            false,
            "synprint serve: capturing SYNs on vb, port 443, filter 'ip6'",
        ),
    ] {
        let mut child = signals::with_default_stop_signals(&mut Command::new("ip"))
            .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_synprint")])
            .args(args)
            .args(promiscuous.then_some("--promiscuous"))
            .env_remove("SYNPRINT_API_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run synprint in the namespace");
        let err = lines(child.stderr.take().expect("stderr"));
        while next_line(&err, "start-up line") != started {}
        assert_eq!(promiscuity(), u32::from(promiscuous), "{args:?}");
        interrupt(&child);
        let status = signals::wait_within(&mut child, Duration::from_secs(20));
        assert!(status.success(), "{args:?}: {status:?}");
        assert_eq!(promiscuity(), 0, "after {args:?}");
    }
}

/// `any` cannot be made promiscuous: refused before any socket is opened,
/// so the message is the same with or without root.
#[test]
fn promiscuous_any_is_refused() {
    let out = signals::synprint()
        .args(["analyze", "-i", "any", "--promiscuous"])
        .output()
        .expect("run synprint");
    // Start-up errors exit with 2, as argument errors do.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("promiscuous mode needs a named interface"),
        "{err}"
    );
    // With a capture that exists: refused for the option, not the file.
    let out = signals::synprint()
        .args(["analyze", "--promiscuous", SAMPLE])
        .output()
        .expect("run synprint");
    assert_eq!(out.status.code(), Some(2));
}

/// `analyze -f none --inventory ARGS` capturing `port` on loopback, once it
/// has said it captures: the child and its output and error lines.
fn inventory_of_lo(
    port: u16,
    args: &[&str],
) -> (
    signals::KillOnDrop,
    mpsc::Receiver<String>,
    mpsc::Receiver<String>,
) {
    let port = port.to_string();
    let mut all = vec!["analyze", "-i", "lo", "--capture-port", &port];
    all.extend(["-f", "none", "--inventory"]);
    all.extend(args);
    let (child, out, err) = spawn(&all);
    let (out, err) = (lines(out), lines(err));
    next_line(&err, "start-up line");
    (child, out, err)
}

/// `--inventory -` of a live capture comes out when it stops: the hosts of
/// this machine's own loopback connections, client and server sides.
#[test]
fn the_inventory_of_a_live_capture_comes_at_its_stop() {
    if !root() {
        return;
    }
    let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (mut child, out, err) = inventory_of_lo(port, &["-"]);
    let targets: [SocketAddr; 3] = [
        ([127, 0, 0, 1], port).into(),
        (Ipv6Addr::LOCALHOST, port).into(),
        ([127, 0, 0, 1], port).into(),
    ];
    let conns: Vec<_> = targets
        .iter()
        .map(|t| TcpStream::connect(t).expect("connect"))
        .collect();
    interrupt(&child);
    let status = signals::wait_within(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    drop(conns);
    let hosts: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::from_str(&l).expect("a JSON host"))
        .collect();
    let summary = err.iter().collect::<Vec<_>>().join("\n");
    assert_eq!(hosts.len(), 2, "{hosts:?}\n{summary}");
    for (host, ip, n) in [(&hosts[0], "127.0.0.1", 2), (&hosts[1], "::1", 1)] {
        assert_eq!(host["ip"], ip, "{host}");
        assert_eq!(
            (&host["syns"], &host["syn_acks"]),
            (&n.into(), &n.into()),
            "{host}"
        );
        assert_eq!(host["server_ports"], serde_json::json!([port]), "{host}");
        assert_eq!(host["family"], "Linux", "{host}");
        assert_eq!(
            host["client_families"],
            serde_json::json!(["Linux"]),
            "{host}"
        );
        assert_eq!(host["hops"], 0, "{host}");
    }
    assert!(
        summary.contains("inventory:           2 hosts, to standard output"),
        "{summary}"
    );
}

/// `--inventory-every`: the file is rewritten while the capture runs, each
/// time whole (a reader polling it never sees half an inventory), and once
/// more at the stop. Where it cannot be replaced whole, it is rewritten in
/// place from then on, which stderr says once.
#[test]
fn the_inventory_file_is_rewritten_while_capturing() {
    if !root() {
        return;
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hosts.jsonl");
    let to = path.to_str().expect("utf-8");
    let (mut child, _out, err) = inventory_of_lo(port, &[to, "--inventory-every", "0.05"]);
    let hosts_now = || -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "half written: {text}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let mut conns = Vec::new();
    let started = Instant::now();
    let mut seen = 0;
    // Each new connection shows in a rewrite while the capture goes on.
    for n in 1..=3u64 {
        conns.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        loop {
            let hosts = hosts_now();
            if hosts.first().is_some_and(|h| h["syns"] == n) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{hosts:?}");
            seen += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(seen > 0, "the file was read before it held the connection");
    // Nothing new: ten more intervals pass without a rewrite.
    while hosts_now().first().is_none_or(|h| h["syn_acks"] != 3) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no third SYN+ACK"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A rewrite is a new file renamed over the old (whose inode number the
    // next may reuse): told by its modification time.
    let written = || {
        std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("inventory")
    };
    let before = written();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(written(), before, "an unchanged inventory was rewritten");
    // Where no file beside it can be made (every temporary name taken), it
    // is rewritten in place: the file under the name now, which is the
    // last rewrite's, not the one opened at the start, which has none.
    let blocked: Vec<_> = (0..16)
        .map(|n| {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let name = format!("hosts.jsonl.synprint-{}{suffix}", child.id());
            let blocked = dir.path().join(name);
            std::fs::create_dir(&blocked).expect("mkdir");
            blocked
        })
        .collect();
    let inode =
        || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("inventory"));
    let replaced = inode();
    for n in 4..=5 {
        conns.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        while hosts_now().first().is_none_or(|h| h["syns"] != n) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "SYN {n} never reached the file: {:?}",
                hosts_now()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(inode(), replaced, "rewritten in place, not replaced");
    for b in &blocked {
        std::fs::remove_dir(b).expect("rmdir");
    }
    assert!(child.try_wait().expect("wait").is_none(), "still capturing");
    interrupt(&child);
    let status = signals::wait_within(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    drop(conns);
    let hosts = hosts_now();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        (&hosts[0]["syns"], &hosts[0]["syn_acks"]),
        (&5.into(), &5.into())
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(leftovers, ["hosts.jsonl"], "no temporary file left");
    let summary = err.iter().collect::<Vec<_>>().join("\n");
    assert!(
        summary.contains("inventory:           1 host, to "),
        "{summary}"
    );
    assert_eq!(
        summary.matches("rewriting it in place").count(),
        1,
        "{summary}"
    );
}

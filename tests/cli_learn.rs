//! End-to-end: `synprint learn`, `synprint eval` and `analyze --labels` over
//! labelled captures this test builds.

mod skipped;
use skipped::skipped;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use synprint::capture::PcapWriter;
use synprint::craft::{ethernet_frame, Stack, TcpPacket};
use synprint::packet::{LinkType, Timestamp};

const WINDOWS_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const MAC_UA: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
const LINUX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// One desktop stack of each family, with its browser's User-Agent.
const THREE_STACKS: [(Stack, &str); 3] = [
    (Stack::Windows, WINDOWS_UA),
    (Stack::MacOs, MAC_UA),
    (Stack::Linux, LINUX_UA),
];

fn synprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synprint"))
        .args(args)
        .output()
        .expect("run synprint")
}

/// `synprint learn` over a capture and labels, into `model`.
fn learn(pcap: &str, labels: &str, model: &str) -> Output {
    synprint(&[
        "learn", "--pcap", pcap, "--labels", labels, "--model", model,
    ])
}

/// The JSON records `analyze --format jsonl` wrote.
fn records(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

fn addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// A capture of `n` SYNs per stack with a CSV labelling each by User-Agent.
fn labelled(dir: &Path, name: &str, rows: &[(Stack, &str)], n: u32) -> (String, String) {
    let mut syns = Vec::new();
    for round in 0..n {
        for &(stack, ua) in rows {
            let i = syns.len() as u32 + 1;
            let mut p = stack.syn(addr(i), 40000 + (i % 20000) as u16, SERVER, 443, i);
            p.ttl -= (round % 12) as u8;
            syns.push((p, ua));
        }
    }
    write_labelled(dir, name, &syns)
}

#[test]
fn a_linux_syn_with_a_windows_user_agent_is_a_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(
        dir.path(),
        "m",
        &[(Stack::Linux, WINDOWS_UA), (Stack::Windows, WINDOWS_UA)],
        1,
    );
    let out = synprint(&["analyze", "--format", "jsonl", "--labels", &labels, &pcap]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["verdict"]["ua_os"], "Windows");
    assert_eq!(recs[0]["verdict"]["os_mismatch"], true, "{}", recs[0]);
    assert_eq!(recs[1]["verdict"]["os_mismatch"], false, "{}", recs[1]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "labels:              2 SYNs judged (2 labelled connections, 0 of them matched no SYN)"
        ),
        "{err}"
    );
    assert!(
        err.contains("os_mismatch: 1 true, 1 false, 0 null"),
        "{err}"
    );
    assert!(!err.contains("no SYN matched"), "{err}");
}

const ANDROID_UA: &str = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";

/// A proxy's SYN from client `i`: initial TTL 255 and an MSS option alone,
/// as no client stack sends it.
fn proxy_syn(i: u32) -> TcpPacket {
    let mut proxy = Stack::Windows.syn(addr(i), 40000 + i as u16, SERVER, 443, i);
    (proxy.ttl, proxy.window) = (250, 4380);
    proxy.options = synprint::craft::OptionBytes::new().mss(1460).0;
    proxy
}

/// `rows` as `name.pcap` and `name.csv` labelling each SYN with its
/// User-Agent (and a column `learn` and `eval` must ignore); their paths.
fn write_labelled(dir: &Path, name: &str, rows: &[(TcpPacket, &str)]) -> (String, String) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    let mut csv = String::from("src_ip,src_port,user_agent,extra\n");
    for (i, (p, ua)) in rows.iter().enumerate() {
        let at = Timestamp(1_000_000 * (i as u64 + 1));
        w.write(at, &ethernet_frame(&p.ip_bytes())).expect("write");
        csv.push_str(&format!("{},{},\"{ua}\",x\n", p.src, p.src_port));
    }
    let (pcap, labels) = (
        dir.join(format!("{name}.pcap")),
        dir.join(format!("{name}.csv")),
    );
    std::fs::write(&pcap, w.into_inner()).expect("write pcap");
    std::fs::write(&labels, csv).expect("write csv");
    (pcap.display().to_string(), labels.display().to_string())
}

/// Devices' SYNs under an Android User-Agent. A router's: the same
/// family, so no mismatch, but a device opened the connection. A proxy's
/// (initial TTL 255, a layout no client stack sends): nothing of the
/// client to judge. A phone's own SYN is neither.
#[test]
fn devices_syns_under_a_phones_user_agent_are_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    // synprint's embedded preset: window 14600 (MSS 1460 * 10), scale 2.
    let router = Stack::Embedded.syn(addr(1), 40001, SERVER, 443, 1);
    let phone = Stack::Android.syn(addr(2), 40002, SERVER, 443, 2);
    let rows = [router, phone, proxy_syn(3)].map(|p| (p, ANDROID_UA));
    let (pcap, labels) = write_labelled(dir.path(), "r", &rows);
    let out = Command::new(env!("CARGO_BIN_EXE_synprint"))
        .args(["analyze", "--format", "jsonl", "--labels"])
        .args([&labels, &pcap])
        .output()
        .expect("run synprint");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    let v = |i: usize| &recs[i]["verdict"];
    assert_eq!(recs[0]["classification"]["os"], "embedded", "{}", recs[0]);
    assert_eq!(v(0)["os_mismatch"], false, "{}", recs[0]);
    // (embedded_suspected, middlebox_suspected) of the router, the phone
    // and the proxy.
    for (i, flags) in [(true, false), (false, false), (false, true)]
        .into_iter()
        .enumerate()
    {
        let v = v(i);
        let got = (&v["embedded_suspected"], &v["middlebox_suspected"]);
        assert_eq!(got, (&flags.0.into(), &flags.1.into()), "{}", recs[i]);
    }
    assert!(v(2)["os_mismatch"].is_null(), "{}", recs[2]);
    assert!(
        err.contains("embedded_suspected: 1 (a router's or IoT device's stack under")
            && err.contains("middlebox_suspected: 1 (a proxy"),
        "{err}"
    );
}

/// `learn --skip-suspected` leaves out the SYNs whose verdict says they
/// are not the labelled client's own stack, judged with what the model
/// being added to knows; without it they are learned as labelled.
#[test]
fn learning_can_leave_out_suspected_syns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let suspects = [
        (
            Stack::Embedded.syn(addr(4), 40004, SERVER, 443, 4),
            ANDROID_UA,
        ),
        (proxy_syn(5), WINDOWS_UA),
        (Stack::Linux.syn(addr(6), 40006, SERVER, 443, 6), WINDOWS_UA),
    ];
    let honest = THREE_STACKS.iter().enumerate().map(|(i, &(stack, ua))| {
        (
            stack.syn(addr(i as u32 + 1), 40001 + i as u16, SERVER, 443, 1),
            ua,
        )
    });
    let write = |name: &str, rows: &[(TcpPacket, &str)]| write_labelled(dir.path(), name, rows);
    let all: Vec<_> = honest.chain(suspects.iter().cloned()).collect();
    let (pcap, labels) = write("all", &all);
    let model = |name: &str| dir.path().join(name).display().to_string();
    let skipping = |model: &str, pcap: &str, labels: &str| {
        let learn = [
            "learn", "--pcap", pcap, "--labels", labels, "--model", model,
        ];
        synprint(&[&learn[..], &["--skip-suspected"]].concat())
    };

    let out = skipping(&model("skip.toml"), &pcap, &labels);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 labelled SYNs learned"), "{err}");
    assert!(
        err.contains(
            "(left out as suspected: 1 SYN built by a middlebox, 1 an embedded device's under \
             a browser OS's label, 1 another family's stack than the label's)"
        ),
        "{err}"
    );
    assert!(
        err.contains("  Windows    1\n") && !err.contains("Android"),
        "{err}"
    );

    let out = learn(&pcap, &labels, &model("all.toml"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("6 labelled SYNs learned") && !err.contains("suspected"),
        "{err}"
    );

    // A model that has learned Linux's SYN as Windows' many times judges
    // it so: the mismatch is no longer one (and the router's stack, close
    // to Linux's, no longer an embedded device's: what learning from
    // untrusted labels does to the flags).
    let linux_as_windows: Vec<_> = (0..200)
        .map(|i| {
            (
                Stack::Linux.syn(addr(100 + i), 40100 + i as u16, SERVER, 443, i),
                WINDOWS_UA,
            )
        })
        .collect();
    let (many, many_labels) = write("many", &linux_as_windows);
    let taught = model("taught.toml");
    assert!(learn(&many, &many_labels, &taught).status.success());
    let (suspect_pcap, suspect_labels) = write("suspects", &suspects);
    let out = skipping(&taught, &suspect_pcap, &suspect_labels);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("2 labelled SYNs learned"), "{err}");
    assert!(err.contains("1 SYN built by a middlebox, 0 an embedded device's under a browser OS's label, 0 another family's"), "{err}");

    // Nothing left to learn: an error, and no model.
    let out = skipping(&model("none.toml"), &suspect_pcap, &suspect_labels);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no labelled SYN left to learn from: left out as suspected: 1 SYN built by a middlebox, 1 an embedded"), "{err}");
    assert!(!Path::new(&model("none.toml")).exists());
}

/// `analyze --labels` reads a row as `learn` and `eval` do: the `os` column
/// wins over the User-Agent, `unknown` names no OS, only the first SYN of
/// an address and port is the row's client, and a row without a
/// User-Agent still gets a verdict (with nothing to contradict).
#[test]
fn analyze_judges_each_row_as_learn_and_eval_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header");
    // (stack, client, port): the Windows SYN reuses the first one's port.
    let syns = [
        (Stack::Linux, 1, 5000),
        (Stack::Windows, 1, 5000),
        (Stack::Linux, 2, 5001),
        (Stack::Linux, 3, 5002),
        (Stack::Linux, 4, 5003),
    ];
    for (i, &(stack, client, port)) in syns.iter().enumerate() {
        let p = stack.syn(addr(client), port, SERVER, 443, i as u32 + 1);
        w.write(
            Timestamp(i as u64 * 1_000_000_000),
            &ethernet_frame(&p.ip_bytes()),
        )
        .expect("write");
    }
    let pcap = dir.path().join("l.pcap");
    std::fs::write(&pcap, w.into_inner()).expect("write pcap");
    let labels = dir.path().join("l.csv");
    std::fs::write(
        &labels,
        format!(
            "src_ip,src_port,os,user_agent\n\
             {a1},5000,,\"{LINUX_UA}\"\n\
             {a2},5001,Windows,\"{LINUX_UA}\"\n\
             {a3},5002,unknown,\"{WINDOWS_UA}\"\n\
             {a4},5003,,\n\
             {a5},5004,Linux,\n\
             {a1},5000,Windows,\n",
            a1 = addr(1),
            a2 = addr(2),
            a3 = addr(3),
            a4 = addr(4),
            a5 = addr(5)
        ),
    )
    .expect("write csv");
    let (pcap, labels) = (pcap.display().to_string(), labels.display().to_string());

    let out = synprint(&["analyze", "--format", "jsonl", "--labels", &labels, &pcap]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 5);
    let v = |i: usize| &recs[i]["verdict"];
    assert_eq!(v(0)["ua_os"], "Linux", "{}", recs[0]);
    assert_eq!(v(0)["os_mismatch"], false);
    assert!(recs[1].get("verdict").is_none(), "reused port: {}", recs[1]);
    assert_eq!(v(2)["ua_os"], "Windows", "the os column wins: {}", recs[2]);
    assert_eq!(v(2)["os_mismatch"], true);
    assert!(
        v(3)["ua_os"].is_null() && v(3)["os_mismatch"].is_null(),
        "{}",
        recs[3]
    );
    assert!(
        v(4)["ua_os"].is_null() && v(4)["os_mismatch"].is_null(),
        "{}",
        recs[4]
    );
    assert!(
        err.contains("4 SYNs judged (5 labelled connections, 1 of them matched no SYN)"),
        "{err}"
    );
    assert!(
        err.contains("os_mismatch: 1 true, 1 false, 2 null"),
        "{err}"
    );
    assert!(
        err.contains("1 later SYN from a labelled address and port"),
        "{err}"
    );

    // eval scores the same rows: three labelled (`unknown` is a class
    // eval scores), one naming no OS, one joining no SYN.
    let out = synprint(&["eval", "--pcap", &pcap, "--labels", &labels, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["join"]["labelled"], 3, "{j}");
    assert_eq!(j["join"]["label_without_os"], 1, "{j}");
    assert_eq!(j["join"]["unmatched_label_rows"], 1, "{j}");
    // The last row repeats the first's address and port: counted, unused.
    assert_eq!(j["join"]["label_rows"], 6, "{j}");
    assert_eq!(j["join"]["duplicate_label_rows"], 1, "{j}");
}

/// A labels file whose rows name no SYN of the capture is said so (the
/// records still come out, without verdicts).
#[test]
fn labels_that_match_nothing_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, _) = labelled(dir.path(), "a", &[(Stack::Linux, WINDOWS_UA)], 1);
    let (_, other) = labelled(dir.path(), "b", &[(Stack::Linux, WINDOWS_UA)], 2);
    let csv = std::fs::read_to_string(&other).expect("read");
    // Same rows, other ports.
    std::fs::write(&other, csv.replace(",4000", ",5000")).expect("write");
    let out = synprint(&["analyze", "-o", "-", "--labels", &other, &pcap]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0 SYNs judged (2 labelled connections, 2 of them matched no SYN)"),
        "{err}"
    );
    assert!(err.contains("note: no SYN matched a label row"), "{err}");
    // `-o -` wrote the record to standard output, and no file named `-`.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(!stdout.contains("verdict"), "{stdout}");
    assert!(!Path::new("-").exists());
    // A header and no rows: said as such.
    std::fs::write(&other, "src_ip,src_port,user_agent\n").expect("write");
    let out = synprint(&["analyze", "-f", "none", "--labels", &other, &pcap]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no rows below the header"), "{err}");
}

#[test]
fn learn_then_eval_and_learning_again_adds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "train", &THREE_STACKS, 20);
    let model = dir.path().join("model.toml").display().to_string();

    let out = learn(&pcap, &labels, &model);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read_to_string(&model).expect("model written");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("60 labelled SYNs learned"), "{err}");
    // Per class, in the order every other table gives the classes.
    assert!(
        err.contains("  Windows    20\n  macOS      20\n  Linux      20\n"),
        "{err}"
    );

    let out = learn(&pcap, &labels, &model);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("added to the 60 SYNs the model held: 120 in all"),
        "{err}"
    );
    let second = std::fs::read_to_string(&model).expect("model rewritten");
    assert_ne!(first, second, "learning again adds counts");
    assert!(second.contains("samples = 40"), "{second}");

    let out = synprint(&[
        "eval", "--pcap", &pcap, "--labels", &labels, "--model", &model, "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 60);
    let text = synprint(&["eval", "--pcap", &pcap, "--labels", &labels]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("Windows"));

    // A model that cannot be written is named as given.
    let nowhere = dir.path().join("no-such-dir/m.toml").display().to_string();
    let out = learn(&pcap, &labels, &nowhere);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{nowhere}: cannot write the model")),
        "{err}"
    );

    // A model reached through a symbolic link is updated where it lies,
    // keeping its permissions; the link stays a link.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&model, &link).expect("symlink");
    let out = learn(&pcap, &labels, &link.display().to_string());
    assert!(out.status.success());
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    let third = std::fs::read_to_string(&model).expect("model rewritten");
    assert!(third.contains("samples = 60"), "{third}");
    let mode = std::fs::metadata(&model)
        .expect("model")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Standard output is no place for a model that is read back and added to.
    let out = learn(&pcap, &labels, "-");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model -"));
}

/// Runs learning into one model at the same time (jobs over rotated
/// captures that overlap) each add their counts: none is lost, none fails
/// on another's temporary file.
#[test]
fn runs_learning_into_one_model_at_once_all_add_their_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "train", &THREE_STACKS, 300);
    let model = dir.path().join("model.toml").display().to_string();
    let runs: Vec<_> = (0..10)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_synprint"))
                .args(["learn", "--pcap", &pcap, "--labels", &labels])
                .args(["--model", &model])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run synprint")
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().expect("learn ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
    }
    let text = std::fs::read_to_string(&model).expect("model written");
    assert_eq!(text.matches("samples = 3000\n").count(), 3, "{text}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `--model` a symbolic link to a file not made yet: the model is made
/// where the link points, and the link stays.
#[test]
fn a_model_behind_a_dangling_link_is_made_where_it_points() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "l", &[(Stack::Windows, WINDOWS_UA)], 2);
    std::fs::create_dir(dir.path().join("models")).expect("mkdir");
    let link = dir.path().join("current.toml");
    std::os::unix::fs::symlink("models/site.toml", &link).expect("symlink");
    let out = learn(&pcap, &labels, link.to_str().expect("utf-8"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::symlink_metadata(&link).expect("link").is_symlink());
    let made = std::fs::read_to_string(dir.path().join("models/site.toml")).expect("model");
    assert!(made.contains("samples = 2"), "{made}");
}

/// An empty file (`mktemp`, or `echo >` leaving a line end) takes a new
/// model in `learn`; elsewhere it is named as empty.
#[test]
fn an_empty_model_file_takes_a_new_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "e", &[(Stack::Windows, WINDOWS_UA)], 2);
    for (name, empty) in [("empty.toml", ""), ("echoed.toml", "\n")] {
        let model = dir.path().join(name);
        std::fs::write(&model, empty).expect("write");
        let m = model.display().to_string();
        let out = synprint(&["analyze", "--model", &m, &pcap]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{m}: empty file")), "{err}");
        let out = learn(&pcap, &labels, &m);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made = std::fs::read_to_string(&model).expect("model");
        assert!(made.contains("samples = 2"), "{made}");
    }
    // A device reads empty too, and is not replaced by a model file: a
    // null device of our own (making one needs root).
    if !synprint::sys::is_root() {
        skipped("making a device node needs root");
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileTypeExt;
    let node = dir.path().join("null");
    let c = std::ffi::CString::new(node.as_os_str().as_bytes()).expect("path");
    // SAFETY: a valid C string; mknod(2) reads nothing else.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(made, 0, "mknod: {}", std::io::Error::last_os_error());
    let out = learn(&pcap, &labels, node.to_str().expect("utf-8"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty file"), "{err}");
    let kind = std::fs::symlink_metadata(&node).expect("node").file_type();
    assert!(kind.is_char_device(), "{kind:?}");
}

/// A capture of one labelled Windows SYN, and a version 1 model whose
/// Windows class holds `counts`.
fn one_windows_syn_and_a_v1_model(counts: &str) -> (tempfile::TempDir, String, String, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "one", &[(Stack::Windows, WINDOWS_UA)], 1);
    let model = dir.path().join("model.toml");
    let text = format!(
        "format = \"synprint-os-model\"\nversion = 1\nkind = \"learned\"\n[class.Windows]\n{counts}\n"
    );
    std::fs::write(&model, text).expect("write model");
    (dir, pcap, labels, model)
}

/// Learning into an older model's file rewrites it in this version, and
/// says so: older builds cannot read it any more.
#[test]
fn learning_into_a_version_1_model_says_it_is_rewritten() {
    let (_dir, pcap, labels, model) =
        one_windows_syn_and_a_v1_model("samples = 1\nttl = { \"128\" = 1 }");
    let out = learn(&pcap, &labels, &model.display().to_string());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the model is now version 3, was 1"), "{err}");
    let text = std::fs::read_to_string(&model).expect("model");
    assert!(text.contains("version = 3"), "{text}");
    // Learning into it again says nothing of versions.
    let out = learn(&pcap, &labels, &model.display().to_string());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("now version"));
}

/// A model whose counts are at the limit a model file may hold is not
/// grown past it: every later run would refuse the file.
#[test]
fn learning_past_the_count_limit_writes_nothing() {
    let (_dir, pcap, labels, model) =
        one_windows_syn_and_a_v1_model("samples = 1000000000000000\nttl = { \"128\" = 1e15 }");
    let full = std::fs::read_to_string(&model).expect("model");
    let m = model.display().to_string();
    let out = synprint(&["eval", "--pcap", &pcap, "--labels", &labels, "--model", &m]);
    assert!(out.status.success(), "the full model loads");
    let out = learn(&pcap, &labels, &m);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("must be at most 1e15") && err.contains("not written"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&model).expect("model"), full);
}

#[test]
fn a_corrupt_or_foreign_model_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "c", &[(Stack::Windows, WINDOWS_UA)], 1);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "this is = = not toml").expect("write");
    let out = synprint(&[
        "eval",
        "--pcap",
        &pcap,
        "--labels",
        &labels,
        "--model",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let foreign = dir.path().join("foreign.toml");
    std::fs::write(&foreign, "[package]\nname = \"x\"\n").expect("write");
    let out = synprint(&[
        "analyze",
        "--model",
        foreign.to_str().expect("utf-8"),
        &pcap,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("foreign.toml"));
    // A capture given as the model: where it stops being text.
    let out = synprint(&["analyze", "--model", &pcap, &pcap]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{pcap}: ")), "{err}");
    assert!(
        err.contains("line 1, column ") && err.contains(": not UTF-8 text"),
        "{err}"
    );
}

/// A learned model that lost its end (a copy stopped part way) is refused
/// by every command that reads it, learn included, instead of loading as a
/// model that lost classes.
#[test]
fn a_learned_model_cut_short_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = [(Stack::Windows, WINDOWS_UA), (Stack::MacOs, MAC_UA)];
    let (pcap, labels) = labelled(dir.path(), "cut", &rows, 3);
    let model = dir.path().join("model.toml");
    let m = model.to_str().expect("utf-8");
    assert!(learn(&pcap, &labels, m).status.success());
    let text = std::fs::read_to_string(&model).expect("model");
    // Everything before the last class, which is then gone whole.
    let cut = text.rfind("\n[class.").expect("classes") + 1;
    std::fs::write(&model, &text[..cut]).expect("write");
    let before = std::fs::read(&model).expect("model");
    for args in [
        vec!["analyze", "--model", m, &pcap],
        vec!["eval", "--pcap", &pcap, "--labels", &labels, "--model", m],
        vec!["learn", "--pcap", &pcap, "--labels", &labels, "--model", m],
    ] {
        let out = synprint(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{m}: cut short")), "{err}");
    }
    assert_eq!(std::fs::read(&model).expect("model"), before);
}

/// Labels that match no SYN of the capture (here: other ports) give no
/// report of 0% and no empty model, but a message on what the join needs
/// and status 1.
#[test]
fn labels_that_match_no_syn_are_an_error_not_a_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, _) = labelled(dir.path(), "n", &[(Stack::Windows, WINDOWS_UA)], 3);
    let labels = dir.path().join("other.csv");
    std::fs::write(&labels, "src_ip,src_port,os\n10.0.0.1,1,Windows\n").expect("write");
    let labels = labels.to_str().expect("utf-8");
    for json in [false, true] {
        let mut args = vec!["eval", "--pcap", &pcap, "--labels", labels];
        if json {
            args.push("--json");
        }
        let out = synprint(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        if json {
            // A script reading the JSON gets the join's counts and no report.
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
            assert!(v["report"].is_null(), "{v}");
            assert_eq!(
                (&v["join"]["labelled"], &v["join"]["unmatched_label_rows"]),
                (&0.into(), &1.into()),
                "{v}"
            );
        } else {
            assert!(
                out.stdout.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        assert!(err.contains("no client SYN has a label"), "{err}");
        assert!(err.contains("(3 SYNs, 3 without a label,"), "{err}");
        assert!(err.contains("; 1 label row matched no SYN"), "{err}");
    }
    let model = dir.path().join("m.toml");
    let out = learn(&pcap, labels, model.to_str().expect("utf-8"));
    assert_eq!(out.status.code(), Some(1));
    assert!(!model.exists(), "nothing learned, nothing written");

    // A row that joins but says `unknown` is named as such, not lost from
    // the count (it labels the capture's first SYN: `labelled` numbers
    // clients from 10.0.0.1, port 40001).
    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "src_ip,src_port,os\n10.0.0.1,40001,unknown\n").expect("write");
    let unknown = unknown.to_str().expect("utf-8");
    let out = learn(&pcap, unknown, model.to_str().expect("utf-8"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("(3 SYNs, 2 without a label, 0 with a label naming no known OS; 0 label rows matched no SYN; 1 labelled unknown)"),
        "{err}"
    );
}

/// A reader that leaves early (`| head -1`) ends `eval` quietly, as it ends
/// `analyze`: status 0, no panic.
#[test]
fn eval_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "p", &[(Stack::Linux, LINUX_UA)], 2);
    for json in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_synprint"));
        cmd.args(["eval", "--pcap", &pcap, "--labels", &labels]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(out.status.code(), Some(0), "{err}");
    }
}

/// `scripts/zardaxt-to-pcap.py` rebuilds zardaxt's labelled rows as SYNs
/// that synprint reads back field for field, and `eval` joins every one to
/// its label (other OS names and IPv6 rows are left out).
#[test]
fn zardaxt_rows_become_syns_that_eval_joins_to_their_labels() {
    if Command::new("python3").arg("--version").output().is_err() {
        skipped("python3 is not installed (scripts/install-test-deps.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let header = "os_name,os_version,ip_checksum,ip_df,ip_hdr_length,ip_id,ip_mf,ip_off,\
ip_protocol,ip_rf,ip_tos,ip_total_length,ip_ttl,ip_version,tcp_ack,tcp_checksum,tcp_flags,\
tcp_header_length,tcp_mss,tcp_off,tcp_options,tcp_seq,tcp_timestamp,\
tcp_timestamp_echo_reply,tcp_urp,tcp_window_scaling,tcp_window_size";
    struct Row {
        os: &'static str,
        df: u8,
        ttl: u8,
        version: u8,
        flags: u8,
        options: &'static str,
        ts: &'static str,
        window: u16,
    }
    let row = |os, df, ttl, version, flags, options, ts, window| Row {
        os,
        df,
        ttl,
        version,
        flags,
        options,
        ts,
        window,
    };
    let rows = [
        row("Windows", 1, 117, 4, 2, "M1452,N,W8,N,N,S,", "", 64240),
        row(
            "Mac OS",
            1,
            52,
            4,
            194,
            "M1460,N,W6,N,N,T,S,E,E,",
            "722640251",
            65535,
        ),
        row("Android", 1, 55, 4, 2, "M1420,S,T,N,W9,", "78295222", 65535),
        row("Linux", 1, 56, 4, 2, "M1440,S,T,N,W7,", "2673322512", 64240),
        row("Tizen", 1, 64, 4, 2, "M1460,", "", 5840),
        row("Android", 0, 64, 6, 2, "M1440,S,T,N,W8,", "1", 65535),
    ];
    let mut csv = format!("{header}\n");
    for (i, r) in rows.iter().enumerate() {
        let ecr = if r.ts.is_empty() { "" } else { "0" };
        csv.push_str(&format!(
            "{},10,0,{},5,{},0,0,6,0,0,60,{},{},0,0,{},20,0,10,\"{}\",{},{},{ecr},0,0,{}\n",
            r.os,
            r.df,
            1000 + i,
            r.ttl,
            r.version,
            r.flags,
            r.options,
            2_857_243_666u32 - i as u32,
            r.ts,
            r.window
        ));
    }
    let src = dir.path().join("tcp_ip.csv");
    let pcap = dir.path().join("z.pcap");
    let labels = dir.path().join("z.csv");
    std::fs::write(&src, csv).expect("write CSV");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/zardaxt-to-pcap.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([&src, &pcap, &labels])
        .output()
        .expect("run the script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let analyzed = synprint(&["analyze", pcap.to_str().unwrap(), "--format", "jsonl"]);
    assert!(analyzed.status.success());
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&analyzed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let kept: Vec<_> = rows
        .iter()
        .filter(|r| r.os != "Tizen" && r.version == 4)
        .collect();
    assert_eq!(records.len(), kept.len());
    for (r, row) in records.iter().zip(&kept) {
        assert_eq!(r["tcp_options"], row.options, "{}", row.os);
        assert_eq!(r["ip_ttl"], row.ttl, "{}", row.os);
        assert_eq!(r["tcp_window_size"], row.window, "{}", row.os);
        assert_eq!(r["tcp_flags"], row.flags, "{}", row.os);
        assert_eq!(r["ip_df"], row.df, "{}", row.os);
    }
    let eval = synprint(&[
        "eval",
        "--pcap",
        pcap.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 4, "{report}");
    assert_eq!(report["report"]["samples"], 4, "{report}");
}

/// A capture that cannot be opened is named with why, as `analyze` does:
/// no byte offset, since nothing was read.
#[test]
fn a_capture_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, labels) = labelled(dir.path(), "a", &[(Stack::Linux, LINUX_UA)], 1);
    let missing = dir.path().join("missing.pcap").display().to_string();
    let model = dir.path().join("m.toml").display().to_string();
    for args in [
        vec![
            "learn", "--pcap", &missing, "--labels", &labels, "--model", &model,
        ],
        vec!["eval", "--pcap", &missing, "--labels", &labels],
    ] {
        let out = synprint(&args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{missing}: No such file")), "{err}");
        assert!(!err.contains("error at byte"), "{err}");
    }
}

/// A capture cut off mid-record (a `tcpdump` killed, a copy taken while it
/// wrote) is used up to the cut, as `analyze` keeps the records before it:
/// the model and the report are made of the SYNs read, the cut is named
/// after them and the exit status fails. A capture cut inside its first
/// record gives nothing to use and is an error.
#[test]
fn a_capture_cut_off_mid_record_is_used_up_to_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = [(Stack::Windows, WINDOWS_UA), (Stack::Linux, LINUX_UA)];
    let (pcap, labels) = labelled(dir.path(), "cut", &rows, 10);
    let mut bytes = std::fs::read(&pcap).expect("read capture");
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&pcap, &bytes).expect("cut capture");
    let model = dir.path().join("m.toml").display().to_string();

    let out = learn(&pcap, &labels, &model);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("19 labelled SYNs learned"), "{err}");
    assert!(
        err.contains(&format!("{pcap}: error at byte ")) && err.contains("19 client SYNs"),
        "{err}"
    );
    let learned = std::fs::read_to_string(&model).expect("model written");
    assert!(learned.contains("samples = "), "{learned}");

    let out = synprint(&["eval", "--pcap", &pcap, "--labels", &labels, "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 19);
    let why = report["join"]["stopped_early"]
        .as_str()
        .expect("stopped_early");
    assert!(why.contains("the file ends in the middle of"), "{why}");
    assert!(err.contains(why), "{err}");

    // Cut inside the first record: nothing read, so nothing to use.
    let first = dir.path().join("first.pcap").display().to_string();
    std::fs::write(&first, &bytes[..24 + 10]).expect("write capture");
    let out = synprint(&["eval", "--pcap", &first, "--labels", &labels]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no report");
    assert!(err.contains(&format!("{first}: error at byte 24")), "{err}");
}

/// Rotated captures (`tcpdump -G`/`-C`) are read in order as one: `learn`
/// over the two halves writes the model one file gives, and `eval` joins
/// every SYN. A damaged first half is used up to its cut, named, and the
/// second is still read.
#[test]
fn rotated_captures_are_read_as_one() {
    use synprint::capture::CaptureReader;
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, labels) = labelled(dir.path(), "whole", &THREE_STACKS, 10);
    let mut halves = [
        PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header"),
        PcapWriter::new(Vec::new(), LinkType::ETHERNET).expect("header"),
    ];
    let mut reader = CaptureReader::open(Path::new(&pcap)).expect("open");
    let mut n = 0;
    while let Some(f) = reader.next_frame().expect("frame") {
        halves[usize::from(n >= 17)]
            .write(f.ts, f.data)
            .expect("write");
        n += 1;
    }
    assert_eq!(n, 30);
    let [a, b] = halves.map(PcapWriter::into_inner);
    let (first, second) = (dir.path().join("1.pcap"), dir.path().join("2.pcap"));
    std::fs::write(&first, &a).expect("write");
    std::fs::write(&second, &b).expect("write");
    let (first, second) = (first.display().to_string(), second.display().to_string());

    let whole_model = dir.path().join("whole.toml").display().to_string();
    assert!(learn(&pcap, &labels, &whole_model).status.success());
    let split_model = dir.path().join("split.toml").display().to_string();
    let out = synprint(&[
        "learn",
        "--pcap",
        &first,
        &second,
        "--labels",
        &labels,
        "--model",
        &split_model,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("30 labelled SYNs learned"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&whole_model).expect("model"),
        std::fs::read_to_string(&split_model).expect("model")
    );
    let eval = |args: &[&str]| {
        let mut all = vec!["eval", "--labels", &labels, "--json"];
        all.extend(args);
        synprint(&all)
    };
    let out = eval(&["--pcap", &first, "--pcap", &second]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 30);
    assert_eq!(report["join"]["labelled_again"], 0);
    assert_eq!(report["join"]["unmatched_label_rows"], 0);
    // Overlapping rotations (here: the whole capture given twice) are used
    // once, and the repeats are said.
    let out = eval(&["--pcap", &pcap, &pcap]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 30);
    assert_eq!(report["join"]["labelled_again"], 30);
    let out = synprint(&["eval", "--labels", &labels, "--pcap", &pcap, &pcap]);
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("30 more SYNs of an address and port already joined"),
        "{text}"
    );
    // The labels from standard input, as a capture can be; not both.
    let from_stdin = |pcap: &str| {
        Command::new(env!("CARGO_BIN_EXE_synprint"))
            .args(["eval", "--json", "--labels", "-", "--pcap", pcap])
            .stdin(std::fs::File::open(&labels).expect("labels"))
            .output()
            .expect("run synprint")
    };
    let out = from_stdin(&pcap);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 30);
    let out = from_stdin("-");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("given twice"));

    // The first half cut inside its last record, a rotation's new file
    // still empty, one gone: the rest is read, each is named.
    std::fs::write(&first, &a[..a.len() - 5]).expect("cut");
    let fresh = dir.path().join("3.pcap").display().to_string();
    std::fs::write(&fresh, b"").expect("write");
    let gone = dir.path().join("0.pcap").display().to_string();
    let out = eval(&["--pcap", &gone, &first, &second, &fresh]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], 29);
    let why = report["join"]["stopped_early"]
        .as_str()
        .expect("stopped_early");
    let named: Vec<&str> = why.split("; ").collect();
    assert_eq!(named.len(), 3, "{why}");
    assert!(named[0].starts_with(&format!("{gone}: ")), "{why}");
    assert!(
        named[1].starts_with(&format!("{first}: error at byte ")),
        "{why}"
    );
    assert!(named[2].starts_with(&format!("{fresh}: ")), "{why}");
    assert!(err.contains("(29 client SYNs read in all)"), "{err}");
    // Not one frame from any: an error, nothing learned or scored.
    let out = eval(&["--pcap", &gone, &fresh]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{gone}: ")), "{err}");
}

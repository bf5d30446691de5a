//! docs/classification.md's way to grow a model from a live site, run as
//! written: nginx logs its visitors with the documented `log_format`,
//! tcpdump captures their SYNs with the documented command (`-i any`, so
//! Linux cooked capture), and `learn`, `eval` and `analyze --labels` join
//! the two by address and port. The visitors are curl processes claiming
//! five OSes' User-Agents, over IPv4 and IPv6, one User-Agent with a quote,
//! a comma and a byte that is not ASCII (nginx escapes them). Everything
//! runs in a network namespace of the test's own; needs root, tcpdump,
//! nginx and curl, and is skipped with a message otherwise.

mod skipped;
use std::collections::BTreeMap;

use serde_json::Value;

mod kernel;
mod nginx;
use kernel::{netns_for_test, synprint, tcpdump_missing, Capture};
use nginx::{curl, nginx_missing, Nginx};

/// (User-Agent, the OS it claims)
const VISITORS: [(&str, &str); 6] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
         Gecko) Version/17.5 Safari/605.1.15",
        "macOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
         like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Mobile Safari/537.36",
        "Android",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Linux",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \"quoted\", caf\u{e9}",
        "Windows",
    ),
];
const ROUNDS: usize = 3;

/// The documented nginx lines and tcpdump command of "Growing a model from
/// your own traffic".
fn documented() -> (String, String, String) {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/classification.md"
    ))
    .expect("docs/classification.md");
    let section = doc
        .split_once("## Growing a model from your own traffic")
        .expect("the section")
        .1;
    let nginx_lines: Vec<&str> = section
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("log_format synprint") || l.starts_with("access_log "))
        .take(2)
        .collect();
    let tcpdump = section
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("tcpdump "))
        .expect("the tcpdump command");
    let interface = tcpdump
        .split_whitespace()
        .skip_while(|w| *w != "-i")
        .nth(1)
        .expect("tcpdump -i");
    let filter = tcpdump
        .split_once('\'')
        .and_then(|(_, rest)| rest.rsplit_once('\''))
        .map(|(filter, _)| filter)
        .expect("a quoted filter");
    (nginx_lines.join("\n"), interface.into(), filter.into())
}

#[test]
fn a_site_logged_by_nginx_and_captured_by_tcpdump_teaches_and_is_judged() {
    if tcpdump_missing() || nginx_missing() {
        return;
    }
    let Some(ns) = netns_for_test("sp-learn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("visitors.log");
    let pcap = dir.path().join("syns.pcap");
    let (nginx_lines, interface, filter) = documented();
    assert!(filter.contains("dst port 443"), "{filter}");
    let http = nginx_lines.replace("/var/log/nginx/synprint.csv", &log.display().to_string());
    let mut nginx = Nginx::start(&ns, dir.path(), &http, " location / { return 204; }\n", 443);
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        curl(
            &ns,
            &["-o", "/dev/null", "-w", "%{http_code}"],
            "http://127.0.0.1:443/",
        )
        .stdout
            == b"204"
    });
    assert!(up, "nginx did not answer");
    // After the probes: a refused one's SYN would have no log line.
    let mut capture = Capture::start(&ns, &interface, &pcap, &filter);
    let mut sent = 0;
    for _ in 0..ROUNDS {
        for host in ["127.0.0.1", "[::1]"] {
            for (ua, _) in VISITORS {
                let out = curl(
                    &ns,
                    &["-A", ua, "-o", "/dev/null", "-w", "%{http_code}"],
                    &format!("http://{host}:443/"),
                );
                assert_eq!(out.stdout, b"204", "{ua} over {host}");
                sent += 1;
            }
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    capture.stop();
    nginx.stop();

    // The documented header line, then nginx's log as it wrote it.
    let logged = std::fs::read_to_string(&log).expect("nginx's log");
    assert_eq!(logged.lines().count(), sent + 1, "{logged}");
    assert!(
        logged.contains(r#"\x22quoted\x22, caf\xC3\xA9""#),
        "{logged}"
    );
    let labels = dir.path().join("visitors.csv");
    std::fs::write(&labels, format!("src_ip,src_port,user_agent\n{logged}")).expect("labels");
    let (pcap, labels) = (pcap.display().to_string(), labels.display().to_string());
    let model = dir.path().join("site-model.toml").display().to_string();

    // Every visit is learned from; the readiness probe's log line (sent
    // before the capture started) matches no SYN.
    let (_, err) = synprint(&[
        "learn", "--pcap", &pcap, "--labels", &labels, "--model", &model,
    ]);
    assert!(
        err.contains(&format!(
            "{sent} labelled SYNs learned ({sent} SYNs, 0 without a label, 0 with a label naming \
             no known OS; 1 label row matched no SYN)"
        )),
        "{err}"
    );

    let (out, _) = synprint(&[
        "eval", "--pcap", &pcap, "--labels", &labels, "--model", &model, "--json",
    ]);
    let report: Value = serde_json::from_str(&out).expect("eval JSON");
    assert_eq!(report["join"]["labelled"], sent, "{report}");
    let per_os: BTreeMap<&str, u64> = report["report"]["os_recall"]
        .as_array()
        .expect("os_recall")
        .iter()
        .filter_map(|r| Some((r["class"].as_str()?, r["n"].as_u64()?)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let per_visit = (2 * ROUNDS) as u64;
    let expected = BTreeMap::from([
        ("Android", per_visit),
        ("Linux", per_visit),
        ("Windows", 2 * per_visit),
        ("iOS", per_visit),
        ("macOS", per_visit),
    ]);
    assert_eq!(per_os, expected, "{report}");

    // analyze judges each visit against its own User-Agent: this machine's
    // Linux stack contradicts Windows and Apple claims, not Linux ones.
    let (out, _) = synprint(&["analyze", "--labels", &labels, "--format", "jsonl", &pcap]);
    let mut judged = BTreeMap::<(String, bool), usize>::new();
    for line in out.lines() {
        let r: Value = serde_json::from_str(line).expect("a JSON record");
        assert_eq!(r["dst_port"], 443, "{r}");
        let v = &r["verdict"];
        let Some(ua_os) = v["ua_os"].as_str() else {
            continue;
        };
        let mismatch = v["os_mismatch"].as_bool().expect("a judgement");
        *judged.entry((ua_os.to_string(), mismatch)).or_default() += 1;
    }
    let expected = BTreeMap::from([
        (("Android".to_string(), false), 2 * ROUNDS),
        (("Linux".to_string(), false), 2 * ROUNDS),
        (("Windows".to_string(), true), 4 * ROUNDS),
        (("iOS".to_string(), true), 2 * ROUNDS),
        (("macOS".to_string(), true), 2 * ROUNDS),
    ]);
    assert_eq!(judged, expected);
}

//! A real browser as the visitor: headless Chromium loads a page that asks
//! `synprint serve` for the browser's own classification, as a site's page
//! would (the page is a local file, so the request is cross-origin and
//! needs serve's CORS header). The browser's SYN comes from this machine's
//! Linux kernel and its User-Agent is Chromium's own, or one it is told to
//! claim.
//!
//! Behind nginx, the browser's SYN is captured instead, and nginx runs the
//! README's own `location /classify` block, copied from the README at test
//! time.
//!
//! The browser, nginx and the server run in a network namespace of their
//! own, so the browser can reach nothing beyond that namespace's loopback.
//! Needs root (for the namespace and the capture), Chromium and, for the
//! proxy test, nginx and curl (`scripts/install-test-deps.sh` installs
//! Debian's); skipped with a message otherwise.

mod skipped;
use skipped::skipped;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod kernel;
mod nginx;
mod serve_common;
use kernel::{netns_for_test, Netns};
use nginx::{curl, nginx_missing, readme, Nginx};
use serve_common::announced_addresses;

const WINDOWS_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                              (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
                             AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 \
                             Mobile/15E148 Safari/604.1";

/// The first Chromium-family browser on the PATH.
fn browser() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if found.is_none() {
        skipped("no Chromium (chromium, chromium-browser or google-chrome) on the PATH");
    }
    found
}

/// `synprint serve` in the namespace; stopped on drop, also when the test
/// fails.
struct Serve {
    child: Child,
    addrs: Vec<SocketAddr>,
}

impl Serve {
    /// On the namespace's IPv4 and IPv6 loopback.
    fn start(ns: &Netns) -> Serve {
        Serve::start_with(ns, &["--listen", "127.0.0.1:0", "--listen", "[::1]:0"])
    }

    /// With `args`, which must give one `--listen` or more.
    fn start_with(ns: &Netns, args: &[&str]) -> Serve {
        let listeners = args.iter().filter(|a| **a == "--listen").count();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .args([env!("CARGO_BIN_EXE_synprint"), "serve"])
            .args(args)
            .env_remove("SYNPRINT_API_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn synprint serve");
        let addrs = announced_addresses(&mut child, listeners);
        Serve { child, addrs }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the page wrote after fetching `url`: serve's JSON answer, or the
/// fetch's error.
fn fetch_in_browser(browser: &str, ns: &Netns, url: &str, user_agent: Option<&str>) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("visit.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><pre id=out>pending</pre><script>\n\
             const out = document.getElementById('out');\n\
             fetch('{url}').then(r => r.text()).then(t => {{ out.textContent = t; }})\n\
             .catch(e => {{ out.textContent = 'fetch failed: ' + e; }});\n\
             </script>"
        ),
    )
    .expect("write page");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.0, "timeout", "60", browser])
        // The sandbox needs user namespaces that root in a container may
        // not have; the page is our own.
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(["--disable-dev-shm-usage", "--no-first-run"])
        .arg(format!("--user-data-dir={}", dir.path().display()))
        // Lets the fetch finish before the DOM is dumped.
        .arg("--virtual-time-budget=10000");
    if let Some(ua) = user_agent {
        cmd.arg(format!("--user-agent={ua}"));
    }
    let out = cmd
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stderr(Stdio::null())
        .output()
        .expect("run the browser");
    let dom = String::from_utf8_lossy(&out.stdout);
    let text = dom
        .split_once("<pre id=\"out\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(text, _)| unescape(text))
        .unwrap_or_else(|| panic!("no page in the browser's output ({}): {dom}", out.status));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the page shows {text:?}: {e}"))
}

/// The text of an element as `--dump-dom` serialises it.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/classify?detail=1")
}

#[test]
fn a_browser_on_this_machine_is_answered_with_its_own_linux_stack() {
    let (Some(browser), Some(ns)) = (browser(), netns_for_test("sp-browser")) else {
        return;
    };
    let serve = Serve::start(&ns);
    for addr in &serve.addrs {
        let a = fetch_in_browser(browser, &ns, &url(*addr), None);
        let fp = &a["fp"];
        // The answer is about this very connection, read from the kernel.
        assert_eq!(a["syn_source"], "saved_syn", "{a}");
        assert_eq!(fp["ip_version"], if addr.is_ipv6() { 6 } else { 4 }, "{a}");
        assert_eq!(fp["dst_port"], addr.port(), "{a}");
        assert_eq!(fp["src_port"], a["lookup_port"], "{a}");
        assert_eq!(fp["kind"], "syn", "{a}");
        // This machine's kernel is Linux, and so says Chromium's own
        // User-Agent ("X11; Linux x86_64").
        assert_eq!(a["classification"]["family"], "Linux", "{a}");
        assert_eq!(a["verdict"]["ua_os"], "Linux", "{a}");
        assert_eq!(a["verdict"]["ua_family"], "Linux", "{a}");
        assert_eq!(a["os_mismatch"], false, "{a}");
        assert_eq!(a["verdict"]["os_mismatch"], false, "{a}");
        assert_eq!(a["details"]["os_highest_class"], "Linux", "{a}");
    }
}

#[test]
fn a_browser_claiming_another_os_is_a_mismatch() {
    let (Some(browser), Some(ns)) = (browser(), netns_for_test("sp-browser")) else {
        return;
    };
    let serve = Serve::start(&ns);
    let cases = [
        (WINDOWS_CHROME, "Windows", "Windows", serve.addrs[0]),
        (IPHONE_SAFARI, "iOS", "Apple", serve.addrs[1]),
    ];
    for (ua, os, family, addr) in cases {
        let a = fetch_in_browser(browser, &ns, &url(addr), Some(ua));
        assert_eq!(a["syn_source"], "saved_syn", "{a}");
        assert_eq!(a["classification"]["family"], "Linux", "{a}");
        let v = &a["verdict"];
        assert_eq!(v["ua_os"], os, "{a}");
        assert_eq!(v["ua_family"], family, "{a}");
        assert_eq!(v["os_mismatch"], true, "{a}");
        assert_eq!(a["os_mismatch"], true, "{a}");
        let reasons = v["reasons"].to_string();
        assert!(reasons.contains(family), "{reasons}");
    }
}

/// The README's nginx `location` block for serve behind a proxy, verbatim,
/// and the serve command its comment gives.
fn readme_nginx_block() -> (String, String) {
    let readme = readme();
    let block = readme
        .split("```nginx\n")
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .find(|b| b.contains("location /classify"))
        .expect("the README's nginx block for /classify");
    let command = block
        .lines()
        .find_map(|l| l.strip_prefix("# synprint serve "))
        .expect("the block's comment gives the serve command");
    (block.to_string(), command.to_string())
}

/// curl's answer as JSON, or `None` while nothing answers with one.
fn curl_json(ns: &Netns, url: &str, headers: &[&str]) -> Option<Value> {
    let args: Vec<&str> = headers.iter().flat_map(|h| ["-H", h]).collect();
    serde_json::from_slice(&curl(ns, &args, url).stdout).ok()
}

#[test]
fn a_browser_behind_the_readme_nginx_block_is_answered_from_its_captured_syn() {
    let (Some(browser), Some(ns)) = (browser(), netns_for_test("sp-browser")) else {
        return;
    };
    if nginx_missing() {
        return;
    }
    let (location, command) = readme_nginx_block();
    // The README's command, on this namespace's loopback instead of eth0.
    let command = command.replace("--interface eth0", "--interface lo");
    let args: Vec<&str> = command.split_whitespace().collect();
    let site_port: u16 = args
        .iter()
        .skip_while(|a| **a != "--capture-port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("the command gives --capture-port");
    let _serve = Serve::start_with(&ns, &args);
    let dir = tempfile::tempdir().expect("temp dir");
    let _nginx = Nginx::start(&ns, dir.path(), " access_log off;", &location, site_port);
    let site = |host: &str| format!("http://{host}:{site_port}/classify?detail=1");

    // Until nginx listens and the capture thread runs, answers carry no
    // fingerprint.
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        curl_json(&ns, &site("127.0.0.1"), &[]).is_some_and(|a| a["fp"].is_object())
    });
    assert!(ready, "no answer through nginx within 10 s");

    for host in ["127.0.0.1", "[::1]"] {
        let a = fetch_in_browser(browser, &ns, &site(host), None);
        let fp = &a["fp"];
        assert_eq!(a["syn_source"], "store", "{a}");
        // The browser's own connection to the site, found by the port
        // nginx passed on, not nginx's connection to synprint.
        assert_eq!(fp["dst_port"], site_port, "{a}");
        assert_eq!(fp["src_port"], a["lookup_port"], "{a}");
        assert_eq!(fp["ip_version"], if host == "[::1]" { 6 } else { 4 }, "{a}");
        assert_eq!(a["classification"]["family"], "Linux", "{a}");
        assert_eq!(a["verdict"]["ua_os"], "Linux", "{a}");
        assert_eq!(a["os_mismatch"], false, "{a}");
    }

    // The block sets X-Real-Port itself, so a client's own cannot point the
    // lookup at no connection (and switch the mismatch check off).
    let a = curl_json(
        &ns,
        &site("127.0.0.1"),
        &[&format!("User-Agent: {WINDOWS_CHROME}"), "X-Real-Port: 1"],
    )
    .expect("an answer");
    assert_ne!(a["lookup_port"], 1, "{a}");
    assert_eq!(a["fp"]["src_port"], a["lookup_port"], "{a}");
    assert_eq!(a["verdict"]["ua_os"], "Windows", "{a}");
    assert_eq!(a["os_mismatch"], true, "{a}");
}

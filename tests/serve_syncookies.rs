//! Where the kernel saved no SYN (a SYN-cookie handshake), the answer says
//! so instead of guessing. A network namespace with
//! `net.ipv4.tcp_syncookies = 2` (cookies for every connection) makes every
//! handshake a cookie one. With a capture running, the captured SYN of the
//! same connection answers instead. Needs root and `ip`; skips otherwise.

mod kernel;
mod serve_common;
mod skipped;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serve_common::{connect, get, get_on, loopback_config, SynShape, TestServer, TtlClassifier};
use synprint::capture::{CaptureOptions, LiveCapture};

#[test]
fn syn_cookie_connections_say_no_syn_was_saved() {
    // Says why when it cannot (not root, no iproute2).
    let Some(ns) = kernel::netns_for_test("synprint-cookies") else {
        return;
    };
    assert!(ns.exec(&["sysctl", "-qw", "net.ipv4.tcp_syncookies=2"]));
    // The server and the client both live on this thread's namespace: the
    // runtime's sockets are created there, and so is the client socket.
    let ((status, body), captured) = kernel::in_netns(&ns.0, move || {
        let mut config = loopback_config();
        config.listen.truncate(1);
        let srv = TestServer::start(config.clone());
        let r = get(srv.addr(false), "/classify", &[]);
        let m = get(srv.addr(false), "/metrics", &[]);
        let alone = (
            r.status,
            (r.json(), String::from_utf8(m.body).expect("utf8")),
        );
        drop(srv);

        // The same with a capture on the namespace's loopback: it saw the
        // SYN the kernel did not keep, and answers for that connection.
        let capture = LiveCapture::open("lo", &CaptureOptions::default()).expect("capture");
        let srv = TestServer::start_with(config, Arc::new(TtlClassifier), vec![capture]);
        let started = Instant::now();
        let captured = loop {
            let mut s = connect(srv.addr(false), SynShape::default());
            let port = s.local_addr().expect("local").port();
            let j = get_on(&mut s, "/classify", &[]).json();
            if j["syn_saved"] != false {
                break (port, j);
            }
            // The capture thread may not have its first block yet.
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "capture never answered: {j}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        (alone, captured)
    });
    let (port, j) = captured;
    assert_eq!(j["syn_source"], "store", "{j}");
    assert_eq!(j["lookup_port"], port, "{j}");
    assert!(j["avg_score_os_class"].is_object(), "{j}");
    let (j, metrics) = body;
    assert_eq!(status, 200);
    assert_eq!(j["syn_saved"], false, "{j}");
    assert!(j["os_mismatch"].is_null());
    assert!(j["msg"].as_str().expect("msg").contains("tcp_syncookies"));
    assert!(j.get("avg_score_os_class").is_none());
    assert!(
        metrics.contains("synprint_listener_no_saved_syn_total 2"),
        "{metrics}"
    );
    // `serve --check` in that namespace says so before anyone asks.
    let check = ns
        .synprint()
        .args(["serve", "--check", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run serve --check");
    let said = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains("net.ipv4.tcp_syncookies is 2") && said.contains("no connection"),
        "{said}"
    );
}

//! Where the kernel saved no SYN (a SYN-cookie handshake), the answer says
//! so instead of guessing. A network namespace with
//! `net.ipv4.tcp_syncookies = 2` (cookies for every connection) makes every
//! handshake a cookie one. Needs root and `ip`; skips otherwise.

mod serve_common;

use std::process::Command;

use serve_common::{get, loopback_config, TestServer};
use synprint::sys;

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn syn_cookie_connections_say_no_syn_was_saved() {
    if !sys::is_root() || Command::new("ip").arg("-V").output().is_err() {
        eprintln!("skipping: needs root and `ip` (iproute2) for a network namespace");
        return;
    }
    let name = format!("synprint-cookies-{}", std::process::id());
    assert!(run(&["ip", "netns", "add", &name]));
    let ns = Netns(name);
    assert!(run(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]));
    assert!(run(&[
        "ip",
        "netns",
        "exec",
        &ns.0,
        "sysctl",
        "-qw",
        "net.ipv4.tcp_syncookies=2"
    ]));
    let path = format!("/run/netns/{}", ns.0);
    // The server and the client both live on this thread's namespace: the
    // runtime's sockets are created here, and so is the client socket.
    let (status, body) = std::thread::spawn(move || {
        sys::enter_netns(&path).expect("setns");
        let mut config = loopback_config();
        config.listen.truncate(1);
        let srv = TestServer::start(config);
        let r = get(srv.addr(false), "/classify", &[]);
        let m = get(srv.addr(false), "/metrics", &[]);
        (
            r.status,
            (r.json(), String::from_utf8(m.body).expect("utf8")),
        )
    })
    .join()
    .expect("netns thread");
    let (j, metrics) = body;
    assert_eq!(status, 200);
    assert_eq!(j["syn_saved"], false, "{j}");
    assert!(j["os_mismatch"].is_null());
    assert!(j["msg"].as_str().expect("msg").contains("SYN cookies"));
    assert!(j.get("avg_score_os_class").is_none());
    assert!(
        metrics.contains("synprint_listener_no_saved_syn_total 2"),
        "{metrics}"
    );
}

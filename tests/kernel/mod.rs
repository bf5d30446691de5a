//! Throw-away network namespaces and tcpdump captures for the tests that
//! make this machine's kernel send real packets. Everything is undone on
//! drop, also when a test fails.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `synprint` binary's standard output and error; it must succeed.
pub fn synprint(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synprint"))
        .args(args)
        .output()
        .expect("run synprint");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "synprint {args:?}: {err}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

/// `synprint analyze --format FORMAT` over a capture.
pub fn synprint_analyze(pcap: &Path, format: &str) -> (String, String) {
    let pcap = pcap.display().to_string();
    synprint(&["analyze", "--format", format, &pcap])
}

/// p0f, where Debian installs it (/usr/sbin, which a user's PATH lacks)
/// or else on the PATH.
pub fn p0f() -> Command {
    let sbin = Path::new("/usr/sbin/p0f");
    Command::new(if sbin.exists() {
        sbin
    } else {
        Path::new("p0f")
    })
}

/// The modules whose log lines `--format p0f` writes as p0f does: the
/// handshake, MTU and uptime lines and p0f's host tracking (not p0f's HTTP
/// modules, which synprint does not match).
pub const LOGGED_MODULES: [&str; 6] = [
    "syn",
    "syn+ack",
    "mtu",
    "uptime",
    "host change",
    "ip sharing",
];

/// True, after saying so, when there is no p0f to compare with: the test
/// then skips.
pub fn p0f_missing() -> bool {
    let installed = p0f()
        .arg("-L")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        crate::skipped::skipped("p0f is not installed (apt-get install p0f)");
    }
    !installed
}

pub fn tcpdump_missing() -> bool {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        crate::skipped::skipped("tcpdump is not installed");
        return true;
    }
    false
}

/// The tcpdump child; stopped (SIGINT, then waited for) even when the test
/// fails, so no capture outlives it.
pub struct Capture(std::process::Child);

impl Capture {
    /// tcpdump on `interface` inside `ns`, writing `pcap` (and its messages
    /// next to it); returns once tcpdump says it is listening.
    pub fn start(ns: &Netns, interface: &str, pcap: &Path, filter: &str) -> Capture {
        let log = pcap.with_extension("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "tcpdump", "-i", interface])
            // A 32 MiB ring instead of the default 2 MiB: one full suite run
            // lost 30 of a VXLAN test's 120 packets to kernel drops (not
            // reproduced with four busy loops beside it); immediate mode
            // retires ring blocks after a millisecond each, so a small ring
            // has few to spare while tcpdump waits for a core.
            .args(["--immediate-mode", "-B", "32768", "-U", "-w"])
            .arg(pcap)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("tcpdump log"))
            .spawn()
            .expect("spawn tcpdump");
        let capture = Capture(child);
        let started = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"))
        });
        assert!(started, "tcpdump on {interface} did not start");
        capture
    }

    pub fn stop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A network namespace, deleted on drop (also when the test fails).
pub struct Netns(pub String);

/// A namespace of its own for a test (`prefix`, the process id and a
/// count make its name), or `None` with the reason printed: the test then
/// skips.
pub fn netns_for_test(prefix: &str) -> Option<Netns> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ns = Netns::create(&format!("{prefix}-{}-{n}", std::process::id()));
    if ns.is_none() {
        crate::skipped::skipped("cannot create a network namespace (needs root and iproute2)");
    }
    ns
}

/// Runs `f` on a thread inside the namespace named `name` (sockets it
/// opens stay there), and returns what it returns.
pub fn in_netns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{name}");
    std::thread::spawn(move || {
        synprint::sys::enter_netns(&path).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

impl Netns {
    pub fn create(name: &str) -> Option<Netns> {
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let ns = Netns(name.to_string());
        ns.exec(&["ip", "link", "set", "lo", "up"]).then_some(ns)
    }

    /// The `synprint` binary, to be run inside the namespace (its sockets
    /// and interfaces are the namespace's).
    pub fn synprint(&self) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_synprint")]);
        cmd
    }

    pub fn exec(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Whether this process may open AF_PACKET sockets. That takes CAP_NET_RAW,
/// which root may lack (a container that drops it); says so when not.
pub fn packet_sockets_allowed() -> bool {
    // SAFETY: socket(2), and close(2) of the descriptor it returned.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        crate::skipped::skipped("this process may not open AF_PACKET sockets (CAP_NET_RAW)");
        return false;
    }
    // SAFETY: as above.
    unsafe { libc::close(fd) };
    true
}

/// Whether this process may create network namespaces (root with
/// CAP_SYS_ADMIN and CAP_NET_ADMIN, which an unprivileged container's root
/// lacks): tried once, then undone; says so when not.
pub fn namespaces_allowed() -> bool {
    netns_for_test("sp-probe").is_some()
}

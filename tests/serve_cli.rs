//! The `synprint serve` binary: starts without privileges, answers, shuts
//! down cleanly on SIGTERM and SIGINT, and refuses invalid configuration
//! naming the key.

mod serve_common;
mod signals;
mod skipped;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serve_common::{announced_addresses, get};

fn start(extra_env: &[(&str, &str)]) -> (signals::KillOnDrop, SocketAddr) {
    let mut cmd = signals::synprint();
    cmd.env_remove("SYNPRINT_API_KEY");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    start_command(cmd, &[])
}

/// `synprint serve` on a free loopback port, with `extra` flags; killed
/// when dropped, so a failed assertion leaves no server behind.
fn start_command(
    mut cmd: Command,
    extra: &[&std::ffi::OsStr],
) -> (signals::KillOnDrop, SocketAddr) {
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().expect("spawn synprint serve");
    let addr = announced_addresses(&mut child, 1)[0];
    (signals::KillOnDrop(child), addr)
}

fn stops_on(signal: libc::c_int) {
    let (mut child, addr) = start(&[("SYNPRINT_API_KEY", "from-env")]);
    let r = get(addr, "/classify?detail=1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["syn_source"], "saved_syn");
    // The key came from the environment.
    assert_eq!(get(addr, "/stats?key=from-env", &[]).status, 200);
    let status = stop_with(&mut child, signal);
    assert!(status.success(), "exit status {status}");
}

fn send(child: &std::process::Child, signal: libc::c_int) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sending a signal to the child we spawned.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Sends `signal` and waits (at most 10 s) for serve to end.
fn stop_with(child: &mut std::process::Child, signal: libc::c_int) -> std::process::ExitStatus {
    send(child, signal);
    signals::wait_within(child, Duration::from_secs(10))
}

/// A hang-up whose terminal is gone: serve cannot write its "shutting
/// down" line, and still drains and exits 0 instead of panicking there.
/// Under `nohup` (SIGHUP ignored) a hang-up does not stop it at all.
#[test]
fn a_hang_up_stops_serve_cleanly_or_not_at_all() {
    use std::io::BufRead;
    let mut child = signals::synprint()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("SYNPRINT_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synprint serve");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("a start-up line").expect("text");
        if let Some(rest) = line.strip_prefix("synprint serve: listening on http://") {
            break rest.trim_end_matches("/classify").parse().expect("address");
        }
    };
    // Standard error's reader goes away, as a closed terminal does.
    drop(lines);
    assert_eq!(get(addr, "/healthz", &[]).status, 200);
    let status = stop_with(&mut child, libc::SIGHUP);
    assert!(status.success(), "exit status {status}");

    let mut cmd = signals::synprint_under_nohup();
    cmd.env_remove("SYNPRINT_API_KEY");
    let (mut child, addr) = start_command(cmd, &[]);
    send(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "stopped by an ignored SIGHUP"
    );
    assert_eq!(get(addr, "/healthz", &[]).status, 200);
    let status = stop_with(&mut child, libc::SIGTERM);
    assert!(status.success(), "exit status {status}");
}

/// Runs `cmd` to its end, which must be a success; its standard output.
fn stdout_of_success(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run synprint");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lowers the open-files limits `cmd` starts with to at most `soft` and
/// `hard`.
fn lower_open_files_limit(cmd: &mut Command, soft: libc::rlim_t, hard: libc::rlim_t) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getrlimit and setrlimit are async-signal-safe; the closure
    // touches nothing else between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            lim.rlim_max = lim.rlim_max.min(hard);
            lim.rlim_cur = lim.rlim_cur.min(soft).min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Started with a soft open-files limit of 256 (systemd's default is
/// 1,024), below its 4,096 connections, serve raises it to the hard limit.
#[test]
fn serve_raises_the_open_files_limit() {
    let mut cmd = signals::synprint();
    cmd.env_remove("SYNPRINT_API_KEY");
    lower_open_files_limit(&mut cmd, 256, libc::RLIM_INFINITY);
    let (mut child, addr) = start_command(cmd, &[]);
    assert_eq!(get(addr, "/healthz", &[]).status, 200);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let _ = child.kill();
    let _ = child.wait();
    // "Max open files  <soft>  <hard>  files"
    let (soft, hard) = (fields[3], fields[4]);
    assert!(hard == "256" || soft != "256", "{line}");
    assert_eq!(soft, hard, "{line}");
}

#[test]
fn serves_and_stops_on_sigterm() {
    stops_on(libc::SIGTERM);
}

#[test]
fn serves_and_stops_on_sigint() {
    stops_on(libc::SIGINT);
}

/// The terminal or SSH session it ran in went away.
#[test]
fn serves_and_stops_on_sighup() {
    stops_on(libc::SIGHUP);
}

#[test]
fn invalid_configuration_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, "store_per_ip = \"many\"\n").expect("write");
    let out = signals::synprint()
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`store_per_ip`"), "{err}");
    let out = signals::synprint()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SYNPRINT_TRUSTED_PROXIES", "10.0.0.0/40")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SYNPRINT_TRUSTED_PROXIES"), "{err}");
}

/// `--p0f-db` (and `SYNPRINT_P0F_DB`) put another p0f database behind the
/// answers, as `analyze --p0f-db` does; one that is not a p0f.fp stops the
/// start, naming the file.
#[test]
fn serve_uses_another_p0f_database() {
    // This kernel's own loopback SYN, as the built-in database renders it,
    // becomes the one signature of a database of our own.
    let (child, addr) = start(&[]);
    let fp = get(addr, "/classify?detail=1", &[]).json()["fp"].clone();
    drop(child);
    let raw_sig = fp["p0f"]["raw_sig"].as_str().expect("raw_sig");
    let mut fields: Vec<&str> = raw_sig.split(':').collect();
    let ttl = fields[1].split('+').next().expect("ttl");
    fields[1] = ttl;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("own.fp");
    std::fs::write(
        &db,
        format!(
            "classes = win,unix,other\n[tcp:request]\nlabel = s:unix:Testux:9\nsig = {}\n",
            fields.join(":")
        ),
    )
    .expect("write");

    let mut cmd = signals::synprint();
    cmd.env_remove("SYNPRINT_API_KEY");
    let (child, addr) = start_command(cmd, &["--p0f-db".as_ref(), db.as_os_str()]);
    let p0f = get(addr, "/classify?detail=1", &[]).json()["fp"]["p0f"].clone();
    drop(child);
    assert_eq!(p0f["os"], "Testux 9", "{p0f}");
    assert_eq!(p0f["raw_sig"], raw_sig);
    let db_text = db.to_str().expect("utf-8 path");
    let (child, addr) = start(&[("SYNPRINT_P0F_DB", db_text)]);
    let p0f = get(addr, "/classify?detail=1", &[]).json()["fp"]["p0f"].clone();
    drop(child);
    assert_eq!(p0f["os"], "Testux 9", "{p0f}");

    let not_a_db = dir.path().join("not.fp");
    std::fs::write(&not_a_db, "hello\n").expect("write");
    let out = signals::synprint()
        .args(["serve", "--listen", "127.0.0.1:0", "--p0f-db"])
        .arg(&not_a_db)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not.fp") && err.contains("line 1"), "{err}");
}

/// Trusting every address as a proxy lets any client choose the address
/// it is answered for: allowed (a deployment may firewall the port), but
/// said at start, naming the header.
#[test]
fn trusting_every_address_is_warned_about() {
    let child = signals::synprint()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--trusted-proxy",
            "::/0",
        ])
        .args(["--real-ip-header", "x-forwarded-for"])
        .env_remove("SYNPRINT_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synprint serve");
    let warning = startup_line(child, "warning");
    assert!(
        warning.contains("::/0") && warning.contains("X-Forwarded-For"),
        "{warning}"
    );
}

/// The first line of serve's start-up messages that contains `needle`;
/// serve is then stopped.
fn startup_line(mut child: std::process::Child, needle: &str) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // Start-up lines come at once; serve then runs until killed.
    let line = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(10)).ok())
        .find(|l| l.contains(needle));
    let _ = child.kill();
    let _ = child.wait();
    line.unwrap_or_else(|| panic!("no start-up line with {needle:?} before serve ended"))
}

/// serve says at start which p0f database and OS model answer: a service
/// meant to load a learned model shows whether it did.
#[test]
fn serve_names_its_database_and_model() {
    let spawn = |extra: &[&str]| {
        signals::synprint()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("SYNPRINT_API_KEY")
            .env_remove("SYNPRINT_MODEL")
            .env_remove("SYNPRINT_P0F_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn synprint serve")
    };
    let line = startup_line(spawn(&[]), "fingerprints with");
    assert!(
        line.contains("the built-in p0f database (p0f 3.09b)"),
        "{line}"
    );
    assert!(
        line.ends_with("classifies with the built-in OS model"),
        "{line}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("own.fp");
    std::fs::write(
        &db,
        "classes = win,unix,other\n[tcp:request]\nlabel = s:unix:Testux:9\nsig = *:64:0:*:*,*:mss,ws:df:0\n",
    )
    .expect("write");
    let model = dir.path().join("learned.toml");
    std::fs::write(
        &model,
        "format = \"synprint-os-model\"\nversion = 2\nkind = \"learned\"\n[class.Linux]\nsamples = 1\n",
    )
    .expect("write");
    let (db, model) = (db.to_str().expect("utf-8"), model.to_str().expect("utf-8"));
    let line = startup_line(
        spawn(&["--p0f-db", db, "--model", model]),
        "fingerprints with",
    );
    assert!(line.contains(&format!("the p0f database {db};")), "{line}");
    assert!(
        line.ends_with(&format!("the counts learned in {model}")),
        "{line}"
    );
}

/// `serve --check` prints the settings the three layers resolve to and
/// exits without serving: the configured port stays free to bind (it is
/// held here the whole time, so a check that listened would fail), and the
/// key itself is never printed. A mistyped interface, a missing model or a
/// bad value is an error, as at start.
#[test]
fn check_prints_the_settings_and_serves_nothing() {
    use std::io::Read;
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!("listen = [\"127.0.0.1:{port}\"]\nstore_ttl_secs = 60\nstore_per_ip = 5\n"),
    )
    .expect("write");
    let check = |extra: &[&str]| {
        let mut child = signals::synprint()
            .args(["serve", "--check", "--config"])
            .arg(&config)
            .args(extra)
            .env("SYNPRINT_API_KEY", "key-never-shown")
            .env_remove("SYNPRINT_MODEL")
            .env_remove("SYNPRINT_P0F_DB")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn synprint serve --check");
        let status = signals::wait_within(&mut child, Duration::from_secs(20));
        let (mut out, mut err) = (String::new(), String::new());
        let _ = child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out);
        let _ = child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err);
        (status, out, err)
    };

    let (status, out, err) = check(&["--store-per-ip", "3", "--interface", "lo"]);
    assert!(status.success(), "{status}: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"configuration OK"), "{out}");
    let want = [
        format!("would listen on http://127.0.0.1:{port}/classify"),
        "capturing SYNs on lo".to_string(),
        "API key set".to_string(),
        "the built-in OS model".to_string(),
        // The flag over the file; the file over the default.
        "3 fingerprints each".to_string(),
        "for 60 s after last seen".to_string(),
    ];
    for w in &want {
        assert!(out.contains(w.as_str()), "{w:?} missing:\n{out}");
    }
    assert!(!out.contains("key-never-shown"), "{out}");
    // An open-files limit too low for the connections is said, as at start.
    let mut low = signals::synprint();
    lower_open_files_limit(&mut low, 1024, 1024);
    low.args(["serve", "--check", "--listen", "127.0.0.1:0"])
        .args(["--max-connections", "5000"]);
    let said = stdout_of_success(&mut low);
    assert!(
        said.contains("below max_connections 5000 (raise the hard limit"),
        "{said}"
    );
    // The user serve would switch to is named with its ids.
    if let Some(nobody) = synprint::sys::account("nobody").expect("user lookup") {
        let (status, out, _) = check(&["--user", "nobody"]);
        assert!(status.success());
        let said = format!(
            "runs as user `nobody` (uid {}, gid {}) once its sockets are open",
            nobody.uid, nobody.gid
        );
        assert!(out.contains(&said), "{out}");
    }
    // The proxies trusted are named.
    let (status, out, _) = check(&["--trusted-proxy", "10.0.0.0/8"]);
    assert!(status.success());
    assert!(out.contains("when the peer is in 10.0.0.0/8"), "{out}");
    // Read by `| true` (gone before the check writes): the verdict is the
    // status, without a word; a full disk is an error (status 2, as a
    // check that fails).
    let gone = Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; { sleep 0.3; "$0" serve --check --listen 127.0.0.1:0; } | true"#)
        .arg(env!("CARGO_BIN_EXE_synprint"))
        .output()
        .expect("bash");
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(gone.status.success(), "{}: {err}", gone.status);
    assert!(!err.contains("panicked"), "{err}");
    let full = signals::synprint()
        .args(["serve", "--check", "--listen", "127.0.0.1:0"])
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(2), "{err}");
    assert!(err.contains("standard output: No space left"), "{err}");

    // What serve would refuse at start: an address not of this host, a
    // p0f socket where no socket can be made.
    let not_a_socket = config.to_str().expect("utf-8");
    for (extra, named) in [
        (&["--listen", "192.0.2.7:8249"][..], "192.0.2.7:8249"),
        (
            &["--p0f-socket", "/nonexistent/p0f.sock"][..],
            "/nonexistent/p0f.sock",
        ),
        (&["--p0f-socket", not_a_socket][..], "is not a socket"),
        (&["--interface", "synprint-none0"][..], "synprint-none0"),
        (
            &["--model", "/nonexistent/learned.toml"][..],
            "learned.toml",
        ),
        (&["--store-per-ip", "0"][..], "store-per-ip"),
        (
            &["--user", "no-such-user-synprint"][..],
            "--user`: no user named `no-such-user-synprint` on this system",
        ),
        (
            &["--user", "root"][..],
            "uid 0, which keeps every privilege",
        ),
    ] {
        let (status, out, err) = check(extra);
        assert_eq!(status.code(), Some(2), "{extra:?}: {out}{err}");
        assert!(err.contains(named), "{extra:?}: {err}");
        assert!(!out.contains("configuration OK"), "{extra:?}: {out}");
    }
    drop(held);
}

/// `--user`, as root: serve opens its listener, a capture on lo and the p0f
/// socket, then runs as that user in every thread, its groups and no
/// capability left, and what it opened still works: the kernel's saved
/// SYNs on its own port, the capture, the socket (which stays root's: the
/// user's group is not let in). Not root, the switch is refused at start,
/// nothing is served and no socket is left behind.
#[test]
fn serve_runs_as_the_user_it_is_told_once_its_sockets_are_open() {
    if !synprint::sys::is_root() {
        skipped::skipped("needs root to switch users");
        return;
    }
    let Some(nobody) = synprint::sys::account("nobody").expect("user lookup") else {
        skipped::skipped("this system has no user `nobody`");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("p0f.sock");
    let captured = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = captured.local_addr().expect("addr").port().to_string();
    let extra = [
        "--user",
        "nobody",
        "--interface",
        "lo",
        "--capture-port",
        &port,
        "--p0f-socket",
    ];
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    args.push(socket.as_os_str());
    let (mut child, addr) = start_command(signals::synprint(), &args);

    // Every thread, including those started before the switch.
    signals::assert_runs_as(&child, &nobody);
    let r = get(addr, "/classify?detail=1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["syn_source"], "saved_syn");
    a_syn_is_captured(addr, &captured);
    // p0f's query socket answers for the address /classify was asked from
    // (status 0x10: a match), and is still root's.
    let mut q = [0u8; 21];
    q[..4].copy_from_slice(&0x5030_4601u32.to_ne_bytes());
    q[4] = 4;
    q[5..9].copy_from_slice(&[127, 0, 0, 1]);
    let mut p0f = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    p0f.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::io::Write::write_all(&mut p0f, &q).expect("query");
    let mut answer = [0u8; 232];
    std::io::Read::read_exact(&mut p0f, &mut answer).expect("an answer");
    assert_eq!(answer[4..8], 0x10u32.to_ne_bytes(), "{answer:?}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&socket).expect("the p0f socket");
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    let status = stop_with(&mut child, libc::SIGTERM);
    assert!(status.success(), "exit status {status}");

    // Not root: refused, naming the user and why, before anything is served.
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let _ = std::fs::remove_file(&socket);
    let out = signals::synprint()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "nobody",
            "--p0f-socket",
        ])
        .arg(&socket)
        .uid(nobody.uid)
        .gid(nobody.gid)
        .output();
    match out {
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{err}");
            let said = format!(
                "switching to user `nobody` needs root, and synprint runs as uid {}",
                nobody.uid
            );
            assert!(err.contains(&said), "{err}");
            assert!(!err.contains("listening on"), "{err}");
            assert!(!socket.exists(), "the socket was left behind");
            // A check may run as another user than the service: it warns.
            let checked = signals::synprint()
                .args([
                    "serve",
                    "--check",
                    "--listen",
                    "127.0.0.1:0",
                    "--user",
                    "nobody",
                ])
                .uid(nobody.uid)
                .gid(nobody.gid)
                .output()
                .expect("run as nobody again");
            let text = String::from_utf8_lossy(&checked.stdout);
            assert!(checked.status.success(), "{text}");
            assert!(
                text.contains("warning: switching to user `nobody` needs root"),
                "{text}"
            );
        }
        // The test binary's folders may be closed to `nobody`.
        Err(e) => skipped::skipped(&format!(
            "cannot start synprint as nobody ({e}); the refusal is not checked"
        )),
    }
}

/// Once its captures are open, serve holds no CAP_NET_RAW in any thread,
/// and the capture goes on: started as root, and started as an
/// unprivileged user given the capability as ambient, as a systemd unit
/// gives it (`AmbientCapabilities=CAP_NET_RAW`), which is then left with
/// no capability at all.
#[test]
fn serve_gives_up_cap_net_raw_once_its_captures_are_open() {
    if !synprint::sys::is_root() {
        skipped::skipped("needs root to capture and to hand out capabilities");
        return;
    }
    let captured = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = captured.local_addr().expect("addr").port().to_string();
    let flags = ["--interface", "lo", "--capture-port", &port];
    let flags: Vec<&std::ffi::OsStr> = flags.iter().map(std::ffi::OsStr::new).collect();
    let raw = 1u64 << synprint::sys::CAP_NET_RAW;

    let (mut child, addr) = start_command(signals::synprint(), &flags);
    for status in signals::thread_statuses(&child) {
        let (permitted, effective, inheritable, ambient) = signals::capabilities(&status);
        let held = permitted | effective | inheritable | ambient;
        assert_eq!(held & raw, 0, "{status}");
        // Root keeps the rest.
        assert_ne!(effective, 0, "{status}");
    }
    a_syn_is_captured(addr, &captured);
    assert!(stop_with(&mut child, libc::SIGTERM).success());

    let Some(nobody) = synprint::sys::account("nobody").expect("user lookup") else {
        skipped::skipped("this system has no user `nobody`");
        return;
    };
    let mut setpriv = Command::new("setpriv");
    setpriv
        .arg(format!("--reuid={}", nobody.uid))
        .arg(format!("--regid={}", nobody.gid))
        .args([
            "--clear-groups",
            "--inh-caps=+net_raw",
            "--ambient-caps=+net_raw",
        ])
        .arg(env!("CARGO_BIN_EXE_synprint"));
    signals::with_default_stop_signals(&mut setpriv);
    let (mut child, addr) = start_command(setpriv, &flags);
    for status in signals::thread_statuses(&child) {
        assert_eq!(
            signals::decimals(&status, "Uid:"),
            [u64::from(nobody.uid); 4],
            "{status}"
        );
        assert_eq!(signals::capabilities(&status), (0, 0, 0, 0), "{status}");
    }
    a_syn_is_captured(addr, &captured);
    assert!(stop_with(&mut child, libc::SIGTERM).success());
}

/// Connects to `listener` and waits (at most 10 s) until serve's capture
/// on lo has counted a SYN.
fn a_syn_is_captured(addr: SocketAddr, listener: &std::net::TcpListener) {
    let _ = std::net::TcpStream::connect(listener.local_addr().expect("addr"));
    let counted = r#"synprint_syns_total{source="capture",interface="lo"} "#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = serve_common::metrics_text(addr);
        let syns = text
            .lines()
            .find_map(|l| l.strip_prefix(counted))
            .and_then(|n| n.parse::<u64>().ok());
        if syns.is_some_and(|n| n >= 1) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing captured:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// dist/synprint.service: its start command is `serve --check` first, then
/// `serve` with the same settings, both taken by synprint's parser and
/// checking out with a configuration file of our own in place of
/// /etc/synprint/serve.toml; and systemd reads the unit without a word
/// (`systemd-analyze verify`). The sandbox it sets is not run here: these
/// tests run without systemd as the init system.
#[test]
fn the_systemd_unit_starts_a_checked_serve() {
    let unit = include_str!("../dist/synprint.service");
    let line = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} line"))
    };
    let (start, pre) = (line("ExecStart="), line("ExecStartPre="));
    assert_eq!(pre.replacen(" serve --check ", " serve ", 1), start);
    const BIN: &str = "/usr/local/bin/synprint";
    const CONFIG: &str = "/etc/synprint/serve.toml";
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("serve.toml");
    let socket = dir.path().join("p0f.sock");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:0\"]\np0f_socket = \"{}\"\n",
            socket.display()
        ),
    )
    .expect("write");
    let config = config.to_str().expect("utf-8");
    let args: Vec<&str> = pre
        .split_whitespace()
        .map(|a| if a == CONFIG { config } else { a })
        .collect();
    assert_eq!(args.first(), Some(&BIN), "{pre}");
    let said = stdout_of_success(
        signals::synprint()
            .args(&args[1..])
            .env_remove("SYNPRINT_API_KEY"),
    );
    assert!(said.ends_with("configuration OK\n"), "{said}");
    assert!(said.contains("answering p0f queries on"), "{said}");

    let verify = Command::new("systemd-analyze").arg("--version").output();
    if verify.is_err() {
        skipped::skipped("systemd-analyze is not installed (Debian's systemd package)");
        return;
    }
    let unit_copy = dir.path().join("synprint.service");
    let bin = env!("CARGO_BIN_EXE_synprint");
    std::fs::write(&unit_copy, unit.replace(BIN, bin)).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_copy)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("synprint.service"), "{err}");
}

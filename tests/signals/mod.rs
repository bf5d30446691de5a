//! synprint keeps SIGHUP ignored when it starts with it ignored, as under
//! `nohup` (a CI runner may be started so). Tests that send it stop
//! signals start it with their default actions, whatever the test runner
//! inherited.
// Each test file that includes this module uses part of it.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// `synprint`, started with SIGINT, SIGTERM and SIGHUP at their defaults.
pub fn synprint() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synprint"));
    with_default_stop_signals(&mut cmd);
    cmd
}

/// Starts `cmd` (synprint, or a command that execs it: `ip netns exec`)
/// with SIGINT, SIGTERM and SIGHUP at their defaults.
pub fn with_default_stop_signals(cmd: &mut Command) -> &mut Command {
    // SAFETY: signal(2) is async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(s, libc::SIG_DFL);
            }
            Ok(())
        })
    }
}

/// `synprint`, started with SIGHUP ignored, as under `nohup`.
pub fn synprint_under_nohup() -> Command {
    let mut cmd = synprint();
    // SAFETY: as above; run after the defaults are set.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    cmd
}

/// `child`'s status once it ends, within `limit` (killed and the test
/// failed if not).
pub fn wait_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("synprint did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed when dropped, unless it has ended: one a failed
/// assertion leaves behind must not outlive the test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Limits the size of the files `cmd` writes to `bytes`, as a disk that
/// fills there: a write that crosses the limit takes the bytes below it,
/// the next fails (EFBIG) instead of SIGXFSZ killing the process.
pub fn with_file_size_limit(cmd: &mut Command, bytes: u64) -> &mut Command {
    // SAFETY: setrlimit and signal are async-signal-safe; nothing else
    // runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    cmd
}

/// The `/proc` status of each of `child`'s threads.
pub fn thread_statuses(child: &Child) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", child.id())).expect("tasks");
    tasks
        .map(|t| std::fs::read_to_string(t.expect("task").path().join("status")).expect("status"))
        .collect()
}

fn field<'s>(status: &'s str, name: &str) -> &'s str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .expect("a status field")
}

/// A status line of decimal numbers (`Uid:`, `Groups:`).
pub fn decimals(status: &str, name: &str) -> Vec<u64> {
    let numbers = field(status, name).split_whitespace();
    numbers.map(|n| n.parse().expect("a number")).collect()
}

/// A thread's permitted, effective, inheritable and ambient capability
/// sets.
pub fn capabilities(status: &str) -> (u64, u64, u64, u64) {
    let hex = |name| u64::from_str_radix(field(status, name).trim(), 16).expect("hex");
    (
        hex("CapPrm:"),
        hex("CapEff:"),
        hex("CapInh:"),
        hex("CapAmb:"),
    )
}

/// Every thread of `child` runs as `account`: its ids (real, effective,
/// saved, filesystem), its group among no root group, no capability.
pub fn assert_runs_as(child: &Child, account: &synprint::sys::Account) {
    for status in thread_statuses(child) {
        let ids = |name: &str| decimals(&status, name);
        assert_eq!(ids("Uid:"), [u64::from(account.uid); 4], "{status}");
        assert_eq!(ids("Gid:"), [u64::from(account.gid); 4], "{status}");
        let groups = ids("Groups:");
        assert!(groups.contains(&u64::from(account.gid)), "{status}");
        assert!(!groups.contains(&0) || account.gid == 0, "{status}");
        assert_eq!(capabilities(&status), (0, 0, 0, 0), "{status}");
    }
}

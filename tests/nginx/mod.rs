//! nginx as a real web server in a test's network namespace, and the
//! README, whose nginx and tcpdump lines the tests run as written.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use super::kernel::Netns;

pub fn nginx_missing() -> bool {
    for (tool, arg) in [("nginx", "-v"), ("curl", "--version")] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            crate::skipped::skipped(&format!("{tool} is not installed"));
            return true;
        }
    }
    false
}

pub fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// nginx in the namespace, in the foreground, its files in `dir`;
/// stopped on drop.
pub struct Nginx(Child);

impl Nginx {
    /// `http` goes in the `http` block, `server` in a server listening on
    /// `port` of the IPv4 and IPv6 loopback.
    pub fn start(ns: &Netns, dir: &Path, http: &str, server: &str, port: u16) -> Nginx {
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{http}\n\
             server {{\n listen 127.0.0.1:{port};\n listen [::1]:{port};\n{server}}}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "nginx", "-p"])
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        Nginx(child)
    }

    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// curl in the namespace, with `args` before the URL.
pub fn curl(ns: &Netns, args: &[&str], url: &str) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &ns.0, "curl", "-s", "--max-time", "5"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl")
}

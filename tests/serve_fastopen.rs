//! A TCP Fast Open SYN carries data, which the kernel does not keep with
//! the saved SYN: the connection's own fingerprint still comes from it,
//! with the packet's lengths. A network namespace with
//! `net.ipv4.tcp_fastopen = 0x607` (client and server, no cookie needed)
//! makes the first request's SYN carry it. Needs root and `ip`; skips
//! otherwise.

mod kernel;
mod serve_common;
mod skipped;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;

use serve_common::{loopback_config, TestServer};

/// `request` sent in the SYN (MSG_FASTOPEN); the whole answer.
fn fast_open(to: SocketAddr, request: &[u8]) -> String {
    let SocketAddr::V4(v4) = to else {
        panic!("an IPv4 address")
    };
    // SAFETY: a plain socket call; the descriptor is owned at once below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let mut stream = unsafe { TcpStream::from_raw_fd(fd) };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: the buffer and the address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd,
            request.as_ptr().cast(),
            request.len(),
            libc::MSG_FASTOPEN,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(
        usize::try_from(sent).ok(),
        Some(request.len()),
        "sendto: {}",
        std::io::Error::last_os_error()
    );
    stream.flush().expect("flush");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("answer");
    text
}

#[test]
fn a_fast_open_syn_with_data_is_fingerprinted() {
    // Says why when it cannot (not root, no iproute2).
    let Some(ns) = kernel::netns_for_test("synprint-tfo") else {
        return;
    };
    assert!(ns.exec(&["sysctl", "-qw", "net.ipv4.tcp_fastopen=0x607"]));
    let request = b"GET /classify?detail=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let answer = kernel::in_netns(&ns.0, move || {
        let mut config = loopback_config();
        config.listen.truncate(1);
        let srv = TestServer::start(config);
        fast_open(srv.addr(false), request)
    });
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let j: serde_json::Value = serde_json::from_str(body).expect("a JSON answer");
    let fp = &j["fp"];
    // 20 bytes of IP header, the SYN's TCP header, the request.
    let tcp_header = fp["tcp_off"].as_u64().expect("tcp_off") * 4;
    let length = 20 + tcp_header + request.len() as u64;
    assert_eq!(fp["ip_total_length"], length, "{j}");
    let sig = fp["p0f"]["raw_sig"].as_str().expect("raw_sig");
    assert!(sig.ends_with(":+"), "data in the SYN is p0f's `+`: {sig}");
    assert_eq!(j["syn_source"], "saved_syn", "{j}");
    assert!(fp["classification"]["scores"].is_object(), "{j}");
}

//! Capture-mode throughput: replays crafted SYNs over a veth pair between
//! two network namespaces as fast as one sender thread can go (sendmmsg, 256 frames per call), and reports
//! how many the AF_PACKET capture received, fingerprinted, and the kernel
//! dropped. Needs root and `ip` (iproute2); creates and always removes the
//! namespaces `synprint-load-a` / `synprint-load-b`.
//!
//!     [SENDERS=2] cargo run --release --example capture_load -- [SYNS]

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use synprint::analyze::Engine;
use synprint::capture::{CaptureCounters, CaptureOptions, LiveCapture};
use synprint::craft::{ethernet_frame, Stack};
use synprint::serve::capture_into;
use synprint::store::{FingerprintStore, MemoryStore, StoreConfig};
use synprint::sys;

const A: &str = "synprint-load-a";
const B: &str = "synprint-load-b";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        ip(&["netns", "del", A]);
        ip(&["netns", "del", B]);
    }
}

fn in_netns<T: Send + 'static>(ns: &'static str, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        if let Err(e) = sys::enter_netns(&format!("/run/netns/{ns}")) {
            eprintln!("setns {ns}: {e}");
            std::process::exit(1);
        }
        f()
    })
    .join()
    .unwrap_or_else(|_| std::process::exit(1))
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    if !sys::is_root() {
        eprintln!("capture_load needs root (network namespaces, AF_PACKET)");
        std::process::exit(1);
    }
    let _cleanup = Cleanup;
    let ok = ip(&["netns", "add", A])
        && ip(&["netns", "add", B])
        && ip(&[
            "link", "add", "sploada", "netns", A, "type", "veth", "peer", "name", "sploadb",
            "netns", B,
        ])
        && ip(&["-n", A, "link", "set", "sploada", "up"])
        && ip(&["-n", B, "link", "set", "sploadb", "up"]);
    if !ok {
        eprintln!("could not set up the namespaces");
        std::process::exit(1);
    }
    let capture = match in_netns(B, || {
        LiveCapture::open("sploadb", &CaptureOptions::default())
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    // The frames: distinct connections from varied stacks, to an address
    // nobody owns in B, so B's kernel drops them after the capture instead
    // of answering each with a RST.
    let stacks = [Stack::Windows, Stack::MacOs, Stack::Android, Stack::Linux];
    let dst = IpAddr::V4(Ipv4Addr::new(10, 78, 0, 99));
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i >> 8)));
            let port = 1024 + (i & 0xff) as u16;
            let stack = stacks[i as usize % stacks.len()];
            ethernet_frame(&stack.syn(src, port, dst, 443, i).ip_bytes())
        })
        .collect();

    let engine = Arc::new(Engine::default());
    let store = Arc::new(MemoryStore::new(StoreConfig::default()));
    let counters = Arc::new(CaptureCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (engine, store, counters, stop) = (
            Arc::clone(&engine),
            Arc::clone(&store),
            Arc::clone(&counters),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            capture_into(capture, &engine, store.as_ref(), &counters, &stop, None)
        })
    };

    // Senders split the frames; SENDERS=2 uses both cores of a small
    // machine for sending (the veth transmit path also runs the receive
    // side, filter and ring copy included, on the sending CPU).
    let senders: usize = std::env::var("SENDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let chunk = frames.len().div_ceil(senders).max(1);
    let frames = Arc::new(frames);
    let start = Instant::now();
    let handles: Vec<_> = (0..senders)
        .map(|k| {
            let frames = Arc::clone(&frames);
            std::thread::spawn(move || {
                in_netns(A, move || {
                    let Ok(idx) = sys::ifindex("sploada") else {
                        return 0u64;
                    };
                    let Ok(sock) = sys::PacketSocket::open(false) else {
                        return 0;
                    };
                    let mut sent = 0u64;
                    let mut rest = frames.chunks(chunk).nth(k).unwrap_or_default();
                    while !rest.is_empty() {
                        match sock.send_batch(idx, rest) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                sent += n as u64;
                                rest = rest.get(n..).unwrap_or_default();
                            }
                        }
                    }
                    sent
                })
            })
        })
        .collect();
    let sent: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let send_secs = start.elapsed().as_secs_f64();
    // Let the reader drain the ring (blocks retire after 10 ms).
    let mut last = u64::MAX;
    while counters.received.load(Relaxed) != last {
        last = counters.received.load(Relaxed);
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Relaxed);
    let _ = reader.join();
    let total_secs = start.elapsed().as_secs_f64();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = store.stats(synprint::packet::Timestamp::from_secs_nanos(
        wall.as_secs(),
        wall.subsec_nanos(),
    ));
    println!(
        "sent:        {sent} SYNs in {send_secs:.2} s ({:.0}/s)",
        sent as f64 / send_secs
    );
    println!(
        "kernel:      {} passed the filter, {} dropped (ring full)",
        counters.kernel_packets.load(Relaxed),
        counters.kernel_drops.load(Relaxed)
    );
    println!(
        "received:    {}; fingerprinted {}; not fingerprinted {}",
        counters.received.load(Relaxed),
        counters.records.load(Relaxed),
        counters.not_fingerprinted.load(Relaxed)
    );
    println!(
        "store:       {} addresses, {} connections, {} evicted addresses ({total_secs:.2} s in all)",
        s.ips, s.connections, s.evicted_ips
    );
}

//! Measures the capture reader and the packet decoder on generated
//! captures held in memory (no disk I/O):
//!
//! ```text
//! cargo run --release --example decode_speed
//! ```
//!
//! Prints nanoseconds per packet for merely walking the records and for
//! walking plus decoding, on a SYN-only capture and on a mixed one.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use synprint::capture::{ByteOrder, CaptureReader, PcapWriter, PcapngInterface, PcapngWriter};
use synprint::craft::{ethernet_frame, Stack, TcpPacket};
use synprint::packet::{decode, flags, LinkType, Timestamp};

const SYNS: u32 = 1_000_000;
const CONNECTIONS: u32 = 100_000;

fn addr(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)))
}

fn syn_frames() -> Vec<Vec<u8>> {
    (0..SYNS)
        .map(|n| {
            let stack = Stack::ALL[n as usize % Stack::ALL.len()];
            let p = stack.syn(addr(n), 1024 + (n % 60000) as u16, addr(1), 443, n);
            ethernet_frame(&p.ip_bytes())
        })
        .collect()
}

/// About ten packets per connection: handshake, data both ways, FIN.
fn mixed_frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for n in 0..CONNECTIONS {
        let syn = Stack::Linux.syn(addr(n), 1024 + (n % 60000) as u16, addr(1), 443, n);
        let syn_ack = TcpPacket::syn_ack_for(&syn);
        let mut c = syn.clone();
        c.options.clear();
        c.flags = flags::ACK;
        let mut s = syn_ack.clone();
        s.options.clear();
        s.flags = flags::ACK;
        let mut frames = vec![syn.ip_bytes(), syn_ack.ip_bytes(), c.ip_bytes()];
        for i in 0..3 {
            c.flags = flags::ACK | flags::PSH;
            c.payload = vec![b'a'; 100 + i * 200];
            s.flags = flags::ACK | flags::PSH;
            s.payload = vec![b'b'; 1400];
            frames.push(c.ip_bytes());
            frames.push(s.ip_bytes());
        }
        c.payload.clear();
        c.flags = flags::ACK | flags::FIN;
        frames.push(c.ip_bytes());
        out.extend(frames.iter().map(|f| ethernet_frame(f)));
    }
    out
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(Timestamp(i as u64 * 1000), f).unwrap();
    }
    w.into_inner()
}

fn pcapng(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    let i = w
        .add_interface(PcapngInterface::new(LinkType::ETHERNET))
        .unwrap();
    for (n, f) in frames.iter().enumerate() {
        w.write(i, Timestamp(n as u64 * 1000), f).unwrap();
    }
    w.into_inner()
}

fn best_of<F: FnMut() -> usize>(mut f: F) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..5 {
        let t = Instant::now();
        n = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
}

fn measure(name: &str, file: &[u8]) {
    let (walk, n) = best_of(|| {
        let mut r = CaptureReader::new(file).unwrap();
        let mut n = 0;
        while let Some(f) = r.next_frame().unwrap() {
            black_box(f.data);
            n += 1;
        }
        n
    });
    let (full, syns) = best_of(|| {
        let mut r = CaptureReader::new(file).unwrap();
        let mut syns = 0;
        while let Some(f) = r.next_frame().unwrap() {
            if let Ok(Some(o)) = decode(f.link, f.ts, f.data) {
                black_box(&o);
                syns += 1;
            }
        }
        syns
    });
    let per = |s: f64| s * 1e9 / n as f64;
    println!(
        "{name:>14}: {n} packets ({syns} SYN-kind): walk {:.1} ns/pkt ({:.1} M/s), walk+decode {:.1} ns/pkt ({:.1} M/s), decode alone ~{:.1} ns/pkt",
        per(walk),
        n as f64 / walk / 1e6,
        per(full),
        n as f64 / full / 1e6,
        per(full) - per(walk),
    );
}

/// Decoding frames already in memory, without the reader.
fn decode_only(name: &str, frames: &[Vec<u8>]) {
    let (secs, syns) = best_of(|| {
        frames
            .iter()
            .filter(|f| {
                matches!(
                    black_box(decode(LinkType::ETHERNET, Timestamp(1), f)),
                    Ok(Some(_))
                )
            })
            .count()
    });
    println!(
        "{name:>14}: decode only {:.1} ns/pkt over {} packets ({syns} SYN-kind)",
        secs * 1e9 / frames.len() as f64,
        frames.len()
    );
}

fn main() {
    let syn = syn_frames();
    let mixed = mixed_frames();
    decode_only("syn", &syn);
    decode_only("mixed", &mixed);
    measure("syn pcap", &pcap(&syn));
    measure("syn pcapng", &pcapng(&syn));
    measure("mixed pcap", &pcap(&mixed));
    measure("mixed pcapng", &pcapng(&mixed));
}

//! Live capture: the SYNs and SYN+ACKs crossing an interface, from an
//! AF_PACKET socket with a kernel-side BPF filter and a TPACKET_V3
//! memory-mapped ring. `synprint analyze --interface` writes their records
//! as it reads a file's; `synprint serve --interface` puts them in its store.
//!
//! A named Ethernet (or loopback) interface is read with SOCK_RAW and
//! decoded as Ethernet frames; `any` and interfaces without an Ethernet
//! header (tun, PPP, WireGuard) are read with SOCK_DGRAM, where the kernel
//! strips the link header and the packet is decoded as bare IP.

use std::io;
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::time::{Duration, Instant};

use super::bpf;
use crate::packet::{LinkType, Timestamp};
use crate::sys::{self, PacketSocket, Ring};

#[derive(Debug, thiserror::Error)]
pub enum LiveCaptureError {
    #[error(
        "capturing on interface `{interface}` needs the CAP_NET_RAW capability (run as root, or \
         `sudo setcap cap_net_raw+ep $(which synprint)`); without it, leave out --interface: \
         `synprint serve` fingerprints the connections to its own port with no privileges, and \
         `tcpdump -w - | synprint analyze -` reads another capturer's packets"
    )]
    NoCapNetRaw { interface: String },
    #[error("no network interface named `{interface}`: {source}")]
    NoSuchInterface {
        interface: String,
        source: io::Error,
    },
    #[error("capture on `{interface}`: the interface was deleted")]
    Gone { interface: String },
    #[error(
        "promiscuous mode needs a named interface: `any` stands for all of them and cannot be \
         made promiscuous (name the mirror port, e.g. --interface eth1)"
    )]
    PromiscuousAny,
    #[error("capture on `{interface}`: {step} failed: {source}")]
    Io {
        interface: String,
        step: &'static str,
        source: io::Error,
    },
}

/// Ring geometry: 32 blocks of 1 MiB hold about 100,000 SYNs, a third of a
/// second at 300,000 SYNs/s; a block is handed over after 10 ms even when
/// not full, which bounds the delay before a SYN's record is made.
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCK_NR: u32 = 32;
const BLOCK_TIMEOUT_MS: u32 = 10;
/// How often the kernel's packet and drop counts are read while blocks keep
/// coming (they are read whenever the ring runs dry, too).
const KERNEL_STATS_EVERY: Duration = Duration::from_millis(100);

/// Where a capture is in stopping: once asked to stop, it reads what the
/// ring holds (at most one ring's worth of blocks) and waits once for the
/// block being filled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopping {
    No,
    Draining { left: usize, waited: bool },
}

/// How the packets of one capture start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Ethernet,
    /// Bare IP (SOCK_DGRAM).
    Ip,
}

/// Counters of one capture, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct CaptureCounters {
    /// Packets the kernel passed the filter (PACKET_STATISTICS).
    pub kernel_packets: AtomicU64,
    /// Packets the kernel dropped because the ring was full.
    pub kernel_drops: AtomicU64,
    /// Packets read from the ring.
    pub received: AtomicU64,
    /// Records made of them (first-seen SYN or SYN+ACK), counted by the
    /// caller that makes them at each block's end.
    pub records: AtomicU64,
    /// Packets read that made no record (skips, retransmissions), counted
    /// with `records`. A counter of its own, not `received - records`:
    /// `received` grows before a block's records are counted, and a
    /// difference read between the two would fall back afterwards.
    pub not_fingerprinted: AtomicU64,
    /// The capture ended on an error (its interface went away): it
    /// delivers nothing more.
    pub stopped: AtomicBool,
    /// The interface is down (`ip link set ... down`); the capture waits
    /// for it. Stays set once the interface is gone (and `stopped` set).
    pub link_down: AtomicBool,
    /// Wall-clock nanoseconds since the Unix epoch before which every
    /// packet the kernel put in the ring has been delivered, the end of its
    /// block included: a lookup asked at time T that waits until this
    /// passes T finds every SYN that arrived before T (`u64::MAX` once the
    /// capture has ended: nothing more comes).
    pub caught_up_ns: AtomicU64,
    /// Wakes the capture when it waits on a quiet link, so that it says at
    /// once that it has caught up (made when the capture starts; `None`
    /// where the kernel gave no eventfd: the capture then looks every
    /// 5 ms instead of every 100).
    wake: std::sync::OnceLock<Option<sys::Wake>>,
}

impl CaptureCounters {
    /// Whether everything the capture's kernel ring held at `t` (wall
    /// clock) has been delivered.
    pub fn caught_up_to(&self, t: Timestamp) -> bool {
        self.caught_up_ns.load(Acquire) >= t.0
    }

    /// Set, not raised to a maximum (one thread writes it): a wall clock
    /// stepped back (NTP at boot, `date -s`) must bring it back too, or
    /// every lookup would pass at once for the size of the step.
    fn caught_up(&self, t: Timestamp) {
        self.caught_up_ns.store(t.0, Release);
    }

    /// Asks a capture waiting on a quiet link to look at its ring now (a
    /// lookup wants it to catch up).
    pub fn wake(&self) {
        if let Some(Some(w)) = self.wake.get() {
            w.wake();
        }
    }

    /// The capture has ended (on an error or a panic of its thread, too):
    /// no lookup waits for it.
    fn ended(&self) {
        self.caught_up_ns.store(u64::MAX, Release);
    }
}

/// However [`LiveCapture::stream`] ends, a panic in its caller's
/// `deliver` included: no lookup waits for it any more, and one that ended
/// in a panic counts as stopped (`/healthz` says so).
struct EndsOnDrop<'a>(&'a CaptureCounters);

impl Drop for EndsOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stopped.store(true, Relaxed);
        }
        self.0.ended();
    }
}

/// Why [`LiveCapture::stream`] stopped before it was asked to.
#[derive(Debug)]
pub enum Stopped<E> {
    /// The caller's `deliver` failed.
    Deliver(E),
    Capture(LiveCaptureError),
}

/// What [`LiveCapture::stream`] hands its caller, in order.
pub enum Delivery<'r> {
    /// A frame the kernel passed, starting with a header of `link`.
    Frame {
        link: LinkType,
        ts: Timestamp,
        data: &'r [u8],
    },
    /// The kernel's last block is all out: nothing more comes until the
    /// next one (an analyzer hands over what it held back, a writer
    /// flushes).
    BlockEnd,
    /// Something for the caller to tell its user; the capture goes on.
    Link(LinkEvent<'r>),
}

/// What happened to a capture's link (shown as `the link is down; waiting
/// for it`, ...).
#[derive(Debug)]
pub enum LinkEvent<'a> {
    /// The link went down; the capture waits for it.
    Down,
    /// It came back.
    Up,
    /// Waiting for the next block failed; the capture tries again.
    PollFailed(&'a std::io::Error),
}

impl std::fmt::Display for LinkEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEvent::Down => f.write_str("the link is down; waiting for it"),
            LinkEvent::Up => f.write_str("the link is up again"),
            LinkEvent::PollFailed(e) => write!(f, "poll: {e}"),
        }
    }
}

pub struct LiveCapture {
    interface: String,
    /// 0 for `any`.
    ifindex: u32,
    ring: Ring,
    framing: Framing,
    options: CaptureOptions,
}

/// What a live capture takes besides its interface.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureOptions {
    /// Only SYNs to (and SYN+ACKs from) this port.
    pub port: Option<u16>,
    /// Puts the interface into promiscuous mode while the capture runs, as
    /// a mirror (SPAN) port needs: frames addressed to other hosts' MACs
    /// are otherwise dropped by the network card.
    pub promiscuous: bool,
    /// Also reads the SYNs inside tunnels (VXLAN, GRE and ERSPAN, Geneve,
    /// IP-in-IP, MPLS, PPPoE, ...), as a collector of mirrored traffic
    /// needs: the kernel then passes every packet of those tunnels.
    pub tunnels: bool,
}

impl CaptureOptions {
    /// The interface's modes, as start-up lines show them.
    fn mode(&self) -> &'static str {
        match (self.promiscuous, self.tunnels) {
            (false, false) => "",
            (true, false) => " (promiscuous)",
            (false, true) => " (with tunnels)",
            (true, true) => " (promiscuous, with tunnels)",
        }
    }

    /// What start-up lines add after the interface's name, the port and
    /// the filter too: ` (promiscuous), port 443, filter 'ip6'`.
    pub fn described(&self, filter: Option<&crate::packet::Filter>) -> String {
        let port = self
            .port
            .map(|port| format!(", port {port}"))
            .unwrap_or_default();
        let filter = filter
            .map(|f| format!(", filter '{f}'"))
            .unwrap_or_default();
        format!("{}{port}{filter}", self.mode())
    }

    fn filter_scope(&self) -> bpf::Scope {
        bpf::Scope {
            port: self.port,
            tunnels: self.tunnels,
        }
    }
}

/// ARPHRD_ETHER (1) and ARPHRD_LOOPBACK (772) carry Ethernet headers.
fn has_ethernet_header(interface: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{interface}/type"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .is_some_and(|t| t == 1 || t == 772)
}

impl LiveCapture {
    /// Opens the socket, attaches the filter, maps the ring. Errors here are
    /// start-up errors: the caller reports them and exits.
    pub fn open(
        interface: &str,
        options: &CaptureOptions,
    ) -> Result<LiveCapture, LiveCaptureError> {
        if options.promiscuous && interface == "any" {
            return Err(LiveCaptureError::PromiscuousAny);
        }
        let io_err = |step: &'static str| {
            let interface = interface.to_string();
            move |source: io::Error| LiveCaptureError::Io {
                interface,
                step,
                source,
            }
        };
        let (ifindex, framing) = if interface == "any" {
            (0, Framing::Ip)
        } else {
            let idx =
                sys::ifindex(interface).map_err(|source| LiveCaptureError::NoSuchInterface {
                    interface: interface.to_string(),
                    source,
                })?;
            let framing = if has_ethernet_header(interface) {
                Framing::Ethernet
            } else {
                Framing::Ip
            };
            (idx, framing)
        };
        let socket = PacketSocket::open(framing == Framing::Ip).map_err(|e| {
            if e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::EACCES) {
                LiveCaptureError::NoCapNetRaw {
                    interface: interface.to_string(),
                }
            } else {
                io_err("socket(AF_PACKET)")(e)
            }
        })?;
        // Filter before binding so no unfiltered packet is queued.
        let l3 = if framing == Framing::Ethernet {
            bpf::ETHERNET_L3
        } else {
            0
        };
        socket
            .attach_filter(&bpf::syn_filter(l3, options.filter_scope()))
            .map_err(io_err("attaching the BPF filter"))?;
        socket.bind(ifindex).map_err(io_err("bind"))?;
        if options.promiscuous {
            socket
                .add_promiscuous(ifindex)
                .map_err(io_err("entering promiscuous mode"))?;
        }
        let ring = socket
            .map_ring(BLOCK_SIZE, BLOCK_NR, BLOCK_TIMEOUT_MS)
            .map_err(io_err("mapping the TPACKET_V3 ring"))?;
        Ok(LiveCapture {
            interface: interface.to_string(),
            ifindex,
            ring,
            framing,
            options: *options,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn options(&self) -> &CaptureOptions {
        &self.options
    }

    /// Reads until `keep_going` says no (asked at least every 100 ms, and
    /// then what the kernel had passed before is read too), `deliver` fails
    /// or the interface is deleted. The kernel hands packets over in blocks
    /// (at the latest 10 ms after a block's first): each block's frames are
    /// delivered, then [`Delivery::BlockEnd`]. While the link is down the
    /// capture waits (delivered once as a [`LinkEvent`]); it resumes when
    /// the link comes back.
    pub fn stream<E>(
        &mut self,
        counters: &CaptureCounters,
        keep_going: impl Fn() -> bool,
        deliver: &mut impl FnMut(Delivery) -> Result<(), E>,
    ) -> Result<(), Stopped<E>> {
        let link = match self.framing {
            Framing::Ethernet => LinkType::ETHERNET,
            Framing::Ip => LinkType::RAW,
        };
        let _ends = EndsOnDrop(counters);
        let wake = counters.wake.get_or_init(|| sys::Wake::new().ok()).as_ref();
        // Lookups wake a quiet capture to learn it has read everything; a
        // process out of descriptors gets no eventfd, and then the capture
        // looks on its own, often enough that lookups hardly wait.
        let idle_poll_ms = if wake.is_some() { 100 } else { 5 };
        let mut block = 0usize;
        let blocks = self.ring.block_count().max(1);
        let mut stopping = Stopping::No;
        let mut stats_read = Instant::now();
        let result = loop {
            if stopping == Stopping::No && !keep_going() {
                stopping = Stopping::Draining {
                    left: blocks,
                    waited: false,
                };
            }
            let Some(data) = self.ring.user_block(block) else {
                if let Stopping::Draining { left, waited } = stopping {
                    // What passed the filter before the stop is read too:
                    // the blocks ready, and the one being filled, which the
                    // kernel hands over within its timeout.
                    if waited {
                        break Ok(());
                    }
                    let _ = self.ring.socket().poll(3 * BLOCK_TIMEOUT_MS as i32, None);
                    stopping = Stopping::Draining { left, waited: true };
                    continue;
                }
                // Every block the kernel handed over is delivered: if the
                // one it fills is empty, so is everything before now.
                let now = Timestamp::wall_clock();
                if !self.ring.kernel_block_holds_packets(block) {
                    counters.caught_up(now);
                }
                self.update_kernel_stats(counters);
                stats_read = Instant::now();
                let told = match self.ring.socket().poll(idle_poll_ms, wake) {
                    Ok(_) => Ok(()),
                    // Said once, however many times the kernel repeats it.
                    Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                        match counters.link_down.swap(true, Relaxed) {
                            true => Ok(()),
                            false => deliver(Delivery::Link(LinkEvent::Down)),
                        }
                    }
                    Err(e) => {
                        let told = deliver(Delivery::Link(LinkEvent::PollFailed(&e)));
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        told
                    }
                };
                if let Err(e) = told {
                    break Err(Stopped::Deliver(e));
                }
                // The kernel tells the socket when a link is set down, not
                // when it loses its carrier (a cable pulled, a SPAN port's
                // peer gone) nor when it comes back (a quiet link would look
                // down until its next packet): a quiet link is asked, once.
                let up = self.interface_is_up();
                if !up && !counters.link_down.load(Relaxed) {
                    counters.link_down.store(true, Relaxed);
                    if let Err(e) = deliver(Delivery::Link(LinkEvent::Down)) {
                        break Err(Stopped::Deliver(e));
                    }
                }
                let link_down = counters.link_down.load(Relaxed);
                // A deleted interface only ever looks down.
                if link_down && !self.interface_exists() {
                    break Err(Stopped::Capture(LiveCaptureError::Gone {
                        interface: self.interface.clone(),
                    }));
                }
                if link_down && up {
                    if let Err(e) = link_up(counters, deliver) {
                        break Err(Stopped::Deliver(e));
                    }
                }
                continue;
            };
            if let Stopping::Draining { left, waited } = stopping {
                // Bounded: a flood must not keep a stopped capture reading.
                let Some(left) = left.checked_sub(1) else {
                    break Ok(());
                };
                stopping = Stopping::Draining { left, waited };
            }
            if counters.link_down.load(Relaxed) {
                if let Err(e) = link_up(counters, deliver) {
                    break Err(Stopped::Deliver(e));
                }
            }
            let (mut result, mut frames, mut last) = (Ok(()), 0, None);
            walk_block(data, |ts, data| {
                frames += 1;
                last = Some(ts);
                if result.is_ok() {
                    result = deliver(Delivery::Frame { link, ts, data });
                }
            });
            counters.received.fetch_add(frames, Relaxed);
            self.ring.release(block);
            block = (block + 1) % blocks;
            // A ring that never runs dry would otherwise show the kernel's
            // drops only once the flood is over.
            if stats_read.elapsed() >= KERNEL_STATS_EVERY {
                self.update_kernel_stats(counters);
                stats_read = Instant::now();
            }
            if let Err(e) = result.and_then(|()| deliver(Delivery::BlockEnd)) {
                break Err(Stopped::Deliver(e));
            }
            // The kernel fills blocks in order, in the order packets come;
            // a stamp ahead of the clock (stepped back since) claims no more
            // than now.
            if let Some(ts) = last {
                counters.caught_up(ts.min(Timestamp::wall_clock()));
            }
        };
        // On every way out: the summary's kernel counts go with the
        // packets read.
        self.update_kernel_stats(counters);
        result
    }

    /// Whether the interface the socket is bound to still exists. Asked of
    /// the socket: the capture may have been opened in another network
    /// namespace than the thread reading it.
    fn interface_exists(&self) -> bool {
        self.ifindex == 0 || self.ring.socket().bound_ifindex().is_ok_and(|i| i > 0)
    }

    /// Whether the interface is up again after the kernel said it went
    /// down (a capture on all interfaces has no one link to ask about).
    fn interface_is_up(&self) -> bool {
        self.ifindex == 0 || self.ring.socket().bound_interface_is_up().unwrap_or(false)
    }

    fn update_kernel_stats(&self, counters: &CaptureCounters) {
        if let Ok((packets, drops)) = self.ring.socket().statistics() {
            counters
                .kernel_packets
                .fetch_add(u64::from(packets), Relaxed);
            counters.kernel_drops.fetch_add(u64::from(drops), Relaxed);
        }
    }
}

/// The link is up again (a packet came, or the interface says so): said
/// once.
fn link_up<E>(
    counters: &CaptureCounters,
    deliver: &mut impl FnMut(Delivery) -> Result<(), E>,
) -> Result<(), E> {
    counters.link_down.store(false, Relaxed);
    deliver(Delivery::Link(LinkEvent::Up))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes(s.try_into().ok()?))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes(s.try_into().ok()?))
}

/// Calls `f` for each packet of one TPACKET_V3 block. Every offset the
/// kernel wrote is bounds-checked; a malformed block ends the walk.
///
/// Layout (linux/if_packet.h): the block descriptor has `num_pkts` at 12
/// and `offset_to_first_pkt` at 16; each `tpacket3_hdr` has
/// `tp_next_offset` at 0, `tp_sec` 4, `tp_nsec` 8, `tp_snaplen` 12,
/// `tp_mac` 24.
fn walk_block(block: &[u8], mut f: impl FnMut(Timestamp, &[u8])) {
    let (Some(num), Some(first)) = (u32_at(block, 12), u32_at(block, 16)) else {
        return;
    };
    let mut off = first as usize;
    for _ in 0..num {
        let Some(hdr) = block.get(off..) else { return };
        let (Some(next), Some(sec), Some(nsec), Some(snap), Some(mac)) = (
            u32_at(hdr, 0),
            u32_at(hdr, 4),
            u32_at(hdr, 8),
            u32_at(hdr, 12),
            u16_at(hdr, 24),
        ) else {
            return;
        };
        let start = usize::from(mac);
        if let Some(frame) = hdr.get(start..start.saturating_add(snap as usize)) {
            f(Timestamp::from_secs_nanos(u64::from(sec), nsec), frame);
        }
        if next == 0 {
            return;
        }
        off = off.saturating_add(next as usize);
    }
}

/// Opens every configured interface, or fails on the first that cannot be.
pub fn open_all(
    interfaces: &[String],
    options: &CaptureOptions,
) -> Result<Vec<LiveCapture>, LiveCaptureError> {
    interfaces
        .iter()
        .map(|i| LiveCapture::open(i, options))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    #[test]
    fn walks_packets_and_stops_at_bad_offsets() {
        let mut block = vec![0u8; 512];
        put32(&mut block, 12, 3); // three packets claimed
        put32(&mut block, 16, 48);
        // Packet 1 at 48: next at +80, 4 bytes of data at +32.
        put32(&mut block, 48, 80);
        put32(&mut block, 48 + 4, 7);
        put32(&mut block, 48 + 8, 9);
        put32(&mut block, 48 + 12, 4);
        block[48 + 24..48 + 26].copy_from_slice(&32u16.to_ne_bytes());
        block[48 + 32..48 + 36].copy_from_slice(b"abcd");
        // Packet 2 at 128: data runs past the block, next offset huge.
        put32(&mut block, 128, u32::MAX);
        put32(&mut block, 128 + 12, 1000);
        block[128 + 24..128 + 26].copy_from_slice(&32u16.to_ne_bytes());
        let mut seen = Vec::new();
        walk_block(&block, |ts, f| seen.push((ts, f.to_vec())));
        assert_eq!(
            seen,
            vec![(Timestamp::from_secs_nanos(7, 9), b"abcd".to_vec())]
        );
        walk_block(&[0u8; 10], |_, _| panic!("no packets in a short block"));
    }

    #[test]
    fn unknown_interface_is_named() {
        match LiveCapture::open("synprint-nonexistent0", &CaptureOptions::default()) {
            Err(LiveCaptureError::NoSuchInterface { interface, .. }) => {
                assert_eq!(interface, "synprint-nonexistent0")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a nonexistent interface"),
        }
    }
}

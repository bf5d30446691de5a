//! The few Linux system calls synprint needs that neither std, tokio nor
//! socket2 wrap: saved SYNs and TCP_INFO on accepted sockets, AF_PACKET
//! sockets with a BPF filter and a TPACKET_V3 ring, a stop flag set by
//! SIGINT/SIGTERM/SIGHUP for the synchronous live capture, and entering a network
//! namespace (for the capture tests), reserving a file's blocks ahead
//! of its writes (fallocate), an advisory lock (flock), and switching to
//! another user (`--user`) with its capability check. Every `unsafe` block of the crate but
//! the two memory hints in `hint` is here, each with the reason it is sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// `TCP_SAVE_SYN`: the kernel keeps each accepted connection's SYN headers.
pub const TCP_SAVE_SYN: libc::c_int = 27;
/// `TCP_SAVED_SYN`: read (once) the SYN the kernel kept.
pub const TCP_SAVED_SYN: libc::c_int = 28;

const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V3: libc::c_int = 2;
const SO_ATTACH_FILTER: libc::c_int = 26;
const ETH_P_ALL: u16 = 0x0003;
pub const TP_STATUS_USER: u32 = 1;
const TP_STATUS_KERNEL: u32 = 0;

fn setsockopt_raw<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised `T` for the whole call and the
    // length passed is exactly its size; the kernel only reads from it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads a socket option into `buf`; returns the length the kernel wrote.
fn getsockopt_raw(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let (rc, len) = getsockopt_len(fd, level, name, buf);
    rc.map(|()| len.min(buf.len()))
}

/// `getsockopt` and the length the kernel left in its in/out argument,
/// which some options set on failure too (the size they need).
fn getsockopt_len(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> (io::Result<()>, usize) {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a valid
    // in/out length; the kernel writes at most `len` bytes and updates it.
    let rc = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    let rc = if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    (rc, len as usize)
}

/// Asks the kernel to keep the SYN of every connection accepted on this
/// listening socket (before `listen`, or at least before the SYNs arrive).
pub fn set_save_syn(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt_raw(
        fd.as_raw_fd(),
        libc::IPPROTO_TCP,
        TCP_SAVE_SYN,
        &1 as &libc::c_int,
    )
}

/// The IP + TCP headers of the SYN that opened an accepted connection, in
/// `buf[..n]`, or `Ok(None)` when the kernel kept none (SYN cookies, or
/// already read: the kernel frees it on the first read). `buf` grows to the
/// SYN's size when that is larger: IPv6 extension headers can make a SYN's
/// headers kilobytes long, and the kernel then fails with `EINVAL`, keeping
/// the SYN and writing the length it needs.
pub fn saved_syn(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let fd = fd.as_raw_fd();
    // One packet's headers: at most an IP packet's length.
    const MAX: usize = 1 << 16;
    loop {
        match getsockopt_len(fd, libc::IPPROTO_TCP, TCP_SAVED_SYN, buf) {
            (Ok(()), 0) => return Ok(None),
            (Ok(()), n) => return Ok(Some(n.min(buf.len()))),
            (Err(e), _) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            (Err(e), need)
                if e.raw_os_error() == Some(libc::EINVAL) && need > buf.len() && need <= MAX =>
            {
                buf.resize(need, 0);
            }
            (Err(e), _) => return Err(e),
        }
    }
}

/// The kernel's smoothed round-trip time of a connection, in microseconds.
pub fn tcp_rtt_us(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // tcp_info: 8 single bytes, then u32s; tcpi_rtt is the 16th u32. Read
    // into bytes rather than libc's struct so a shorter kernel answer is
    // handled by a length check, not by trusting the layout.
    const RTT_OFFSET: usize = 8 + 15 * 4;
    let mut buf = [0u8; 104];
    let n = getsockopt_raw(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, &mut buf)?;
    let bytes = buf
        .get(RTT_OFFSET..RTT_OFFSET + 4)
        .filter(|_| n >= RTT_OFFSET + 4)
        .ok_or_else(|| io::Error::other("short TCP_INFO"))?;
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes);
    Ok(u32::from_ne_bytes(b))
}

/// One classic BPF instruction, laid out as the kernel's `sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

#[repr(C)]
#[derive(Default)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// Resolves an interface name to its index.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// An eventfd that wakes a thread waiting in [`PacketSocket::poll`]: a
/// lookup waiting for a quiet capture to say it has caught up wakes it,
/// rather than the capture waking every few ms for nothing.
#[derive(Debug)]
pub struct Wake(OwnedFd);

impl Wake {
    pub fn new() -> io::Result<Wake> {
        // SAFETY: eventfd takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        Ok(Wake(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: 8 readable bytes, as eventfd wants. A counter at its
        // maximum (EAGAIN) is already waking.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn reset(&self) {
        let mut count = [0u8; 8];
        // SAFETY: 8 writable bytes; non-blocking, so an empty one returns.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    }
}

/// An AF_PACKET socket. `cooked` (SOCK_DGRAM) gets packets from the network
/// header on; otherwise (SOCK_RAW) from the link header on.
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    pub fn open(cooked: bool) -> io::Result<Self> {
        let ty = if cooked {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_RAW
        };
        // Protocol 0: nothing is queued until `bind` names ETH_P_ALL, so a
        // filter attached in between sees every packet the socket gets.
        // SAFETY: plain socket(2) call; the returned descriptor is checked
        // and immediately owned.
        let fd = unsafe { libc::socket(libc::AF_PACKET, ty | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn sockaddr(ifindex: u32) -> libc::sockaddr_ll {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        // An index past i32 names no interface: 0 would be every one.
        sll.sll_ifindex = i32::try_from(ifindex).unwrap_or(-1);
        sll
    }

    /// Receive only from one interface (0: all interfaces).
    pub fn bind(&self, ifindex: u32) -> io::Result<()> {
        let sll = Self::sockaddr(ifindex);
        // SAFETY: `sll` is a valid sockaddr_ll and the length is its size.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The index of the interface the socket is bound to, as the kernel
    /// keeps it: -1 once that interface has been deleted. Unlike a lookup
    /// by name, this holds in whatever network namespace the caller is.
    pub fn bound_ifindex(&self) -> io::Result<i32> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `sll` is writable for `len` bytes and `len` is a valid
        // in/out length; the kernel writes at most that much.
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(sll.sll_ifindex)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Whether the interface the socket is bound to is up: administratively
    /// (`ip link set ... up`) and with its carrier (a cable, a veth peer
    /// that is up), as `ip link` shows `UP,LOWER_UP`; false once it has been
    /// deleted, and for a socket bound to all interfaces (index 0). A
    /// driver that does not report its carrier counts as having one. Asked
    /// of the socket, as [`PacketSocket::bound_ifindex`], so that it holds
    /// in whatever network namespace the caller is.
    pub fn bound_interface_is_up(&self) -> io::Result<bool> {
        let ifindex = self.bound_ifindex()?;
        if ifindex <= 0 {
            return Ok(false);
        }
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        req.ifr_ifru.ifru_ifindex = ifindex;
        // The name by index, then the flags by name: interface ioctls on a
        // packet socket act in the socket's own namespace.
        for request in [libc::SIOCGIFNAME, libc::SIOCGIFFLAGS] {
            // SAFETY: `req` is a valid, writable ifreq for both requests.
            let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), request as libc::Ioctl, &mut req) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: SIOCGIFFLAGS filled in the flags member.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        if libc::c_int::from(flags) & libc::IFF_UP == 0 {
            return Ok(false);
        }
        // The carrier itself (ETHTOOL_GLINK), not IFF_RUNNING: that is the
        // operational state, which lags the carrier by up to a second
        // (a bridge just brought up) and is off on a dormant link that
        // passes packets (802.1X authenticating).
        /// `struct ethtool_value` of `<linux/ethtool.h>`.
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        const ETHTOOL_GLINK: u32 = 0x0000_000a;
        let mut link = EthtoolValue {
            cmd: ETHTOOL_GLINK,
            data: 1,
        };
        req.ifr_ifru.ifru_data = (&mut link as *mut EthtoolValue).cast();
        // SAFETY: `req` names the interface and points at `link`, a valid,
        // writable ethtool_value that outlives the call.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SIOCETHTOOL as libc::Ioctl,
                &mut req,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // The driver does not say: up as far as anyone can tell.
                Some(libc::EOPNOTSUPP) => Ok(true),
                _ => Err(e),
            };
        }
        Ok(link.data != 0)
    }

    /// Puts the interface into promiscuous mode for as long as this socket
    /// is open: the kernel counts the membership and drops it when the
    /// socket closes, however the process ends, so no interface is left
    /// promiscuous behind it (unlike `ip link set ... promisc on`).
    pub fn add_promiscuous(&self, ifindex: u32) -> io::Result<()> {
        /// `struct packet_mreq` of `<linux/if_packet.h>`.
        #[repr(C)]
        struct PacketMreq {
            ifindex: libc::c_int,
            kind: libc::c_ushort,
            address_len: libc::c_ushort,
            address: [u8; 8],
        }
        let request = PacketMreq {
            ifindex: libc::c_int::try_from(ifindex)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            kind: PACKET_MR_PROMISC,
            address_len: 0,
            address: [0; 8],
        };
        setsockopt_raw(
            self.fd.as_raw_fd(),
            SOL_PACKET,
            PACKET_ADD_MEMBERSHIP,
            &request,
        )
    }

    pub fn attach_filter(&self, program: &[SockFilter]) -> io::Result<()> {
        let prog = SockFprog {
            len: u16::try_from(program.len())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            filter: program.as_ptr(),
        };
        // The kernel copies the program during the call, so `program` only
        // needs to live until it returns.
        setsockopt_raw(
            self.fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_FILTER,
            &prog,
        )
    }

    /// Sends one whole frame (link header included for SOCK_RAW) out of an
    /// interface. Used by tests and the capture load check.
    pub fn send_to(&self, ifindex: u32, frame: &[u8]) -> io::Result<usize> {
        let sll = Self::sockaddr(ifindex);
        // SAFETY: `frame` is readable for its length; `sll` is a valid
        // sockaddr_ll of the size given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Sends up to 256 frames with one `sendmmsg` call; returns how many
    /// the kernel took. For the capture load check, where one system call
    /// per frame would limit the sender before the capture.
    pub fn send_batch(&self, ifindex: u32, frames: &[Vec<u8>]) -> io::Result<usize> {
        let sll = Self::sockaddr(ifindex);
        let mut iov: Vec<libc::iovec> = frames
            .iter()
            .take(256)
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: msghdr is plain old data; all-zero is valid.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_name = (&sll as *const libc::sockaddr_ll).cast_mut().cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                h.msg_iov = v;
                h.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every mmsghdr points at a live iovec over a live frame and
        // at `sll`, all of which outlive the call; the kernel only reads
        // them (and writes msg_len into `msgs`).
        let n = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                0,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// (packets, drops) since the previous call (the kernel resets them).
    pub fn statistics(&self) -> io::Result<(u32, u32)> {
        let mut buf = [0u8; std::mem::size_of::<TpacketStatsV3>()];
        let n = getsockopt_raw(self.fd.as_raw_fd(), SOL_PACKET, PACKET_STATISTICS, &mut buf)?;
        let word = |i: usize| -> u32 {
            let mut b = [0u8; 4];
            if let Some(s) = buf.get(i * 4..i * 4 + 4).filter(|_| n >= i * 4 + 4) {
                b.copy_from_slice(s);
            }
            u32::from_ne_bytes(b)
        };
        Ok((word(0), word(1)))
    }

    /// Switches the socket to TPACKET_V3 and maps a receive ring of
    /// `block_nr` blocks of `block_size` bytes (a power of two, a multiple of
    /// the page size). Blocks are handed over after `timeout_ms` even when
    /// not full, so quiet links still deliver promptly.
    pub fn map_ring(self, block_size: u32, block_nr: u32, timeout_ms: u32) -> io::Result<Ring> {
        let fd = self.fd.as_raw_fd();
        setsockopt_raw(fd, SOL_PACKET, PACKET_VERSION, &TPACKET_V3)?;
        let frame_size = 2048;
        // The kernel refuses what is not a ring; a product past u32 must
        // not wrap into one it takes.
        let frame_nr = (block_size / frame_size)
            .checked_mul(block_nr)
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no ring of {block_nr} blocks of {block_size} bytes"),
                )
            })?;
        let req = TpacketReq3 {
            block_size,
            block_nr,
            frame_size,
            frame_nr,
            retire_blk_tov: timeout_ms,
            ..Default::default()
        };
        setsockopt_raw(fd, SOL_PACKET, PACKET_RX_RING, &req)?;
        let len = block_size as usize * block_nr as usize;
        // SAFETY: mapping the ring the kernel just allocated for this
        // socket, as packet(7) documents; the result is checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Ring {
            socket: self,
            ptr,
            len,
            block_size: block_size as usize,
            block_nr: block_nr as usize,
        })
    }

    /// Waits until the socket is readable, `wake` is woken (it is then
    /// reset) or `timeout_ms` passes.
    pub fn poll(&self, timeout_ms: i32, wake: Option<&Wake>) -> io::Result<bool> {
        let pollfd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let mut fds = [pollfd(self.fd.as_raw_fd()), pollfd(-1)];
        if let Some(w) = wake {
            fds[1].fd = w.0.as_raw_fd();
        }
        // SAFETY: two valid pollfds (a negative fd is ignored by poll).
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if fds[1].revents & libc::POLLIN != 0 {
            if let Some(w) = wake {
                w.reset();
            }
        }
        let pfd = fds[0];
        match rc {
            r if r < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            0 => Ok(false),
            // A pending socket error (ENETDOWN when the link goes down or
            // the socket was bound to a down one) keeps poll returning at
            // once until it is read: read it, which clears it, and say it.
            _ if pfd.revents & libc::POLLERR != 0 => match self.take_error()? {
                Some(e) => Err(e),
                None => Ok(true),
            },
            _ => Ok(pfd.revents & libc::POLLIN != 0),
        }
    }

    /// Reads and clears the socket's pending error (SO_ERROR).
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        let mut buf = [0u8; std::mem::size_of::<libc::c_int>()];
        getsockopt_raw(
            self.fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut buf,
        )?;
        let code = libc::c_int::from_ne_bytes(buf);
        Ok((code != 0).then(|| io::Error::from_raw_os_error(code)))
    }
}

/// A TPACKET_V3 receive ring mapped into this process.
pub struct Ring {
    socket: PacketSocket,
    ptr: NonNull<u8>,
    len: usize,
    block_size: usize,
    block_nr: usize,
}

// SAFETY: the mapping is owned by this value alone; its bytes are read
// through `&mut self`, its status words through atomics, and `Ring` is not
// `Sync`, so moving it to another thread is sound.
unsafe impl Send for Ring {}

/// Offset of `block_status` in `tpacket_block_desc` (after version and
/// offset_to_priv).
const BLOCK_STATUS_OFFSET: usize = 8;
/// Offset of `num_pkts`, which follows it.
const BLOCK_NUM_PKTS_OFFSET: usize = 12;

impl Ring {
    pub fn socket(&self) -> &PacketSocket {
        &self.socket
    }

    pub fn block_count(&self) -> usize {
        self.block_nr
    }

    /// Block `block`'s status word, which the kernel and we hand the block
    /// back and forth with.
    fn status(&self, block: usize) -> Option<&AtomicU32> {
        self.descriptor_word(block, BLOCK_STATUS_OFFSET)
    }

    /// A word of block `block`'s descriptor, which the kernel writes while
    /// it owns the block.
    fn descriptor_word(&self, block: usize, offset: usize) -> Option<&AtomicU32> {
        let off = block.checked_mul(self.block_size)?.checked_add(offset)?;
        if off + 4 > self.len {
            return None;
        }
        // SAFETY: `off + 4 <= len`, so the word lies inside the mapping,
        // which lives as long as `self`; block starts are page aligned and
        // the offsets multiples of 4, so it is aligned for an atomic. The
        // kernel's side reads and writes it with barriers, as atomics.
        Some(unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast::<u32>()) })
    }

    /// Whether block `block`, which the kernel owns (it is filling it, or
    /// will fill it next), holds packets not yet handed over. The kernel
    /// counts each packet into the block as it puts it there, before the
    /// block is handed over; a block handed back keeps its old count until
    /// the kernel opens it again, so the answer errs towards "holds".
    pub(crate) fn kernel_block_holds_packets(&self, block: usize) -> bool {
        self.descriptor_word(block, BLOCK_NUM_PKTS_OFFSET)
            .is_none_or(|n| n.load(Ordering::Acquire) != 0)
    }

    /// The bytes of block `block` when the kernel has handed it to user
    /// space, else `None`. The block stays ours until [`Ring::release`].
    pub(crate) fn user_block(&mut self, block: usize) -> Option<&[u8]> {
        // Acquire: pairs with the kernel's barrier before it sets
        // TP_STATUS_USER, so the packet bytes are visible once the status is.
        if self.status(block)?.load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            return None;
        }
        let start = block * self.block_size;
        // SAFETY: the range lies inside the mapping; while the status says
        // USER the kernel does not write the block, and `&mut self` keeps us
        // from releasing it while the slice is alive.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), self.block_size) })
    }

    /// Hands block `block` back to the kernel. Crate-private: a block
    /// handed back that was never read loses its packets, and the capture
    /// loop is the one caller that knows which it has read.
    pub(crate) fn release(&mut self, block: usize) {
        // Release: after all our reads of the block.
        if let Some(status) = self.status(block) {
            status.store(TP_STATUS_KERNEL, Ordering::Release);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `map_ring`; no
        // slices into it outlive `self` (they borrow it).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Moves the calling thread into the network namespace at `path` (e.g.
/// `/run/netns/NAME`). Sockets it opens afterwards belong to that namespace
/// for their whole life. For tests and the capture load check.
pub fn enter_netns(path: &str) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: `file` is an open namespace descriptor for the whole call;
    // setns only affects the calling thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Hands the allocator's free memory back to the system: glibc keeps what
/// closed connections freed, per thread arena, for reuse. A no-op with
/// other C libraries.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's
    // own free lists, under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises the soft limit on open files to the hard limit; returns the
/// soft limit now in force. systemd starts services at a soft 1,024,
/// below what a server holding thousands of connections needs.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok(lim.rlim_cur)
}

/// Allocates the blocks of bytes `offset..offset + len` of the file `fd`
/// without changing its size (`fallocate` with `FALLOC_FL_KEEP_SIZE`).
/// Fails with `EOPNOTSUPP` where the file system cannot.
pub fn reserve_file_blocks(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    loop {
        // SAFETY: fallocate takes no pointers; a bad descriptor is an error.
        let rc = unsafe { libc::fallocate(fd.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
        if rc == 0 {
            return Ok(());
        }
        // Our stop handlers do not restart calls (no SA_RESTART): a Ctrl-C
        // during a reservation is not the file system refusing.
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Takes an exclusive advisory lock (`flock`) on `fd`, held until every
/// descriptor of that open file is closed. With `wait` false, `Ok(false)`
/// when another holds it; with `wait`, blocks until it is free.
pub fn lock_exclusive(fd: BorrowedFd<'_>, wait: bool) -> io::Result<bool> {
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock takes no pointers; a bad descriptor is an error.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// Whether the process runs as root (the capture tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A local account, as `--user` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// The account's primary group.
    pub gid: u32,
}

/// Looks `name` up in the system's user database (`/etc/passwd`, or
/// whatever NSS is configured to ask); `None` when there is no such user.
pub fn account(name: &str) -> io::Result<Option<Account>> {
    let c_name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the name"))?;
    let mut buf = vec![0u8; 1024];
    loop {
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `passwd` is plain old data (all-zero is valid); its
        // strings point into `buf`, which outlives the call, and only the
        // two numbers are read from it afterwards.
        let (rc, entry) = unsafe {
            let mut entry: libc::passwd = std::mem::zeroed();
            let rc = libc::getpwnam_r(
                c_name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            );
            (rc, entry)
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => {
                return Ok(Some(Account {
                    name: name.to_string(),
                    uid: entry.pw_uid,
                    gid: entry.pw_gid,
                }))
            }
            // A larger entry than the buffer: grow it, within reason.
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            // Some NSS modules say "not found" this way.
            libc::ENOENT | libc::ESRCH => return Ok(None),
            rc => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// The account a `--user` flag names: it must exist here, as the process
/// switches to it (an unknown name is an error before anything is opened),
/// and must not be root, which would keep every privilege.
pub fn account_named(name: &str) -> Result<Account, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the user name is empty".into());
    }
    match account(name) {
        Ok(Some(account)) if account.uid == 0 => Err(format!(
            "`{name}` is uid 0, which keeps every privilege: name an unprivileged user"
        )),
        Ok(Some(account)) => Ok(account),
        Ok(None) => Err(format!("no user named `{name}` on this system")),
        Err(e) => Err(format!("cannot look up user `{name}`: {e}")),
    }
}

/// Why [`become_user`] did not switch.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error(
        "switching to user `{user}` needs root, and synprint runs as uid {uid} (leave the user \
         setting out to stay that user)"
    )]
    NotRoot { user: String, uid: u32 },
    #[error("cannot run as user `{user}`: {step}: {source}")]
    Failed {
        user: String,
        step: &'static str,
        source: io::Error,
    },
}

/// Whether [`become_user`] may switch to `account`: only from root, so that
/// a start without root is refused before anything is opened.
pub fn can_become(account: &Account) -> Result<(), SwitchError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    match unsafe { libc::geteuid() } {
        0 => Ok(()),
        uid => Err(SwitchError::NotRoot {
            user: account.name.clone(),
            uid,
        }),
    }
}

/// Makes the whole process (every thread: glibc passes the change on) run
/// as `account`, from root: its supplementary groups, then its group, then
/// its user, real, effective and saved alike, so the change cannot be
/// undone; the kernel takes root's capabilities away with the uid. Checked
/// afterwards: the ids, no permitted or effective capability left, root
/// not regained.
pub fn become_user(account: &Account) -> Result<(), SwitchError> {
    let (uid, gid) = (account.uid, account.gid);
    can_become(account)?;
    let failed = |step, source| SwitchError::Failed {
        user: account.name.clone(),
        step,
        source,
    };
    let c_name = CString::new(account.name.as_str()).map_err(|_| {
        let nul = io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the name");
        failed("initgroups", nul)
    })?;
    // SAFETY: a valid C string and plain numbers; these calls change only
    // the process's credentials.
    unsafe {
        if libc::initgroups(c_name.as_ptr(), gid) != 0 {
            return Err(failed("initgroups", io::Error::last_os_error()));
        }
        if libc::setresgid(gid, gid, gid) != 0 {
            return Err(failed("setresgid", io::Error::last_os_error()));
        }
        if libc::setresuid(uid, uid, uid) != 0 {
            return Err(failed("setresuid", io::Error::last_os_error()));
        }
    }
    let left = if ids() != ([uid; 3], [gid; 3]) {
        Some("the ids did not all change")
    } else if Capabilities::of_this_thread().map_or(true, |c| c.permitted | c.effective != 0) {
        // SECBIT_NO_SETUID_FIXUP, say, set by whoever started synprint.
        Some("capabilities are left")
    // SAFETY: as above; this must fail once root is given up.
    } else if uid != 0 && unsafe { libc::setuid(0) } == 0 {
        Some("root could be taken back")
    } else {
        None
    };
    match left {
        Some(why) => Err(failed("check", io::Error::other(why))),
        None => Ok(()),
    }
}

/// A thread's capability sets, each a mask of `1 << CAP_*` bits
/// (capabilities are per thread on Linux).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// `CAP_NET_RAW`: what an AF_PACKET capture needs.
pub const CAP_NET_RAW: u32 = 13;

/// capget/capset's header, version 3: the sets come as two [`CapData`], the
/// low and the high 32 bits.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

impl Capabilities {
    /// The calling thread's sets.
    pub fn of_this_thread() -> io::Result<Capabilities> {
        let mut header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget reads the header and writes two `CapData` for
        // version 3, both live locals of the layout the kernel expects.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let wide = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
        let [low, high] = data;
        Ok(Capabilities {
            effective: wide(low.effective, high.effective),
            permitted: wide(low.permitted, high.permitted),
            inheritable: wide(low.inheritable, high.inheritable),
        })
    }

    /// Makes these the calling thread's sets (lowering them needs nothing;
    /// the kernel refuses what would raise them).
    pub fn apply_to_this_thread(self) -> io::Result<()> {
        let mut header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        // Truncation intended: each half of the 64-bit masks.
        let half = |v: u64, high: bool| (if high { v >> 32 } else { v }) as u32;
        let data = [false, true].map(|high| CapData {
            effective: half(self.effective, high),
            permitted: half(self.permitted, high),
            inheritable: half(self.inheritable, high),
        });
        // SAFETY: as in `of_this_thread`; capset only reads the structs.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Gives up `cap` for good on the calling thread: effective, permitted,
/// inheritable and so ambient sets alike (the kernel keeps the ambient set
/// within the other two). Threads it starts afterwards start
/// without it; threads started before keep theirs (capabilities are per
/// thread), so call it before starting any.
pub fn give_up_capability(cap: u32) -> io::Result<()> {
    let bit = 1u64 << cap;
    let mut c = Capabilities::of_this_thread()?;
    if (c.effective | c.permitted | c.inheritable) & bit != 0 {
        c.effective &= !bit;
        c.permitted &= !bit;
        c.inheritable &= !bit;
        c.apply_to_this_thread()?;
    }
    Ok(())
}

/// The real, effective and saved user and group ids.
fn ids() -> ([u32; 3], [u32; 3]) {
    let (mut u, mut g) = ([0; 3], [0; 3]);
    // SAFETY: each pointer is to a live local; the calls cannot fail with
    // valid pointers.
    unsafe {
        libc::getresuid(&mut u[0], &mut u[1], &mut u[2]);
        libc::getresgid(&mut g[0], &mut g[1], &mut g[2]);
    }
    (u, g)
}

/// Waits up to `timeout_ms` for `fd` to have something to read (data, end
/// of file or an error, which the read then tells). A signal ends the wait
/// early, as no data.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    wait_for(fd, libc::POLLIN, timeout_ms)
}

/// Waits up to `timeout_ms` for `fd` to take a write (for a pipe: one of
/// up to `PIPE_BUF` bytes without blocking), or to have failed (which the
/// write then tells). A signal ends the wait early, as not ready.
pub fn wait_writable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    wait_for(fd, libc::POLLOUT, timeout_ms)
}

fn wait_for(fd: BorrowedFd<'_>, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1; poll only reads and writes it.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc >= 0 {
        return Ok(rc > 0);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(false)
    } else {
        Err(e)
    }
}

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::Relaxed);
}

/// Whether a hang-up is to stop the run: not when SIGHUP was ignored at
/// start, as `nohup` leaves it (SIGINT and SIGTERM are caught whatever a
/// background job inherited, as tcpdump and p0f catch them).
pub fn hangup_stops() -> io::Result<bool> {
    // SAFETY: a null new action only reads the current one into `old`,
    // plain old data for which all-zero is valid.
    let (rc, old) = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        let rc = libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old);
        (rc, old)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old.sa_sigaction != libc::SIG_IGN)
}

/// Makes the first SIGINT, SIGTERM or SIGHUP (the terminal or SSH session
/// went away) set the returned flag instead of killing the process, so a
/// live capture can drain, flush and print its summary; a second one
/// kills as usual (the handler resets itself). SIGHUP only as
/// [`hangup_stops`] says. Not restarting interrupted calls lets a waiting
/// `poll` return at once.
pub fn stop_on_signals() -> io::Result<&'static AtomicBool> {
    let hangup = hangup_stops()?.then_some(libc::SIGHUP);
    for signal in [libc::SIGINT, libc::SIGTERM].into_iter().chain(hangup) {
        // SAFETY: sigaction is plain old data (all-zero is valid, an empty
        // mask); the handler only stores to an atomic, which is
        // async-signal-safe, and lives for the whole program.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(&STOP_REQUESTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiting capture is woken at once, told it was not the socket,
    /// and its wake is reset for the next wait.
    #[test]
    fn a_wake_ends_a_poll_and_is_reset() {
        if !is_root() {
            return;
        }
        let socket = PacketSocket::open(false).expect("packet socket as root");
        let wake = std::sync::Arc::new(Wake::new().expect("eventfd"));
        let waker = std::sync::Arc::clone(&wake);
        let started = std::time::Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waker.wake();
        });
        // Unbound, the socket sees no packet: only the wake ends the wait.
        assert!(!socket.poll(60_000, Some(&wake)).expect("poll"));
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        t.join().unwrap();
        // Two wakes before a wait end it, and both are reset: the next
        // wait lasts its timeout. (Made here, not by the thread: its second
        // wake could come after the first wait's reset.)
        wake.wake();
        wake.wake();
        assert!(!socket.poll(60_000, Some(&wake)).expect("poll"));
        let again = std::time::Instant::now();
        assert!(!socket.poll(50, Some(&wake)).expect("poll"));
        assert!(again.elapsed() >= std::time::Duration::from_millis(40));
    }

    #[test]
    fn accounts_are_looked_up_by_name() {
        let root = account("root").expect("lookup").expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(account("no-such-user-synprint").expect("lookup"), None);
        assert!(account("nul\0inside").is_err());
    }

    #[test]
    fn root_is_no_user_to_switch_to() {
        let e = account_named("root").expect_err("uid 0");
        assert_eq!(
            e,
            "`root` is uid 0, which keeps every privilege: name an unprivileged user"
        );
        assert_eq!(
            account_named(" ").expect_err("empty"),
            "the user name is empty"
        );
        let e = account_named("no-such-user-synprint").expect_err("unknown");
        assert_eq!(e, "no user named `no-such-user-synprint` on this system");
    }

    /// The sets read back as the thread's status shows them, and a set
    /// lowered on one thread is lowered there only.
    #[test]
    fn capabilities_are_read_and_lowered_per_thread() {
        let field = |status: &str, name: &str| {
            let hex = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .expect("a field")
                .trim();
            u64::from_str_radix(hex, 16).expect("hex")
        };
        let status = || std::fs::read_to_string("/proc/thread-self/status").expect("status");
        let before = Capabilities::of_this_thread().expect("capget");
        let s = status();
        assert_eq!(
            (before.permitted, before.effective, before.inheritable),
            (
                field(&s, "CapPrm:"),
                field(&s, "CapEff:"),
                field(&s, "CapInh:")
            )
        );
        let lowered = std::thread::spawn(move || {
            let mut c = Capabilities::of_this_thread().expect("capget");
            c.effective &= !(1 << CAP_NET_RAW);
            c.apply_to_this_thread().expect("capset");
            (
                Capabilities::of_this_thread().expect("capget"),
                field(&status(), "CapEff:"),
            )
        })
        .join()
        .expect("thread");
        assert_eq!(lowered.0.effective, before.effective & !(1 << CAP_NET_RAW));
        assert_eq!(lowered.1, lowered.0.effective);
        assert_eq!(Capabilities::of_this_thread().expect("capget"), before);
    }
}

//! The packet decoder on arbitrary frames, both walks (handshakes and the
//! segments connection following reads). The first two bytes (big-endian)
//! are the link type, the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprint::packet::{decode, decode_followed, decode_ip, flags, LinkType, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Some((link, frame)) = data.split_first_chunk::<2>() else {
        return;
    };
    let link = LinkType(u32::from(u16::from_be_bytes(*link)));
    let ts = Timestamp(1);
    if let Ok(Some(obs)) = decode(link, ts, frame) {
        // What was decoded must describe bytes that were there.
        assert!(usize::from(obs.tcp_data_offset) * 4 <= frame.len());
        assert!(obs.options.len() <= 40);
    }
    let _ = decode_ip(ts, frame);
    if let Some(seg) = decode_followed(link, ts, frame) {
        // Never a SYN, never FIN with RST, and its payload fits the frame.
        let f = u16::from(seg.flags);
        assert!(f & flags::SYN == 0 && f & (flags::FIN | flags::RST) != flags::FIN | flags::RST);
        assert!(seg.payload_len as usize <= frame.len());
    }
});

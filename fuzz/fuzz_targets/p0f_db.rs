//! The p0f.fp parser on arbitrary text: it must return a database or a
//! typed error naming a line, never panic; a database that parses must
//! answer a lookup without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprint::craft::{OptionBytes, TcpPacket};
use synprint::p0f::Database;
use synprint::packet::{decode_ip, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Database::parse(text) {
        Ok(db) => {
            let mut p = TcpPacket::default();
            p.options = OptionBytes::new().mss(1460).nop().ws(7).sok().0;
            if let Ok(Some(obs)) = decode_ip(Timestamp(1), &p.ip_bytes()) {
                let m = db.fingerprint(&obs, None);
                let _ = m.raw_sig.to_string();
                let _ = db.mtu(&obs);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

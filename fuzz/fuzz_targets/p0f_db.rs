//! The p0f.fp parser on arbitrary bytes (UTF-8 or not): it must return a
//! database or a typed error naming a line, never panic; a database that
//! parses must answer a lookup without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprint::craft::{OptionBytes, TcpPacket};
use synprint::p0f::Database;
use synprint::packet::{decode_ip, Timestamp};

fuzz_target!(|data: &[u8]| {
    let parsed = Database::parse_bytes(data);
    // Text and bytes are the same parser.
    if let Ok(text) = std::str::from_utf8(data) {
        let again = Database::parse(text);
        assert_eq!(
            parsed
                .as_ref()
                .map(Database::signature_count)
                .map_err(Clone::clone),
            again
                .as_ref()
                .map(Database::signature_count)
                .map_err(Clone::clone)
        );
    }
    match parsed {
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
            // Lines are numbered from 1 and exist in the input.
            assert!(e.line >= 1);
            assert!(e.line as usize <= data.split(|&b| b == b'\n').count());
            let _ = e.to_string();
        }
    }
});

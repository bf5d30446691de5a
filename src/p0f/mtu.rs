//! p0f's MTU module (fp_mtu.c): the link MTU implied by the MSS, labelled
//! from the `[mtu]` section.

use serde::Serialize;

use super::db::Database;
use super::signature::TcpSignature;
use crate::packet::{IpVersion, Observation};

/// Serialises as `{"raw_mtu": 1500, "link": "Ethernet or modem"}`, `link`
/// null where p0f logs `???`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Mtu<'db> {
    /// MSS + 40 (IPv4) or + 60 (IPv6): p0f assumes option-less headers.
    pub raw_mtu: u32,
    pub link: Option<&'db str>,
}

impl Mtu<'_> {
    /// Appends `{"raw_mtu","link"}` without going through serde.
    pub fn write_json(&self, j: &mut crate::json::JsonBuf) {
        j.begin_object();
        j.key("raw_mtu");
        j.u64(self.raw_mtu.into());
        j.key("link");
        j.opt_str(self.link);
        j.end_object();
    }
}

/// What p0f adds to an MSS to make the path MTU: the IP and TCP headers
/// without options.
pub fn header_bytes(v: IpVersion) -> u32 {
    match v {
        IpVersion::V4 => 40,
        IpVersion::V6 => 60,
    }
}

impl Database {
    /// The MTU p0f reports for a SYN or SYN+ACK; `None` where p0f reports
    /// nothing (no MSS option, or an MSS of 0, among the options p0f reads).
    ///
    /// p0f also skips the MTU of connections it stops following (see
    /// [`super::P0fMatch::ends_connection`]); that is the caller's decision.
    pub fn mtu(&self, obs: &Observation) -> Option<Mtu<'_>> {
        self.mtu_of(&TcpSignature::from_observation(obs, None))
    }

    /// The same from an already computed signature.
    pub fn mtu_of(&self, sig: &TcpSignature) -> Option<Mtu<'_>> {
        if sig.mss == 0 {
            return None;
        }
        let raw_mtu = u32::from(sig.mss) + header_bytes(sig.ip_version);
        Some(Mtu {
            raw_mtu,
            link: self.mtu_link(raw_mtu),
        })
    }
}

#[cfg(test)]
mod tests {
    /// The crafting crate's default SYN, built through a call clippy does
    /// not treat as `Default::default()` (tests tweak its fields).
    fn plain_syn() -> crate::craft::TcpPacket {
        Default::default()
    }

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use crate::craft::{OptionBytes, TcpPacket};
    use crate::p0f::testutil::observe;
    use crate::p0f::Database;
    use crate::packet::Timestamp;

    fn mtu_for(p: &TcpPacket) -> Option<(u32, Option<&'static str>)> {
        Database::builtin()
            .mtu(&observe(p, Timestamp::default()))
            .map(|m| (m.raw_mtu, m.link))
    }

    #[test]
    fn mss_plus_fixed_headers_labelled_from_the_database() {
        let mut p = plain_syn();
        p.options = OptionBytes::new().mss(1460).0;
        assert_eq!(mtu_for(&p), Some((1500, Some("Ethernet or modem"))));
        p.options = OptionBytes::new().mss(1452).0;
        assert_eq!(mtu_for(&p), Some((1492, Some("DSL"))));
        p.options = OptionBytes::new().mss(1000).0;
        assert_eq!(mtu_for(&p), Some((1040, None)));
        // IP options do not change p0f's arithmetic.
        p.ip_options = vec![1; 4];
        assert_eq!(mtu_for(&p), Some((1040, None)));

        let a = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut p6 = TcpPacket::syn(a, 1, a, 2);
        p6.options = OptionBytes::new().mss(1440).0;
        assert_eq!(mtu_for(&p6), Some((1500, Some("Ethernet or modem"))));
    }

    #[test]
    fn nothing_without_an_mss() {
        let mut p = TcpPacket::syn(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            1,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            2,
        );
        assert_eq!(mtu_for(&p), None);
        p.options = OptionBytes::new().mss(0).0;
        assert_eq!(mtu_for(&p), None);
        // Past p0f's 24-option limit the MSS is not read.
        p.options = OptionBytes::new().raw(&[1; 24]).mss(1460).0;
        assert_eq!(mtu_for(&p), None);
    }

    #[test]
    fn serialises_link_null_when_unknown() {
        let m = super::Mtu {
            raw_mtu: 1040,
            link: None,
        };
        assert_eq!(
            serde_json::to_string(&m).expect("json"),
            r#"{"raw_mtu":1040,"link":null}"#
        );
        for m in [
            m,
            super::Mtu {
                raw_mtu: 1500,
                link: Some("Ethernet \"x\""),
            },
        ] {
            let mut j = crate::json::JsonBuf::new();
            m.write_json(&mut j);
            let fast: serde_json::Value = serde_json::from_slice(j.as_bytes()).expect("valid JSON");
            assert_eq!(fast, serde_json::to_value(m).expect("json"));
        }
    }
}

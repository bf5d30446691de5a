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
        let raw_mtu = u32::from(sig.mss)
            + match sig.ip_version {
                IpVersion::V4 => 40,
                IpVersion::V6 => 60,
            };
        Some(Mtu {
            raw_mtu,
            link: self.mtu_link(raw_mtu),
        })
    }
}

//! Observations of crafted packets for unit tests, through the real
//! decoder.

use crate::craft::TcpPacket;
use crate::packet::{Observation, Timestamp};

pub(crate) fn observe(p: &TcpPacket, ts: Timestamp) -> Observation {
    p.to_observation(ts)
        .expect("a crafted SYN or SYN+ACK decodes")
}

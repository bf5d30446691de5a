//! Fingerprint strings that are pure functions of one [`Observation`]:
//! zardaxt's option string and mod_tcpfingerprint's option-kind list, and
//! JA4T/JA4TS (behind the default-on `ja4t` feature: FoxIO License 1.1).
//!
//! [`Observation`]: crate::packet::Observation

#[cfg(feature = "ja4t")]
pub mod ja4t;
mod zardaxt;

pub use zardaxt::{OptionKinds, ZardaxtOptions};

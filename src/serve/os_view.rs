//! What the API says about a record's operating system, in zardaxt's terms
//! (`avg_score_os_class`, `os_mismatch`) and synprint's (`classification`,
//! `verdict`).
//!
//! The classifier lives in `synprint::classify`; this module only maps its
//! answer. [`OsClassifier`] is the seam: [`installed_classifier`] is the one
//! place that chooses the implementation the server uses
//! ([`RecordClassifier`]).

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::analyze::{Claim, Record};
use crate::json::JsonBuf;

/// Probability per synprint OS class (each in 0..=1, summing to about 1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OsProbabilities {
    pub windows: f64,
    pub macos: f64,
    pub ios: f64,
    pub android: f64,
    pub linux: f64,
    pub chromeos: f64,
    pub freebsd: f64,
    pub openbsd: f64,
    pub embedded: f64,
    pub unknown: f64,
}

/// The classifier's answer for one record, as plain data the API maps.
#[derive(Clone, Debug, Default)]
pub struct OsView {
    pub probabilities: OsProbabilities,
    /// synprint's own `classification` object as JSON, passed through
    /// unchanged (the same bytes as in the record).
    pub classification: Option<Box<RawValue>>,
    /// The verdict (`ua_os`, `os_mismatch`, `tunnel_suspected`, `hops`,
    /// `reasons`, ...) as JSON.
    pub verdict: Option<Box<RawValue>>,
    /// The verdict's judgements the API answers at its top level.
    pub judgements: Judgements,
}

/// The verdict's judgements as the API answers them beside zardaxt's keys
/// (flattened into the answer): no verdict, no judgement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Judgements {
    /// `None` when either side is unknown.
    pub os_mismatch: Option<bool>,
    /// An embedded device's stack under a browser OS's claim, which a
    /// family-level `os_mismatch` leaves false under an Android one.
    pub embedded_suspected: bool,
    /// A network device built the SYN: why `os_mismatch` is null then.
    pub middlebox_suspected: bool,
}

impl From<&crate::classify::Verdict> for Judgements {
    fn from(v: &crate::classify::Verdict) -> Self {
        Judgements {
            os_mismatch: v.os_mismatch,
            embedded_suspected: v.embedded_suspected,
            middlebox_suspected: v.middlebox_suspected,
        }
    }
}

/// Classifies a record, optionally against the User-Agent of the request.
pub trait OsClassifier: Send + Sync {
    fn view(&self, record: &Record, user_agent: Option<&str>) -> Option<OsView>;
}

/// The classifier the server uses: the record's own
/// [`crate::classify::Classification`] (filled by the engine, learned model
/// included) and [`crate::classify::verdict()`] against the request's
/// User-Agent. This is the one place that chooses it; tests pass their own
/// classifier to `Server::start_with`.
pub fn installed_classifier() -> Arc<dyn OsClassifier> {
    Arc::new(RecordClassifier)
}

/// Reads [`Record::classification`] and judges the User-Agent.
pub struct RecordClassifier;

impl OsClassifier for RecordClassifier {
    fn view(&self, record: &Record, user_agent: Option<&str>) -> Option<OsView> {
        use crate::classify::Os;
        let c = record.classification()?;
        let p = |os: Os| f64::from(c.scores.get(os));
        let probabilities = OsProbabilities {
            windows: p(Os::Windows),
            macos: p(Os::MacOs),
            ios: p(Os::Ios),
            android: p(Os::Android),
            linux: p(Os::Linux),
            chromeos: p(Os::ChromeOs),
            freebsd: p(Os::FreeBsd),
            openbsd: p(Os::OpenBsd),
            embedded: p(Os::Embedded),
            unknown: p(Os::Unknown),
        };
        // Without a User-Agent the verdict still says tunnel, hops and
        // reasons; its os_mismatch is then null. A User-Agent the parser
        // cannot handle counts as none.
        let verdict = record
            .verdict_for(Claim::UserAgent(user_agent))
            .or_else(|_| record.verdict_for(Claim::UserAgent(None)))
            .ok()
            .flatten();
        let raw = |write: &dyn Fn(&mut JsonBuf)| {
            let mut j = JsonBuf::new();
            write(&mut j);
            String::from_utf8(j.into_bytes())
                .ok()
                .and_then(|s| RawValue::from_string(s).ok())
        };
        Some(OsView {
            probabilities,
            classification: raw(&|j| c.write_json(j)),
            judgements: verdict.as_ref().map(Judgements::from).unwrap_or_default(),
            verdict: verdict.as_ref().and_then(|v| raw(&|j| v.write_json(j))),
        })
    }
}

/// zardaxt's classes, spelt and ordered as its `avg_score_os_class` has them.
pub const ZARDAXT_CLASSES: [&str; 6] = [
    "Windows",
    "Android",
    "Mac OS",
    "iOS",
    "Linux",
    "Chromium OS",
];

/// zardaxt's `avg_score_os_class`: a score per class of [`ZARDAXT_CLASSES`],
/// in that order. zardaxt's values were average match scores; synprint's
/// are probabilities (0..1), so a client comparing classes (max, argmax)
/// keeps working.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZardaxtScores([f64; 6]);

impl Serialize for ZardaxtScores {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.classes())
    }
}

impl ZardaxtScores {
    /// zardaxt has no BSD, embedded or unknown classes: embedded stacks are
    /// Linux kernels, so their mass goes to `Linux`; the rest is left out.
    pub fn from_probabilities(p: &OsProbabilities) -> Self {
        let r = |x: f64| (x * 10_000.0).round() / 10_000.0;
        ZardaxtScores(
            [
                p.windows,
                p.android,
                p.macos,
                p.ios,
                p.linux + p.embedded,
                p.chromeos,
            ]
            .map(r),
        )
    }

    /// Each class's name and score.
    pub fn classes(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        ZARDAXT_CLASSES.into_iter().zip(self.0)
    }

    /// The highest class and its score (zardaxt's `os_highest_class`);
    /// `None` when the six classes hold less than half the probability
    /// (a BSD, or `unknown`), where their maximum would be noise named as
    /// an answer.
    pub fn highest(&self) -> Option<(&'static str, f64)> {
        if self.0.iter().sum::<f64>() < 0.5 {
            return None;
        }
        self.classes()
            .fold(None, |best: Option<(&str, f64)>, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(c),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zardaxt_keys_and_mapping() {
        let p = OsProbabilities {
            windows: 0.1,
            macos: 0.3,
            ios: 0.25,
            linux: 0.1,
            embedded: 0.05,
            android: 0.2,
            ..Default::default()
        };
        let z = ZardaxtScores::from_probabilities(&p);
        let text = serde_json::to_string(&z).expect("json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("an object");
        assert_eq!(v.as_object().map(|o| o.len()), Some(6), "{text}");
        // zardaxt's names, in zardaxt's order, each with its share (Linux
        // with the embedded stacks').
        let mut at = 0;
        for (k, share) in [
            ("Windows", 0.1),
            ("Android", 0.2),
            ("Mac OS", 0.3),
            ("iOS", 0.25),
            ("Linux", 0.15),
            ("Chromium OS", 0.0),
        ] {
            let here = text.find(&format!("\"{k}\":")).expect(k);
            assert!(here > at, "{k} out of order in {text}");
            at = here;
            let got = v[k].as_f64().expect("a number");
            assert!((got - share).abs() < 1e-6, "{k}: {got} in {text}");
        }
        assert_eq!(z.highest().map(|h| h.0), Some("Mac OS"));
        // A BSD's answer names none of zardaxt's classes.
        for bsd in [
            OsProbabilities {
                freebsd: 0.93,
                android: 0.04,
                linux: 0.03,
                ..Default::default()
            },
            OsProbabilities::default(),
        ] {
            assert_eq!(ZardaxtScores::from_probabilities(&bsd).highest(), None);
        }
    }
}

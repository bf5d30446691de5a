//! Capture + labels → labelled SYNs, and the `learn` / `eval` jobs on top.
//!
//! A capture holds SYNs; the labels CSV says which OS (or User-Agent) each
//! connection had. Only the first SYN of a client address and port counts
//! (a retransmission, or a reused port later in the capture, would count a
//! client twice).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::classes::Os;
use super::eval::{EvalReport, Evaluator};
use super::features::P0fClass;
use super::learn::{learn_from, Joined, Labels, LearnStats, Sample, Suspected};
use super::model::{Model, ModelFile};
use super::verdict::verdict_for_os;
use crate::capture::{CaptureError, CaptureReader};
use crate::p0f::Database;
use crate::packet::{decode, Kind, Observation};

/// How the capture and the labels matched up.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JoinStats {
    pub frames: u64,
    /// Client SYNs: the first of each labelled address and port, and
    /// every unlabelled one.
    pub syns: u64,
    /// SYNs with a label naming an OS: the ones used.
    pub labelled: u64,
    /// Later SYNs of an address and port a label already joined (a SYN
    /// retransmitted, a capture given twice): not used again, and not in
    /// `syns`.
    pub labelled_again: u64,
    /// SYNs whose connection has a label row that names no known OS.
    pub label_without_os: u64,
    /// SYNs with no label row (a retransmitted one counts again: telling
    /// would mean remembering every connection of the capture).
    pub unlabelled: u64,
    /// Data rows of the labels file.
    pub label_rows: u64,
    /// Rows for an address and port an earlier row labelled: not used.
    pub duplicate_label_rows: u64,
    /// Rows of connections over a Unix socket (`unix:`): no SYN to join.
    pub unix_socket_label_rows: u64,
    /// Label rows (first of each address and port) that no SYN of the
    /// capture joined: a CSV of another capture, or addresses rewritten by
    /// a NAT or proxy in between.
    pub unmatched_label_rows: u64,
    /// Frames that could not be fingerprinted (any skip reason).
    pub skipped: u64,
    /// Why reading stopped before a capture's end (cut off mid-record,
    /// damaged), for each capture where it did: the SYNs before it were
    /// used, as `analyze` keeps the records before such a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
}

/// `1 SYN`, `2 SYNs`: a count and its noun, singular or plural.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How the SYNs joined, as `learn` and `eval` report it: `3 SYNs, 1 without
/// a label, 0 with a label naming no known OS; 2 label rows matched no SYN`.
impl std::fmt::Display for JoinStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} without a label, {} with a label naming no known OS; {} matched no SYN",
            counted(self.syns, "SYN", "SYNs"),
            self.unlabelled,
            self.label_without_os,
            counted(self.unmatched_label_rows, "label row", "label rows"),
        )?;
        if self.labelled_again > 0 {
            write!(
                f,
                "; {} of an address and port already joined (retransmitted, or a capture \
                 given twice) not used again",
                counted(self.labelled_again, "more SYN", "more SYNs"),
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct CaptureFileError {
    pub path: PathBuf,
    #[source]
    pub source: CaptureError,
}

/// Calls `f` for every labelled client SYN of the captures at `paths`,
/// read in order as one capture (rotated files: a label row joins the first
/// SYN of its address and port in any of them). A capture that cannot be
/// opened or goes wrong is used up to there and the next one read (see
/// [`JoinStats::stopped_early`]), as `analyze` does; when not one frame
/// could be read from any, the first error is the answer.
pub fn for_each_labelled_syn<P: AsRef<Path>>(
    paths: &[P],
    labels: &Labels,
    mut f: impl FnMut(&Observation, Os),
) -> Result<JoinStats, CaptureFileError> {
    let mut stats = JoinStats::default();
    let mut seen: HashSet<(IpAddr, u16)> = HashSet::new();
    let mut first_error = None;
    let mut failed = |stats: &mut JoinStats, e: CaptureFileError| {
        let why = e.to_string();
        stats.stopped_early = Some(match stats.stopped_early.take() {
            Some(earlier) => format!("{earlier}; {why}"),
            None => why,
        });
        first_error.get_or_insert(e);
    };
    for path in paths {
        let path = path.as_ref();
        let err = |source| CaptureFileError {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = match CaptureReader::open(path) {
            Ok(reader) => reader,
            Err(e) => {
                failed(&mut stats, err(e));
                continue;
            }
        };
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    failed(&mut stats, err(e));
                    break;
                }
            };
            stats.frames += 1;
            let obs = match decode(frame.link, frame.ts, frame.data) {
                Ok(Some(obs)) if obs.kind == Kind::Syn => obs,
                Ok(_) => continue,
                Err(_) => {
                    stats.skipped += 1;
                    continue;
                }
            };
            // Only the labelled are remembered, as many as the labels.
            let label = match labels.join(&obs, &mut seen) {
                Joined::First(label) => label,
                Joined::Unlabelled => {
                    stats.syns += 1;
                    stats.unlabelled += 1;
                    continue;
                }
                Joined::Again => {
                    stats.labelled_again += 1;
                    continue;
                }
            };
            stats.syns += 1;
            match label.os {
                Some(os) => {
                    stats.labelled += 1;
                    f(&obs, os);
                }
                None => stats.label_without_os += 1,
            }
        }
    }
    if stats.frames == 0 {
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    // Each joined SYN is the first of its address and port, so each used
    // a different row.
    let joined = stats.labelled + stats.label_without_os;
    stats.unmatched_label_rows = (labels.len() as u64).saturating_sub(joined);
    stats.label_rows = labels.rows as u64;
    stats.duplicate_label_rows = labels.duplicates as u64;
    stats.unix_socket_label_rows = labels.unix_socket as u64;
    Ok(stats)
}

/// p0f's label of a SYN as the classifier takes it: the same evidence
/// `analyze` gives the model, so learning and evaluating see what users run.
fn p0f_class(p0f: &Database, obs: &Observation) -> Option<P0fClass> {
    P0fClass::of_match(&p0f.fingerprint(obs, None))
}

/// `synprint learn`: adds the labelled SYNs of the captures to `learned`.
/// `p0f` is the database whose match is one of the features. With a
/// `judge`, SYNs whose verdict against their label it flags (a middlebox's,
/// an embedded device's under a browser OS's label, another family's) are
/// left out and counted in [`LearnStats::suspected`]: a proxy's or router's
/// SYN under a browser's User-Agent would teach its shape as that OS, and
/// silence the very flags that caught it.
pub fn learn_capture<P: AsRef<Path>>(
    learned: &mut ModelFile,
    paths: &[P],
    labels: &Labels,
    p0f: &Database,
    judge: Option<&Model>,
) -> Result<(LearnStats, JoinStats), CaptureFileError> {
    let mut syns = Vec::new();
    let join = for_each_labelled_syn(paths, labels, |obs, os| syns.push((obs.clone(), os)))?;
    let mut suspected = Suspected::default();
    let samples = syns.iter().filter_map(|(obs, os)| {
        let p0f = p0f_class(p0f, obs);
        if let Some(model) = judge.filter(|_| *os != Os::Unknown) {
            let v = verdict_for_os(&model.classify(obs, p0f), Some(*os), obs, None);
            if suspected.count(&v) {
                return None;
            }
        }
        Some(Sample { obs, p0f, os: *os })
    });
    let mut stats = learn_from(learned, samples);
    stats.suspected = suspected;
    Ok((stats, join))
}

/// `synprint eval`: classifies the labelled SYNs of the captures.
pub fn eval_capture<P: AsRef<Path>>(
    model: &Model,
    paths: &[P],
    labels: &Labels,
    p0f: &Database,
) -> Result<(EvalReport, JoinStats), CaptureFileError> {
    let mut ev = Evaluator::default();
    let join = for_each_labelled_syn(paths, labels, |obs, os| {
        ev.add(&model.classify(obs, p0f_class(p0f, obs)), os);
    })?;
    Ok((ev.finish(), join))
}

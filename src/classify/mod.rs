//! Which operating system sent a SYN, with calibrated probabilities.
//!
//! - [`Model`]: the scorer, compiled from the built-in knowledge
//!   (`data/os-model.toml`) plus optional learned counts ([`ModelFile`]).
//!   [`Model::classify`] takes an [`Observation`](crate::packet::Observation)
//!   and optionally the class of its p0f match ([`P0fClass`]) and returns a
//!   [`Classification`] without allocating; [`Model::classify_cached`]
//!   scores each distinct combination of feature rows once ([`AnswerCache`]).
//! - [`learn_capture`] / [`learn_from`]: labelled SYNs (labels from a CSV by
//!   `src_ip`/`src_port`, as an `os` name or a `user_agent`) → a learned
//!   model file.
//! - [`eval_capture`] / [`evaluate`]: labelled SYNs → an [`EvalReport`]
//!   (accuracy, confusion, coverage, calibration).
//! - [`verdict()`]: a classification against the User-Agent the client
//!   sent: OS mismatch, tunnel-sized MSS, hop count ([`Verdict`]).
//!
//! The classes, the model file format and how to grow a model are described
//! in `docs/classification.md`.

mod answers;
mod classes;
mod eval;
mod features;
mod labelled;
mod learn;
mod model;
mod ua;
mod verdict;

pub use answers::AnswerCache;
pub use classes::{Family, Os, UnknownOsName, N_FAMILY, N_OS};
pub use eval::{evaluate, EvalReport, Evaluator};
pub use features::{Feature, FeatureValueError, Features, Layout, MssBucket, P0fClass};
pub use labelled::{
    counted, eval_capture, for_each_labelled_syn, learn_capture, CaptureFileError, JoinStats,
};
pub use learn::{
    learn_from, read_labels, read_labels_file, Joined, Label, LabelError, Labels, LearnStats,
    Sample, Suspected,
};
pub(crate) use model::toml_error_line;
pub use model::{
    ClassCounts, ClassProblem, Classification, ClassificationTextKey, Evidence, EvidenceItem,
    EvidenceText, FamilyScores, Lean, Model, ModelError, ModelFile, ModelKind, OsScores,
    WeightsProblem, BUILTIN_MODEL, MAX_MODEL_BYTES, MODEL_FORMAT, MODEL_VERSION,
};
pub use ua::{os_from_user_agent, read_user_agent, UaParserError, UaReading};
pub use verdict::{
    verdict, verdict_for_os, verdict_for_user_agent_reading, Verdict, MISMATCH_THRESHOLD,
};

#[cfg(test)]
mod testdata;

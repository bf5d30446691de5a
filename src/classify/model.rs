//! The model file (versioned TOML of per-OS feature counts) and the compiled
//! scorer built from it.
//!
//! The scorer is a weighted naive-Bayes (log-linear) model: for every OS,
//! log prior + Σ weight(feature) · log P(value | OS), then a softmax. All
//! logarithms are computed once when the model loads; classifying a SYN is
//! eight small binary searches, eighty additions and ten exponentials.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::answers::AnswerCache;
use super::classes::{Family, Os, N_FAMILY, N_OS};
use super::features::{
    dense_key, window_either_parts, window_mss_key, Feature, FeatureValueError, Features, P0fClass,
    HOPS_SLOTS, IPID_SLOTS, MSS_SLOTS, N_FEATURES, P0F_SLOTS, TTL_DOMAIN, WSCALE_SLOTS,
};
use crate::packet::Observation;
use crate::sink::{format_with, TextSink};

/// The `format` every model file must declare.
pub const MODEL_FORMAT: &str = "synprint-os-model";
/// The model file version this build writes. Version 2 added the learned
/// window form `W or mss*N`; version 3 ends learned files with [`END_LINE`].
/// Older versions are the newer ones without their addition, so all are
/// read, while builds that read only older versions name the version rather
/// than fail on the new form.
pub const MODEL_VERSION: u32 = 3;
/// The versions this build reads.
const READ_VERSIONS: [u32; 3] = [1, 2, 3];
/// The last line `learn` writes. A file cut short between or inside lines
/// is still TOML, and would load as a model that silently lost classes or
/// counts; a learned file of version 3 or later without this line is
/// refused instead. A comment, so that it means nothing to TOML.
pub const END_LINE: &str = "# end of synprint OS model";

/// The largest model file read or written. Learned counts grow with the
/// distinct values seen, not with the SYNs: one learned from the analyze
/// benchmark's million SYNs of random headers is 77 MB. The bound keeps a wrong
/// path (`/dev/zero`, a disk image) from filling memory.
pub const MAX_MODEL_BYTES: usize = 256 << 20;

/// The largest count (and `samples`) a model file may hold: far beyond
/// any traffic, and small enough that a class's sums stay finite and its
/// sample count cannot wrap as `learn` adds to it.
pub const MAX_COUNT: f64 = 1e15;

/// The built-in knowledge, shipped in the binary.
pub const BUILTIN_MODEL: &str = include_str!("../../data/os-model.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Hand-written knowledge: has priors and feature weights.
    Builtin,
    /// Counts learned from labelled traffic; added to the built-in counts.
    Learned,
}

/// As the file spells it.
impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Builtin => "builtin",
            ModelKind::Learned => "learned",
        })
    }
}

/// A model file as written on disk. Values are strings so a person can read
/// and edit them; they are validated into typed keys when compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub format: String,
    pub version: u32,
    pub kind: ModelKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Additive smoothing for unseen values (built-in only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<f64>,
    /// How much each feature counts (built-in only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
    /// Per-OS counts, keyed by OS name.
    #[serde(default)]
    pub class: BTreeMap<String, ClassCounts>,
}

/// Counts of feature values seen for one OS. In the built-in file they are
/// pseudo-counts expressing public knowledge (≈100 per feature and class).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassCounts {
    /// Prior share of this OS among clients (built-in only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<f64>,
    /// Prior share of this OS among servers, for SYN+ACKs (built-in only;
    /// without any, servers get the client priors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_prior: Option<f64>,
    /// Labelled SYNs learned for this OS (learned files).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub samples: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ttl: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub window: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wscale: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mss: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ecn: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ipid: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub p0f: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hops: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mss_value: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signature: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub path: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<String, f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ClassCounts {
    pub fn feature(&self, f: Feature) -> &BTreeMap<String, f64> {
        match f {
            Feature::Ttl => &self.ttl,
            Feature::Window => &self.window,
            Feature::WScale => &self.wscale,
            Feature::Options => &self.options,
            Feature::Mss => &self.mss,
            Feature::Ecn => &self.ecn,
            Feature::IpId => &self.ipid,
            Feature::P0f => &self.p0f,
            Feature::Hops => &self.hops,
            Feature::MssValue => &self.mss_value,
            Feature::Signature => &self.signature,
            Feature::Path => &self.path,
            Feature::Exact => &self.exact,
        }
    }

    pub fn feature_mut(&mut self, f: Feature) -> &mut BTreeMap<String, f64> {
        match f {
            Feature::Ttl => &mut self.ttl,
            Feature::Window => &mut self.window,
            Feature::WScale => &mut self.wscale,
            Feature::Options => &mut self.options,
            Feature::Mss => &mut self.mss,
            Feature::Ecn => &mut self.ecn,
            Feature::IpId => &mut self.ipid,
            Feature::P0f => &mut self.p0f,
            Feature::Hops => &mut self.hops,
            Feature::MssValue => &mut self.mss_value,
            Feature::Signature => &mut self.signature,
            Feature::Path => &mut self.path,
            Feature::Exact => &mut self.exact,
        }
    }
}

/// Why a model file cannot be used. Every variant names the file (or
/// `<built-in>`) and the place in it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: cannot read model file: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid model file (TOML): {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: larger than {}, more than a model file may hold", crate::bounded::size(*limit))]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: not a synprint OS model ({found}, expected format = {MODEL_FORMAT:?})")]
    Foreign {
        path: PathBuf,
        /// `format = "..."` as the file has it, or that it has none.
        found: String,
    },
    #[error("{path}: empty file, not a synprint OS model (`synprint learn --model` starts a new one there)")]
    Empty { path: PathBuf },
    #[error(
        "{path}: model version {found} is not supported (this build reads versions 1 to \
         {MODEL_VERSION}, written as numbers: `version = {MODEL_VERSION}`)"
    )]
    Version {
        path: PathBuf,
        /// As the file writes it (`"1"` for a string), or `(none)`.
        found: String,
    },
    #[error(
        "{path}: a model of kind = \"{found}\" where one of kind = \"{expected}\" is needed \
         (--model takes what `synprint learn` writes; the built-in model is part of synprint)"
    )]
    WrongKind {
        path: PathBuf,
        expected: ModelKind,
        found: ModelKind,
    },
    #[error("{path}: [class.{class}]: {problem}")]
    Class {
        path: PathBuf,
        class: String,
        problem: ClassProblem,
    },
    #[error("{path}: weights: {problem}")]
    Weights {
        path: PathBuf,
        problem: WeightsProblem,
    },
    #[error("{path}: {what}: {BUILTIN_ONLY}")]
    BuiltinOnly { path: PathBuf, what: &'static str },
    #[error(
        "{path}: cut short: a learned model of version 3 or later ends with the line \
         `{END_LINE}`, and this one does not (copied or written only in part, or edited \
         after that line: keep it last)"
    )]
    CutShort { path: PathBuf },
}

/// What is wrong in one `[class.NAME]` table of a model file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClassProblem {
    #[error("unknown OS class name")]
    UnknownName,
    #[error("{what}: {BUILTIN_ONLY}")]
    BuiltinOnly { what: &'static str },
    #[error("{what} {value} must be ≥ 0")]
    Prior { what: &'static str, value: f64 },
    /// `what` is `samples` or `counts`.
    #[error("the unknown class is uniform by definition and takes no {what}")]
    UnknownTakes { what: &'static str },
    #[error("samples {0} must be at most {max:e}", max = MAX_COUNT)]
    Samples(u64),
    #[error("{feature} {value:?}: {reason}")]
    Value {
        feature: &'static str,
        value: String,
        reason: FeatureValueError,
    },
    #[error("{feature} {value:?}: count {count} must be 0 to {max:e}", max = MAX_COUNT)]
    Count {
        feature: &'static str,
        value: String,
        count: f64,
    },
}

fn bad_value(f: Feature, value: &str, reason: FeatureValueError) -> ClassProblem {
    ClassProblem::Value {
        feature: f.name(),
        value: value.to_string(),
        reason,
    }
}

/// What is wrong in a model file's `[weights]` or `smoothing`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WeightsProblem {
    #[error("unknown feature {0:?}")]
    UnknownFeature(String),
    #[error("{feature}: weight {value} must be ≥ 0")]
    Weight { feature: String, value: f64 },
    #[error("smoothing {0} must be > 0")]
    Smoothing(f64),
}

/// Why a learned model may not carry priors, weights or smoothing.
const BUILTIN_ONLY: &str = "only the built-in model sets these (a learned model carries counts, \
     which are added to the built-in model's); they would be ignored here";

/// A TOML error as one line naming where it is (the toml crate's own text
/// quotes the line under it, on several).
pub(crate) fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count());
    (before.matches('\n').count() + 1, column + 1)
}

/// A file of another format, or of another version of this one, is named
/// as such rather than as a schema mismatch.
fn check_header(
    format: Option<&str>,
    version: Option<String>,
    path: &Path,
) -> Result<(), ModelError> {
    if format != Some(MODEL_FORMAT) {
        return Err(ModelError::Foreign {
            path: path.to_path_buf(),
            found: format.map_or("no `format` key".into(), |f| format!("format = {f:?}")),
        });
    }
    let readable = |v: &str| READ_VERSIONS.iter().any(|r| r.to_string() == v);
    if !version.as_deref().is_some_and(readable) {
        return Err(ModelError::Version {
            path: path.to_path_buf(),
            found: version.unwrap_or_else(|| "(none)".into()),
        });
    }
    Ok(())
}

impl ModelFile {
    /// Parses and validates a model file's text; `path` only names it in
    /// errors.
    pub fn parse(text: &str, path: &Path) -> Result<ModelFile, ModelError> {
        if text.len() > MAX_MODEL_BYTES {
            return Err(ModelError::TooLarge {
                path: path.to_path_buf(),
                limit: MAX_MODEL_BYTES as u64,
            });
        }
        if text.trim().is_empty() {
            return Err(ModelError::Empty {
                path: path.to_path_buf(),
            });
        }
        let syntax = |e: toml::de::Error| ModelError::Syntax {
            path: path.to_path_buf(),
            message: toml_error_line(text, &e),
        };
        // One parse on the way that matters (a model loads at every start);
        // the header is read again, alone, only to explain a failure.
        let file = match toml::from_str::<ModelFile>(text) {
            Ok(file) => file,
            Err(e) => {
                let value: toml::Table = toml::from_str(text).map_err(syntax)?;
                let format = value.get("format").and_then(|v| v.as_str());
                let version = value.get("version").map(|v| v.to_string());
                check_header(format, version, path)?;
                return Err(syntax(e));
            }
        };
        check_header(Some(&file.format), Some(file.version.to_string()), path)?;
        let ended = text.trim_end().lines().last() == Some(END_LINE);
        if file.kind == ModelKind::Learned && file.version >= 3 && !ended {
            return Err(ModelError::CutShort {
                path: path.to_path_buf(),
            });
        }
        file.validate(path)?;
        Ok(file)
    }

    pub fn load(path: &Path) -> Result<ModelFile, ModelError> {
        ModelFile::load_up_to(path, MAX_MODEL_BYTES as u64)
    }

    fn load_up_to(path: &Path, limit: u64) -> Result<ModelFile, ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = crate::bounded::read_whole(path, limit)
            .map_err(io)?
            .ok_or_else(|| ModelError::TooLarge {
                path: path.to_path_buf(),
                limit,
            })?;
        // A binary file handed over by mistake: say what it is not, and where.
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let (line, column) = line_column(
                std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default(),
                at,
            );
            ModelError::Syntax {
                path: path.to_path_buf(),
                message: format!("line {line}, column {column}: not UTF-8 text"),
            }
        })?;
        ModelFile::parse(&text, path)
    }

    pub fn builtin() -> Result<ModelFile, ModelError> {
        ModelFile::parse(BUILTIN_MODEL, Path::new("<built-in>"))
    }

    /// An empty learned model, to which `learn` adds counts.
    pub fn empty_learned() -> ModelFile {
        ModelFile {
            format: MODEL_FORMAT.to_string(),
            version: MODEL_VERSION,
            kind: ModelKind::Learned,
            description: "Counts learned by `synprint learn` from labelled traffic.".into(),
            smoothing: None,
            weights: BTreeMap::new(),
            class: BTreeMap::new(),
        }
    }

    pub fn to_toml(&self) -> String {
        // Serialising plain maps of strings and numbers cannot fail; an
        // empty string would surface as a load error, never silently.
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# synprint OS model ({:?}); format documented in docs/classification.md\n{body}\n{END_LINE}\n",
            self.kind
        )
    }

    /// Every class name, feature value and count must be meaningful.
    fn validate(&self, path: &Path) -> Result<(), ModelError> {
        let class_err = |class: &str, problem: ClassProblem| ModelError::Class {
            path: path.to_path_buf(),
            class: class.to_string(),
            problem,
        };
        for (name, counts) in &self.class {
            let os = Os::from_label(name)
                .filter(|os| os.name() == name)
                .ok_or_else(|| class_err(name, ClassProblem::UnknownName))?;
            for (what, p) in [
                ("prior", counts.prior),
                ("server_prior", counts.server_prior),
            ] {
                if let Some(p) = p {
                    // A learned model's priors are its sample counts: a
                    // prior written into one would be silently unused.
                    if self.kind == ModelKind::Learned {
                        return Err(class_err(name, ClassProblem::BuiltinOnly { what }));
                    }
                    if !(p.is_finite() && p >= 0.0) {
                        return Err(class_err(name, ClassProblem::Prior { what, value: p }));
                    }
                }
            }
            if os == Os::Unknown && counts.samples > 0 {
                let what = "samples";
                return Err(class_err(name, ClassProblem::UnknownTakes { what }));
            }
            if counts.samples as f64 > MAX_COUNT {
                return Err(class_err(name, ClassProblem::Samples(counts.samples)));
            }
            for f in Feature::ALL {
                for (value, &n) in counts.feature(f) {
                    if os == Os::Unknown {
                        let what = "counts";
                        return Err(class_err(name, ClassProblem::UnknownTakes { what }));
                    }
                    f.parse_key(value)
                        .map_err(|source| class_err(name, bad_value(f, value, source)))?;
                    if !(n.is_finite() && (0.0..=MAX_COUNT).contains(&n)) {
                        let (feature, value) = (f.name(), value.clone());
                        let problem = ClassProblem::Count {
                            feature,
                            value,
                            count: n,
                        };
                        return Err(class_err(name, problem));
                    }
                }
            }
        }
        if self.kind == ModelKind::Learned {
            let what = match (!self.weights.is_empty(), self.smoothing.is_some()) {
                (true, true) => Some("weights and smoothing"),
                (true, false) => Some("weights"),
                (false, true) => Some("smoothing"),
                (false, false) => None,
            };
            if let Some(what) = what {
                let path = path.to_path_buf();
                return Err(ModelError::BuiltinOnly { path, what });
            }
        }
        for (name, &w) in &self.weights {
            if Feature::from_name(name).is_none() {
                return Err(ModelError::Weights {
                    path: path.to_path_buf(),
                    problem: WeightsProblem::UnknownFeature(name.clone()),
                });
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(ModelError::Weights {
                    path: path.to_path_buf(),
                    problem: WeightsProblem::Weight {
                        feature: name.clone(),
                        value: w,
                    },
                });
            }
        }
        if let Some(s) = self.smoothing {
            if !(s.is_finite() && s > 0.0) {
                return Err(ModelError::Weights {
                    path: path.to_path_buf(),
                    problem: WeightsProblem::Smoothing(s),
                });
            }
        }
        Ok(())
    }

    /// Adds another learned model's counts to this one.
    pub fn absorb(&mut self, other: &ModelFile) {
        for (name, counts) in &other.class {
            let mine = self.class.entry(name.clone()).or_default();
            mine.samples += counts.samples;
            for f in Feature::ALL {
                let dst = mine.feature_mut(f);
                for (v, &n) in counts.feature(f) {
                    *dst.entry(v.clone()).or_insert(0.0) += n;
                }
            }
        }
    }
}

/// What a feature value says, precomputed per table row so evidence costs
/// nothing per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lean {
    Os(Os),
    Family(Family),
    /// The value says a middlebox built the packet, not the client's OS
    /// (a client SYN's initial TTL 255).
    Middlebox,
    Neither,
}

/// One compiled feature: per known value a row of weighted log-likelihoods
/// per OS, found through a small open-addressing hash table (a few probes,
/// no unpredictable binary-search branches). The last row is for values
/// never seen.
#[derive(Clone, Debug)]
struct Table {
    /// (key, row) slots; `EMPTY` marks a free slot. Length is a power of two
    /// at least twice the number of keys, so probing always ends.
    slots: Vec<(u64, u32)>,
    shift: u32,
    rows: Vec<Row>,
    leans: Vec<Lean>,
    /// No key at all (learned-only features in the built-in model): a
    /// lookup can be skipped without computing the key.
    empty: bool,
}

const EMPTY: u32 = u32::MAX;

impl Table {
    fn new(keys: &[u64], rows: Vec<Row>, leans: Vec<Lean>) -> Table {
        let bits = (keys.len() * 2).max(2).next_power_of_two().trailing_zeros();
        let mut t = Table {
            slots: vec![(0, EMPTY); 1 << bits],
            shift: 64 - bits,
            rows,
            leans,
            empty: keys.is_empty(),
        };
        let mask = t.slots.len() - 1;
        for (row, &k) in keys.iter().enumerate() {
            let mut i = t.home(k);
            while t.slots[i].1 != EMPTY {
                i = (i + 1) & mask;
            }
            t.slots[i] = (k, row as u32);
        }
        t
    }

    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn find(&self, key: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        // At most every slot once; the table is never full.
        for _ in 0..self.slots.len() {
            let (k, row) = *self.slots.get(i)?;
            if row == EMPTY {
                return None;
            }
            if k == key {
                return Some(row as usize);
            }
            i = (i + 1) & mask;
        }
        None
    }

    fn unseen(&self) -> usize {
        self.rows.len() - 1
    }
}

/// A compiled model: the built-in knowledge plus any learned counts.
#[derive(Clone, Debug)]
pub struct Model {
    log_prior: Row,
    /// Priors for SYN+ACKs: phones and Chromebooks rarely answer SYNs.
    server_log_prior: Row,
    tables: [Table; N_FEATURES],
    /// ttl × ecn × ipid × mss rows summed once at load: one lookup instead
    /// of four per SYN.
    joint: Vec<Row>,
    /// `joint` without the IP ID: servers' IP IDs (Linux answers with 0)
    /// say nothing the client counts could tell.
    joint_server: Vec<Row>,
    /// The TTL's rows alone, for TTL-255 SYNs ([`Model::middlebox_weights`]).
    ttl: Vec<Row>,
    wscale: Vec<Row>,
    p0f: Vec<Row>,
    hops: Vec<Row>,
    /// Learned counts per OS of each whole fingerprint ([`Feature::Exact`]).
    exact: Table,
    /// Leans of the directly indexed features, by feature and index.
    dense_leans: [Vec<Lean>; N_FEATURES],
    samples_learned: u64,
    /// Any hop row or lean that says something (learned counts): else the
    /// hop count selects nothing.
    hops_inform: bool,
    /// Unique per compiled model: an [`AnswerCache`] holds the answers of
    /// one model only.
    id: u64,
}

/// What a SYN's classification depends on: the row each feature selects
/// (direct indexes and hash-table rows). Equal selections get equal
/// probabilities and leans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Selection {
    server: bool,
    /// Index into [`TTL_DOMAIN`].
    ttl: u8,
    ecn: u8,
    ipid: u8,
    mss: u8,
    wscale: u8,
    /// [`NO_DENSE`] where absent.
    p0f: u8,
    hops: u8,
    window: u32,
    options: u32,
    /// Rows of the learned-only features; [`NO_ROW`] where the table is
    /// empty or lacks the value.
    mss_value: u32,
    signature: u32,
    path: u32,
    exact: u32,
}

const NO_ROW: u32 = u32::MAX;
const NO_DENSE: u8 = u8::MAX;
const TTL_255_INDEX: u8 = 3;
const _: () = assert!(TTL_DOMAIN[TTL_255_INDEX as usize] == 255);

impl Selection {
    /// The selection in four words, for [`AnswerCache`]: equal words, equal
    /// selections. Every field is named, so that one added to the struct
    /// does not compile until it has its place here.
    pub(super) fn words(&self) -> [u64; 4] {
        let &Selection {
            server,
            ttl,
            ecn,
            ipid,
            mss,
            wscale,
            p0f,
            hops,
            window,
            options,
            mss_value,
            signature,
            path,
            exact,
        } = self;
        let small = u64::from_le_bytes([u8::from(server), ttl, ecn, ipid, mss, wscale, p0f, hops]);
        let pair = |a: u32, b: u32| u64::from(a) << 32 | u64::from(b);
        [
            small,
            pair(window, options),
            pair(mss_value, signature),
            pair(path, exact),
        ]
    }
}

/// A selection's scoring: a [`Classification`] but for the SYN's own
/// feature values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Answer {
    os: Os,
    family: Family,
    confidence: f32,
    scores: OsScores,
    family_scores: FamilyScores,
    leans: [Lean; N_FEATURES],
    /// False where a middlebox's story won and the stack's fields (the
    /// window's `mss*N` match among them) leave the evidence.
    window_kept: bool,
}

impl Answer {
    /// The classification of a SYN with these `features` (and window
    /// `mss*N` match) that selected this answer's rows.
    fn classification(&self, features: Features, mult: Option<u16>) -> Classification {
        Classification {
            os: self.os,
            family: self.family,
            confidence: self.confidence,
            scores: self.scores,
            family_scores: self.family_scores,
            evidence: Evidence {
                features,
                leans: self.leans,
                window_mss_multiple: mult.filter(|_| self.window_kept),
            },
        }
    }
}

fn fresh_model_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

const ECN_SLOTS: usize = 2;
const JOINT_SLOTS: usize = TTL_DOMAIN.len() * ECN_SLOTS * IPID_SLOTS * MSS_SLOTS;

fn joint_index(ttl: usize, ecn: usize, ipid: usize, mss: usize) -> usize {
    ((ttl * ECN_SLOTS + ecn) * IPID_SLOTS + ipid) * MSS_SLOTS + mss
}

/// Per-OS values padded to whole SIMD lanes of four, so that adding two
/// rows, the classifier's inner step, is three vector additions rather
/// than ten scalar ones. The padding lanes of a row, stored or summed, are
/// 0.
const LANES: usize = N_OS.div_ceil(4) * 4;
type Row = [f32; LANES];

#[inline(always)]
fn add_row(logit: &mut Row, row: Option<&Row>) {
    if let Some(row) = row {
        // Through copies held in registers: adding in place, the compiler
        // kept every lane's load-add-store of the array on the stack.
        let (mut sum, row) = (*logit, *row);
        for (l, v) in sum.iter_mut().zip(row) {
            *l += v;
        }
        *logit = sum;
    }
}

/// One feature's contribution, kept as compact codes; rendered as text
/// (`ttl 128 -> Windows`) only when serialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidenceItem {
    pub feature: Feature,
    pub lean: Lean,
    /// For the window: the value matched as `mss*N`.
    pub window_mss_multiple: Option<u16>,
}

/// Evidence for one classification: the features' values and which way each
/// pointed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub features: Features,
    /// Where each feature's value points, by [`Feature::index`]
    /// (`Neither` for features absent or uninformative).
    leans: [Lean; N_FEATURES],
    /// The window matched the model as `mss*N`.
    pub(crate) window_mss_multiple: Option<u16>,
}

impl Evidence {
    pub fn items(&self) -> impl Iterator<Item = EvidenceItem> + '_ {
        Feature::ALL.into_iter().filter_map(move |feature| {
            let lean = self.leans.get(feature.index()).copied()?;
            (lean != Lean::Neither).then_some(EvidenceItem {
                feature,
                lean,
                window_mss_multiple: if feature == Feature::Window {
                    self.window_mss_multiple
                } else {
                    None
                },
            })
        })
    }

    /// Readable strings, e.g. `ttl 128 -> Windows`.
    pub fn strings(&self) -> Vec<String> {
        self.texts().map(|t| t.to_string()).collect()
    }

    /// The items as `Display` values (no allocation until formatted).
    pub fn texts(&self) -> impl Iterator<Item = EvidenceText<'_>> {
        self.items().map(move |item| EvidenceText {
            features: &self.features,
            item,
        })
    }
}

/// See [`Classification::text_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClassificationTextKey {
    answer: (Os, Family),
    /// The bits of every OS's and family's probability and the confidence.
    probabilities: [u32; N_OS + N_FAMILY + 1],
    leans: [Lean; N_FEATURES],
    shown: Features,
    window_mss_multiple: Option<u16>,
}

impl ClassificationTextKey {
    /// A hash of the probabilities alone, for a cache's slot: cheaper than
    /// hashing the whole key, and the probabilities differ between nearly
    /// all classifications whose text differs (equality still compares
    /// everything).
    pub fn slot_hash(&self) -> u64 {
        self.probabilities.iter().fold(0, |h: u64, &bits| {
            (h ^ u64::from(bits))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29)
        })
    }
}

/// One evidence item, displayed as `feature value -> target`.
#[derive(Clone, Copy, Debug)]
pub struct EvidenceText<'a> {
    features: &'a Features,
    item: EvidenceItem,
}

impl EvidenceText<'_> {
    /// `feature value -> target`, written piece by piece (records render
    /// it straight into their output buffer).
    pub fn write_to(&self, out: &mut impl TextSink) {
        let it = self.item;
        let target = match it.lean {
            Lean::Os(os) => os.name(),
            Lean::Family(fam) => fam.name(),
            Lean::Middlebox => "middlebox",
            Lean::Neither => "?",
        };
        out.text(it.feature.name());
        out.text(" ");
        let v = &self.features;
        match it.feature {
            Feature::Ttl => out.number(v.initial_ttl.into()),
            Feature::Window => match it.window_mss_multiple {
                Some(n) => {
                    out.text("mss*");
                    out.number(n.into());
                }
                None => out.number(v.window.into()),
            },
            Feature::WScale => match v.wscale {
                Some(w) => out.number(w.into()),
                None => out.text("none"),
            },
            Feature::Options => v.layout.write_to(out),
            Feature::Mss => out.text(v.mss_bucket.name()),
            Feature::Ecn => out.text(if v.ecn { "yes" } else { "no" }),
            Feature::IpId => out.text(v.ip_id.name()),
            Feature::P0f => out.text(v.p0f.map_or("?", |p| p.name())),
            Feature::Hops => out.number(v.hops.into()),
            Feature::MssValue => match v.mss {
                Some(m) => out.number(m.into()),
                None => out.text("none"),
            },
            Feature::Signature | Feature::Path | Feature::Exact => {
                out.text(&v.value_string(it.feature, false).unwrap_or_default())
            }
        }
        out.text(" -> ");
        out.text(target);
    }
}

impl fmt::Display for EvidenceText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_with(f, |out| self.write_to(out))
    }
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.texts().map(|t| t.to_string()))
    }
}

/// A probability per OS, serialised as an object keyed by OS name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OsScores(pub [f32; N_OS]);

impl OsScores {
    pub fn get(&self, os: Os) -> f32 {
        self.0[os.index()]
    }
    /// OSes by decreasing probability.
    pub fn ranked(&self) -> [Os; N_OS] {
        let mut r = Os::ALL;
        r.sort_by(|a, b| self.get(*b).total_cmp(&self.get(*a)));
        r
    }
}

impl Serialize for OsScores {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(N_OS))?;
        for os in Os::ALL {
            m.serialize_entry(os.name(), &round4(self.get(os)))?;
        }
        m.end()
    }
}

/// A probability per family, serialised as an object keyed by family name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FamilyScores(pub [f32; N_FAMILY]);

impl FamilyScores {
    pub fn get(&self, f: Family) -> f32 {
        self.0[f.index()]
    }
    pub fn ranked(&self) -> [Family; N_FAMILY] {
        let mut r = Family::ALL;
        r.sort_by(|a, b| self.get(*b).total_cmp(&self.get(*a)));
        r
    }
}

impl Serialize for FamilyScores {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(N_FAMILY))?;
        for f in Family::ALL {
            m.serialize_entry(f.name(), &round4(self.get(f)))?;
        }
        m.end()
    }
}

fn round4(p: f32) -> f64 {
    (f64::from(p) * 10_000.0).round() / 10_000.0
}

/// Probabilities in ten-thousandths that sum to exactly 10,000, as
/// Hamilton's method (largest remainders) apportions them: so a score never
/// moves by a unit or more and the order of two scores never reverses
/// (but where two scores a float step apart give the same product with
/// 10,000, which ties them). Rounding each score on its own left sums up to
/// 0.0003 away from 1.
///
/// Done as rounding half up and then mending the total, which is the same
/// apportionment (the units that rounding gave or withheld beyond the
/// total are those of the remainders nearest one half). This runs for
/// every SYN the classifier has not seen.
fn ten_thousandths(p: &Row) -> [u16; N_OS] {
    // What rounding added to each score, in units (-0.5 to 0.5). The
    // scores come from a softmax, so they sum to 1 up to float error, which
    // the mending below absorbs; anything not a probability, and the
    // padding lanes, count as 0. Lane by lane with selects, so that the
    // compiler runs it four scores at a time.
    let mut units = [0u32; LANES];
    let mut added = [0.0f32; LANES];
    for (i, ((u, a), &v)) in units.iter_mut().zip(&mut added).zip(p).enumerate() {
        // NaN fails the comparison.
        let v = if i < N_OS && v >= 0.0 { v } else { 0.0 };
        let exact = if v < 1.0 { v } else { 1.0 } * 10_000.0;
        // The floor of exact + 1/2, through ROUND_MAGIC (which rounds
        // halves to even) and a step down where that rounded up: the
        // saturating `as` cast it replaces cost about eighteen
        // instructions per score (callgrind).
        let half_up = exact + 0.5;
        let magic = half_up + ROUND_MAGIC;
        let above = (magic - ROUND_MAGIC) > half_up;
        *u = magic
            .to_bits()
            .wrapping_sub(ROUND_MAGIC.to_bits())
            .wrapping_sub(u32::from(above));
        *a = (magic - ROUND_MAGIC) - if above { 1.0 } else { 0.0 } - exact;
    }
    let mut total: u32 = units.iter().sum();
    // Too few units: the next go to the scores rounded down the most; too
    // many: back from those rounded up the most.
    while total != 10_000 {
        let short = total < 10_000;
        // The first of the most rounded down, or up; only a score with
        // units can give one back.
        let mut best = if short {
            f32::INFINITY
        } else {
            f32::NEG_INFINITY
        };
        let mut pick = N_OS;
        for (i, (&a, &u)) in added.iter().zip(&units).enumerate().take(N_OS) {
            let better = if short { a < best } else { a > best && u > 0 };
            if better {
                (pick, best) = (i, a);
            }
        }
        // Not reached: too many units means some score has one.
        if pick == N_OS {
            break;
        }
        if short {
            units[pick] += 1;
            added[pick] += 1.0;
            total += 1;
        } else {
            units[pick] -= 1;
            added[pick] -= 1.0;
            total -= 1;
        }
    }
    // At most 10,000 each.
    std::array::from_fn(|i| units[i] as u16)
}

/// The classifier's answer for one SYN. `Copy`, no heap: building one costs
/// no allocation; strings are made only when it is serialised.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Classification {
    /// The most probable OS.
    pub os: Os,
    /// The most probable family (by summed probability, so it can differ
    /// from `os`'s family when the OSes of another family together weigh
    /// more).
    pub family: Family,
    /// Probability of `os`.
    #[serde(serialize_with = "ser_round4")]
    pub confidence: f32,
    pub scores: OsScores,
    pub family_scores: FamilyScores,
    pub evidence: Evidence,
}

fn ser_round4<S: serde::Serializer>(p: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round4(*p))
}

impl Classification {
    /// Writes the JSON object the `Serialize` impl writes, with the same
    /// values, straight into the record buffer; whole numbers are written
    /// as records write them (`0`, where serde writes `0.0`).
    pub fn write_json(&self, j: &mut crate::json::JsonBuf) {
        j.begin_object();
        j.key("os");
        j.str(self.os.name());
        j.key("family");
        j.str(self.family.name());
        j.key("confidence");
        j.prob4(self.confidence);
        j.key("scores");
        j.begin_object();
        for os in Os::ALL {
            j.key(os.name());
            j.prob4(self.scores.get(os));
        }
        j.end_object();
        j.key("family_scores");
        j.begin_object();
        for fam in Family::ALL {
            j.key(fam.name());
            j.prob4(self.family_scores.get(fam));
        }
        j.end_object();
        j.key("evidence");
        j.begin_array();
        for t in self.evidence.texts() {
            j.string_with(|s| t.write_to(s));
        }
        j.end_array();
        j.end_object();
    }

    /// Everything [`Classification::write_json`] reads, with the feature
    /// values no evidence item shows cleared: classifications with equal
    /// keys write equal text, so a record writer can reuse one's JSON for
    /// the other (SYNs of ever-new shapes mostly share a few thousand
    /// classifications).
    pub fn text_key(&self) -> ClassificationTextKey {
        let e = &self.evidence;
        let shown = |f: Feature| e.leans.get(f.index()).is_some_and(|&l| l != Lean::Neither);
        let mut probabilities = [0; N_OS + N_FAMILY + 1];
        let values = self
            .scores
            .0
            .iter()
            .chain(&self.family_scores.0)
            .chain([&self.confidence]);
        for (bits, p) in probabilities.iter_mut().zip(values) {
            *bits = p.to_bits();
        }
        ClassificationTextKey {
            answer: (self.os, self.family),
            probabilities,
            leans: e.leans,
            shown: e.features.displayed(shown),
            window_mss_multiple: e.window_mss_multiple.filter(|_| shown(Feature::Window)),
        }
    }

    /// A client SYN from initial TTL 255 for which the story that a proxy or
    /// network device built it holds most of the posterior: its fields say
    /// little of the client (`Model::middlebox_weights`).
    pub fn from_middlebox(&self) -> bool {
        self.evidence.leans.get(Feature::Ttl.index()) == Some(&Lean::Middlebox)
    }

    /// Probability of `family`.
    pub fn family_confidence(&self) -> f32 {
        self.family_scores.get(self.family)
    }
}

impl Model {
    /// The built-in knowledge alone.
    pub fn builtin() -> Result<Model, ModelError> {
        Model::compile(&ModelFile::builtin()?, None)
    }

    /// The built-in knowledge plus the learned model at `path`.
    pub fn with_learned_file(path: &Path) -> Result<Model, ModelError> {
        let learned = ModelFile::load(path)?;
        if learned.kind != ModelKind::Learned {
            return Err(ModelError::WrongKind {
                path: path.to_path_buf(),
                expected: ModelKind::Learned,
                found: learned.kind,
            });
        }
        Model::compile(&ModelFile::builtin()?, Some(&learned))
    }

    /// Number of labelled SYNs in the learned part.
    pub fn samples_learned(&self) -> u64 {
        self.samples_learned
    }

    /// Builds the lookup tables from built-in and learned counts.
    pub fn compile(builtin: &ModelFile, learned: Option<&ModelFile>) -> Result<Model, ModelError> {
        let path = Path::new("<built-in>");
        let smoothing = builtin.smoothing.unwrap_or(0.5);
        let mut weights = [1.0f64; N_FEATURES];
        for (name, &w) in &builtin.weights {
            if let Some(f) = Feature::from_name(name) {
                weights[f.index()] = w;
            }
        }

        // Counts per OS per feature, keyed by the parsed key.
        let mut counts: Vec<[BTreeMap<u64, f64>; N_FEATURES]> =
            (0..N_OS).map(|_| Default::default()).collect();
        let mut add = |file: &ModelFile| -> Result<(), ModelError> {
            for (name, cc) in &file.class {
                let Some(os) = Os::from_label(name) else {
                    continue; // validated on load
                };
                for f in Feature::ALL {
                    for (v, &n) in cc.feature(f) {
                        let key = f.parse_key(v).map_err(|source| ModelError::Class {
                            path: path.to_path_buf(),
                            class: name.clone(),
                            problem: bad_value(f, v, source),
                        })?;
                        *counts[os.index()][f.index()].entry(key).or_insert(0.0) += n;
                    }
                }
            }
            Ok(())
        };
        add(builtin)?;
        if let Some(l) = learned {
            add(l)?;
        }
        resolve_learned_windows(&mut counts);

        // Priors: built-in shares, worth PRIOR_STRENGTH samples, plus the
        // learned class counts (the learning traffic's own mix).
        const PRIOR_STRENGTH: f64 = 1000.0;
        let mut prior = [0.0f64; N_OS];
        let total_prior: f64 = builtin.class.values().filter_map(|c| c.prior).sum();
        for (name, cc) in &builtin.class {
            if let (Some(os), Some(p)) = (Os::from_label(name), cc.prior) {
                if total_prior > 0.0 {
                    prior[os.index()] = p / total_prior * PRIOR_STRENGTH;
                }
            }
        }
        let mut samples_learned = 0;
        if let Some(l) = learned {
            for (name, cc) in &l.class {
                if let Some(os) = Os::from_label(name) {
                    if os != Os::Unknown {
                        prior[os.index()] += cc.samples as f64;
                        samples_learned += cc.samples;
                    }
                }
            }
        }
        // A class nobody gave a prior still gets a tiny one, so evidence
        // can raise it.
        let log_shares = |prior: &[f64; N_OS]| {
            let sum: f64 = prior.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            let mut log = [0.0f32; LANES];
            for os in Os::ALL {
                log[os.index()] = ((prior[os.index()] / sum).max(1e-6)).ln() as f32;
            }
            log
        };
        let log_prior = log_shares(&prior);
        let mut server_prior = [0.0f64; N_OS];
        for (name, cc) in &builtin.class {
            if let (Some(os), Some(p)) = (Os::from_label(name), cc.server_prior) {
                server_prior[os.index()] = p;
            }
        }
        let server_log_prior = if server_prior.iter().sum::<f64>() > 0.0 {
            log_shares(&server_prior)
        } else {
            log_prior
        };

        // `exact` is not scored: its counts go to `exact` below as they are,
        // and its slot among the scored tables stays empty.
        let tables: [Table; N_FEATURES] = Feature::ALL.map(|f| match f {
            Feature::Exact => Table::new(&[], vec![[0.0; LANES]], vec![Lean::Neither]),
            _ => build_table(f, &counts, smoothing, weights[f.index()]),
        });
        let exact = count_table(Feature::Exact, &counts);
        // Dense rows of the small-domain features.
        let dense = |f: Feature, n: usize| -> (Vec<Row>, Vec<Lean>) {
            let t = &tables[f.index()];
            (0..n)
                .map(|i| {
                    let r = match t.find(dense_key(f, i)) {
                        Some(r) => r,
                        // As for the hashed learned-only features: a value
                        // the learning traffic never showed says nothing.
                        None if f.learned_only() => return ([0.0; LANES], Lean::Neither),
                        None => t.unseen(),
                    };
                    (
                        t.rows.get(r).copied().unwrap_or([0.0; LANES]),
                        t.leans.get(r).copied().unwrap_or(Lean::Neither),
                    )
                })
                .unzip()
        };
        let (ttl, ttl_l) = dense(Feature::Ttl, TTL_DOMAIN.len());
        let (ecn, ecn_l) = dense(Feature::Ecn, ECN_SLOTS);
        let (ipid, ipid_l) = dense(Feature::IpId, IPID_SLOTS);
        let (mss, mss_l) = dense(Feature::Mss, MSS_SLOTS);
        let (wscale, ws_l) = dense(Feature::WScale, WSCALE_SLOTS);
        let (p0f, p0f_l) = dense(Feature::P0f, P0F_SLOTS);
        let (hops, hops_l) = dense(Feature::Hops, HOPS_SLOTS);
        let joint_of = |ipid: &[Row]| {
            let mut joint = vec![[0.0f32; LANES]; JOINT_SLOTS];
            for (a, ra) in ttl.iter().enumerate() {
                for (b, rb) in ecn.iter().enumerate() {
                    for (c, rc) in ipid.iter().enumerate() {
                        for (d, rd) in mss.iter().enumerate() {
                            if let Some(row) = joint.get_mut(joint_index(a, b, c, d)) {
                                for o in 0..LANES {
                                    row[o] = ra[o] + rb[o] + rc[o] + rd[o];
                                }
                            }
                        }
                    }
                }
            }
            joint
        };
        let joint = joint_of(&ipid);
        let joint_server = joint_of(&vec![[0.0f32; LANES]; ipid.len()]);
        let hops_inform =
            hops_l.iter().any(|&l| l != Lean::Neither) || hops.iter().flatten().any(|&v| v != 0.0);
        let mut dense_leans: [Vec<Lean>; N_FEATURES] = Default::default();
        dense_leans[Feature::Ttl.index()] = ttl_l;
        dense_leans[Feature::Ecn.index()] = ecn_l;
        dense_leans[Feature::IpId.index()] = ipid_l;
        dense_leans[Feature::Mss.index()] = mss_l;
        dense_leans[Feature::WScale.index()] = ws_l;
        dense_leans[Feature::P0f.index()] = p0f_l;
        dense_leans[Feature::Hops.index()] = hops_l;
        Ok(Model {
            log_prior,
            server_log_prior,
            tables,
            joint,
            joint_server,
            ttl,
            wscale,
            p0f,
            hops_inform,
            hops,
            exact,
            dense_leans,
            samples_learned,
            id: fresh_model_id(),
        })
    }

    /// Classifies one SYN (or SYN+ACK). No allocation.
    /// `p0f` is the class of the same SYN's p0f match ([`P0fClass::of_match`]),
    /// one more piece of evidence.
    pub fn classify(&self, obs: &Observation, p0f: Option<P0fClass>) -> Classification {
        self.classify_features(Features::of(obs, p0f))
    }

    pub fn classify_features(&self, features: Features) -> Classification {
        let (sel, mult) = self.select(&features);
        self.score(&sel).classification(features, mult)
    }

    /// [`Model::classify_features`], scoring each distinct selection of
    /// the model's rows once: SYNs of shapes not seen before (a new window,
    /// MSS or hop count) mostly select rows an earlier SYN selected. Same
    /// answers.
    pub fn classify_cached(&self, features: Features, cache: &mut AnswerCache) -> Classification {
        let (sel, mult) = self.select(&features);
        cache
            .answer(self.id, sel, || self.score(&sel))
            .classification(features, mult)
    }

    /// The rows `features` select, and the window's `mss*N` match where
    /// that is how the window was found.
    fn select(&self, features: &Features) -> (Selection, Option<u16>) {
        // A value the learning traffic never showed says nothing: with
        // thousands of distinct values, "unseen" would otherwise be strong
        // evidence for the uniform `unknown` class.
        let learned = |t: &Table, f: Feature| {
            if t.empty {
                return NO_ROW;
            }
            features
                .key(f)
                .and_then(|key| t.find(key))
                .map_or(NO_ROW, |r| r as u32)
        };
        let table = |f: Feature| &self.tables[f.index()];
        // The window is looked up exactly, then as a multiple of the MSS.
        let t = table(Feature::Window);
        let (window, mult) = match t.find(u64::from(features.window)) {
            Some(r) => (r, None),
            None => {
                let n = features.window_mss_multiple();
                match n.and_then(|n| t.find(window_mss_key(n))) {
                    Some(r) => (r, n),
                    None => (t.unseen(), None),
                }
            }
        };
        let t = table(Feature::Options);
        let options = t.find(features.layout.key()).unwrap_or(t.unseen());
        // Features::of gives only these; the TTL-255 index also stands for
        // the middlebox story in `score`.
        debug_assert!(TTL_DOMAIN.contains(&features.initial_ttl));
        let sel = Selection {
            server: features.server,
            ttl: features.ttl_index() as u8,
            ecn: u8::from(features.ecn),
            ipid: features.ip_id as u8,
            mss: features.mss_bucket as u8,
            wscale: features.wscale_index() as u8,
            p0f: features.p0f.map_or(NO_DENSE, |p| p as u8),
            // Where no hop row or lean says anything (the built-in model
            // has no hop counts), the hop count selects nothing: then SYNs
            // that differ only in their distance share an answer.
            hops: if self.hops_inform {
                features.hops
            } else {
                NO_DENSE
            },
            window: window as u32,
            options: options as u32,
            mss_value: learned(table(Feature::MssValue), Feature::MssValue),
            signature: learned(table(Feature::Signature), Feature::Signature),
            path: learned(table(Feature::Path), Feature::Path),
            exact: learned(&self.exact, Feature::Exact),
        };
        (sel, mult)
    }

    /// The probabilities and leans of one selection: what every SYN
    /// selecting these rows gets.
    fn score(&self, sel: &Selection) -> Answer {
        let (mut logit, joint) = if sel.server {
            (self.server_log_prior, &self.joint_server)
        } else {
            (self.log_prior, &self.joint)
        };
        let mut leans = [Lean::Neither; N_FEATURES];
        let mut note = |f: Feature, lean: Option<&Lean>| {
            if let (Some(slot), Some(&l)) = (leans.get_mut(f.index()), lean) {
                *slot = l;
            }
        };

        if sel.hops != NO_DENSE {
            let h = usize::from(sel.hops);
            add_row(&mut logit, self.hops.get(h));
            note(
                Feature::Hops,
                self.dense_leans[Feature::Hops.index()].get(h),
            );
        }
        for (f, row) in [
            (Feature::MssValue, sel.mss_value),
            (Feature::Signature, sel.signature),
            (Feature::Path, sel.path),
        ] {
            if row != NO_ROW {
                let t = &self.tables[f.index()];
                let row = row as usize;
                add_row(&mut logit, t.rows.get(row));
                note(f, t.leans.get(row));
            }
        }
        // Last, so that a middlebox's story is weighed against everything
        // else the model knows.
        let (e, window_kept) = if !sel.server && sel.ttl == TTL_255_INDEX {
            self.middlebox_weights(sel, &logit, joint, &mut note)
        } else {
            self.add_stack_features(sel, &mut logit, joint, &mut note);
            (softmax_weights(&logit), true)
        };
        let sum: f32 = e[..N_OS].iter().sum();
        let inv = 1.0 / sum;
        let mut p = [0.0f32; LANES];
        for (pi, ei) in p.iter_mut().zip(&e) {
            *pi = ei * inv;
        }
        // Learned observations of exactly this fingerprint update the
        // answer, the model's probabilities counting as EXACT_PRIOR of them
        // (a Dirichlet prior): a shape seen often in learning is answered
        // by its labels, one seen once is nudged.
        let exact_row = (sel.exact != NO_ROW)
            .then(|| self.exact.rows.get(sel.exact as usize))
            .flatten();
        if let Some(row) = exact_row {
            let seen: f32 = row.iter().sum();
            for (pi, &c) in p.iter_mut().zip(row) {
                *pi = (c + EXACT_PRIOR * *pi) / (seen + EXACT_PRIOR);
            }
            note(Feature::Exact, Some(&lean_of_counts(row)));
        }
        // Scores are reported to four decimals; rounding them here, so that
        // they sum to exactly 1, makes every reader (JSON, text, eval, the
        // verdict) see the same numbers, and the answers are the highest of
        // those (the rounding keeps the order of any two scores).
        let units = ten_thousandths(&p);
        let mut family_units = [0u16; N_FAMILY];
        for os in Os::ALL {
            family_units[os.family().index()] += units[os.index()];
        }
        let p = units.map(|u| f32::from(u) / 10_000.0);
        let best = first_max(&units);
        let best_f = first_max(&family_units);
        Answer {
            os: Os::ALL.get(best).copied().unwrap_or(Os::Unknown),
            family: Family::ALL.get(best_f).copied().unwrap_or(Family::Other),
            confidence: p.get(best).copied().unwrap_or(0.0),
            scores: OsScores(p),
            family_scores: FamilyScores(family_units.map(|u| f32::from(u) / 10_000.0)),
            leans,
            window_kept,
        }
    }

    /// [`Model::add_stack_features`] for a client SYN from initial TTL 255,
    /// where no browser's OS starts. Either a network rewrote the TTL of
    /// the client's own SYN, and its other fields are the client's, or a
    /// proxy, load balancer or router built the SYN, and they are the
    /// device's and say nothing of the client behind it. Both are weighed,
    /// equally: each class scores its TTL row plus the log of the sum of
    /// two likelihoods of the other fields, its own and the uniform
    /// `unknown` class's. Fields that fit a client stack are answered as
    /// usual; fields that fit none leave answers pulled towards the client
    /// priors rather than `unknown` or whatever stack the device's own look
    /// resembles.
    /// Where the device's story holds most of the posterior, the evidence
    /// says `ttl 255 -> middlebox` (and [`Classification::from_middlebox`]).
    /// Returns each class's unnormalised probability, as
    /// [`softmax_weights`] does, and whether the stack's fields (the
    /// window's `mss*N` match among them) stay in the evidence.
    #[cold]
    #[inline(never)]
    fn middlebox_weights(
        &self,
        sel: &Selection,
        logit: &Row,
        joint: &[Row],
        note: &mut impl FnMut(Feature, Option<&Lean>),
    ) -> (Row, bool) {
        let mut fields = [0.0f32; LANES];
        let mut leans = [None; N_FEATURES];
        self.add_stack_features(sel, &mut fields, joint, &mut |f, l| {
            if let Some(slot) = leans.get_mut(f.index()) {
                *slot = l.copied();
            }
        });
        let ttl = self
            .ttl
            .get(usize::from(sel.ttl))
            .copied()
            .unwrap_or([0.0; LANES]);
        for (f, t) in fields.iter_mut().zip(&ttl) {
            *f -= t;
        }
        // Each story's share of the posterior: every class's score so far
        // (prior, hops, learned features) plus the TTL row, with the
        // fields' likelihood under the story.
        let device = fields[Os::Unknown.index()];
        let mut logit = *logit;
        for (l, t) in logit.iter_mut().zip(&ttl) {
            *l += t;
        }
        // Each class's score is l + log(e^f + e^device), so its weight is
        // e^(l + f) + e^(l + device): the two stories' weights, summed,
        // are the softmax's. Shifted by the largest exponent of either,
        // with selects rather than branches, so that the compiler runs each
        // step four classes at a time.
        let mut top = f32::NEG_INFINITY;
        for (l, &f) in logit.iter().zip(&fields).take(N_OS) {
            let v = l + if f > device { f } else { device };
            top = if v > top { v } else { top };
        }
        let (mut device_e, mut client_e) = ([0.0f32; LANES], [0.0f32; LANES]);
        for (i, ((d, c), (l, f))) in device_e
            .iter_mut()
            .zip(&mut client_e)
            .zip(logit.iter().zip(&fields))
            .enumerate()
        {
            // Padding lanes get e^-80 ≈ 0.
            let real = i < N_OS;
            *d = exp_nonpositive(if real { l + device - top } else { -80.0 });
            *c = exp_nonpositive(if real { l + f - top } else { -80.0 });
        }
        let mut weights = [0.0f32; LANES];
        for (w, (d, c)) in weights.iter_mut().zip(device_e.iter().zip(&client_e)) {
            *w = d + c;
        }
        let device_mass: f32 = device_e[..N_OS].iter().sum();
        let client_mass: f32 = client_e[..N_OS].iter().sum();
        if device_mass >= client_mass {
            note(Feature::Ttl, Some(&Lean::Middlebox));
            (weights, false)
        } else {
            for f in Feature::ALL {
                note(f, leans.get(f.index()).copied().flatten().as_ref());
            }
            (weights, true)
        }
    }

    /// Adds the rows of what the sender's stack put in the SYN (all but
    /// the hop count and the learned features) to `logit`.
    fn add_stack_features(
        &self,
        sel: &Selection,
        logit: &mut Row,
        joint: &[Row],
        note: &mut impl FnMut(Feature, Option<&Lean>),
    ) {
        // Summed in a local copy, stored once: added to `logit` row by row,
        // each sum went back to memory, shuffled.
        let mut sum = *logit;
        let lean = |f: Feature, i: usize| self.dense_leans[f.index()].get(i);
        // Small domains: direct indexes.
        let (ttl, ecn) = (usize::from(sel.ttl), usize::from(sel.ecn));
        let (ipid, mss) = (usize::from(sel.ipid), usize::from(sel.mss));
        add_row(&mut sum, joint.get(joint_index(ttl, ecn, ipid, mss)));
        note(Feature::Ttl, lean(Feature::Ttl, ttl));
        note(Feature::Ecn, lean(Feature::Ecn, ecn));
        if !sel.server {
            note(Feature::IpId, lean(Feature::IpId, ipid));
        }
        note(Feature::Mss, lean(Feature::Mss, mss));
        let ws = usize::from(sel.wscale);
        add_row(&mut sum, self.wscale.get(ws));
        note(Feature::WScale, lean(Feature::WScale, ws));
        if sel.p0f != NO_DENSE {
            let i = usize::from(sel.p0f);
            add_row(&mut sum, self.p0f.get(i));
            note(Feature::P0f, lean(Feature::P0f, i));
        }
        // Open domains: rows found by [`Model::select`].
        for (f, row) in [
            (Feature::Window, sel.window),
            (Feature::Options, sel.options),
        ] {
            let t = &self.tables[f.index()];
            add_row(&mut sum, t.rows.get(row as usize));
            note(f, t.leans.get(row as usize));
        }
        *logit = sum;
    }
}

/// Each class's unnormalised probability, e^(logit - max): the softmax
/// before its division, without branches, so that the compiler runs the
/// exponentials four at a time.
#[inline(always)]
fn softmax_weights(logit: &Row) -> Row {
    // Max with selects, not branches (the winner changes from SYN to SYN,
    // so a branch would mispredict).
    let mut max = logit[0];
    for &l in &logit[1..N_OS] {
        max = if l > max { l } else { max };
    }
    let mut e = [0.0f32; LANES];
    for (i, (ei, l)) in e.iter_mut().zip(logit).enumerate() {
        // Padding lanes get e^-80 ≈ 0.
        *ei = exp_nonpositive(if i < N_OS { l - max } else { -80.0 });
    }
    e
}

/// 1.5·2^23: adding it to a float of magnitude at most 2^22 rounds that to
/// an integer (ties to even) held in the low bits of the sum's mantissa.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// e^x for x ≤ 0, to about 1e-4 relative error (results below e^-80 are
/// flushed to e^-80 ≈ 2e-35). Branch-free so the softmax vectorises: libm's
/// `expf`, ten times per SYN, was a third of the classifier's cost.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    let x = x.max(-80.0);
    // e^x = 2^(x·log2 e) = 2^n · 2^f with n = round(t), f in [-0.5, 0.5].
    let t = x * std::f32::consts::LOG2_E;
    // Round to nearest with the 1.5·2^23 trick: the sum's low mantissa bits
    // hold n. (A saturating `as i32` would cost ten instructions per lane.)
    let y = t + ROUND_MAGIC;
    let n = (y.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let f = t - (y - ROUND_MAGIC);
    // Taylor polynomial of 2^f, degree 5, on [-0.5, 0.5].
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5 + f * (0.055_504_11 + f * (0.009_618_13 + f * 0.001_333_55))));
    // n is in [-116, 0]: the exponent field stays valid.
    f32::from_bits((n.wrapping_add(127) as u32) << 23) * p
}

/// Index of the first largest value. Each value is widened with its
/// index's complement below it, so the largest key is the first largest
/// value and one running maximum finds it: no selects on an index (the
/// winner changes from SYN to SYN, so a branch would mispredict).
fn first_max<const N: usize>(v: &[u16; N]) -> usize {
    const { assert!(N <= 0x1_0000) };
    let top = v
        .iter()
        .zip(0u32..)
        .map(|(&x, i)| (u32::from(x) << 16) | (0xFFFF - i))
        .max()
        .unwrap_or(0xFFFF);
    0xFFFF - (top & 0xFFFF) as usize
}

/// How many observations of one exact fingerprint the model's own answer
/// for it is worth ([`Feature::Exact`]): two, so one learned label moves the
/// answer a third of the way and ten decide it.
const EXACT_PRIOR: f32 = 2.0;

/// Files each `W or mss*N` window count ([`window_either_key`](super::features::window_either_key)) where the
/// classifier looks such a SYN up: under the exact window when any class
/// holds it exactly, else under `mss*N`. Decided here, over all counts, so
/// that a model learned in several runs equals one learned in one.
fn resolve_learned_windows(counts: &mut [[BTreeMap<u64, f64>; N_FEATURES]]) {
    let w = Feature::Window.index();
    let exact: HashSet<u64> = counts
        .iter()
        .flat_map(|c| c[w].keys())
        .filter(|&&k| k <= u64::from(u16::MAX))
        .copied()
        .collect();
    for c in counts.iter_mut() {
        let either: Vec<(u64, f64)> = c[w]
            .iter()
            .filter(|(&k, _)| window_either_parts(k).is_some())
            .map(|(&k, &n)| (k, n))
            .collect();
        for (key, n) in either {
            c[w].remove(&key);
            if let Some((window, mss)) = window_either_parts(key) {
                let to = if exact.contains(&window) { window } else { mss };
                *c[w].entry(to).or_insert(0.0) += n;
            }
        }
    }
}

/// Every value of `f` any OS has a count for, sorted, once each.
fn table_keys(f: Feature, counts: &[[BTreeMap<u64, f64>; N_FEATURES]]) -> Vec<u64> {
    let mut keys: Vec<u64> = counts
        .iter()
        .flat_map(|c| c[f.index()].keys().copied())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Learned counts per OS of each value of `f`, as they are (no smoothing,
/// no logarithm): observations, for [`Feature::Exact`].
fn count_table(f: Feature, counts: &[[BTreeMap<u64, f64>; N_FEATURES]]) -> Table {
    let keys = table_keys(f, counts);
    let rows = keys
        .iter()
        .map(|k| {
            let mut row = [0.0f32; LANES];
            for os in Os::ALL {
                row[os.index()] =
                    counts[os.index()][f.index()].get(k).copied().unwrap_or(0.0) as f32;
            }
            row
        })
        .collect();
    let leans = vec![Lean::Neither; keys.len()];
    Table::new(&keys, rows, leans)
}

/// Weighted log-likelihood lead above which one OS is named as where a
/// value points: the value moves the odds at least twofold towards it over
/// the runner-up (a feature of weight w needs a likelihood ratio of
/// 2^(1/w)).
const LEAN_MARGIN: f32 = std::f32::consts::LN_2;

fn build_table(
    f: Feature,
    counts: &[[BTreeMap<u64, f64>; N_FEATURES]],
    alpha: f64,
    weight: f64,
) -> Table {
    let keys = table_keys(f, counts);
    let vocab = keys.len() as f64 + 1.0;
    let smoothed = |n: f64, total: f64| (n + alpha) / (total + alpha * vocab);
    // A learned-only feature's values as the learning traffic as a whole
    // shows them: the likelihood of a class it did not show (and of
    // `unknown`). Uniform instead, a value rare in the traffic would favour
    // exactly the classes nobody learned.
    let pooled: Vec<f64> = keys
        .iter()
        .map(|k| counts.iter().filter_map(|c| c[f.index()].get(k)).sum())
        .collect();
    let pooled_total: f64 = pooled.iter().sum();
    let mut rows = vec![[0.0f32; LANES]; keys.len() + 1];
    for os in Os::ALL {
        let c = &counts[os.index()][f.index()];
        let total: f64 = c.values().sum();
        for (r, row) in rows.iter_mut().enumerate() {
            let n = keys.get(r).and_then(|k| c.get(k)).copied().unwrap_or(0.0);
            let p = if os != Os::Unknown && total > 0.0 {
                smoothed(n, total)
            } else if f.learned_only() {
                smoothed(pooled.get(r).copied().unwrap_or(0.0), pooled_total)
            } else {
                // The catch-all for SYNs that fit no stack: uniform over
                // the vocabulary plus "unseen".
                1.0 / vocab
            };
            row[os.index()] = (weight * p.ln()) as f32;
        }
    }
    let leans = rows.iter().map(lean_of).collect();
    Table::new(&keys, rows, leans)
}

/// Where the learned observations of one whole fingerprint point (what
/// they were labelled, not the answer they moved): the OS most of them
/// name, or its family where OSes of one family tie.
fn lean_of_counts(row: &Row) -> Lean {
    let top = row.iter().take(N_OS).copied().fold(0.0f32, f32::max);
    let mut most = Os::ALL
        .into_iter()
        .filter(|o| top > 0.0 && row[o.index()] == top);
    let Some(first) = most.next() else {
        return Lean::Neither;
    };
    let mut lean = Lean::Os(first);
    for other in most {
        if other.family() != first.family() {
            return Lean::Neither;
        }
        lean = Lean::Family(first.family());
    }
    lean
}

fn lean_of(row: &Row) -> Lean {
    let known = || Os::ALL.into_iter().filter(|&o| o != Os::Unknown);
    let Some(best) = known().max_by(|a, b| row[a.index()].total_cmp(&row[b.index()])) else {
        return Lean::Neither;
    };
    let top = row[best.index()];
    // Values no better than the uniform "unknown" class point nowhere.
    if top <= row[Os::Unknown.index()] {
        return Lean::Neither;
    }
    let close: Vec<Os> = known()
        .filter(|o| row[o.index()] > top - LEAN_MARGIN)
        .collect();
    match close.as_slice() {
        [one] => Lean::Os(*one),
        many if many.iter().all(|o| o.family() == best.family()) => Lean::Family(best.family()),
        _ => Lean::Neither,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::features::{parse_layout, IpIdClass, MssBucket};
    use crate::classify::testdata::observation;
    use crate::craft::{OptionBytes, Stack};
    use std::net::{IpAddr, Ipv4Addr};

    fn syn(stack: Stack) -> Observation {
        observation(&syn_packet(stack))
    }

    fn syn_packet(stack: Stack) -> crate::craft::TcpPacket {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut p = stack.syn(a, 40000, b, 443, 1);
        p.ttl -= 9;
        p
    }

    #[test]
    fn builtin_model_loads_and_probabilities_sum_to_one() {
        let m = Model::builtin().unwrap();
        // Every stack, at several distances and windows, so the scores are
        // spread over several OSes rather than 1 and zeros.
        for s in Stack::ALL {
            for (hops, window) in [(9, None), (0, Some(65535)), (30, Some(4200)), (70, None)] {
                let mut o = syn(s);
                o.ttl = o.ttl.saturating_sub(hops);
                if let Some(w) = window {
                    o.window = w;
                }
                let c = m.classify(&o, None);
                // As written: four decimals at most, summing to exactly 1.
                let mut j = crate::json::JsonBuf::new();
                c.write_json(&mut j);
                let v: serde_json::Value = serde_json::from_slice(j.as_bytes()).unwrap();
                let units = |key: &str, name: &str| -> i64 {
                    let u = v[key][name].as_f64().unwrap() * 10_000.0;
                    assert!((u - u.round()).abs() < 1e-6, "{s:?} {name} {u}");
                    u.round() as i64
                };
                let os_units = Os::ALL.map(|os| units("scores", os.name()));
                let fam_units = Family::ALL.map(|f| units("family_scores", f.name()));
                assert_eq!(
                    os_units.iter().sum::<i64>(),
                    10_000,
                    "{s:?} {hops} {window:?}"
                );
                assert_eq!(
                    fam_units.iter().sum::<i64>(),
                    10_000,
                    "{s:?} {hops} {window:?}"
                );
                for (f, fu) in Family::ALL.iter().zip(fam_units) {
                    let members: i64 = Os::ALL
                        .iter()
                        .zip(os_units)
                        .filter(|(os, _)| os.family() == *f)
                        .map(|(_, u)| u)
                        .sum();
                    assert_eq!(members, fu, "{s:?} {f:?}");
                }
                assert_eq!(c.confidence, c.scores.get(c.os));
                assert_eq!(c.scores.ranked()[0], c.os, "{s:?}");
                assert_eq!(c.family_scores.ranked()[0], c.family, "{s:?}");
            }
        }
    }

    /// Halves round up, as the scores have always been rounded: with
    /// halves to even, two tied scores of 4062.5 units went 4063/4062 where
    /// they had gone 4062/4063, and a learned exact count could change the
    /// answer.
    #[test]
    fn ten_thousandths_round_halves_up_and_always_sum_to_one() {
        let units = |scores: [f32; 3]| {
            let mut p = [0.0f32; LANES];
            p[..3].copy_from_slice(&scores);
            ten_thousandths(&p)
        };
        assert_eq!(units([0.40625, 0.40625, 0.1875])[..3], [4062, 4063, 1875]);
        assert_eq!(units([0.46875, 0.46875, 0.0625])[..3], [4687, 4688, 625]);
        // Not probabilities: still ten thousand units, none to the score
        // at 0, whatever the first score is.
        assert_eq!(units([0.0, 0.6, 0.6])[..3], [0, 5000, 5000]);
        assert_eq!(units([f32::NAN, f32::INFINITY, -1.0])[..3], [0, 10_000, 0]);
    }

    /// [`ten_thousandths`] as it is specified, with plain casts: the fast
    /// version must give the same units.
    fn ten_thousandths_plainly(p: &[f32; N_OS]) -> [u16; N_OS] {
        let mut units = [0u16; N_OS];
        let mut added = [0.0f32; N_OS];
        for ((u, a), &v) in units.iter_mut().zip(&mut added).zip(p) {
            let exact = if v >= 0.0 { v.min(1.0) } else { 0.0 } * 10_000.0;
            *u = (exact + 0.5).floor() as u16;
            *a = f32::from(*u) - exact;
        }
        let mut total: i32 = units.iter().map(|&u| i32::from(u)).sum();
        while total != 10_000 {
            let short = total < 10_000;
            let eligible = |i: usize| short || units[i] > 0;
            let Some(mut pick) = (0..N_OS).find(|&i| eligible(i)) else {
                break;
            };
            for i in 0..N_OS {
                let better = if short {
                    added[i] < added[pick]
                } else {
                    added[i] > added[pick]
                };
                if better && eligible(i) {
                    pick = i;
                }
            }
            let step = if short { 1 } else { -1 };
            units[pick] = (i32::from(units[pick]) + step) as u16;
            added[pick] += step as f32;
            total += step;
        }
        units
    }

    proptest::proptest! {
        /// Including vectors of 32nds, whose products with 10,000 are
        /// exact halves: the ties a learned exact count can make.
        #[test]
        fn ten_thousandths_match_their_plain_form(
            raw in proptest::array::uniform10(0u32..64),
            dyadic in proptest::bool::ANY,
        ) {
            let sum: u32 = raw.iter().sum();
            proptest::prop_assume!(sum > 0);
            let p: [f32; N_OS] = if dyadic {
                // Shares in 32nds of a total of 32: scale the counts so.
                let mut p = [0.0f32; N_OS];
                let mut left = 32u32;
                for (pi, &r) in p.iter_mut().zip(&raw) {
                    let k = (r * 32 / sum).min(left);
                    left -= k;
                    *pi = k as f32 / 32.0;
                }
                p[0] += left as f32 / 32.0;
                p
            } else {
                raw.map(|r| r as f32 / sum as f32)
            };
            let mut row = [0.0f32; LANES];
            row[..N_OS].copy_from_slice(&p);
            proptest::prop_assert_eq!(ten_thousandths(&row), ten_thousandths_plainly(&p));
        }

        #[test]
        fn ten_thousandths_sum_to_one_and_keep_order(
            raw in proptest::array::uniform10(0.0f32..1.0)
        ) {
            let sum: f32 = raw.iter().sum();
            proptest::prop_assume!(sum > 0.0);
            let mut p = [0.0f32; LANES];
            for (pi, v) in p.iter_mut().zip(raw) {
                *pi = v / sum;
            }
            let u = ten_thousandths(&p);
            proptest::prop_assert_eq!(u.iter().map(|&x| u32::from(x)).sum::<u32>(), 10_000);
            for i in 0..N_OS {
                let exact = f64::from(p[i]) * 10_000.0;
                proptest::prop_assert!((f64::from(u[i]) - exact).abs() < 1.0 + 1e-3);
                for k in 0..N_OS {
                    if p[i] > p[k] {
                        proptest::prop_assert!(u[i] >= u[k]);
                    }
                }
            }
        }
    }

    #[test]
    fn presets_land_in_their_family() {
        let m = Model::builtin().unwrap();
        let fam = |s| m.classify(&syn(s), None).family;
        assert_eq!(fam(Stack::Windows), Family::Windows);
        assert_eq!(fam(Stack::MacOs), Family::Apple);
        assert_eq!(fam(Stack::Ios), Family::Apple);
        assert_eq!(fam(Stack::Linux), Family::Linux);
        assert_eq!(fam(Stack::Android), Family::Linux);
        assert_eq!(fam(Stack::Embedded), Family::Linux);
        assert_eq!(fam(Stack::FreeBsd), Family::Bsd);
        assert_eq!(fam(Stack::OpenBsd), Family::Bsd);
        let w = m.classify(&syn(Stack::Windows), None);
        assert_eq!(w.os, Os::Windows);
        assert!(w.confidence > 0.99);
    }

    #[test]
    fn shared_stacks_split_their_probability() {
        let m = Model::builtin().unwrap();
        let c = m.classify(&syn(Stack::MacOs), None);
        assert!(
            c.scores.get(Os::MacOs) > 0.3 && c.scores.get(Os::Ios) > 0.3,
            "{:?}",
            c.scores
        );
        assert!(c.family_confidence() > 0.99);
        // A cellular MSS tilts the same stack towards iOS, without certainty.
        let c = m.classify(&syn(Stack::Ios), None);
        assert!(c.scores.get(Os::Ios) > c.scores.get(Os::MacOs));
        assert!(c.confidence < 0.8);
    }

    /// mod_tcpfingerprint's Mozi/Boaform botnet SYNs (TTL, window, scale,
    /// option kinds 2,4,8,1,3, MSS as logged there).
    #[test]
    fn botnet_syns_from_routers_are_embedded() {
        let m = Model::builtin().unwrap();
        for (ttl, window, ws, mss) in [
            (50u8, 28800u16, 4u8, 1406u16),
            (49, 29040, 5, 1452),
            (45, 5808, 1, 1452),
            (44, 5808, 2, 1452),
        ] {
            let mut p = Stack::Linux.syn(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                1,
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                2,
                1,
            );
            p.ttl = ttl;
            p.window = window;
            p.options = crate::craft::OptionBytes::new()
                .mss(mss)
                .sok()
                .ts(7, 0)
                .nop()
                .ws(ws)
                .0;
            let c = m.classify(&observation(&p), None);
            assert_eq!(c.family, Family::Linux);
            assert_eq!(c.os, Os::Embedded, "{window} {ws}: {:?}", c.scores);
        }
    }

    /// Defaults the knowledge file takes from the stacks' own behaviour
    /// rather than from captured SYNs: FreeBSD's IP ID 0 on DF packets
    /// (rfc6864 sysctl), and a host's window as the largest multiple of its
    /// own MSS under 64 KiB (Windows over IPv6; Linux 6.16+, scale 10,
    /// behind a 1280-byte tunnel).
    #[test]
    fn stack_rules_not_seen_in_captures() {
        let m = Model::builtin().unwrap();
        let c = m.classify(&syn(Stack::FreeBsd), None);
        assert_eq!(c.os, Os::FreeBsd, "{:?}", c.scores);
        assert!(c.confidence > 0.75, "{:?}", c.scores);
        let v6 = |stack: Stack| {
            let a: IpAddr = "2001:db8::2".parse().unwrap();
            let b: IpAddr = "2001:db8::1".parse().unwrap();
            stack.syn(a, 40000, b, 443, 1)
        };
        let p = v6(Stack::Windows);
        assert_eq!(p.window, 64800);
        let c = m.classify(&observation(&p), None);
        assert_eq!(c.os, Os::Windows, "{:?}", c.scores);
        assert!(c.confidence > 0.99, "{:?}", c.scores);
        let items = c.evidence.strings();
        // 64800 = 45 x 1440 is Windows' window as much as Linux's.
        assert!(
            !items
                .iter()
                .any(|e| e.starts_with("window") && e.ends_with("Linux")),
            "{items:?}"
        );
        let mut p = syn_packet(Stack::Linux);
        p.window = 52 * 1240;
        p.options = crate::craft::OptionBytes::new()
            .mss(1240)
            .sok()
            .ts(7, 0)
            .nop()
            .ws(10)
            .0;
        let c = m.classify(&observation(&p), None);
        assert_eq!(c.os, Os::Linux, "{:?}", c.scores);
    }

    #[test]
    fn windows_behind_a_ttl_64_hop_is_still_windows() {
        let mut p = Stack::Windows.syn(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            1,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            2,
            1,
        );
        p.ttl = 56;
        let c = Model::builtin().unwrap().classify(&observation(&p), None);
        assert_eq!(c.os, Os::Windows, "{:?}", c.scores);
    }

    /// A stock desktop kernel since Linux 6.16 (32 MiB tcp_rmem[2]: window
    /// scale 10), as this machine's 6.18 sends it over Ethernet, IPv4 and
    /// IPv6 (window 64800 = 45 x 1440). Scale 10 is also common on
    /// Android, so the window must carry it: it did not over IPv6 while the
    /// model knew only the older kernels' scale 7.
    #[test]
    fn stock_linux_since_6_16_is_linux() {
        let m = Model::builtin().unwrap();
        let hosts = [
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                1460u16,
            ),
            ("fd18::2".parse().unwrap(), "fd18::1".parse().unwrap(), 1440),
        ];
        for (src, dst, mss) in hosts {
            let mut p = Stack::Linux.syn(src, 40000, dst, 443, 1);
            p.window = (65535 / mss) * mss;
            p.options = crate::craft::OptionBytes::new()
                .mss(mss)
                .sok()
                .ts(1, 0)
                .nop()
                .ws(10)
                .0;
            p.ttl = 60;
            let c = m.classify(&observation(&p), None);
            assert_eq!(c.os, Os::Linux, "{src} {:?}", c.scores);
        }
    }

    /// SYN+ACKs as servers send them: (TTL, window, options, IP ID) of a
    /// Linux server (IP ID 0, like Apple clients), Windows Server and
    /// FreeBSD answering a SYN that offered everything.
    #[test]
    fn servers_get_server_answers() {
        use crate::craft::{OptionBytes, TcpPacket};
        let client = Stack::Linux.syn(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            40000,
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            443,
            1,
        );
        let linux = OptionBytes::new().mss(1460).sok().ts(7, 1).nop().ws(7);
        let windows = OptionBytes::new().mss(1460).nop().ws(8).sok().ts(7, 1);
        let freebsd = OptionBytes::new().mss(1460).nop().ws(6).sok().ts(7, 1);
        let m = Model::builtin().unwrap();
        for (ttl, window, options, ip_id, want) in [
            (61, 65160, linux.clone(), 0, Os::Linux),
            (61, 64240, linux, 0, Os::Linux),
            (121, 65535, windows.clone(), 812, Os::Windows),
            (121, 8192, windows, 813, Os::Windows),
            (57, 65535, freebsd, 4321, Os::FreeBsd),
        ] {
            let mut p = TcpPacket::syn_ack_for(&client);
            (p.ttl, p.window, p.options, p.ip_id) = (ttl, window, options.0, ip_id);
            let obs = observation(&p);
            let c = m.classify(&obs, None);
            assert_eq!(c.os, want, "window {window}: {:?}", c.scores);
            // Phones and Chromebooks do not serve; the client prior would
            // have made a Linux server half Android.
            for os in [Os::Android, Os::Ios, Os::ChromeOs] {
                assert!(
                    c.scores.get(os) < 0.05,
                    "{os:?} for window {window}: {:?}",
                    c.scores
                );
            }
            // The same packet as a client's SYN reads the IP ID and the
            // client priors again.
            let mut as_syn = obs.clone();
            as_syn.kind = crate::packet::Kind::Syn;
            assert_ne!(m.classify(&as_syn, None).scores, c.scores);
        }
    }

    #[test]
    fn odd_syns_are_unknown() {
        // TTL 32, a layout no stack uses, a window of 4200.
        let mut p = Stack::Windows.syn(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            1,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            2,
            1,
        );
        p.ttl = 30;
        p.window = 4200;
        p.options = vec![
            1, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 30, 4, 0, 0, 2, 4, 1, 0,
        ];
        let c = Model::builtin().unwrap().classify(&observation(&p), None);
        assert_eq!(c.os, Os::Unknown, "{:?}", c.scores);
        assert_eq!(c.family, Family::Other);
    }

    #[test]
    fn learned_counts_lean_to_their_majority() {
        let counts = |pairs: &[(Os, f32)]| {
            let mut row = [0.0; LANES];
            for &(os, n) in pairs {
                row[os.index()] = n;
            }
            lean_of_counts(&row)
        };
        assert_eq!(
            counts(&[(Os::Windows, 1.0), (Os::Linux, 3.0)]),
            Lean::Os(Os::Linux)
        );
        assert_eq!(
            counts(&[(Os::MacOs, 2.0), (Os::Ios, 2.0), (Os::Linux, 1.0)]),
            Lean::Family(Family::Apple)
        );
        assert_eq!(
            counts(&[(Os::Windows, 2.0), (Os::Linux, 2.0)]),
            Lean::Neither
        );
        assert_eq!(counts(&[]), Lean::Neither);
    }

    /// A client SYN from TTL 255: fields that fit a client stack are that
    /// client's (a network rewrote the TTL); fields that fit none are a
    /// proxy's or a scanner's, and get answers pulled towards the client
    /// priors, unsure, with the evidence saying why. A server's SYN+ACK
    /// from TTL 255 is its own stack's and is scored by its fields.
    #[test]
    fn ttl_255_syns_are_clients_or_middleboxes_by_their_fields() {
        let m = Model::builtin().unwrap();
        let mut p = syn_packet(Stack::MacOs);
        p.ttl = 247;
        let rewritten = m.classify(&observation(&p), None);
        assert_eq!(rewritten.family, Family::Apple, "{:?}", rewritten.scores);
        assert!(!rewritten.from_middlebox());

        let mut by_prior = Os::ALL;
        by_prior.sort_by(|a, b| {
            let prior = |o: &Os| m.log_prior[o.index()];
            prior(b).total_cmp(&prior(a))
        });
        // A proxy's (window 4200, M,N,W2,S,E,E) and masscan's (window
        // 1024, no options).
        for (window, options) in [
            (
                4200,
                OptionBytes::new().mss(1460).nop().ws(2).sok().eol().pad().0,
            ),
            (1024, Vec::new()),
        ] {
            (p.window, p.options) = (window, options);
            let c = m.classify(&observation(&p), None);
            assert!(c.from_middlebox(), "{window}");
            assert!(c.confidence < 0.3, "{:?}", c.scores);
            assert_eq!(c.evidence.strings(), vec!["ttl 255 -> middlebox"]);
            assert_eq!(c.scores.ranked()[..2], by_prior[..2]);
            // Android, Linux, ChromeOS and embedded together outweigh
            // Apple and Windows among the priors.
            assert_eq!(c.family, Family::Linux);
        }

        // The same fields from TTL 64 look like nothing known.
        p.ttl = 60;
        assert_eq!(m.classify(&observation(&p), None).os, Os::Unknown);

        // A proxy's window 4380 with M,N,W2,S,T narrowly fits a rare
        // class's look: the device's story still holds most of the
        // posterior, so it is flagged.
        (p.ttl, p.window) = (250, 4380);
        p.options = OptionBytes::new().mss(1460).nop().ws(2).sok().ts(1, 0).0;
        let c = m.classify(&observation(&p), None);
        assert!(c.from_middlebox(), "{:?}", c.evidence.strings());
        assert!(c.confidence < 0.5, "{:?}", c.scores);

        let mut server = observation(&syn_packet(Stack::Windows));
        server.kind = crate::packet::Kind::SynAck;
        server.ttl = 247;
        let c = m.classify(&server, None);
        assert!(c
            .evidence
            .strings()
            .iter()
            .any(|e| e.starts_with("options")));
    }

    #[test]
    fn evidence_and_json_shape() {
        let m = Model::builtin().unwrap();
        let c = m.classify(
            &syn(Stack::Windows),
            Some(P0fClass::of("Windows", "NT kernel")),
        );
        let ev = c.evidence.strings();
        assert!(ev.contains(&"ttl 128 -> Windows".to_string()), "{ev:?}");
        assert!(
            ev.contains(&"options M,N,W,N,N,S -> Windows".to_string()),
            "{ev:?}"
        );
        assert!(ev.contains(&"p0f Windows -> Windows".to_string()), "{ev:?}");
        let j = serde_json::to_value(c).unwrap();
        assert_eq!(j["os"], "Windows");
        assert_eq!(j["family"], "Windows");
        let scores = j["scores"].as_object().unwrap();
        for name in [
            "Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS", "FreeBSD", "OpenBSD",
            "embedded", "unknown",
        ] {
            assert!(scores.contains_key(name), "{name}");
        }
        let fams = j["family_scores"].as_object().unwrap();
        for name in ["Windows", "Apple", "Linux", "BSD", "other"] {
            assert!(fams.contains_key(name), "{name}");
        }
        assert!(
            j["evidence"].as_array().unwrap().len() >= 3,
            "{}",
            j["evidence"]
        );

        let a = m.classify(&syn(Stack::MacOs), None).evidence.strings();
        assert!(
            a.contains(&"options M,N,W,N,N,T,S,E,E -> Apple".to_string()),
            "{a:?}"
        );
        // FreeBSD sends IP ID 0 too: that alone names no family.
        assert!(!a.iter().any(|e| e.starts_with("ipid")), "{a:?}");
    }

    /// `1` and `1.0` are the same probability.
    fn numbers_as_f64(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
            Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
            }
            other => other,
        }
    }

    /// A classification whose features change in one field: when the two
    /// keys are equal the two texts must be (the record writer reuses one
    /// for the other), and changes to fields no evidence shows keep the key.
    #[test]
    fn text_keys_are_equal_only_for_equal_text() {
        fn text(c: &Classification) -> Vec<u8> {
            let mut j = crate::json::JsonBuf::new();
            c.write_json(&mut j);
            j.into_bytes()
        }
        let changes: [fn(&mut Features); 12] = [
            |f| f.initial_ttl = if f.initial_ttl == 64 { 128 } else { 64 },
            |f| f.hops += 1,
            |f| f.window ^= 1,
            |f| f.mss = f.mss.map(|m| m ^ 1),
            |f| f.wscale = f.wscale.map(|w| w ^ 1),
            |f| f.layout = parse_layout("M,N,W").unwrap(),
            |f| f.mss_bucket = MssBucket::Below1200,
            |f| f.ecn = !f.ecn,
            |f| f.ip_id = IpIdClass::Zero,
            |f| f.p0f = Some(P0fClass::OpenBsd),
            |f| f.server = !f.server,
            |f| f.p0f = None,
        ];
        let m = Model::builtin().unwrap();
        let mut kept = 0;
        for s in Stack::ALL {
            let c = m.classify(&syn(s), None);
            for (i, change) in changes.iter().enumerate() {
                let mut d = c;
                change(&mut d.evidence.features);
                if d.text_key() == c.text_key() {
                    kept += 1;
                    assert_eq!(text(&d), text(&c), "{s:?}, change {i}");
                }
            }
        }
        assert!(kept > 0, "no change kept the key");
    }

    #[test]
    fn write_json_matches_serde() {
        let m = Model::builtin().unwrap();
        for s in Stack::ALL {
            let c = m.classify(&syn(s), None);
            let mut j = crate::json::JsonBuf::new();
            c.write_json(&mut j);
            let fast: serde_json::Value = serde_json::from_slice(j.as_bytes()).unwrap();
            assert_eq!(
                numbers_as_f64(fast),
                numbers_as_f64(serde_json::to_value(c).unwrap()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn window_as_mss_multiple_is_recognised() {
        let mut p = Stack::Linux.syn(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            1,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            2,
            1,
        );
        p.options = crate::craft::OptionBytes::new()
            .mss(1400)
            .sok()
            .ts(1, 0)
            .nop()
            .ws(7)
            .0;
        p.window = 46 * 1400;
        let c = Model::builtin().unwrap().classify(&observation(&p), None);
        assert_eq!(c.os, Os::Linux);
        let ev = c.evidence.strings();
        assert!(
            ev.iter().any(|e| e.starts_with("window mss*46 ->")),
            "{ev:?}"
        );
    }

    /// A TTL-255 client SYN whose device story wins shows no stack fields,
    /// so no `mss*N` window either, though its window is one; a SYN+ACK
    /// from TTL 255 is a server, never a middlebox.
    #[test]
    fn middlebox_answers_drop_the_windows_mss_multiple() {
        let m = Model::builtin().unwrap();
        let mut shown_at_64 = 0;
        for k in 2..=46u16 {
            for options in [
                OptionBytes::new().mss(1400).sok().ts(1, 0).nop().ws(7),
                OptionBytes::new().mss(1400),
                OptionBytes::new().mss(1400).nop().ws(2).sok(),
            ] {
                let mut p = syn_packet(Stack::Linux);
                (p.options, p.window, p.ttl) = (options.0, k * 1400, 60);
                let client = m.classify(&observation(&p), None);
                p.ttl = 250;
                let c = m.classify(&observation(&p), None);
                if c.from_middlebox() && client.evidence.window_mss_multiple.is_some() {
                    shown_at_64 += 1;
                    assert_eq!(c.evidence.window_mss_multiple, None, "window mss*{k}");
                    assert!(
                        !c.evidence.strings().iter().any(|e| e.starts_with("window")),
                        "{:?}",
                        c.evidence.strings()
                    );
                }
                // A proxy's look (as for the client SYNs that are called
                // middleboxes), from a server.
                let mut server = crate::craft::TcpPacket::syn_ack_for(&p);
                (server.options, server.window, server.ttl) =
                    (OptionBytes::new().mss(1400).0, 4200, 250);
                assert!(!m.classify(&observation(&server), None).from_middlebox());
            }
        }
        assert!(shown_at_64 > 0, "no middlebox SYN with an mss*N window");
    }

    /// The hop count selects rows only where learned counts give it some:
    /// under the built-in model, SYNs that differ in their distance alone
    /// share one selection (and one cached answer).
    #[test]
    fn hop_counts_select_rows_only_where_learned() {
        use crate::classify::testdata::{labelled_set, BROWSER_STACKS};
        let builtin = Model::builtin().unwrap();
        let mut file = ModelFile::empty_learned();
        let train = labelled_set(&BROWSER_STACKS, 200, 3);
        crate::classify::learn_from(
            &mut file,
            train.iter().map(|(obs, os)| crate::classify::Sample {
                obs,
                p0f: None,
                os: *os,
            }),
        );
        let learned = Model::compile(&ModelFile::builtin().unwrap(), Some(&file)).unwrap();
        let near = Features::of(&syn(Stack::Android), None);
        let far = Features {
            hops: near.hops + 12,
            ..near
        };
        assert_eq!(builtin.select(&near).0, builtin.select(&far).0);
        assert_eq!(
            builtin.classify_features(near).scores,
            builtin.classify_features(far).scores
        );
        assert_ne!(learned.select(&near).0, learned.select(&far).0);
    }

    #[test]
    fn learned_files_cut_short_are_refused() {
        let mut learned = ModelFile::empty_learned();
        learned.version = MODEL_VERSION;
        let linux = learned.class.entry("Linux".into()).or_default();
        linux.samples = 12;
        linux.ttl.insert("64".into(), 12.0);
        linux.window.insert("64240".into(), 12.0);
        learned.class.entry("macOS".into()).or_default().samples = 3;
        let text = learned.to_toml();
        let p = Path::new("m.toml");
        assert_eq!(ModelFile::parse(&text, p).unwrap(), learned);
        // Cut anywhere, inside a count or between classes, it is an error
        // (mostly this one; a cut inside a key is a syntax error), never a
        // model that lost something.
        let body = &text[..text.find(END_LINE).unwrap()];
        for cut in text.find("kind").unwrap()..text.len() - 1 {
            let e = ModelFile::parse(&text[..cut], p).unwrap_err();
            if cut >= body.find("[class").unwrap() && text[..cut].ends_with('\n') {
                assert!(matches!(e, ModelError::CutShort { .. }), "{cut}: {e}");
            }
        }
        assert!(ModelFile::parse(&text[..text.len() - 1], p).is_ok());
        assert!(ModelFile::parse(&format!("{text}\n \r\n"), p).is_ok());
        // Lines added after it make it no longer last.
        let e = ModelFile::parse(&format!("{text}[class.iOS]\nsamples = 1\n"), p).unwrap_err();
        assert!(e.to_string().contains("keep it last"), "{e}");
        // The built-in model, written by hand, has none.
        let builtin = ModelFile::builtin().unwrap();
        assert!(!BUILTIN_MODEL.contains(END_LINE));
        assert_eq!(ModelFile::parse(&builtin.to_toml(), p).unwrap(), builtin);
    }

    #[test]
    fn bad_model_files_are_typed_errors() {
        let p = Path::new("m.toml");
        let err = |text: &str| ModelFile::parse(text, p).unwrap_err();
        assert!(matches!(err("not = [toml"), ModelError::Syntax { .. }));
        // Both kinds of TOML error say where: bad syntax, a misspelt key.
        let e = err("# first\nnot toml [[[");
        assert!(e.to_string().contains(": line 2, column 5: "), "{e}");
        let e = err("format = \"synprint-os-model\"\nversion = 1\n[class.Linux]\nsyns = 1");
        assert!(
            e.to_string().contains(": line 4, column 1: unknown field"),
            "{e}"
        );
        assert!(matches!(
            err("format = \"zardaxt\"\nversion = 1"),
            ModelError::Foreign { .. }
        ));
        let e = err("[package]\nname = \"x\"");
        assert!(
            matches!(&e, ModelError::Foreign { found, .. } if found == "no `format` key"),
            "{e}"
        );
        assert!(matches!(err(" \n\n"), ModelError::Empty { .. }));
        assert!(matches!(
            err("format = \"synprint-os-model\"\nversion = 99\nkind = \"learned\"\n[class]"),
            ModelError::Version { found, .. } if found == "99"
        ));
        // Versions 1 (before the `W or mss*N` window form) and 2 (before
        // the end line) still load, without an end line.
        for v in [1, 2] {
            let text =
                format!("format = \"synprint-os-model\"\nversion = {v}\nkind = \"learned\"\n");
            assert!(ModelFile::parse(&text, p).is_ok(), "version {v}");
        }
        assert!(matches!(
            err("format = \"synprint-os-model\"\nversion = 4\nkind = \"learned\"\n"),
            ModelError::Version { .. }
        ));
        // What the file says, however it says it.
        for (version, found) in [
            ("-1", "-1"),
            ("\"1\"", "\"1\""),
            ("99999999999", "99999999999"),
        ] {
            let e = err(&format!(
                "format = \"synprint-os-model\"\nversion = {version}\nkind = \"learned\"\n"
            ));
            assert!(
                matches!(&e, ModelError::Version { found: f, .. } if f == found),
                "{e}"
            );
        }
        let e = err("format = \"synprint-os-model\"\nkind = \"learned\"\n");
        assert!(e.to_string().contains("version (none)"), "{e}");
        let base = "format = \"synprint-os-model\"\nversion = 1\nkind = \"learned\"\n";
        // A built-in model's weights and smoothing must name features and
        // be usable numbers.
        let builtin = "format = \"synprint-os-model\"\nversion = 2\nkind = \"builtin\"\n";
        for (text, expected) in [
            (
                "[weights]\ncolour = 1.0\n",
                WeightsProblem::UnknownFeature("colour".into()),
            ),
            (
                "[weights]\nttl = -1.0\n",
                WeightsProblem::Weight {
                    feature: "ttl".into(),
                    value: -1.0,
                },
            ),
            ("smoothing = 0.0\n", WeightsProblem::Smoothing(0.0)),
        ] {
            match err(&format!("{builtin}{text}")) {
                ModelError::Weights { problem, .. } => assert_eq!(problem, expected),
                e => panic!("{text}: {e}"),
            }
        }
        // Settings only the built-in model has, named as the file has them.
        for (text, what) in [
            ("smoothing = 1.0\n", ": smoothing: only"),
            ("[weights]\nttl = 1.0\n", ": weights: only"),
        ] {
            let e = err(&format!("{base}{text}"));
            assert!(e.to_string().contains(what), "{e}");
        }
        let e = err(&format!("{base}[class.unknown]\nsamples = 5"));
        assert!(e.to_string().contains("takes no samples"), "{e}");
        let e = err(&format!("{base}[class.Plan9]\nsamples = 1"));
        assert!(e.to_string().contains("Plan9"), "{e}");
        assert!(
            matches!(
                e,
                ModelError::Class {
                    problem: ClassProblem::UnknownName,
                    ..
                }
            ),
            "{e}"
        );
        let e = err(&format!("{base}[class.Linux]\nttl = {{ \"63\" = 1 }}"));
        assert!(e.to_string().contains("ttl \"63\""), "{e}");
        let e = err(&format!("{base}[class.Linux]\noptions = {{ \"M,Q\" = 1 }}"));
        let ModelError::Class { problem, .. } = e else {
            panic!("{e}");
        };
        assert!(
            matches!(
                &problem,
                ClassProblem::Value {
                    feature: "options",
                    reason: FeatureValueError::OptionToken(t),
                    ..
                } if t == "Q"
            ),
            "{problem:?}"
        );
        let e = err(&format!(
            "{base}[class.Linux]\nwindow = {{ \"64240\" = -1 }}"
        ));
        assert!(e.to_string().contains("count"), "{e}");
        // Counts so large their sums overflow would make every answer
        // `unknown`; a sample count near the top would wrap in `learn`.
        let e = err(&format!(
            "{base}[class.Linux]\nttl = {{ \"64\" = 1e308, \"128\" = 1e308 }}"
        ));
        assert!(e.to_string().contains("must be 0 to 1e15"), "{e}");
        let e = err(&format!(
            "{base}[class.Linux]\nsamples = 9223372036854775807"
        ));
        assert!(
            e.to_string()
                .contains("samples 9223372036854775807 must be at most 1e15"),
            "{e}"
        );
        assert!(ModelFile::parse(
            &format!("{base}[class.Linux]\nsamples = 1000000000000000\nttl = {{ \"64\" = 1e15 }}"),
            Path::new("m.toml")
        )
        .is_ok());
        let e = err(&format!("{base}[class.Linux]\ncolour = 1"));
        assert!(matches!(e, ModelError::Syntax { .. }), "{e}");
        // What only the built-in model sets would be ignored in a learned one.
        let e = err(&format!("{base}[class.Linux]\nprior = 0.99"));
        assert!(
            e.to_string().contains("prior: only the built-in model"),
            "{e}"
        );
        let e = err(&format!(
            "{base}smoothing = 100.0\n[class.Linux]\nsamples = 1"
        ));
        assert!(matches!(e, ModelError::BuiltinOnly { .. }), "{e}");
        let e = err(&format!(
            "{base}[weights]\nttl = 2.0\n[class.Linux]\nsamples = 1"
        ));
        assert!(matches!(e, ModelError::BuiltinOnly { .. }), "{e}");
        let e = ModelFile::load(Path::new("/nonexistent/m.toml")).unwrap_err();
        assert!(matches!(e, ModelError::Io { .. }));
    }

    /// A path to something endless or huge is refused after the bound,
    /// not read into memory whole.
    #[test]
    fn oversized_model_files_are_refused() {
        let e = ModelFile::load_up_to(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(e, ModelError::TooLarge { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        let text = ModelFile::empty_learned().to_toml();
        std::fs::write(&path, &text).unwrap();
        let limit = text.len() as u64;
        assert!(ModelFile::load_up_to(&path, limit).is_ok());
        let e = ModelFile::load_up_to(&path, limit - 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: larger than {} bytes, more than a model file may hold",
                path.display(),
                limit - 1
            )
        );
    }

    /// A learned `W or mss*N` window counts as `W` where any class holds W
    /// exactly, else as `mss*N`.
    #[test]
    fn learned_windows_count_where_they_are_looked_up() {
        use crate::classify::features::window_either_key;
        let w = Feature::Window.index();
        let mut counts: Vec<[BTreeMap<u64, f64>; N_FEATURES]> =
            (0..N_OS).map(|_| Default::default()).collect();
        let (linux, android) = (Os::Linux.index(), Os::Android.index());
        counts[linux][w].insert(window_either_key(43800, 30), 2.0);
        counts[linux][w].insert(window_either_key(61000, 61), 1.0);
        counts[linux][w].insert(window_mss_key(61), 1.0);
        counts[android][w].insert(43800, 3.0);
        resolve_learned_windows(&mut counts);
        assert_eq!(
            counts[linux][w],
            BTreeMap::from([(43800, 2.0), (window_mss_key(61), 2.0)])
        );
        assert_eq!(counts[android][w], BTreeMap::from([(43800, 3.0)]));

        // Compiled, a learned 43800 that no class holds exactly is looked
        // up as mss*30 (a multiple the built-in model has no count for).
        let learned = ModelFile::parse(
            "format = \"synprint-os-model\"\nversion = 1\nkind = \"learned\"\n\
             [class.Linux]\nsamples = 1\nwindow = { \"43800 or mss*30\" = 1 }\n",
            Path::new("m.toml"),
        )
        .unwrap();
        let model = Model::compile(&ModelFile::builtin().unwrap(), Some(&learned)).unwrap();
        let mut p = syn_packet(Stack::Linux);
        p.options = OptionBytes::new().mss(1460).sok().ts(1, 0).nop().ws(7).0;
        p.window = 43800;
        let c = model.classify(&observation(&p), None);
        assert_eq!(c.evidence.window_mss_multiple, Some(30));
        let c = Model::builtin().unwrap().classify(&observation(&p), None);
        assert_eq!(c.evidence.window_mss_multiple, None);
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut x = 0.0f32;
        while x > -80.0 {
            let (a, b) = (exp_nonpositive(x), x.exp());
            assert!((a - b).abs() <= b * 1e-4 + 1e-30, "{x}: {a} vs {b}");
            x -= 0.037;
        }
        assert!(exp_nonpositive(-1000.0) < 1e-30);
        assert!((exp_nonpositive(0.0) - 1.0).abs() < 1e-6);
    }

    /// What the classifier's answer cache relies on: two selections that
    /// differ anywhere differ in their words.
    #[test]
    fn selections_that_differ_anywhere_have_different_words() {
        let base = Selection {
            server: false,
            ttl: 1,
            ecn: 0,
            ipid: 1,
            mss: 2,
            wscale: 8,
            p0f: NO_DENSE,
            hops: NO_DENSE,
            window: 5,
            options: 7,
            mss_value: NO_ROW,
            signature: NO_ROW,
            path: NO_ROW,
            exact: NO_ROW,
        };
        let changes: [fn(&mut Selection); 14] = [
            |s| s.server = true,
            |s| s.ttl = 3,
            |s| s.ecn = 1,
            |s| s.ipid = 0,
            |s| s.mss = 0,
            |s| s.wscale = 16,
            |s| s.p0f = 0,
            |s| s.hops = 0,
            |s| s.window = 4,
            |s| s.options = 8,
            |s| s.mss_value = 0,
            |s| s.signature = 0,
            |s| s.path = 0,
            |s| s.exact = 0,
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut s = base;
            change(&mut s);
            assert_ne!(s, base, "change {i} changes nothing");
            assert_ne!(s.words(), base.words(), "change {i}");
        }
    }

    #[test]
    fn model_file_round_trips_through_toml() {
        let b = ModelFile::builtin().unwrap();
        let again = ModelFile::parse(&b.to_toml(), Path::new("x")).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn builtin_is_not_accepted_as_learned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, BUILTIN_MODEL).unwrap();
        let e = Model::with_learned_file(&path).unwrap_err();
        assert!(matches!(e, ModelError::WrongKind { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("kind = \"builtin\" where one of kind = \"learned\" is needed"),
            "{e}"
        );
    }
}

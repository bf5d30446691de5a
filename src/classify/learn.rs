//! Learning from labelled traffic: the labels CSV and the counting of
//! feature values into a learned model file.
//!
//! The CSV has a header row. `src_ip` and `src_port` join a row to the
//! client SYN of that connection; the label is the `os` column (synprint's
//! names, or zardaxt's `Mac OS` / `Chromium OS`) or, when that is absent or
//! empty, the OS named by the `user_agent` column. Other columns are
//! ignored. Quoted fields (User-Agents contain commas) are handled by the
//! `csv` crate.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::classes::Os;
use super::features::{Feature, Features, P0fClass};
use super::model::{Model, ModelFile, ModelKind, P0fHint};
use super::ua::{os_from_user_agent, UaParserError};
use crate::packet::{Kind, Observation};

/// What the CSV says about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The OS label: the `os` column if given, else the User-Agent's OS;
    /// `None` when neither names a known class.
    pub os: Option<Os>,
    /// The raw User-Agent, when the CSV has one (for the verdict).
    pub user_agent: Option<String>,
}

/// Labels keyed by client address and port.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    by_conn: HashMap<(IpAddr, u16), Label>,
    /// Data rows read.
    pub rows: usize,
    /// Rows whose label names no known OS (an unparseable or foreign
    /// User-Agent); kept, with `os: None`.
    pub without_os: usize,
}

impl Labels {
    pub fn get(&self, ip: IpAddr, port: u16) -> Option<&Label> {
        self.by_conn.get(&(ip, port))
    }

    /// The label of a client SYN (SYN+ACKs are never labelled: the label
    /// describes the client).
    pub fn for_syn(&self, obs: &Observation) -> Option<&Label> {
        if obs.kind != Kind::Syn {
            return None;
        }
        self.get(obs.src_ip, obs.src_port)
    }

    pub fn len(&self) -> usize {
        self.by_conn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_conn.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{path}: cannot read labels: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: bad CSV: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: the header has no {column:?} column (need src_ip, src_port and os or user_agent)")]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{path}: the header has neither an \"os\" nor a \"user_agent\" column")]
    NoLabelColumn { path: PathBuf },
    #[error("{path}: line {line}: src_ip {value:?} is not an IP address")]
    BadIp {
        path: PathBuf,
        line: u64,
        value: String,
    },
    #[error("{path}: line {line}: src_port {value:?} is not a port number")]
    BadPort {
        path: PathBuf,
        line: u64,
        value: String,
    },
    #[error("{path}: line {line}: {source}")]
    BadOs {
        path: PathBuf,
        line: u64,
        source: super::classes::UnknownOsName,
    },
    #[error(transparent)]
    UaParser(#[from] UaParserError),
}

/// Reads a labels CSV. `path` names the source in errors.
pub fn read_labels<R: Read>(input: R, path: &Path) -> Result<Labels, LabelError> {
    let p = || path.to_path_buf();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let csv_err = |e: csv::Error| LabelError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |pos| pos.line()),
        message: e.to_string(),
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let ip_col = col("src_ip").ok_or(LabelError::MissingColumn {
        path: p(),
        column: "src_ip",
    })?;
    let port_col = col("src_port").ok_or(LabelError::MissingColumn {
        path: p(),
        column: "src_port",
    })?;
    let os_col = col("os");
    let ua_col = col("user_agent");
    if os_col.is_none() && ua_col.is_none() {
        return Err(LabelError::NoLabelColumn { path: p() });
    }

    let mut labels = Labels::default();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |pos| pos.line());
        let field = |i: Option<usize>| i.and_then(|i| rec.get(i)).filter(|s| !s.is_empty());
        let ip_s = field(Some(ip_col)).unwrap_or("");
        let ip: IpAddr = ip_s.parse().map_err(|_| LabelError::BadIp {
            path: p(),
            line,
            value: ip_s.to_string(),
        })?;
        let port_s = field(Some(port_col)).unwrap_or("");
        let port: u16 = port_s.parse().map_err(|_| LabelError::BadPort {
            path: p(),
            line,
            value: port_s.to_string(),
        })?;
        let user_agent = field(ua_col).map(str::to_string);
        let os = match field(os_col) {
            Some(name) => Some(name.parse::<Os>().map_err(|source| LabelError::BadOs {
                path: p(),
                line,
                source,
            })?),
            None => match &user_agent {
                Some(ua) => os_from_user_agent(ua)?,
                None => None,
            },
        };
        labels.rows += 1;
        if os.is_none() {
            labels.without_os += 1;
        }
        labels.by_conn.insert((ip, port), Label { os, user_agent });
    }
    Ok(labels)
}

/// Reads a labels CSV file.
pub fn read_labels_file(path: &Path) -> Result<Labels, LabelError> {
    let f = std::fs::File::open(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_labels(std::io::BufReader::new(f), path)
}

/// One labelled SYN.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    pub obs: &'a Observation,
    pub p0f: Option<P0fHint<'a>>,
    pub os: Os,
}

/// What a `learn` run counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LearnStats {
    /// SYNs learned, per OS.
    pub per_os: BTreeMap<String, u64>,
    pub total: u64,
}

/// Adds the labelled SYNs to `learned` (a learned model: empty or loaded
/// from a previous run, so learning again accumulates).
///
/// `model` is the compiled model the counts will be used with: a window
/// that is a multiple of the MSS is recorded as `mss*N` unless the model
/// already knows the exact value, mirroring how [`Model::classify`] looks
/// windows up.
pub fn learn_from<'a>(
    model: &Model,
    learned: &mut ModelFile,
    samples: impl IntoIterator<Item = Sample<'a>>,
) -> LearnStats {
    learned.kind = ModelKind::Learned;
    let mut stats = LearnStats::default();
    for s in samples {
        if s.os == Os::Unknown {
            continue;
        }
        let p0f = s.p0f.map(|h| P0fClass::of(h.name, h.flavor));
        let f = Features::of(s.obs, p0f);
        let class = learned.class.entry(s.os.name().to_string()).or_default();
        class.samples += 1;
        for feat in Feature::ALL {
            let mss_form =
                feat == Feature::Window && f.window_mss_multiple().is_some() && !model.knows_window(f.window);
            if let Some(v) = f.value_string(feat, mss_form) {
                *class.feature_mut(feat).entry(v).or_insert(0.0) += 1.0;
            }
        }
        *stats.per_os.entry(s.os.name().to_string()).or_insert(0) += 1;
        stats.total += 1;
    }
    stats
}

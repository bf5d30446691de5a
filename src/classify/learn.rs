//! Learning from labelled traffic: the labels CSV and the counting of
//! feature values into a learned model file.
//!
//! The CSV has a header row. `src_ip` and `src_port` join a row to the
//! client SYN of that connection; the label is the `os` column (synprint's
//! names, or zardaxt's `Mac OS` / `Chromium OS`) or, when that is absent or
//! empty, the OS named by the `user_agent` column. Other columns are
//! ignored. Quoted fields (User-Agents contain commas) are handled by the
//! `csv` crate; every row must have as many fields as the header (a row
//! with fewer or more was cut or has an unquoted comma, so its columns
//! cannot be trusted). Bytes that are not UTF-8 (web servers that log
//! User-Agents unescaped) are read as U+FFFD, not refused.

use std::collections::{hash_map::Entry, BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::classes::{quoted, Os};
use super::features::{Feature, Features, P0fClass};
use super::model::{ModelFile, ModelKind, MODEL_VERSION};
use super::ua::{names_os_without_class, read_user_agent, UaParserError, UaReading};
use super::verdict::Verdict;
use crate::packet::{Kind, Observation};

/// What the CSV says about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The OS label: the `os` column if given (`unknown` included: `eval`
    /// scores it, `learn` skips it, a verdict has nothing to judge), else
    /// the User-Agent's OS; `None` when neither names a known class.
    pub os: Option<Os>,
    /// Whether `os` comes from the `os` column, which wins over the
    /// User-Agent.
    pub from_os_column: bool,
    /// How the row's User-Agent read, where `os` comes from it (`None`
    /// without one). The User-Agent itself is not kept: what it says is
    /// all any reader uses, and a web server's log repeats a few thousand
    /// of them over millions of rows.
    pub user_agent: Option<UaReading>,
}

/// Labels keyed by client address and port.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    by_conn: HashMap<(IpAddr, u16), Label>,
    /// Data rows read.
    pub rows: usize,
    /// Rows used whose label names no known OS (an unparseable or foreign
    /// User-Agent); kept, with `os: None`.
    pub without_os: usize,
    /// Rows for an address and port an earlier row already labelled: the
    /// first row is kept, as only the first SYN of an address and port is
    /// (a log written in time order pairs the two).
    pub duplicates: usize,
    /// Rows of connections over a Unix socket (`unix:`, as nginx logs
    /// them beside a TCP listener): no SYN to join, not used.
    pub unix_socket: usize,
}

impl Labels {
    pub fn get(&self, ip: IpAddr, port: u16) -> Option<&Label> {
        self.by_conn.get(&(ip, port))
    }

    /// The label of a client SYN (SYN+ACKs are never labelled: the label
    /// describes the client), for the first SYN of its address and port
    /// only, which `joined` remembers: a later one is a retransmission, a
    /// capture given twice, or a reused port's later client, whom the row
    /// does not describe.
    pub fn join(&self, obs: &Observation, joined: &mut HashSet<(IpAddr, u16)>) -> Joined<'_> {
        if obs.kind != Kind::Syn {
            return Joined::Unlabelled;
        }
        match self.get(obs.src_ip, obs.src_port) {
            None => Joined::Unlabelled,
            Some(_) if !joined.insert((obs.src_ip, obs.src_port)) => Joined::Again,
            Some(label) => Joined::First(label),
        }
    }

    pub fn len(&self) -> usize {
        self.by_conn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_conn.is_empty()
    }
}

/// What [`Labels::join`] makes of a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined<'l> {
    /// No label row names it (or it is not a client SYN).
    Unlabelled,
    /// The first SYN of a labelled address and port: the row's label.
    First(&'l Label),
    /// A later SYN of an address and port already joined.
    Again,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{path}: cannot read labels: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {}, more than a labels file may hold (it is read whole)", crate::bounded::size(*limit))]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: empty (a labels CSV starts with a header row: src_ip, src_port and os or user_agent)")]
    Empty { path: PathBuf },
    #[error("{path}: line {line}: bad CSV: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error(
        "{path}: the header has no {column:?} column (need src_ip, src_port and os or user_agent)"
    )]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{path}: the header row is one column separated by {separator}; a labels CSV separates columns by commas")]
    NotCommas {
        path: PathBuf,
        separator: &'static str,
    },
    #[error("{path}: the header has neither an \"os\" nor a \"user_agent\" column")]
    NoLabelColumn { path: PathBuf },
    #[error("{path}: the header names the {column:?} column twice")]
    DuplicateColumn { path: PathBuf, column: &'static str },
    #[error(
        "{path}: line {line}: {found} field(s) where the header has {expected} \
         (a cut line, or a field with a comma that is not quoted)"
    )]
    FieldCount {
        path: PathBuf,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error(
        "{path}: line {line}: a quoted field runs over a line break \
         (an unterminated quote would swallow the rows after it)"
    )]
    LineBreak { path: PathBuf, line: u64 },
    #[error(
        "{path}: the file is UTF-16 text (as Windows PowerShell writes it); \
         convert it to UTF-8: iconv -f UTF-16 -t UTF-8 FILE"
    )]
    Utf16 { path: PathBuf },
    #[error("{path}: not text (a NUL byte at byte {offset}); a labels file is a CSV")]
    NotText { path: PathBuf, offset: u64 },
    #[error(
        "{path}: line {line}: a quote opened here is never closed \
         (it would swallow every row after it)"
    )]
    UnclosedQuote { path: PathBuf, line: u64 },
    #[error("{path}: line {line}: src_ip {value} is not an IP address")]
    BadIp {
        path: PathBuf,
        line: u64,
        value: String,
    },
    #[error("{path}: line {line}: src_port {value} is not a port number")]
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

/// The largest labels CSV read: a busy site's access log of a few days.
/// The bound keeps an endless input (`/dev/zero`) from filling memory.
pub const MAX_LABELS_BYTES: u64 = 4 << 30;

/// Reads a labels CSV. `path` names the source in errors.
pub fn read_labels<R: Read>(input: R, path: &Path) -> Result<Labels, LabelError> {
    read_labels_up_to(input, path, MAX_LABELS_BYTES)
}

fn read_labels_up_to<R: Read>(input: R, path: &Path, limit: u64) -> Result<Labels, LabelError> {
    let p = || path.to_path_buf();
    let text = read_csv_text(input, path, limit)?;
    if text.trim_ascii().is_empty() {
        return Err(LabelError::Empty { path: p() });
    }
    let line_at = |pos: Option<&csv::Position>| {
        pos.map_or(0, |pos| {
            // The reader's offset can stop short of a record, on the line
            // ends and blank lines before it (the `\n` of a CRLF).
            let from = text.get(..pos.byte() as usize).unwrap_or(&text).len();
            let blank = text[from..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            1 + line_ends(&text[..from + blank])
        })
    };
    if let Some(at) = unclosed_quote(&text) {
        let line = 1 + line_ends(&text[..at]);
        return Err(LabelError::UnclosedQuote { path: p(), line });
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        // Trimmed by hand after the line-break check below, which would
        // not see a break at either end of a field trimmed before it.
        .trim(csv::Trim::None)
        .from_reader(text.as_slice());
    let csv_err = |e: csv::Error| LabelError::Csv {
        path: path.to_path_buf(),
        line: line_at(e.position()),
        message: e.to_string(),
    };
    let headers = rdr.byte_headers().map_err(csv_err)?.clone();
    let col = |name: &'static str| -> Result<Option<usize>, LabelError> {
        let mut named = headers.iter().enumerate().filter(|(_, h)| {
            let h = h.strip_prefix("\u{feff}".as_bytes()).unwrap_or(h);
            h.trim_ascii().eq_ignore_ascii_case(name.as_bytes())
        });
        let first = named.next().map(|(i, _)| i);
        if named.next().is_some() {
            return Err(LabelError::DuplicateColumn {
                path: p(),
                column: name,
            });
        }
        Ok(first)
    };
    // One column only, holding a `;` or a tab: another separator than
    // the comma a CSV uses (a spreadsheet's export in some locales).
    if let [only] = headers.iter().collect::<Vec<_>>()[..] {
        if let Some(&sep) = only.iter().find(|&&b| b == b';' || b == b'\t') {
            let separator = if sep == b';' { "';'" } else { "tabs" };
            return Err(LabelError::NotCommas {
                path: p(),
                separator,
            });
        }
    }
    let ip_col = col("src_ip")?.ok_or(LabelError::MissingColumn {
        path: p(),
        column: "src_ip",
    })?;
    let port_col = col("src_port")?.ok_or(LabelError::MissingColumn {
        path: p(),
        column: "src_port",
    })?;
    let os_col = col("os")?;
    let ua_col = col("user_agent")?;
    if os_col.is_none() && ua_col.is_none() {
        return Err(LabelError::NoLabelColumn { path: p() });
    }

    let mut labels = Labels::default();
    let mut ua_read: HashMap<String, UaReading> = HashMap::new();
    for rec in rdr.byte_records() {
        let rec = rec.map_err(csv_err)?;
        // Counted only for an error: counting costs a pass over the text.
        let line = || line_at(rec.position());
        // Spaces only: as blank as the empty lines the reader skips.
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        if rec.len() != headers.len() {
            return Err(LabelError::FieldCount {
                path: p(),
                line: line(),
                found: rec.len(),
                expected: headers.len(),
            });
        }
        // No field read here holds a line break (an address, a port, an OS
        // name, an HTTP header value): one is a quote left open, and the
        // rows it swallowed would be lost. Columns not read may span lines.
        let read = [Some(ip_col), Some(port_col), os_col, ua_col];
        let spans_lines = |i: usize| {
            rec.get(i)
                .is_some_and(|f| f.contains(&b'\n') || f.contains(&b'\r'))
        };
        if read.into_iter().flatten().any(spans_lines) {
            return Err(LabelError::LineBreak {
                path: p(),
                line: line(),
            });
        }
        let field = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(<[u8]>::trim_ascii)
                .filter(|s| !s.is_empty())
                .map(String::from_utf8_lossy)
        };
        // Checked on every row, a repeated or unused one too: an OS name
        // that is not one is a mistake in the file wherever it stands.
        // `-` is nginx's and Apache's mark for an empty value. An OS
        // uap-core names that synprint has no class for leaves the row
        // unused (`Some(None)`), as a User-Agent naming one does.
        let os_named = match field(os_col).filter(|name| name != "-") {
            None => None,
            Some(name) => match name.parse::<Os>() {
                Ok(os) => Some(Some(os)),
                Err(_) if names_os_without_class(&name) => Some(None),
                Err(source) => {
                    return Err(LabelError::BadOs {
                        path: p(),
                        line: line(),
                        source,
                    })
                }
            },
        };
        let ip_field = field(Some(ip_col));
        let ip_s = ip_field.as_deref().unwrap_or("");
        if ip_s == "unix:" {
            labels.rows += 1;
            labels.unix_socket += 1;
            continue;
        }
        let ip: IpAddr = address(ip_s).ok_or_else(|| LabelError::BadIp {
            path: p(),
            line: line(),
            value: quoted(ip_s),
        })?;
        let port_field = field(Some(port_col));
        let port_s = port_field.as_deref().unwrap_or("");
        // Digits only: Rust's parse also takes a sign (`+443`).
        let port = Some(port_s)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| LabelError::BadPort {
                path: p(),
                line: line(),
                value: quoted(port_s),
            })?;
        labels.rows += 1;
        let Entry::Vacant(slot) = labels.by_conn.entry((ip, port)) else {
            labels.duplicates += 1;
            continue;
        };
        let from_os_column = os_named.is_some();
        let user_agent = match (os_named, field(ua_col)) {
            (Some(_), _) | (None, None) => None,
            // A site's visitors share a few thousand User-Agents: each
            // is parsed once (the regex set costs microseconds a row).
            (None, Some(ua)) => Some(match ua_read.get(ua.as_ref()) {
                Some(&reading) => reading,
                None => {
                    let reading = read_user_agent(&ua)?;
                    ua_read.insert(ua.into_owned(), reading);
                    reading
                }
            }),
        };
        let os = os_named.unwrap_or_else(|| user_agent.and_then(UaReading::os));
        if os.is_none() {
            labels.without_os += 1;
        }
        slot.insert(Label {
            os,
            from_os_column,
            user_agent,
        });
    }
    Ok(labels)
}

/// A client address as logs write it: IPv6 also in brackets
/// (`[2001:db8::1]`, as in a URL) or with its zone (`fe80::1%eth0`), which
/// a captured SYN's address has neither of. A dual-stack server logs IPv4
/// clients as `::ffff:a.b.c.d`; their SYNs are IPv4 on the wire.
fn address(text: &str) -> Option<IpAddr> {
    use std::net::Ipv6Addr;
    let (text, bracketed) = match text.strip_prefix('[') {
        Some(inner) => (inner.strip_suffix(']')?, true),
        None => (text, false),
    };
    let ip: IpAddr = match text.split_once('%') {
        // A zone is an interface's name or number: link-local scope, which
        // an IPv4 client's mapped address has not.
        Some((v6, zone)) if !zone.is_empty() && !zone.contains('%') => v6
            .parse::<Ipv6Addr>()
            .ok()
            .filter(|a| a.to_ipv4_mapped().is_none())?
            .into(),
        Some(_) => return None,
        None => text.parse().ok()?,
    };
    // Brackets hold IPv6 only, and a mapped IPv4 one is written bare.
    if bracketed && ip.to_canonical().is_ipv4() {
        return None;
    }
    Some(ip.to_canonical())
}

/// Line ends in `bytes` as the CSV reader takes them: LF, CRLF, or a CR
/// alone (old Mac files).
fn line_ends(bytes: &[u8]) -> u64 {
    let lone_cr = bytes
        .windows(2)
        .filter(|w| w[0] == b'\r' && w[1] != b'\n')
        .count()
        + usize::from(bytes.last() == Some(&b'\r'));
    (bytes.iter().filter(|&&b| b == b'\n').count() + lone_cr) as u64
}

/// Where a quote opens that nothing closes, if one does (a byte offset
/// into `text`). The CSV reader ends such a field at the end of the input
/// without a word, and in a column `learn` does not read, the rows it
/// swallowed would vanish. Quotes count as the reader counts them: one
/// opens a field only as its first byte, and `""` inside is a quote
/// character.
fn unclosed_quote(text: &[u8]) -> Option<usize> {
    let bom = "\u{feff}".len();
    let start = if text.starts_with("\u{feff}".as_bytes()) {
        bom
    } else {
        0
    };
    let mut opened = None;
    let mut field_start = true;
    let mut bytes = text.iter().enumerate().skip(start).peekable();
    while let Some((at, &b)) = bytes.next() {
        match opened {
            Some(_) if b == b'"' => {
                if bytes.peek().is_some_and(|&(_, &next)| next == b'"') {
                    bytes.next();
                } else {
                    opened = None;
                }
            }
            Some(_) => {}
            None => {
                if b == b'"' && field_start {
                    opened = Some(at);
                }
                field_start = matches!(b, b',' | b'\n' | b'\r');
            }
        }
    }
    opened
}

/// The bytes of a labels CSV, up to `limit`. Held whole so errors can name
/// the line as an editor counts it (the CSV reader counts records, not CRLF
/// or blank lines); the labels kept are of the same order of size anyway.
/// Reading stops at the first sign of a file that is no CSV at all (a
/// UTF-16 byte-order mark, a NUL byte), so that a wrong path such as
/// `/dev/zero` is refused at once rather than after gigabytes.
fn read_csv_text(input: impl Read, path: &Path, limit: u64) -> Result<Vec<u8>, LabelError> {
    let p = || path.to_path_buf();
    let mut input = input.take(limit.saturating_add(1));
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(LabelError::Io { path: p(), source }),
        };
        let from = text.len();
        text.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if text.starts_with(&[0xff, 0xfe]) || text.starts_with(&[0xfe, 0xff]) {
            return Err(LabelError::Utf16 { path: p() });
        }
        if let Some(i) = text[from..].iter().position(|&b| b == 0) {
            let offset = (from + i) as u64;
            return Err(LabelError::NotText { path: p(), offset });
        }
    }
    if text.len() as u64 > limit {
        return Err(LabelError::TooLarge { path: p(), limit });
    }
    Ok(text)
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
    pub p0f: Option<P0fClass>,
    pub os: Os,
}

/// What a `learn` run counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LearnStats {
    /// SYNs learned, per OS.
    pub per_os: BTreeMap<Os, u64>,
    pub total: u64,
    /// SYNs labelled `unknown`: nothing to learn of an OS from them.
    pub skipped_unknown: u64,
    /// SYNs left out because their verdict flags them (only when
    /// [`learn_capture`](super::learn_capture) is given a judge).
    pub suspected: Suspected,
}

/// Labelled SYNs whose verdict says the SYN is not the labelled client's
/// own stack, so its label says nothing of the stack it shows: each
/// counted once, under the first of these flags it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Suspected {
    /// `middlebox_suspected`: a proxy or other network device built it.
    pub middlebox: u64,
    /// `embedded_suspected`: a router's or IoT device's stack under a
    /// browser OS's label.
    pub embedded: u64,
    /// `os_mismatch`: another family's stack than the label's.
    pub mismatch: u64,
}

impl Suspected {
    /// Counts `v` under its first flag; whether it has one.
    pub fn count(&mut self, v: &Verdict) -> bool {
        let counter = if v.middlebox_suspected {
            &mut self.middlebox
        } else if v.embedded_suspected {
            &mut self.embedded
        } else if v.os_mismatch == Some(true) {
            &mut self.mismatch
        } else {
            return false;
        };
        *counter += 1;
        true
    }

    pub fn total(&self) -> u64 {
        self.middlebox + self.embedded + self.mismatch
    }
}

/// Adds the labelled SYNs to `learned` (a learned model: empty or loaded
/// from a previous run, so learning again accumulates, and learning in
/// several runs gives the counts one run over all of it gives).
///
/// [`Model::classify`](crate::classify::Model::classify) looks a window up
/// exactly first and as `mss*N` only when no class knows it exactly. Which
/// of the two a window that is a multiple of its MSS must count as depends
/// on every count of the model, later runs' included, so it is written as
/// both (`W or mss*N`) and decided when the model is compiled.
pub fn learn_from<'a>(
    learned: &mut ModelFile,
    samples: impl IntoIterator<Item = Sample<'a>>,
) -> LearnStats {
    learned.kind = ModelKind::Learned;
    // What it adds may use this version's forms.
    learned.version = MODEL_VERSION;
    let mut stats = LearnStats::default();
    for s in samples {
        let os = s.os;
        if os == Os::Unknown {
            stats.skipped_unknown += 1;
            continue;
        }
        let f = Features::of(s.obs, s.p0f);
        let class = learned.class.entry(os.name().to_string()).or_default();
        class.samples += 1;
        for feat in Feature::ALL {
            if let Some(v) = f.value_string(feat, true) {
                *class.feature_mut(feat).entry(v).or_insert(0.0) += 1.0;
            }
        }
        *stats.per_os.entry(os).or_insert(0) += 1;
        stats.total += 1;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::eval::evaluate;
    use crate::classify::model::{Classification, Model};
    use crate::classify::testdata::{labelled_set, observation, Rng, BROWSER_STACKS};
    use crate::craft::{OptionBytes, Stack};
    use std::net::Ipv4Addr;

    fn labels(text: &str) -> Result<Labels, LabelError> {
        read_labels(text.as_bytes(), Path::new("labels.csv"))
    }

    /// Rows as web servers and UA-parsing pipelines write them: nginx's
    /// `unix:` for a Unix-socket connection and `-` for an empty value,
    /// IPv6 in brackets or with a zone, and uap-core OS names synprint
    /// has no class for, which leave the row unused as their User-Agents
    /// would. A misspelt name is still an error.
    #[test]
    fn rows_as_logs_and_uap_pipelines_write_them() {
        let windows_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
        let l = labels(&format!(
            "src_ip,src_port,user_agent,os\n\
             unix:,,\"{windows_ua}\",-\n\
             [2001:db8::5],1,,Linux\n\
             fe80::1%eth0,2,,GNU/Linux\n\
             10.0.0.1,3,\"{windows_ua}\",-\n\
             10.0.0.2,4,\"{windows_ua}\",KaiOS 2.5\n\
             10.0.0.3,5,,Windows Phone 8.1\n\
             10.0.0.4,6,,tvOS\n\
             10.0.0.5,7,,CrOS\n"
        ))
        .unwrap();
        assert_eq!((l.rows, l.unix_socket, l.len()), (8, 1, 7));
        let get = |ip: &str, port| l.get(ip.parse().unwrap(), port).unwrap();
        assert_eq!(get("2001:db8::5", 1).os, Some(Os::Linux));
        assert_eq!(get("fe80::1", 2).os, Some(Os::Linux));
        // `-` is no label: the User-Agent names the OS.
        assert_eq!(
            get("10.0.0.1", 3),
            &Label {
                os: Some(Os::Windows),
                from_os_column: false,
                user_agent: Some(UaReading::Os(Os::Windows)),
            }
        );
        // The column wins over the User-Agent, and names no class.
        for (ip, port) in [("10.0.0.2", 4), ("10.0.0.3", 5), ("10.0.0.4", 6)] {
            let label = get(ip, port);
            assert_eq!(label.os, None, "{ip}");
            assert!(label.from_os_column, "{ip}");
        }
        assert_eq!(l.without_os, 3);
        assert_eq!(get("10.0.0.5", 7).os, Some(Os::ChromeOs));

        for bad in [
            "Windwos",
            "Linux embedded",
            "Plan 9",
            "Kindle Fire",
            "Samsung Galaxy S9",
            "LG",
        ] {
            let e = labels(&format!("src_ip,src_port,os\n10.0.0.1,1,{bad}\n")).unwrap_err();
            assert!(matches!(e, LabelError::BadOs { line: 2, .. }), "{bad}: {e}");
        }
        // A Unix socket's row is not used, and still checked.
        let e = labels("src_ip,src_port,os\nunix:,,Windwos\n").unwrap_err();
        assert!(matches!(e, LabelError::BadOs { line: 2, .. }), "{e}");
        for bad in [
            "fe80::1%",
            "[10.0.0.1",
            "[10.0.0.1]",
            "[::ffff:10.0.0.1]",
            "[[2001:db8::5]]",
            "10.0.0.1%eth0",
            "::ffff:10.0.0.1%lo",
            "fe80::1%eth0%x",
            "unix:/run/a.sock",
        ] {
            let e = labels(&format!("src_ip,src_port,os\n{bad},1,Linux\n")).unwrap_err();
            assert!(matches!(e, LabelError::BadIp { line: 2, .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn csv_with_quoted_user_agents_and_extra_columns() {
        let l = labels(
            "ts,src_ip,src_port,user_agent,os,extra\n\
             1,10.0.0.1,40000,\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\",,x\n\
             2,10.0.0.2,40001,\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)\",Mac OS,y\n\
             3,2001:db8::1,443,,Chromium OS,z\n\
             4,10.0.0.3,1,curl/8.0,,\n\
             5,::ffff:10.0.0.4,2,,Linux,\n",
        )
        .unwrap();
        assert_eq!(l.rows, 5);
        assert_eq!(
            l.get(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4)), 2)
                .and_then(|label| label.os),
            Some(Os::Linux),
            "an IPv4-mapped address labels the IPv4 SYN"
        );
        assert_eq!(l.without_os, 1);
        let get = |ip: &str, port| l.get(ip.parse().unwrap(), port).unwrap().os;
        assert_eq!(get("10.0.0.1", 40000), Some(Os::Windows));
        // `os` wins over the User-Agent.
        assert_eq!(get("10.0.0.2", 40001), Some(Os::MacOs));
        assert_eq!(get("2001:db8::1", 443), Some(Os::ChromeOs));
        assert_eq!(get("10.0.0.3", 1), None);
    }

    #[test]
    fn rows_that_cannot_be_trusted_are_errors_and_stray_bytes_are_not() {
        // A cut row, or an unquoted comma: which column is which is lost.
        let e = labels("src_ip,src_port,os\n1.2.3.4,1,Linux\n1.2.3.5,2\n").unwrap_err();
        assert!(
            matches!(
                e,
                LabelError::FieldCount {
                    line: 3,
                    found: 2,
                    expected: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e =
            labels("src_ip,src_port,user_agent\n1.2.3.4,1,Mozilla/5.0 (X11, Linux)\n").unwrap_err();
        assert!(
            matches!(
                e,
                LabelError::FieldCount {
                    line: 2,
                    found: 4,
                    ..
                }
            ),
            "{e}"
        );
        // A quote left open swallows every row after it into one field.
        let e = labels(
            "src_ip,src_port,user_agent\n1.2.3.4,1,\"Mozilla/5.0 (Windows\n\
             1.2.3.5,2,Mozilla/5.0 (X11; Linux x86_64)\n1.2.3.6,3,curl/8\n",
        )
        .unwrap_err();
        assert!(
            matches!(e, LabelError::UnclosedQuote { line: 2, .. }),
            "{e}"
        );
        // So it does in a column no one reads, and on the last row.
        for (text, line) in [
            (
                "src_ip,src_port,os,note\n1.2.3.4,1,Windows,\"abc\n1.2.3.5,2,Linux,x\n",
                2,
            ),
            (
                "src_ip,src_port,os\n1.2.3.4,1,Windows\n1.2.3.5,2,\"Linux\n",
                3,
            ),
            ("\u{feff}\"src_ip\",src_port,os\n1.2.3.4,1,\"Windows\n", 2),
        ] {
            let e = labels(text).unwrap_err();
            assert!(
                matches!(e, LabelError::UnclosedQuote { line: l, .. } if l == line),
                "{e}"
            );
        }
        // Lines end in LF, CRLF or a CR alone, and errors count them so.
        for end in ["\n", "\r\n", "\r"] {
            for bad_row in ["1.2.3.5,x,Linux", "1.2.3.5,2,\"Linux"] {
                let text = ["src_ip,src_port,os", "1.2.3.4,1,Windows", bad_row, ""];
                let e = labels(&text.join(end)).unwrap_err();
                assert!(
                    matches!(
                        e,
                        LabelError::BadPort { line: 3, .. }
                            | LabelError::UnclosedQuote { line: 3, .. }
                    ),
                    "{end:?}: {e}"
                );
            }
        }
        for empty in ["", "\n", " \r\n\r\n"] {
            let e = labels(empty).unwrap_err();
            assert!(matches!(e, LabelError::Empty { .. }), "{e}");
        }
        // Over the bound, by one byte: refused, not read on.
        let text = b"src_ip,src_port,os\n1.2.3.4,1,Windows\n";
        let limit = text.len() as u64;
        assert!(read_labels_up_to(&text[..], Path::new("l.csv"), limit).is_ok());
        let e = read_labels_up_to(&[&text[..], b"\n"].concat()[..], Path::new("l.csv"), limit)
            .unwrap_err();
        assert!(matches!(e, LabelError::TooLarge { .. }), "{e}");
        // UTF-16, byte-order mark first, in either order.
        let utf16: Vec<u8> = "src_ip,src_port,os\n1.2.3.4,1,Windows\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        for text in [[&[0xff, 0xfe][..], &utf16].concat(), {
            let be: Vec<u8> = utf16.chunks(2).flat_map(|c| [c[1], c[0]]).collect();
            [&[0xfe, 0xff][..], &be].concat()
        }] {
            let e = read_labels(text.as_slice(), Path::new("l.csv")).unwrap_err();
            assert!(matches!(e, LabelError::Utf16 { .. }), "{e}");
        }
        // No CSV holds a NUL byte: an endless source of them (a wrong path
        // such as /dev/zero) is refused at its first, and a binary file at
        // the first of its, however far in.
        let e = read_labels(std::io::repeat(0), Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, LabelError::NotText { offset: 0, .. }), "{e}");
        let late = [&[b'a'; 200_000][..], &[0], &[b'b'; 10]].concat();
        let e = read_labels(late.as_slice(), Path::new("l.csv")).unwrap_err();
        assert!(
            matches!(
                e,
                LabelError::NotText {
                    offset: 200_000,
                    ..
                }
            ),
            "{e}"
        );
        // A closed quote over a line break in a column that is read, in
        // the middle of the field or at either end of it.
        for row in [
            "1.2.3.4,1,\"Win\ndows\"",
            "1.2.3.4,1,\"Windows\n\"",
            "\"\n1.2.3.4\",1,Windows",
            "1.2.3.4,\"1\r\n\",Windows",
        ] {
            let e = labels(&format!("src_ip,src_port,os\n{row}\n")).unwrap_err();
            assert!(matches!(e, LabelError::LineBreak { line: 2, .. }), "{e}");
        }
        // Spaces and tabs around fields and column names are not read.
        let l = labels(" src_ip ,\tsrc_port,os \n 1.2.3.4 , 1 ,\" Windows \"\n").unwrap();
        assert_eq!(l.rows, 1);
        // Closed quotes spanning lines in other columns, doubled quotes and
        // a quote inside an unquoted field are all fine.
        let l = labels(
            "src_ip,src_port,os,note\n1.2.3.4,1,Windows,\"a \"\"b\"\"\nc\"\n\
             1.2.3.5,2,Linux,say \"hi\n1.2.3.6,3,macOS,\"\"\n",
        )
        .unwrap();
        assert_eq!(l.rows, 3);
        let e = labels("src_ip,src_port,OS,os\n1.2.3.4,1,Linux,Windows\n").unwrap_err();
        assert!(
            matches!(e, LabelError::DuplicateColumn { column: "os", .. }),
            "{e}"
        );
        // A Latin-1 byte in one User-Agent spoils neither the row nor the file.
        let mut text =
            b"src_ip,src_port,user_agent\n1.2.3.4,1,\"Mozilla/5.0 (X11; Linux x86_64) caf\xe9\"\n"
                .to_vec();
        text.extend_from_slice(b"1.2.3.5,2,\"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\"\n");
        let l = read_labels(text.as_slice(), Path::new("l.csv")).unwrap();
        let label = l.get("1.2.3.4".parse().unwrap(), 1).unwrap();
        assert_eq!(label.os, Some(Os::Linux));
        assert_eq!(
            l.get("1.2.3.5".parse().unwrap(), 2).unwrap().os,
            Some(Os::Windows)
        );
    }

    #[test]
    fn the_os_column_wins_even_when_it_says_unknown() {
        let l = labels(
            "src_ip,src_port,os,user_agent\n\
             1.2.3.4,1,Windows,curl/8.0\n\
             1.2.3.5,2,unknown,\"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\"\n\
             1.2.3.6,3,,\"Mozilla/5.0 (X11; Linux x86_64)\"\n",
        )
        .unwrap();
        let get = |ip: &str, port| l.get(ip.parse().unwrap(), port).unwrap();
        assert_eq!(
            (get("1.2.3.4", 1).os, get("1.2.3.4", 1).from_os_column),
            (Some(Os::Windows), true)
        );
        assert_eq!(
            (get("1.2.3.5", 2).os, get("1.2.3.5", 2).from_os_column),
            (Some(Os::Unknown), true)
        );
        assert_eq!(
            (get("1.2.3.6", 3).os, get("1.2.3.6", 3).from_os_column),
            (Some(Os::Linux), false)
        );
        assert_eq!(l.without_os, 0);
    }

    #[test]
    fn csv_errors_name_the_problem() {
        for (text, separator) in [
            ("src_ip;src_port;os\n1.2.3.4;1;Linux\n", "';'"),
            ("src_ip\tsrc_port\tos\n1.2.3.4\t1\tLinux\n", "tabs"),
        ] {
            let e = labels(text).unwrap_err();
            assert!(
                matches!(e, LabelError::NotCommas { separator: s, .. } if s == separator),
                "{e}"
            );
        }
        assert!(matches!(
            labels("ip,port,os\n1.2.3.4,1,Linux\n"),
            Err(LabelError::MissingColumn {
                column: "src_ip",
                ..
            })
        ));
        assert!(matches!(
            labels("src_ip,src_port\n1.2.3.4,1\n"),
            Err(LabelError::NoLabelColumn { .. })
        ));
        let e = labels("src_ip,src_port,os\n1.2.3.4,1,Linux\n1.2.3.4,99999,Linux\n").unwrap_err();
        assert!(matches!(e, LabelError::BadPort { line: 3, .. }), "{e}");
        let e = labels("src_ip,src_port,os\nlocalhost,1,Linux\n").unwrap_err();
        assert!(matches!(e, LabelError::BadIp { line: 2, .. }), "{e}");
        let e = labels("src_ip,src_port,os\n1.2.3.4,1,Plan 9\n").unwrap_err();
        assert!(e.to_string().contains("Plan 9"), "{e}");
        let e = labels("src_ip,src_port,os\n1.2.3.4,+443,Linux\n").unwrap_err();
        assert!(matches!(e, LabelError::BadPort { line: 2, .. }), "{e}");
        // A huge field is quoted by its start and length, on one short line.
        let huge = "x".repeat(1 << 20);
        for row in [
            format!("{huge},1,Linux"),
            format!("1.2.3.4,{huge},Linux"),
            format!("1.2.3.4,1,{huge}"),
        ] {
            let e = labels(&format!("src_ip,src_port,os\n{row}\n")).unwrap_err();
            let e = e.to_string();
            assert!(
                e.len() < 400 && e.contains("(1048576 bytes)"),
                "{}",
                &e[..400.min(e.len())]
            );
        }
        assert!(matches!(
            read_labels_file(Path::new("/nonexistent.csv")),
            Err(LabelError::Io { .. })
        ));
    }

    /// Lines as an editor numbers them, whatever the line ends and however
    /// many blank lines come before.
    #[test]
    fn errors_name_the_line_with_crlf_and_blank_lines() {
        let line = |text: &str| match labels(text).unwrap_err() {
            LabelError::BadIp { line, .. }
            | LabelError::BadPort { line, .. }
            | LabelError::BadOs { line, .. }
            | LabelError::Csv { line, .. } => line,
            e => panic!("{e}"),
        };
        assert_eq!(
            line("src_ip,src_port,os\r\n1.2.3.4,1,Linux\r\n1.2.3.4,2,Plan 9\r\n"),
            3
        );
        assert_eq!(
            line("src_ip,src_port,os\n\n1.2.3.4,1,Linux\n\nx,2,Linux\n"),
            5
        );
        assert_eq!(
            line("src_ip,src_port,os\r\n\r\n\r\n1.2.3.4,-1,Linux\r\n"),
            4
        );
        // Spaces only are blank too.
        assert_eq!(
            line("src_ip,src_port,os\n  \n1.2.3.4,1,Linux\n\t\r\nx,2,Linux\n"),
            5
        );
        // A quoted field spanning lines: the record's first line.
        assert_eq!(
            line("src_ip,src_port,os,note\n1.2.3.4,1,Linux,\"a\nb\"\n1.2.3.4,2,Plan 9,c\n"),
            4
        );
    }

    /// The first row of an address and port labels it: later rows (a reused
    /// port, an empty label) neither replace nor erase it, and are counted.
    #[test]
    fn the_first_row_of_an_address_and_port_wins() {
        let l = labels(
            "src_ip,src_port,os\n\
             10.0.0.1,1,Windows\n\
             10.0.0.1,1,macOS\n\
             10.0.0.1,1,\n\
             10.0.0.1,2,Linux\n",
        )
        .unwrap();
        assert_eq!((l.rows, l.len(), l.duplicates), (4, 2, 2));
        let os = |port| l.get("10.0.0.1".parse().unwrap(), port).unwrap().os;
        assert_eq!(os(1), Some(Os::Windows));
        assert_eq!(os(2), Some(Os::Linux));
        // A repeated row is still checked: a name that is no OS is an error.
        let e = labels("src_ip,src_port,os\n10.0.0.1,1,Windows\n10.0.0.1,1,Foo\n").unwrap_err();
        assert!(matches!(e, LabelError::BadOs { line: 3, .. }), "{e}");
    }

    /// A population the built-in model gets wrong: Linux machines with
    /// Android's window and scale (65535, ws 10: tuned buffers) look like
    /// Android.
    fn big_buffer_linux(n: u32, seed: u64) -> Vec<(Observation, Os)> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|i| {
                let src = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i));
                let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
                let mut p = Stack::Linux.syn(src, 2000 + i as u16, dst, 443, i);
                p.window = 65535;
                let mss = rng.pick(&[1460u16, 1452, 1400]);
                p.options = OptionBytes::new().mss(mss).sok().ts(i, 0).nop().ws(10).0;
                p.ttl = 64 - rng.pick(&[3u8, 7, 11]);
                (observation(&p), Os::Linux)
            })
            .collect()
    }

    fn samples(set: &[(Observation, Os)]) -> impl Iterator<Item = Sample<'_>> {
        set.iter().map(|(obs, os)| Sample {
            obs,
            p0f: None,
            os: *os,
        })
    }

    #[test]
    fn learning_fixes_what_the_builtin_model_gets_wrong() {
        let builtin = Model::builtin().unwrap();
        let mut train = big_buffer_linux(300, 1);
        train.extend(labelled_set(&BROWSER_STACKS, 150, 2));
        let mut test = big_buffer_linux(300, 3);
        test.extend(labelled_set(&BROWSER_STACKS, 150, 4));

        let before = evaluate(&builtin, samples(&test));
        let mut learned = ModelFile::empty_learned();
        let stats = learn_from(&mut learned, samples(&train));
        assert_eq!(stats.total, 1050);
        assert_eq!(stats.per_os[&Os::Linux], 450);

        // Written, read back and compiled on top of the built-in knowledge.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.toml");
        std::fs::write(&path, learned.to_toml()).unwrap();
        let model = Model::with_learned_file(&path).unwrap();
        assert_eq!(model.samples_learned(), 1050);
        let after = evaluate(&model, samples(&test));
        println!("before:\n{before}\nafter:\n{after}");
        let linux_recall = |r: &crate::classify::EvalReport| {
            r.os_recall
                .iter()
                .find(|c| c.class == "Linux")
                .map_or(0.0, |c| c.recall)
        };
        assert!(linux_recall(&before) < 0.5, "{}", linux_recall(&before));
        assert!(linux_recall(&after) > 0.9, "{}", linux_recall(&after));
        assert!(after.os.top1 > before.os.top1 + 0.1);
        assert!(after.family.top1 >= 0.99);
        assert!(after.confident_accuracy >= Some(0.9));
    }

    /// A carrier proxy's SYN (TTL 255, window 4200, M,N,W2,S,E,E) that no
    /// client stack sends, labelled with its users' OS: the learned shape
    /// carries that mix, and a shape never learned is not pulled anywhere
    /// by the shape table.
    #[test]
    fn learned_shapes_carry_their_os_mix_and_unseen_shapes_count_for_nothing() {
        let builtin_file = ModelFile::builtin().unwrap();
        let builtin = Model::compile(&builtin_file, None).unwrap();
        let proxy = |i: u32, ws: u8| {
            let src = IpAddr::V4(Ipv4Addr::from(0x0c00_0000 + i));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
            let mut p = Stack::Windows.syn(src, 3000 + i as u16, dst, 443, i);
            (p.ttl, p.window) = (250, 4200);
            p.options = OptionBytes::new()
                .mss(1400)
                .nop()
                .ws(ws)
                .sok()
                .eol()
                .pad()
                .0;
            observation(&p)
        };
        assert_ne!(builtin.classify(&proxy(0, 2), None).os, Os::Android);
        let mut train: Vec<(Observation, Os)> =
            (0..40).map(|i| (proxy(i, 2), Os::Android)).collect();
        train.extend((40..45).map(|i| (proxy(i, 2), Os::Windows)));
        train.extend(labelled_set(&BROWSER_STACKS, 100, 5));
        let mut learned = ModelFile::empty_learned();
        learn_from(&mut learned, samples(&train));
        let shapes = &learned.class["Android"].signature;
        assert_eq!(
            shapes.get("255:4200:2:M,N,W,S,E,E"),
            Some(&40.0),
            "{shapes:?}"
        );
        let model = Model::compile(&builtin_file, Some(&learned)).unwrap();
        let c = model.classify(&proxy(99, 2), None);
        assert_eq!(c.os, Os::Android, "{:?}", c.scores);

        // The same learned counts without the shape table: a shape it never
        // held (window scale 4) scores exactly the same either way.
        let mut no_shapes = learned.clone();
        for class in no_shapes.class.values_mut() {
            class.signature.clear();
        }
        let without = Model::compile(&builtin_file, Some(&no_shapes)).unwrap();
        let unseen = proxy(100, 4);
        assert_eq!(
            model.classify(&unseen, None).scores,
            without.classify(&unseen, None).scores
        );
        assert_ne!(
            model.classify(&proxy(101, 2), None).scores,
            without.classify(&proxy(101, 2), None).scores
        );
        // Out of the box these fields fit no client stack, and a TTL-255
        // SYN like that is answered near the client priors; once learned,
        // they fit the site's users: with only the learned counts of single
        // fields left
        // (window 4200 and the layout came 40 to 5 from Android users),
        // the answer is Android.
        let mut fields_only = no_shapes.clone();
        for class in fields_only.class.values_mut() {
            (class.path, class.mss_value, class.hops, class.exact) = Default::default();
        }
        let fields_only = Model::compile(&builtin_file, Some(&fields_only)).unwrap();
        let c = fields_only.classify(&proxy(102, 2), None);
        assert_eq!(c.os, Os::Android, "{:?}", c.scores);
        // (The learned priors alone, which the Android-heavy training set
        // raised, give 0.70.)
        assert!(c.confidence > 0.9, "{:?}", c.scores);
    }

    /// The same Apple stack from four paths: iOS users come with MSS 1400
    /// from 12 hops and 1460 from 5, macOS users with 1400 from 5 and 1460
    /// from 12. Each MSS and each hop count alone is half and half, so only
    /// the path (both together) tells them apart after learning.
    #[test]
    fn learned_paths_tell_apart_what_mss_and_hops_alone_cannot() {
        let builtin_file = ModelFile::builtin().unwrap();
        let apple = |i: u32, mss: u16, hops: u8| {
            let src = IpAddr::V4(Ipv4Addr::from(0x0d00_0000 + i));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
            let mut p = Stack::MacOs.syn(src, 2000 + i as u16, dst, 443, i);
            p.ttl = 64 - hops;
            p.options = OptionBytes::new()
                .mss(mss)
                .nop()
                .ws(6)
                .nop()
                .nop()
                .ts(1000 + i, 0)
                .sok()
                .eol()
                .pad()
                .0;
            observation(&p)
        };
        let paths = [
            (1400, 12, Os::Ios),
            (1460, 5, Os::Ios),
            (1400, 5, Os::MacOs),
            (1460, 12, Os::MacOs),
        ];
        let mut train = Vec::new();
        for (k, &(mss, hops, os)) in paths.iter().enumerate() {
            let base = 100 * k as u32;
            train.extend((base..base + 50).map(|i| (apple(i, mss, hops), os)));
        }
        let mut learned = ModelFile::empty_learned();
        learn_from(&mut learned, samples(&train));
        assert_eq!(learned.class["iOS"].path.get("1400:12"), Some(&50.0));
        // The path alone, without the exact fingerprints (which would
        // separate them too, see the next test).
        for class in learned.class.values_mut() {
            class.exact.clear();
        }
        let model = Model::compile(&builtin_file, Some(&learned)).unwrap();
        for (k, &(mss, hops, os)) in paths.iter().enumerate() {
            let c = model.classify(&apple(1000 + k as u32, mss, hops), None);
            assert_eq!(c.os, os, "MSS {mss}, {hops} hops: {:?}", c.scores);
        }
        // Without the path table the four look alike.
        let mut no_paths = learned.clone();
        for class in no_paths.class.values_mut() {
            class.path.clear();
        }
        let without = Model::compile(&builtin_file, Some(&no_paths)).unwrap();
        let (a, b) = (apple(2000, 1400, 12), apple(2001, 1400, 5));
        let gap = |m: &Model, obs| m.classify(obs, None).scores.get(Os::Ios);
        assert!((gap(&without, &a) - gap(&without, &b)).abs() < 0.05);
    }

    /// The learned-only features say nothing the learning traffic did not
    /// show. A hop count no SYN came from leaves the answer exactly as a
    /// model without hop counts gives it; a hop count rare in the traffic
    /// raises none of the classes nobody learned (ChromeOS, embedded,
    /// `unknown`) against the class that showed it.
    #[test]
    fn learned_only_features_favour_no_class_nobody_learned() {
        let builtin_file = ModelFile::builtin().unwrap();
        let syn = |stack: Stack, i: u32, hops: u8| {
            let src = IpAddr::V4(Ipv4Addr::from(0x0e00_0000 + i));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
            let mut p = stack.syn(src, 2000 + i as u16, dst, 443, i);
            p.ttl = 64 - hops;
            observation(&p)
        };
        let mut train: Vec<(Observation, Os)> = (0..100)
            .map(|i| (syn(Stack::Linux, i, 10), Os::Linux))
            .chain((100..200).map(|i| (syn(Stack::Android, i, 10), Os::Android)))
            .collect();
        train.push((syn(Stack::Linux, 200, 7), Os::Linux));
        let mut learned = ModelFile::empty_learned();
        learn_from(&mut learned, samples(&train));
        let mut no_hops = learned.clone();
        for class in no_hops.class.values_mut() {
            class.hops.clear();
        }
        let with = Model::compile(&builtin_file, Some(&learned)).unwrap();
        let without = Model::compile(&builtin_file, Some(&no_hops)).unwrap();

        let unseen = syn(Stack::Linux, 1000, 3);
        assert_eq!(
            with.classify(&unseen, None).scores,
            without.classify(&unseen, None).scores
        );
        let rare = syn(Stack::Linux, 1001, 7);
        let (a, b) = (with.classify(&rare, None), without.classify(&rare, None));
        for os in [Os::ChromeOs, Os::Embedded, Os::Unknown] {
            let share = |c: &Classification| c.scores.get(os) / c.scores.get(Os::Linux);
            assert!(
                share(&a) <= share(&b),
                "{os}: {:?} with hop counts, {:?} without",
                a.scores,
                b.scores
            );
        }
    }

    /// Learned observations of one whole fingerprint update the model's
    /// answer as observations, the model's own answer worth two: ten
    /// Windows labels on a Linux SYN make it Windows with (10 + 2p) / 12;
    /// the same SYN from one hop further (another fingerprint) keeps the
    /// model's answer exactly.
    #[test]
    fn exact_fingerprints_update_the_answer_as_observations() {
        let builtin_file = ModelFile::builtin().unwrap();
        let builtin = Model::compile(&builtin_file, None).unwrap();
        let linux = |i: u32, hops: u8| {
            let src = IpAddr::V4(Ipv4Addr::from(0x0e00_0000 + i));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
            let mut p = Stack::Linux.syn(src, 2000 + i as u16, dst, 443, i);
            p.ttl = 64 - hops;
            observation(&p)
        };
        let before = builtin.classify(&linux(0, 9), None);
        assert_eq!(before.os, Os::Linux);
        let train: Vec<(Observation, Os)> = (1..=10).map(|i| (linux(i, 9), Os::Windows)).collect();
        let mut learned = ModelFile::empty_learned();
        learn_from(&mut learned, samples(&train));
        assert_eq!(
            learned.class["Windows"].exact.len(),
            1,
            "{:?}",
            learned.class["Windows"].exact
        );
        let model = Model::compile(&builtin_file, Some(&learned)).unwrap();
        // The model before the exact counts, for p.
        let mut counts_only = learned.clone();
        for class in counts_only.class.values_mut() {
            class.exact.clear();
        }
        let prior = Model::compile(&builtin_file, Some(&counts_only)).unwrap();
        let p = prior.classify(&linux(99, 9), None).scores.get(Os::Windows);
        let c = model.classify(&linux(99, 9), None);
        assert_eq!(c.os, Os::Windows, "{:?}", c.scores);
        let want = (10.0 + 2.0 * p) / 12.0;
        assert!(
            (c.confidence - want).abs() < 1e-4,
            "{} vs {want}",
            c.confidence
        );
        assert!(c
            .evidence
            .texts()
            .any(|t| t.to_string().starts_with("exact ")));
        let sum: f32 = c.scores.0.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
        // One hop further: not this fingerprint, so the counts say nothing.
        let further = linux(100, 10);
        assert_eq!(
            model.classify(&further, None).scores,
            prior.classify(&further, None).scores
        );
        // One Windows label moves a Linux SYN a third of the way: still
        // Linux, and the evidence says what was learned, not the answer.
        let mut once = ModelFile::empty_learned();
        learn_from(&mut once, samples(&[(linux(200, 7), Os::Windows)]));
        let c = Model::compile(&builtin_file, Some(&once))
            .unwrap()
            .classify(&linux(201, 7), None);
        assert_eq!(c.os, Os::Linux, "{:?}", c.scores);
        let exact: Vec<String> = c
            .evidence
            .texts()
            .map(|t| t.to_string())
            .filter(|t| t.starts_with("exact "))
            .collect();
        assert!(
            exact.len() == 1 && exact[0].ends_with("-> Windows"),
            "{exact:?}"
        );
    }

    #[test]
    fn learning_again_adds_to_the_model() {
        let set = labelled_set(&[Stack::Windows, Stack::Android], 10, 9);
        let mut first = ModelFile::empty_learned();
        learn_from(&mut first, samples(&set));
        let reloaded = ModelFile::parse(&first.to_toml(), Path::new("m")).unwrap();
        assert_eq!(reloaded, first);
        let mut second = reloaded;
        learn_from(&mut second, samples(&set));
        assert_eq!(second.class["Windows"].samples, 20);
        assert_eq!(second.class["Windows"].ttl["128"], 20.0);
        let mut merged = ModelFile::empty_learned();
        merged.absorb(&first);
        merged.absorb(&first);
        assert_eq!(merged, second);
    }

    /// Whatever options a SYN carries (up to the 40 bytes TCP allows:
    /// long NOP runs, EOL padding, unknown kinds, cut-off options), the
    /// model `learn` writes loads again: one crafted SYN must not leave a
    /// model file that `learn`, `eval` and `analyze` then refuse.
    #[test]
    fn models_learned_from_any_options_load_again() {
        let mut rng = Rng::new(17);
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut set = Vec::new();
        for i in 0..2000u32 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0c00_0000 + i));
            let mut p = Stack::Linux.syn(src, 2000 + i as u16, dst, 443, i);
            let len = match i {
                0..=9 => 40 - i as usize,
                _ => rng.below(41) as usize,
            };
            p.options = (0..len)
                .map(|_| rng.pick(&[0u8, 1, 1, 1, 2, 3, 4, 8, 30, 4, 2]))
                .collect();
            if i % 3 == 0 {
                p.options = OptionBytes::new().mss(1460).0;
                p.options.push(0);
                p.options.resize(len.max(4), 0);
            }
            set.push((observation(&p), Os::Linux));
        }
        let mut learned = ModelFile::empty_learned();
        learn_from(&mut learned, samples(&set));
        let text = learned.to_toml();
        let reloaded = ModelFile::parse(&text, Path::new("m")).unwrap();
        Model::compile(&ModelFile::builtin().unwrap(), Some(&reloaded)).unwrap();
        assert_eq!(reloaded.class["Linux"].samples, 2000);
    }

    /// A window that is a multiple of its MSS is written both ways, so
    /// which one it counts as is decided over the whole model: learning in
    /// two runs gives the file one run gives. Here SYN `a` (window 43800 =
    /// 30 x 1460) is learned before `b` (the same window over IPv6, MSS
    /// 1440, which does not divide it); once `b` is counted the window is
    /// known exactly and `a` must count there too.
    #[test]
    fn learning_in_two_runs_equals_learning_in_one() {
        let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut p = Stack::Linux.syn(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1, server, 443, 1);
        p.options = OptionBytes::new().mss(1460).sok().ts(1, 0).nop().ws(7).0;
        p.window = 43800;
        let a = (observation(&p), Os::Linux);
        let server6 = "2001:db8::1".parse().unwrap();
        let mut p = Stack::Linux.syn("2001:db8::2".parse().unwrap(), 1, server6, 443, 1);
        p.options = OptionBytes::new().mss(1440).sok().ts(1, 0).nop().ws(7).0;
        p.window = 43800;
        let b = (observation(&p), Os::Linux);

        let mut one = ModelFile::empty_learned();
        learn_from(&mut one, samples(&[a.clone(), b.clone()]));
        let mut two = ModelFile::empty_learned();
        learn_from(&mut two, samples(std::slice::from_ref(&a)));
        let mut two = ModelFile::parse(&two.to_toml(), Path::new("m")).unwrap();
        learn_from(&mut two, samples(std::slice::from_ref(&b)));
        assert_eq!(one, two);
        let window = &one.class["Linux"].window;
        assert_eq!(window.get("43800 or mss*30"), Some(&1.0));
        assert_eq!(window.get("43800"), Some(&1.0));
        // Compiled, `a` is looked up as 43800 (which `b` made known), not
        // as mss*30; with `a` alone, as mss*30.
        let builtin = ModelFile::builtin().unwrap();
        let model = Model::compile(&builtin, Some(&two)).unwrap();
        assert_eq!(
            model.classify(&a.0, None).evidence.window_mss_multiple,
            None
        );
        let mut only_a = ModelFile::empty_learned();
        learn_from(&mut only_a, samples(std::slice::from_ref(&a)));
        let model = Model::compile(&builtin, Some(&only_a)).unwrap();
        assert_eq!(
            model.classify(&a.0, None).evidence.window_mss_multiple,
            Some(30)
        );
    }

    /// A version 1 model that learning adds to is written as this version:
    /// what was added may use its forms.
    #[test]
    fn learning_into_a_version_1_model_writes_this_version() {
        let text = "format = \"synprint-os-model\"\nversion = 1\nkind = \"learned\"\n";
        let mut m = ModelFile::parse(text, Path::new("m")).unwrap();
        let set = labelled_set(&[Stack::Linux], 2, 3);
        learn_from(&mut m, samples(&set));
        assert_eq!(m.version, MODEL_VERSION);
        assert!(m.to_toml().contains(&format!("version = {MODEL_VERSION}")));
    }
}

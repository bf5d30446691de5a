//! The p0f.fp database: a parser for the whole format that accepts and
//! rejects what p0f 3.09b's readfp.c accepts and rejects (duplicate
//! signatures included), and an index that gives each packet a short list of
//! candidate signatures.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use thiserror::Error;

use super::hasher::BuildLayoutHasher;
use super::matcher::{find_match, Probe, TcpRecord, WinRef};
use super::signature::{win_multiplier, Layout, Quirks, WinInputs};
use super::MAX_OPTIONS;
use crate::packet::IpVersion;
use crate::sink::{format_with, TextSink};

/// The database p0f 3.09b ships (Debian's /etc/p0f/p0f.fp), LGPL-2.1; see
/// data/p0f.fp.NOTICE.
const BUILTIN: &str = include_str!("../../data/p0f.fp");

/// p0f's NAME_CHARS: what an OS or application name may contain besides
/// letters and digits.
const NAME_CHARS: &[u8] = b" ./-_!?()";

/// p0f's HTTP_MAX_HDRS.
const HTTP_MAX_HDRS: usize = 32;

/// The largest p0f.fp [`Database::load`] reads (p0f 3.09b's is 40 KB): the
/// bound keeps a wrong path (`/dev/zero`, a disk image) from filling
/// memory.
pub const MAX_DB_BYTES: u64 = 16 << 20;

/// Why [`Database::load`] gave no database.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{}: cannot read p0f database: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: larger than {}, not a p0f.fp",
        path.display(),
        crate::bounded::size(MAX_DB_BYTES)
    )]
    TooLarge { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: DbError },
    /// An empty file (or one of comments) parses; every SYN would then go
    /// unlabelled without a word.
    #[error("{}: no signatures (not a p0f.fp, or an empty one)", path.display())]
    Empty { path: PathBuf },
}

/// A p0f.fp file that p0f would refuse to load, and where.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("p0f.fp line {line}: {kind}")]
pub struct DbError {
    pub line: u32,
    pub kind: DbErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DbErrorKind {
    #[error("NUL byte in the file")]
    NulByte,
    #[error("malformed section header (expected [mtu], [tcp:...] or [http:...])")]
    MalformedSection,
    #[error("unknown fingerprinting module '{0}'")]
    UnknownModule(String),
    #[error("unknown traffic direction '{0}' (expected request or response)")]
    UnknownDirection(String),
    #[error("expected 'name = value'")]
    UnexpectedStatement,
    #[error("unknown field '{0}'")]
    UnknownField(String),
    #[error("'{0}' is not allowed here")]
    Misplaced(&'static str),
    #[error("malformed class list")]
    MalformedClasses,
    #[error("malformed label: {0}")]
    MalformedLabel(&'static str),
    #[error("unknown OS class '{0}'")]
    UnknownClass(String),
    #[error("malformed sys list")]
    MalformedSys,
    #[error("malformed ua_os list: {0}")]
    MalformedUaOs(&'static str),
    #[error("empty MTU label")]
    EmptyMtuLabel,
    #[error("malformed MTU value")]
    MalformedMtu,
    #[error("TCP signature: {0}")]
    TcpSig(TcpSigError),
    #[error("HTTP signature: {0}")]
    HttpSig(&'static str),
    #[error("signature is already covered by line {0}")]
    Duplicate(u32),
}

/// What is wrong with a `[tcp:*]` `sig` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TcpSigError {
    #[error("IP version must be 4, 6 or *")]
    IpVersion,
    #[error("malformed {0} field")]
    Malformed(&'static str),
    #[error("initial TTL out of range 1..=255")]
    Ttl,
    #[error("IP option length out of range 0..=255")]
    OptionLength,
    #[error("MSS out of range 0..=65535")]
    Mss,
    #[error("window '%' divisor out of range 2..=65535")]
    WindowModulo,
    #[error("MSS/MTU multiplier out of range 1..=1000")]
    WindowMultiplier,
    #[error("window size out of range 0..=65535")]
    Window,
    #[error("window scale out of range 0..=255")]
    Scale,
    #[error("more than 24 TCP options")]
    TooManyOptions,
    #[error("EOL must be written eol+N")]
    MalformedEol,
    #[error("options end inside eol+N")]
    TruncatedOptions,
    #[error("EOL must be the last option")]
    EolNotLast,
    #[error("EOL padding out of range 0..=255")]
    EolPadding,
    #[error("unknown TCP option")]
    UnknownOption,
    #[error("'?' option kind out of range 0..=255")]
    OptionKind,
    #[error("unknown quirk")]
    UnknownQuirk,
    #[error("quirk '{0}' is not valid for IPv{1}")]
    QuirkForVersion(&'static str, u8),
    #[error("payload class must be *, 0 or +")]
    PayloadClass,
}

/// A signature label: `label = s:unix:Linux:3.11 and newer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// OS or application name, spelled as at its first appearance in the
    /// file (p0f looks names up case-insensitively).
    pub name: String,
    /// Free-form flavor; `None` when empty, as p0f stores it.
    pub flavor: Option<String>,
    /// OS class (`win`, `unix`, `other`); `None` for a userland tool (`!`),
    /// which p0f logs as `app=` rather than `os=`.
    pub class: Option<String>,
    /// `g:` (generic) rather than `s:` (specific).
    pub generic: bool,
    /// The label's place among the file's labels (p0f's `label_id`).
    pub id: u32,
    /// The name's identity, equal for names equal but for letter case
    /// (p0f's `name_id`).
    pub name_id: u32,
    /// The class's place in `classes`; `None` for a userland tool.
    pub class_id: Option<u32>,
    /// A userland tool's `sys` line: the systems it runs on.
    pub sys: Vec<Sys>,
}

/// One entry of a `sys` line: a class (`@unix`) or an OS name (`Linux`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sys {
    Class(u32),
    Name(u32),
}

impl Label {
    pub fn is_app(&self) -> bool {
        self.class.is_none()
    }
}

impl Label {
    /// As p0f logs it: name, then a space and the flavor if there is one.
    pub fn write_to(&self, out: &mut impl TextSink) {
        out.text(&self.name);
        if let Some(flavor) = &self.flavor {
            out.text(" ");
            out.text(flavor);
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_with(f, |out| self.write_to(out))
    }
}

impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The candidate lists of a layout may hold its lines at most this many
/// times over.
const LIST_COPIES_MAX: usize = 4;

/// Signatures of one direction, grouped by option layout: p0f only compares
/// signatures with identical layouts. Within a layout, a signature whose
/// window scale is fixed and differs from the packet's is always rejected,
/// so each group is further split by window scale: the packet's candidates
/// are the lines with its scale or `*`, in file order (p0f's matching
/// order). Filtering out lines that can only be rejected leaves the outcome
/// unchanged and the list short.
#[derive(Debug, Default)]
pub(crate) struct TcpTable {
    /// Every line, grouped by layout, in file order within a group.
    pub(crate) records: Vec<TcpRecord>,
    /// Candidate lists (copies of `records` entries), one per layout and
    /// window scale.
    lists: Vec<TcpRecord>,
    index: HashMap<Layout, ScaleLists, BuildLayoutHasher>,
}

/// The candidate lists of one layout: per window scale some line names,
/// and for any other scale (the lines with `*`).
#[derive(Debug, Default)]
struct ScaleLists {
    by_scale: Vec<(u8, u32, u32)>,
    other: (u32, u32),
}

impl TcpTable {
    /// The lines a packet with this layout and window scale can match.
    pub(crate) fn candidates(&self, layout: &Layout, wscale: u8) -> &[TcpRecord] {
        let Some(g) = self.index.get(layout) else {
            return &[];
        };
        let (start, end) = g
            .by_scale
            .iter()
            .find(|&&(w, _, _)| w == wscale)
            .map_or(g.other, |&(_, s, e)| (s, e));
        self.lists.get(start as usize..end as usize).unwrap_or(&[])
    }

    fn build(groups: Vec<(Layout, Vec<TcpRecord>)>) -> TcpTable {
        let mut t = TcpTable::default();
        for (layout, recs) in groups {
            let mut scales: Vec<u8> = recs.iter().filter_map(|r| r.wscale).collect();
            scales.sort_unstable();
            scales.dedup();
            // Each scale's list repeats the `*` lines: a database with many
            // of both in one layout (up to 256 scales) would be copied up to
            // 257 times. Past a few copies the layout keeps one list of all
            // its lines; the matcher rejects a fixed scale that differs.
            let wild = recs.iter().filter(|r| r.wscale.is_none()).count();
            let copies = recs.len() - wild + scales.len() * wild + wild;
            if copies > LIST_COPIES_MAX * recs.len() {
                scales.clear();
            }
            let mut lists = ScaleLists::default();
            for w in scales {
                let start = t.lists.len() as u32;
                t.lists.extend(
                    recs.iter()
                        .filter(|r| r.wscale.is_none_or(|x| x == w))
                        .cloned(),
                );
                lists.by_scale.push((w, start, t.lists.len() as u32));
            }
            let start = t.lists.len() as u32;
            let any_scale = lists.by_scale.is_empty();
            t.lists.extend(
                recs.iter()
                    .filter(|r| any_scale || r.wscale.is_none())
                    .cloned(),
            );
            lists.other = (start, t.lists.len() as u32);
            t.records.extend(recs);
            t.index.insert(layout, lists);
        }
        t
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HttpHeader {
    name: String,
    value: Option<String>,
    optional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HttpSig {
    /// None = any version.
    version: Option<u8>,
    headers: Vec<HttpHeader>,
    absent: Vec<String>,
    software: Option<String>,
    /// One bit per required header name (see [`name_bit`]): the duplicate
    /// check compares every signature with every earlier one, and this
    /// rules out most pairs without comparing names.
    required_bits: u64,
}

#[derive(Clone, Debug)]
struct HttpRecord {
    generic: bool,
    line: u32,
    sig: HttpSig,
}

/// A parsed p0f.fp. Only the TCP and MTU parts are used for matching; the
/// HTTP sections are validated as p0f validates them and otherwise kept.
#[derive(Debug)]
pub struct Database {
    classes: Vec<String>,
    labels: Vec<Label>,
    /// Index 0: `[tcp:response]` (SYN+ACK); index 1: `[tcp:request]` (SYN).
    pub(crate) tcp: [TcpTable; 2],
    /// (MTU, index into `mtu_labels`) sorted by MTU; the first line for an
    /// MTU wins. A binary search over a few dozen entries beats hashing.
    mtu: Vec<(u32, usize)>,
    mtu_labels: Vec<String>,
    http_sigs: [usize; 2],
    sig_count: usize,
}

impl Database {
    /// p0f 3.09b's own database, parsed once.
    pub fn builtin() -> &'static Database {
        static DB: OnceLock<Database> = OnceLock::new();
        DB.get_or_init(|| {
            // Its HTTP signatures are known to be free of duplicates (a
            // test parses it with every check): the check compares each
            // signature with every earlier one.
            let parser = Parser {
                http_duplicates_checked: true,
                ..Parser::default()
            };
            match parser.run(BUILTIN.as_bytes()) {
                Ok(db) => db,
                // The file is part of the binary and a unit test parses it,
                // so this cannot happen in a released build.
                Err(e) => panic!("built-in p0f.fp does not parse: {e}"),
            }
        })
    }

    /// Reads and parses the p0f.fp at `path`, as `--p0f-db` names one.
    pub fn load(path: &Path) -> Result<Database, LoadError> {
        let path_buf = || path.to_path_buf();
        // Bytes, not text: a binary file handed over by mistake is then
        // named by the line where it goes wrong, as p0f.fp errors are.
        let bytes = crate::bounded::read_whole(path, MAX_DB_BYTES)
            .map_err(|source| LoadError::Read {
                path: path_buf(),
                source,
            })?
            .ok_or_else(|| LoadError::TooLarge { path: path_buf() })?;
        let db = Database::parse_bytes(&bytes).map_err(|source| LoadError::Parse {
            path: path_buf(),
            source,
        })?;
        if db.signature_count() == 0 {
            return Err(LoadError::Empty { path: path_buf() });
        }
        Ok(db)
    }

    pub fn parse(text: &str) -> Result<Database, DbError> {
        Database::parse_bytes(text.as_bytes())
    }

    /// Parses a file read as bytes (p0f.fp is ASCII; other bytes are kept
    /// in labels as U+FFFD and are errors elsewhere, as in p0f's C locale).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Database, DbError> {
        Parser::default().run(bytes)
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of `sig` lines (all modules), as p0f counts them on load.
    pub fn signature_count(&self) -> usize {
        self.sig_count
    }

    /// Number of TCP signatures for SYNs (`request`) or SYN+ACKs.
    pub fn tcp_signature_count(&self, request: bool) -> usize {
        self.tcp[usize::from(request)].records.len()
    }

    /// Number of HTTP signatures for requests or responses.
    pub fn http_signature_count(&self, request: bool) -> usize {
        self.http_sigs[usize::from(request)]
    }

    pub(crate) fn label(&self, idx: u32) -> Option<&Label> {
        self.labels.get(idx as usize)
    }

    pub(crate) fn mtu_link(&self, mtu: u32) -> Option<&str> {
        let i = self.mtu.binary_search_by_key(&mtu, |&(m, _)| m).ok()?;
        let &(_, label) = self.mtu.get(i)?;
        self.mtu_labels.get(label).map(String::as_str)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Module {
    Mtu,
    Tcp,
    Http,
}

/// What readfp.c expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Section,
    Label,
    Sys,
    Sig,
}

/// The current label as readfp.c keeps it between lines.
#[derive(Clone, Debug, Default)]
struct CurrentLabel {
    generic: bool,
    app: bool,
    label_idx: u32,
    mtu_label: Option<usize>,
}

struct Parser {
    state: State,
    module: Module,
    to_srv: bool,
    line: u32,
    classes: Vec<String>,
    /// OS/application names in order of first appearance (labels, `sys`,
    /// `ua_os`), matched case-insensitively as p0f does.
    names: Vec<String>,
    /// `names` by their ASCII-lowercased bytes (a `sys` line may list
    /// thousands).
    name_ids: HashMap<Vec<u8>, usize>,
    labels: Vec<Label>,
    cur: CurrentLabel,
    tcp: [Vec<(Layout, Vec<TcpRecord>)>; 2],
    tcp_group: [HashMap<Layout, usize, BuildLayoutHasher>; 2],
    mtu: HashMap<u32, usize>,
    mtu_labels: Vec<String>,
    http: [Vec<HttpRecord>; 2],
    sig_count: usize,
    /// The file's HTTP signatures were checked for duplicates before.
    http_duplicates_checked: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            state: State::Section,
            module: Module::Tcp,
            to_srv: false,
            line: 0,
            classes: Vec::new(),
            names: Vec::new(),
            name_ids: HashMap::new(),
            labels: Vec::new(),
            cur: CurrentLabel::default(),
            tcp: [Vec::new(), Vec::new()],
            tcp_group: [HashMap::default(), HashMap::default()],
            mtu: HashMap::new(),
            mtu_labels: Vec::new(),
            http: [Vec::new(), Vec::new()],
            sig_count: 0,
            http_duplicates_checked: false,
        }
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || NAME_CHARS.contains(&b)
}

/// The end of the run of bytes from `i` satisfying `pred`.
fn scan(s: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while s.get(i).is_some_and(|&b| pred(b)) {
        i += 1;
    }
    i
}

/// C's `atol` on a run of digits: an empty run is 0; values too large for
/// any field saturate so the range checks reject them.
fn number(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

fn text(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// Bytes `a..b` of `s`, empty where the range falls outside it: fields end
/// where p0f's reads would meet the line's NUL, so no slice can panic on a
/// database line however it is cut.
fn span(s: &[u8], a: usize, b: usize) -> &[u8] {
    s.get(a..b).unwrap_or(&[])
}

fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

impl Parser {
    fn err(&self, kind: DbErrorKind) -> DbError {
        DbError {
            line: self.line,
            kind,
        }
    }

    fn run(mut self, input: &[u8]) -> Result<Database, DbError> {
        for raw in input.split(|&b| b == b'\n') {
            self.line += 1;
            if raw.contains(&0) {
                return Err(self.err(DbErrorKind::NulByte));
            }
            let start = scan(raw, 0, is_blank);
            let line = raw.get(start..).unwrap_or(&[]);
            if line.is_empty() || line.first() == Some(&b';') {
                continue;
            }
            self.parse_line(line)?;
        }
        let [resp, req] = self.tcp;
        Ok(Database {
            classes: self.classes,
            labels: self.labels,
            tcp: [TcpTable::build(resp), TcpTable::build(req)],
            mtu: {
                let mut v: Vec<(u32, usize)> = self.mtu.into_iter().collect();
                v.sort_unstable();
                v
            },
            mtu_labels: self.mtu_labels,
            http_sigs: [self.http[0].len(), self.http[1].len()],
            sig_count: self.sig_count,
        })
    }

    fn parse_line(&mut self, line: &[u8]) -> Result<(), DbError> {
        if let Some(section) = line.strip_prefix(b"[") {
            return self.parse_section(section);
        }
        let key_end = scan(line, 0, |b| b.is_ascii_alphabetic() || b == b'_');
        let eq = scan(line, key_end, is_blank);
        if eq == 0 || at(line, eq) != b'=' {
            return Err(self.err(DbErrorKind::UnexpectedStatement));
        }
        let val_start = scan(line, eq + 1, is_blank);
        let key = line.get(..key_end).unwrap_or(&[]);
        let val = line.get(val_start..).unwrap_or(&[]);
        match key {
            b"classes" => {
                if self.state != State::Section {
                    return Err(self.err(DbErrorKind::Misplaced("classes")));
                }
                self.parse_classes(val)
            }
            b"ua_os" => {
                if self.state != State::Label || !self.to_srv || self.module != Module::Http {
                    return Err(self.err(DbErrorKind::Misplaced("ua_os")));
                }
                self.parse_ua_os(val)
            }
            b"label" => {
                if self.state != State::Label && self.state != State::Sig {
                    return Err(self.err(DbErrorKind::Misplaced("label")));
                }
                self.parse_label(val)?;
                self.state = if self.module != Module::Mtu && self.cur.app {
                    State::Sys
                } else {
                    State::Sig
                };
                Ok(())
            }
            b"sys" => {
                if self.state != State::Sys {
                    return Err(self.err(DbErrorKind::Misplaced("sys")));
                }
                self.parse_sys(val)?;
                self.state = State::Sig;
                Ok(())
            }
            b"sig" => {
                if self.state != State::Sig {
                    return Err(self.err(DbErrorKind::Misplaced("sig")));
                }
                match self.module {
                    Module::Tcp => self.parse_tcp_sig(val)?,
                    Module::Mtu => self.parse_mtu_sig(val)?,
                    Module::Http => self.parse_http_sig(val)?,
                }
                self.sig_count += 1;
                Ok(())
            }
            other => Err(self.err(DbErrorKind::UnknownField(text(other)))),
        }
    }

    fn parse_section(&mut self, s: &[u8]) -> Result<(), DbError> {
        if s == b"mtu]" {
            self.module = Module::Mtu;
            self.state = State::Label;
            return Ok(());
        }
        let Some(colon) = s.iter().position(|&b| b == b':') else {
            return Err(self.err(DbErrorKind::MalformedSection));
        };
        let (module, dir) = (&s[..colon], &s[colon + 1..]);
        self.module = match module {
            b"tcp" => Module::Tcp,
            b"http" => Module::Http,
            _ => return Err(self.err(DbErrorKind::UnknownModule(text(module)))),
        };
        self.to_srv = match dir {
            b"request]" => true,
            b"response]" => false,
            _ => return Err(self.err(DbErrorKind::UnknownDirection(text(dir)))),
        };
        self.state = State::Label;
        Ok(())
    }

    fn parse_classes(&mut self, val: &[u8]) -> Result<(), DbError> {
        let mut i = 0;
        while i < val.len() {
            i = scan(val, i, |b| is_blank(b) || b == b',');
            let end = scan(val, i, |b| b.is_ascii_alphanumeric());
            if end == i || (end < val.len() && at(val, end) != b',') {
                return Err(self.err(DbErrorKind::MalformedClasses));
            }
            self.classes.push(text(span(val, i, end)));
            i = end;
        }
        Ok(())
    }

    fn class_index(&self, name: &[u8]) -> Option<usize> {
        self.classes
            .iter()
            .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
    }

    /// p0f's lookup_name_id: the existing spelling, or a new entry.
    fn name_id(&mut self, name: &[u8]) -> usize {
        let names = &mut self.names;
        *self
            .name_ids
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| {
                names.push(text(name));
                names.len() - 1
            })
    }

    fn parse_label(&mut self, val: &[u8]) -> Result<(), DbError> {
        if self.module == Module::Mtu {
            if val.is_empty() {
                return Err(self.err(DbErrorKind::EmptyMtuLabel));
            }
            self.mtu_labels.push(text(val));
            self.cur.mtu_label = Some(self.mtu_labels.len() - 1);
            return Ok(());
        }
        let bad = |p: &Parser, why| Err(p.err(DbErrorKind::MalformedLabel(why)));
        let generic = match at(val, 0) {
            b'g' => true,
            b's' => false,
            _ => return bad(self, "must start with s: or g:"),
        };
        if at(val, 1) != b':' {
            return bad(self, "must start with s: or g:");
        }
        let cls_start = 2;
        let cls_end = scan(val, cls_start, |b| b.is_ascii_alphanumeric() || b == b'!');
        if cls_end == cls_start || at(val, cls_end) != b':' {
            return bad(self, "malformed class");
        }
        let cls = span(val, cls_start, cls_end);
        let class_id = if at(val, cls_start) == b'!' && at(val, cls_start + 1) == b':' {
            None
        } else {
            match self.class_index(cls) {
                Some(i) => Some(i),
                None => return Err(self.err(DbErrorKind::UnknownClass(text(cls)))),
            }
        };
        let name_start = cls_end + 1;
        let name_end = scan(val, name_start, is_name_char);
        if name_end == name_start || at(val, name_end) != b':' {
            return bad(self, "malformed name");
        }
        let id = self.name_id(span(val, name_start, name_end));
        let flavor = val.get(name_end + 1..).filter(|f| !f.is_empty()).map(text);
        self.labels.push(Label {
            name: self.names[id].clone(),
            flavor,
            class: class_id.map(|i| self.classes[i].clone()),
            generic,
            id: self.labels.len() as u32,
            name_id: id as u32,
            class_id: class_id.map(|i| i as u32),
            sys: Vec::new(),
        });
        self.cur = CurrentLabel {
            generic,
            app: self.labels.last().is_some_and(Label::is_app),
            label_idx: (self.labels.len() - 1) as u32,
            mtu_label: self.cur.mtu_label,
        };
        Ok(())
    }

    fn parse_sys(&mut self, val: &[u8]) -> Result<(), DbError> {
        let mut i = 0;
        while i < val.len() {
            i = scan(val, i, |b| is_blank(b) || b == b',');
            let is_class = at(val, i) == b'@';
            if is_class {
                i += 1;
            }
            let end = scan(val, i, is_name_char);
            if end == i || (end < val.len() && at(val, end) != b',') {
                return Err(self.err(DbErrorKind::MalformedSys));
            }
            let name = span(val, i, end);
            let sys = if is_class {
                match self.class_index(name) {
                    Some(c) => Sys::Class(c as u32),
                    None => return Err(self.err(DbErrorKind::UnknownClass(text(name)))),
                }
            } else {
                Sys::Name(self.name_id(name) as u32)
            };
            if let Some(label) = self.labels.last_mut() {
                label.sys.push(sys);
            }
            i = end;
        }
        Ok(())
    }

    fn parse_ua_os(&mut self, val: &[u8]) -> Result<(), DbError> {
        let mut i = 0;
        while i < val.len() {
            let end = scan(val, i, is_name_char);
            if end == i {
                return Err(self.err(DbErrorKind::MalformedUaOs("empty system name")));
            }
            self.name_id(span(val, i, end));
            i = end;
            if at(val, i) == b'=' {
                if at(val, i + 1) != b'[' {
                    return Err(self.err(DbErrorKind::MalformedUaOs("missing '[' after '='")));
                }
                let vstart = i + 2;
                let vend = scan(val, vstart, |b| b != b']');
                if vend == vstart || vend >= val.len() {
                    return Err(self.err(DbErrorKind::MalformedUaOs("malformed [value]")));
                }
                i = vend + 1;
            }
            if at(val, i) == b',' {
                i += 1;
            }
        }
        Ok(())
    }

    fn parse_mtu_sig(&mut self, val: &[u8]) -> Result<(), DbError> {
        let end = scan(val, 0, |b| b.is_ascii_digit());
        if end == 0 || end != val.len() {
            return Err(self.err(DbErrorKind::MalformedMtu));
        }
        let mtu = number(val);
        if mtu == 0 || mtu > 65535 {
            return Err(self.err(DbErrorKind::MalformedMtu));
        }
        let Some(label) = self.cur.mtu_label else {
            return Err(self.err(DbErrorKind::Misplaced("sig")));
        };
        self.mtu.entry(mtu as u32).or_insert(label);
        Ok(())
    }

    fn parse_tcp_sig(&mut self, val: &[u8]) -> Result<(), DbError> {
        let (layout, rec) = parse_tcp_sig_value(val, &self.cur, self.line)
            .map_err(|e| self.err(DbErrorKind::TcpSig(e)))?;
        let dir = usize::from(self.to_srv);
        let group = self.tcp_group[dir].get(&layout).copied();
        if let Some(g) = group {
            if let Some((_, recs)) = self.tcp[dir].get(g) {
                if let Some(line) = covered_by(recs, &rec) {
                    return Err(self.err(DbErrorKind::Duplicate(line)));
                }
            }
        }
        match group.and_then(|g| self.tcp[dir].get_mut(g)) {
            Some((_, recs)) => recs.push(rec),
            None => {
                self.tcp_group[dir].insert(layout, self.tcp[dir].len());
                self.tcp[dir].push((layout, vec![rec]));
            }
        }
        Ok(())
    }

    fn parse_http_sig(&mut self, val: &[u8]) -> Result<(), DbError> {
        let sig = parse_http_sig_value(val).map_err(|e| self.err(DbErrorKind::HttpSig(e)))?;
        let dir = usize::from(self.to_srv);
        if !self.http_duplicates_checked {
            if let Some(line) = http_covered_by(&self.http[dir], &sig) {
                return Err(self.err(DbErrorKind::Duplicate(line)));
            }
        }
        self.http[dir].push(HttpRecord {
            generic: self.cur.generic,
            line: self.line,
            sig,
        });
        Ok(())
    }
}

/// p0f's duplicate check: a new signature that an earlier, specific one
/// already matches exactly (not fuzzily) is an error.
fn covered_by(recs: &[TcpRecord], new: &TcpRecord) -> Option<u32> {
    let (win, win_type_normal) = match new.window {
        WinRef::Value(v) => (v, true),
        WinRef::Any => (0, false),
        WinRef::Mod(v) | WinRef::Mss(v) | WinRef::Mtu(v) => (v, false),
    };
    let mss = new.mss.map_or(-1, i32::from);
    let (win_multi, use_mtu) = if win_type_normal {
        win_multiplier(WinInputs {
            win,
            mss,
            ts1: 0,
            v6: new.ip_ver == Some(IpVersion::V6),
            tot_hdr: 0,
            syn_mss: 0,
        })
    } else {
        (-1, false)
    };
    let probe = Probe {
        quirks: new.quirks,
        v4: new.ip_ver == Some(IpVersion::V4),
        eol_pad: new.eol_pad,
        olen: new.olen,
        ttl: new.ttl,
        mss,
        wscale: new.wscale.map_or(-1, i16::from),
        pay_class: new.pclass.map_or(-1, i8::from),
        win,
        win_ref: if win_type_normal {
            None
        } else {
            Some(new.window)
        },
        win_multi,
        use_mtu,
    };
    find_match(recs, &probe, true).record.map(|r| r.line)
}

fn parse_tcp_sig_value(
    val: &[u8],
    cur: &CurrentLabel,
    line: u32,
) -> Result<(Layout, TcpRecord), TcpSigError> {
    use TcpSigError as E;
    let ip_ver = match at(val, 0) {
        b'4' => Some(IpVersion::V4),
        b'6' => Some(IpVersion::V6),
        b'*' => None,
        _ => return Err(E::IpVersion),
    };
    if at(val, 1) != b':' {
        return Err(E::Malformed("IP version"));
    }
    let mut i = 2;

    // Initial TTL: `N`, `N+D` or `N-` (bad TTL).
    let nxt = scan(val, i, |b| b.is_ascii_digit());
    let sep = at(val, nxt);
    if sep != b':' && sep != b'+' && sep != b'-' {
        return Err(E::Malformed("TTL"));
    }
    // p0f converts with atol, which takes a sign: "+64+..." reads as 64.
    let mut ttl = if nxt == i && sep == b'+' {
        let end = scan(val, nxt + 1, |b| b.is_ascii_digit());
        number(span(val, nxt + 1, end))
    } else {
        number(span(val, i, nxt))
    };
    if !(1..=255).contains(&ttl) {
        return Err(E::Ttl);
    }
    i = nxt + 1;
    let mut bad_ttl = false;
    if sep == b'-' && at(val, nxt + 1) == b':' {
        // p0f skips two more bytes here than the `-:` it checked, so the
        // first character of the option length field is never read.
        bad_ttl = true;
        i += 2;
    } else if sep == b'+' {
        let add_end = scan(val, nxt + 1, |b| b.is_ascii_digit());
        if at(val, add_end) != b':' {
            return Err(E::Malformed("TTL"));
        }
        ttl = ttl.saturating_add(number(span(val, nxt + 1, add_end)));
        if ttl > 255 {
            return Err(E::Ttl);
        }
        i = add_end + 1;
    }

    // IP option length.
    let nxt = scan(val, i, |b| b.is_ascii_digit());
    if at(val, nxt) != b':' {
        return Err(E::Malformed("IP option length"));
    }
    let olen = number(span(val, i, nxt));
    if olen > 255 {
        return Err(E::OptionLength);
    }
    i = nxt + 1;

    // MSS.
    let mss = if at(val, i) == b'*' && at(val, i + 1) == b':' {
        i += 2;
        None
    } else {
        let nxt = scan(val, i, |b| b.is_ascii_digit());
        if at(val, nxt) != b':' {
            return Err(E::Malformed("MSS"));
        }
        let m = number(span(val, i, nxt));
        if m > 65535 {
            return Err(E::Mss);
        }
        i = nxt + 1;
        Some(m as u16)
    };

    // Window, then a comma.
    let rest = val.get(i..).unwrap_or(&[]);
    let window = if rest.starts_with(b"*,") {
        i += 2;
        WinRef::Any
    } else {
        let (skip, what) = if rest.starts_with(b"%") {
            (1, 0)
        } else if rest.starts_with(b"mss*") {
            (4, 1)
        } else if rest.starts_with(b"mtu*") {
            (4, 2)
        } else {
            (0, 3)
        };
        let start = i + skip;
        let nxt = scan(val, start, |b| b.is_ascii_digit());
        if at(val, nxt) != b',' {
            return Err(E::Malformed("window"));
        }
        let w = number(span(val, start, nxt));
        i = nxt + 1;
        match what {
            0 if (2..=65535).contains(&w) => WinRef::Mod(w as u16),
            0 => return Err(E::WindowModulo),
            1 | 2 if (1..=1000).contains(&w) => {
                if what == 1 {
                    WinRef::Mss(w as u16)
                } else {
                    WinRef::Mtu(w as u16)
                }
            }
            1 | 2 => return Err(E::WindowMultiplier),
            _ if w <= 65535 => WinRef::Value(w as u16),
            _ => return Err(E::Window),
        }
    };

    // Window scale.
    let wscale = if at(val, i) == b'*' && at(val, i + 1) == b':' {
        i += 2;
        None
    } else {
        let nxt = scan(val, i, |b| b.is_ascii_digit());
        if at(val, nxt) != b':' {
            return Err(E::Malformed("window scale"));
        }
        let s = number(span(val, i, nxt));
        if s > 255 {
            return Err(E::Scale);
        }
        i = nxt + 1;
        Some(s as u8)
    };

    // Option layout.
    let mut layout = Layout::default();
    let mut eol_pad = 0u8;
    while at(val, i) != b':' {
        if layout.as_slice().len() >= MAX_OPTIONS {
            return Err(E::TooManyOptions);
        }
        let rest = val.get(i..).unwrap_or(&[]);
        let fixed: &[(&[u8], u8)] = &[
            (b"nop", 1),
            (b"mss", 2),
            (b"ws", 3),
            (b"sok", 4),
            (b"sack", 5),
            (b"ts", 8),
        ];
        if rest.starts_with(b"eol") {
            layout.push(0);
            i += 3;
            if at(val, i) != b'+' {
                return Err(E::MalformedEol);
            }
            i += 1;
            let nxt = scan(val, i, |b| b.is_ascii_digit());
            if nxt >= val.len() {
                return Err(E::TruncatedOptions);
            }
            if at(val, nxt) != b':' {
                return Err(E::EolNotLast);
            }
            let pad = number(span(val, i, nxt));
            eol_pad = u8::try_from(pad).map_err(|_| E::EolPadding)?;
            i = nxt;
        } else if let Some(&(name, kind)) = fixed.iter().find(|(n, _)| rest.starts_with(n)) {
            layout.push(kind);
            i += name.len();
        } else if rest.starts_with(b"?") {
            i += 1;
            let nxt = scan(val, i, |b| b.is_ascii_digit());
            let c = at(val, nxt);
            if c != b':' && c != b',' {
                return Err(E::Malformed("'?' option"));
            }
            let kind = u8::try_from(number(span(val, i, nxt))).map_err(|_| E::OptionKind)?;
            layout.push(kind);
            i = nxt;
        } else {
            return Err(E::UnknownOption);
        }
        match at(val, i) {
            b':' => break,
            b',' => i += 1,
            _ => return Err(E::Malformed("option layout")),
        }
    }
    i += 1;

    // Quirks.
    let v4_only = |q| {
        if ip_ver == Some(IpVersion::V6) {
            Err(E::QuirkForVersion(q, 6))
        } else {
            Ok(())
        }
    };
    let mut quirks = Quirks::default();
    while at(val, i) != b':' {
        let rest = val.get(i..).unwrap_or(&[]);
        let Some(&(q, name)) = Quirks::NAMES
            .iter()
            .find(|(_, n)| rest.starts_with(n.as_bytes()))
        else {
            return Err(E::UnknownQuirk);
        };
        if [Quirks::DF, Quirks::NZ_ID, Quirks::ZERO_ID, Quirks::NZ_MBZ].contains(&q) {
            v4_only(name)?;
        }
        if q == Quirks::FLOW && ip_ver == Some(IpVersion::V4) {
            return Err(E::QuirkForVersion(name, 4));
        }
        quirks.insert(q);
        i += name.len();
        match at(val, i) {
            b':' => break,
            b',' => i += 1,
            _ => return Err(E::Malformed("quirks")),
        }
    }
    i += 1;

    let pclass = match val.get(i..).unwrap_or(&[]) {
        b"*" => None,
        b"0" => Some(false),
        b"+" => Some(true),
        _ => return Err(E::PayloadClass),
    };

    let (quirks_v4, quirks_v6) = match ip_ver {
        None => (
            quirks.0 & !Quirks::FLOW.0,
            quirks.0 & !(Quirks::DF.0 | Quirks::NZ_ID.0 | Quirks::ZERO_ID.0),
        ),
        Some(_) => (quirks.0, quirks.0),
    };
    let rec = TcpRecord {
        label: cur.label_idx,
        line,
        generic: cur.generic,
        app: cur.app,
        ip_ver,
        ttl: ttl as u8,
        bad_ttl,
        olen: olen as u8,
        mss,
        window,
        wscale,
        eol_pad,
        quirks,
        quirks_v4,
        quirks_v6,
        pclass,
    };
    Ok((layout, rec))
}

fn parse_http_sig_value(val: &[u8]) -> Result<HttpSig, &'static str> {
    if at(val, 1) != b':' {
        return Err("malformed HTTP version");
    }
    let version = match at(val, 0) {
        b'0' => Some(0),
        b'1' => Some(1),
        b'*' => None,
        _ => return Err("HTTP version must be 0, 1 or *"),
    };
    let mut i = 2;
    let hdr_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';

    let mut headers = Vec::new();
    while at(val, i) != b':' {
        if headers.len() >= HTTP_MAX_HDRS {
            return Err("too many headers");
        }
        let optional = at(val, i) == b'?';
        if optional {
            i += 1;
        }
        let end = scan(val, i, hdr_char);
        if end == i {
            return Err("malformed header name");
        }
        let name = text(span(val, i, end));
        i = end;
        let mut value = None;
        if at(val, i) == b'=' {
            if at(val, i + 1) != b'[' {
                return Err("missing '[' after '='");
            }
            let vstart = i + 2;
            let vend = scan(val, vstart, |b| b != b']');
            if vend == vstart || vend >= val.len() {
                return Err("malformed header value");
            }
            value = Some(text(span(val, vstart, vend)));
            i = vend + 1;
        }
        headers.push(HttpHeader {
            name,
            value,
            optional,
        });
        match at(val, i) {
            b',' => i += 1,
            b':' => {}
            _ => return Err("malformed header list"),
        }
    }
    i += 1;

    let mut absent = Vec::new();
    while at(val, i) != b':' {
        if absent.len() >= HTTP_MAX_HDRS {
            return Err("too many headers");
        }
        let end = scan(val, i, hdr_char);
        if end == i {
            return Err("malformed header name");
        }
        absent.push(text(span(val, i, end)));
        i = end;
        match at(val, i) {
            b',' => i += 1,
            b':' => {}
            _ => return Err("malformed absent-header list"),
        }
    }
    i += 1;

    let sw = val.get(i..).unwrap_or(&[]);
    if sw.contains(&b':') {
        return Err("':' in the software string");
    }
    let required_bits = headers
        .iter()
        .filter(|h| !h.optional)
        .fold(0, |bits, h| bits | name_bit(&h.name));
    Ok(HttpSig {
        version,
        headers,
        absent,
        software: (!sw.is_empty()).then(|| text(sw)),
        required_bits,
    })
}

/// A header name's bit in [`HttpSig::required_bits`]: equal names, equal
/// bits, so a bit one signature has and another lacks proves a name the
/// other does not require.
fn name_bit(name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    1 << (h >> 58)
}

/// p0f's HTTP duplicate check (http_find_match in duplicate mode). p0f
/// prefilters with a randomly seeded Bloom filter; this uses the exact set
/// it approximates.
fn http_covered_by(recs: &[HttpRecord], new: &HttpSig) -> Option<u32> {
    let required: Vec<&str> = new
        .headers
        .iter()
        .filter(|h| !h.optional)
        .map(|h| h.name.as_str())
        .collect();
    'sigs: for r in recs {
        let rs = &r.sig;
        if rs.version.is_some() && rs.version != new.version {
            continue;
        }
        // A header `rs` requires that `new` does not: the exact test below
        // would say so too.
        if rs.required_bits & !new.required_bits != 0 {
            continue;
        }
        if rs
            .headers
            .iter()
            .any(|h| !h.optional && !required.contains(&h.name.as_str()))
        {
            continue;
        }
        let mut t = 0;
        for h in &rs.headers {
            match new.headers.iter().skip(t).position(|n| n.name == h.name) {
                None => {
                    if !h.optional || new.headers.iter().any(|n| n.name == h.name) {
                        continue 'sigs;
                    }
                }
                Some(off) => {
                    let found = t + off;
                    if let Some(v) = &h.value {
                        let ok = new
                            .headers
                            .get(found)
                            .and_then(|n| n.value.as_deref())
                            .is_some_and(|nv| nv.contains(v.as_str()));
                        if !ok {
                            continue 'sigs;
                        }
                    }
                    t = found + 1;
                }
            }
        }
        if rs.absent.iter().any(|m| required.contains(&m.as_str())) {
            continue;
        }
        if rs.absent.len() > new.absent.len() || rs.absent.iter().any(|m| !new.absent.contains(m)) {
            continue;
        }
        if !r.generic {
            return Some(r.line);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// Line `n` (1-based) of the built-in database.
    pub(crate) fn line(n: u32) -> &'static str {
        super::BUILTIN.lines().nth(n as usize - 1).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_of(kinds: &[u8]) -> Layout {
        let mut l = Layout::default();
        for &k in kinds {
            l.push(k);
        }
        l
    }

    const HEAD: &str = "classes = win,unix,other\n[tcp:request]\nlabel = s:unix:Linux:3.x\n";

    fn err_of(text: &str) -> DbError {
        match Database::parse(text) {
            Ok(_) => panic!("accepted: {text:?}"),
            Err(e) => e,
        }
    }

    fn tcp_err(sig: &str) -> TcpSigError {
        match err_of(&format!("{HEAD}sig = {sig}\n")) {
            DbError {
                line: 4,
                kind: DbErrorKind::TcpSig(e),
            } => e,
            other => panic!("{sig:?}: unexpected {other:?}"),
        }
    }

    /// What the built-in database skips at start-up holds: it passes the
    /// HTTP duplicate check too, and parses to the same counts.
    #[test]
    fn builtin_database_passes_every_check() {
        let checked = Database::parse(BUILTIN).expect("the built-in p0f.fp passes every check");
        let db = Database::builtin();
        for request in [true, false] {
            assert_eq!(
                checked.http_signature_count(request),
                db.http_signature_count(request)
            );
        }
        assert_eq!(checked.signature_count(), db.signature_count());
    }

    #[test]
    fn builtin_database_loads_like_p0f() {
        let db = Database::builtin();
        // p0f 3.09b says "Loaded 322 signatures" for this file.
        assert_eq!(db.signature_count(), 322);
        let sigs_in = |from: &str, to: &str| {
            let start = BUILTIN.find(from).expect("section");
            let end = BUILTIN[start..]
                .find(to)
                .map_or(BUILTIN.len(), |e| start + e);
            BUILTIN[start..end]
                .lines()
                .filter(|l| l.starts_with("sig"))
                .count()
        };
        assert_eq!(
            db.tcp_signature_count(true),
            sigs_in("[tcp:request]", "[tcp:response]")
        );
        assert_eq!(
            db.tcp_signature_count(false),
            sigs_in("[tcp:response]", "[http:request]")
        );
        assert_eq!(
            db.http_signature_count(true),
            sigs_in("[http:request]", "[http:response]")
        );
        assert_eq!(
            db.http_signature_count(false),
            sigs_in("[http:response]", "\u{0}")
        );
        assert_eq!(db.classes(), ["win", "unix", "other"]);
        assert_eq!(db.mtu_link(1500), Some("Ethernet or modem"));
        assert_eq!(db.mtu_link(1501), None);
    }

    #[test]
    fn labels_render_as_p0f_logs_them() {
        let db = Database::parse(
            "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:3.11 and newer\n\
             sig = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\n\
             label = g:UNIX:LINUX:\nsig = *:64:0:*:*,*:mss:df,id+:0\n",
        )
        .expect("parses");
        let rec = &db.tcp[1].records;
        let a = db.label(rec[0].label).expect("label");
        let b = db.label(rec[1].label).expect("label");
        assert_eq!(a.to_string(), "Linux 3.11 and newer");
        assert_eq!(a.class.as_deref(), Some("unix"));
        assert!(!a.generic);
        // Names keep their first spelling; an empty flavor is no flavor.
        assert_eq!(b.to_string(), "Linux");
        assert_eq!(b.flavor, None);
        assert!(b.generic);
    }

    /// Candidate lists repeat a layout's `*`-scale lines once per scale
    /// some line fixes; a database with many of both falls back to one
    /// list of all the layout's lines, in file order, which the matcher
    /// filters itself. p0f 3.09b's own database keeps its per-scale lists.
    #[test]
    fn candidate_lists_stay_a_few_copies_of_the_lines() {
        let builtin = Database::builtin();
        for table in &builtin.tcp {
            let others = table.index.values().flat_map(|g| {
                table
                    .lists
                    .get(g.other.0 as usize..g.other.1 as usize)
                    .unwrap_or(&[])
            });
            assert!(others.into_iter().all(|r| r.wscale.is_none()));
        }
        let mut text = String::from(HEAD);
        for w in 0..=255 {
            text += &format!(
                "label = s:unix:Fixed:{w}\nsig = 4:64:0:*:{},{w}:mss,ws:df:0\n",
                1000 + w
            );
        }
        for i in 0..1000 {
            text += &format!(
                "label = s:unix:Any:{i}\nsig = 4:64:0:*:{},*:mss,ws:df:0\n",
                5000 + i
            );
        }
        let db = Database::parse(&text).expect("parses");
        let t = &db.tcp[1];
        assert_eq!(t.records.len(), 1256);
        assert!(
            t.lists.len() <= LIST_COPIES_MAX * t.records.len(),
            "{}",
            t.lists.len()
        );
        let layout = layout_of(&[2, 3]);
        for w in [0u8, 7, 255] {
            let c = t.candidates(&layout, w);
            assert!(c.iter().any(|r| r.wscale == Some(w)), "scale {w}");
            assert!(c.windows(2).all(|p| p[0].line < p[1].line));
        }
    }

    #[test]
    fn tcp_signature_fields_parse() {
        let db = Database::parse(&format!(
            "{HEAD}sig = 6:128+3:4:1400:%512,*:?34,eol+7:ecn,flow,bad:+\n\
             sig = *:64-:12:*:mtu*4,2:nop::*\n"
        ))
        .expect("parses");
        let r = &db.tcp[1].records;
        assert_eq!(r[0].ip_ver, Some(IpVersion::V6));
        assert_eq!(r[0].ttl, 131);
        assert_eq!(r[0].olen, 4);
        assert_eq!(r[0].mss, Some(1400));
        assert_eq!(r[0].window, WinRef::Mod(512));
        assert_eq!(r[0].wscale, None);
        assert_eq!(db.tcp[1].candidates(&layout_of(&[34, 0]), 9).len(), 1);
        assert_eq!(r[0].eol_pad, 7);
        assert_eq!(
            r[0].quirks,
            Quirks(Quirks::ECN.0 | Quirks::FLOW.0 | Quirks::OPT_BAD.0)
        );
        assert_eq!(r[0].pclass, Some(true));
        assert_eq!(r[0].line, 4);
        // p0f's bad-TTL parse skips the first digit of the option length.
        assert!(r[1].bad_ttl);
        assert_eq!(r[1].olen, 2);
        assert_eq!(r[1].window, WinRef::Mtu(4));
        assert_eq!(r[1].pclass, None);
        // atol's sign: "+64+64" is what p0f makes of "+64".
        let db = Database::parse(&format!("{HEAD}sig = *:+64:0:*:*,*:mss::0\n")).expect("parses");
        assert_eq!(db.tcp[1].records[0].ttl, 128);
    }

    #[test]
    fn malformed_tcp_signatures_name_the_problem() {
        use TcpSigError as E;
        let cases: &[(&str, TcpSigError)] = &[
            ("5:64:0:*:*,*:mss::0", E::IpVersion),
            ("4;64:0:*:*,*:mss::0", E::Malformed("IP version")),
            ("4:0:0:*:*,*:mss::0", E::Ttl),
            ("4:256:0:*:*,*:mss::0", E::Ttl),
            ("4:200+56:0:*:*,*:mss::0", E::Ttl),
            // A distance no u64 holds saturates: refused, not wrapped.
            ("4:64+99999999999999999999:0:*:*,*:mss::0", E::Ttl),
            ("4:64+18446744073709551615:0:*:*,*:mss::0", E::Ttl),
            ("4:64x:0:*:*,*:mss::0", E::Malformed("TTL")),
            ("4:64:256:*:*,*:mss::0", E::OptionLength),
            ("4:64:0:65536:*,*:mss::0", E::Mss),
            ("4:64:0:*:%1,*:mss::0", E::WindowModulo),
            ("4:64:0:*:mss*0,*:mss::0", E::WindowMultiplier),
            ("4:64:0:*:mtu*1001,*:mss::0", E::WindowMultiplier),
            ("4:64:0:*:65536,*:mss::0", E::Window),
            ("4:64:0:*:*:*:mss::0", E::Malformed("window")),
            ("4:64:0:*:*,256:mss::0", E::Scale),
            ("4:64:0:*:*,*:eol:df:0", E::MalformedEol),
            ("4:64:0:*:*,*:eol+1,mss:df:0", E::EolNotLast),
            ("4:64:0:*:*,*:eol+1", E::TruncatedOptions),
            ("4:64:0:*:*,*:eol+256::0", E::EolPadding),
            ("4:64:0:*:*,*:foo::0", E::UnknownOption),
            ("4:64:0:*:*,*:?256::0", E::OptionKind),
            ("4:64:0:*:*,*:mss;nop::0", E::Malformed("option layout")),
            ("4:64:0:*:*,*:mss:dfx:0", E::Malformed("quirks")),
            ("4:64:0:*:*,*:mss:zz:0", E::UnknownQuirk),
            ("6:64:0:*:*,*:mss:df:0", E::QuirkForVersion("df", 6)),
            ("6:64:0:*:*,*:mss:0+:0", E::QuirkForVersion("0+", 6)),
            ("4:64:0:*:*,*:mss:flow:0", E::QuirkForVersion("flow", 4)),
            ("4:64:0:*:*,*:mss::1", E::PayloadClass),
            ("4:64:0:*:*,*:mss::0 ", E::PayloadClass),
            ("4:64:0:*:*,*:mss:", E::UnknownQuirk),
            ("4:64:0:*", E::Malformed("MSS")),
            ("", E::IpVersion),
        ];
        for (sig, want) in cases {
            assert_eq!(tcp_err(sig), *want, "{sig:?}");
        }
        let many = vec!["nop"; 25].join(",");
        assert_eq!(
            tcp_err(&format!("4:64:0:*:*,*:{many}::0")),
            E::TooManyOptions
        );
        // 24 is fine, and so is a trailing comma (p0f accepts it).
        let ok = vec!["nop"; 24].join(",");
        Database::parse(&format!("{HEAD}sig = 4:64:0:*:*,*:{ok},::0\n")).expect("24 options");
    }

    #[test]
    fn structural_errors_name_the_line() {
        let cases: &[(&str, u32, DbErrorKind)] = &[
            (
                "[tcp:sideways]\n",
                1,
                DbErrorKind::UnknownDirection("sideways]".into()),
            ),
            (
                "\n[udp:request]\n",
                2,
                DbErrorKind::UnknownModule("udp".into()),
            ),
            ("[mtu\n", 1, DbErrorKind::MalformedSection),
            ("classes = a,,b,\n", 1, DbErrorKind::MalformedClasses),
            (
                "classes = a\n[mtu]\nclasses = b\n",
                3,
                DbErrorKind::Misplaced("classes"),
            ),
            ("[mtu]\nsig = 1500\n", 2, DbErrorKind::Misplaced("sig")),
            (
                "[mtu]\nlabel = x\nsig = 15x0\n",
                3,
                DbErrorKind::MalformedMtu,
            ),
            ("[mtu]\nlabel = x\nsig = 0\n", 3, DbErrorKind::MalformedMtu),
            (
                "[mtu]\nlabel = x\nsig = 65536\n",
                3,
                DbErrorKind::MalformedMtu,
            ),
            ("[mtu]\nlabel =   \n", 2, DbErrorKind::EmptyMtuLabel),
            (
                "flavor = 1\n",
                1,
                DbErrorKind::UnknownField("flavor".into()),
            ),
            ("just words\n", 1, DbErrorKind::UnexpectedStatement),
            ("= 1\n", 1, DbErrorKind::UnexpectedStatement),
            (
                "classes = unix\n[tcp:request]\nlabel = s:win:Windows:7\n",
                3,
                DbErrorKind::UnknownClass("win".into()),
            ),
            (
                "[tcp:request]\nlabel = x:unix:A:\n",
                2,
                DbErrorKind::MalformedLabel("must start with s: or g:"),
            ),
            (
                "[tcp:request]\nlabel = s:!:A\n",
                2,
                DbErrorKind::MalformedLabel("malformed name"),
            ),
            (
                "[tcp:request]\nlabel = s:!:NMap:x\nsig = *:64:0:*:*,*:mss::0\n",
                3,
                DbErrorKind::Misplaced("sig"),
            ),
            (
                "[tcp:request]\nlabel = s:!:NMap:x\nsys = @bsd\n",
                3,
                DbErrorKind::UnknownClass("bsd".into()),
            ),
            (
                "[tcp:request]\nlabel = s:!:NMap:x\nsys = Linux,\n",
                3,
                DbErrorKind::MalformedSys,
            ),
            (
                "[tcp:request]\nsys = Linux\n",
                2,
                DbErrorKind::Misplaced("sys"),
            ),
            (
                "[tcp:request]\nua_os = Linux\n",
                2,
                DbErrorKind::Misplaced("ua_os"),
            ),
            (
                "[http:request]\nua_os = Linux,iOS=[iPad\n",
                2,
                DbErrorKind::MalformedUaOs("malformed [value]"),
            ),
            ("a = b\0\n", 1, DbErrorKind::NulByte),
        ];
        for (text, line, kind) in cases {
            let e = err_of(text);
            assert_eq!((e.line, &e.kind), (*line, kind), "{text:?}");
        }
        assert_eq!(
            err_of("[mtu]\nlabel = x\nsig = 0\n").to_string(),
            "p0f.fp line 3: malformed MTU value"
        );
    }

    #[test]
    fn comments_blank_lines_and_indentation_are_skipped() {
        let db = Database::parse(
            "; comment\n\n   \t\n  [mtu]\n\t label = Ethernet\n  ; x\n sig = 1500\n",
        )
        .expect("parses");
        assert_eq!(db.mtu_link(1500), Some("Ethernet"));
        Database::parse("").expect("empty file");
    }

    #[test]
    fn covered_signatures_are_rejected_like_p0f_does() {
        let base = "sig = 4:64:0:*:mss*10,7:mss,sok,ts,nop,ws:df,id+:0\n";
        // An identical line.
        let e = err_of(&format!("{HEAD}{base}{base}"));
        assert_eq!((e.line, e.kind), (5, DbErrorKind::Duplicate(4)));
        // ...but not when it says `*` and has IPv4-only quirks: p0f strips
        // those from the earlier line before comparing (p0f 3.09b loads
        // this file).
        let star = base.replace("= 4:", "= *:");
        Database::parse(&format!("{HEAD}{star}{star}")).expect("p0f accepts it");
        // A wildcard earlier covers a literal later.
        let e = err_of(&format!(
            "{HEAD}sig = *:64:0:*:*,*:mss::0\nsig = 4:64:0:1460:8192,3:mss::0\n"
        ));
        assert_eq!(e.kind, DbErrorKind::Duplicate(4));
        // A literal window later covered by mss*N earlier.
        let e = err_of(&format!(
            "{HEAD}sig = *:64:0:1460:mss*4,0:mss::0\nsig = *:64:0:1460:5840,0:mss::0\n"
        ));
        assert_eq!(e.kind, DbErrorKind::Duplicate(4));
        // Generic lines, fuzzy-only overlaps and other layouts are fine.
        Database::parse(&format!(
            "{HEAD}sig = *:64:0:*:*,*:mss:df,id+:0\nsig = *:64:0:*:*,*:mss:df:0\n\
             sig = *:64:0:*:*,*:mss,nop::0\nlabel = g:unix:Linux:\nsig = *:64:0:*:*,*:ws::0\n\
             label = s:unix:Linux:y\nsig = *:64:0:*:*,*:ws::0\n"
        ))
        .expect("not duplicates");
        // Directions are separate.
        Database::parse(&format!(
            "{HEAD}{base}[tcp:response]\nlabel = s:unix:L:\n{base}"
        ))
        .expect("different directions");
    }

    #[test]
    fn http_signatures_are_validated() {
        let head = "classes = unix\n[http:request]\nua_os = Linux,iOS=[iPad]\nlabel = s:!:Firefox:x\nsys = Linux,@unix\n";
        let ok = "sig = *:Host,User-Agent,Accept=[,*/*;q=],?Accept-Language,Connection=[keep-alive]:Keep-Alive,Accept-Charset:Firefox/\n";
        Database::parse(&format!("{head}{ok}")).expect("valid");
        for (sig, why) in [
            ("2:Host::", "HTTP version must be 0, 1 or *"),
            ("1;Host::", "malformed HTTP version"),
            ("1:Host,,X::", "malformed header name"),
            ("1:Host=x::", "missing '[' after '='"),
            ("1:Host=[x::", "malformed header value"),
            ("1:Host=[]::", "malformed header value"),
            ("1:Host;X::", "malformed header list"),
            ("1:Host:X;Y:", "malformed absent-header list"),
            ("1:Host::a:b", "':' in the software string"),
        ] {
            let e = err_of(&format!("{head}sig = {sig}\n"));
            assert_eq!(
                e,
                DbError {
                    line: 6,
                    kind: DbErrorKind::HttpSig(why)
                },
                "{sig:?}"
            );
        }
        let e = err_of(&format!("{head}{ok}{ok}"));
        assert_eq!((e.line, e.kind), (7, DbErrorKind::Duplicate(6)));
        // More banned headers first, fewer later: allowed, as in p0f.
        Database::parse(&format!("{head}sig = 1:Host:Te,Via:\nsig = 1:Host:Te:\n"))
            .expect("allowed order");
        let e = err_of(&format!("{head}sig = 1:Host:Te:\nsig = 1:Host:Te,Via:\n"));
        assert_eq!(e.kind, DbErrorKind::Duplicate(6));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(s in "\\PC*") {
            let _ = Database::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Database::parse_bytes(&b);
        }

        #[test]
        fn parse_never_panics_on_mangled_database(
            line in 0usize..1100,
            junk in "[ -~]{0,40}",
            cut in 0usize..80,
        ) {
            let mut lines: Vec<String> = BUILTIN.lines().map(str::to_string).collect();
            if let Some(l) = lines.get_mut(line) {
                let keep: String = l.chars().take(cut).collect();
                *l = format!("{keep}{junk}");
            }
            let _ = Database::parse(&lines.join("\n"));
        }
    }
}

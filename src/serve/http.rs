//! The HTTP API: routing, authentication, client identification behind
//! proxies, and the zardaxt-compatible answers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use serde::Serialize;
use serde_json::value::RawValue;

use super::cidr::Cidr;
use super::config::{ApiKey, RealIpHeader};
use super::metrics::{Endpoint, Metrics};
use super::os_view::{Judgements, OsClassifier, ZardaxtScores};
use crate::analyze::Record;
use crate::packet::{Skip, Timestamp};
use crate::store::{FingerprintStore, IpHistory};

/// Shared by every connection.
pub struct AppState {
    pub api_key: Option<ApiKey>,
    pub trusted_proxies: Vec<Cidr>,
    pub real_ip_header: RealIpHeader,
    pub store: Arc<dyn FingerprintStore>,
    pub classifier: Arc<dyn OsClassifier>,
    pub metrics: Arc<Metrics>,
    pub openapi: Bytes,
    /// How long a store lookup waits at most for the captures (zero
    /// without any).
    pub capture_wait: Duration,
    /// Whether a capture may see a SYN only after the request for it (a
    /// mirror port's, `promiscuous`; a tunnel collector's, `tunnels`): a
    /// miss is then looked for again until `capture_wait` is up.
    pub late_captures: bool,
}

/// A capture hands SYNs over in blocks, up to 10 ms late, and its thread
/// may wait for a core: a proxy that forwards its client's first request
/// at once (a LAN client, a local proxy) can ask before the SYN is stored,
/// and would be answered with an older SYN of the address (or of the same
/// port: a client could send one of its choosing just before). A lookup
/// waits until every capture has delivered what its kernel held when the
/// request came, looking every [`CAPTURE_RETRY`], for at most this long
/// (then it answers with what the store has: a capture behind a flood);
/// with a capture off the host's path, a miss is looked for again until
/// then (a mirrored copy of the SYN can come after the request).
pub const CAPTURE_WAIT: Duration = Duration::from_millis(250);
const CAPTURE_RETRY: Duration = Duration::from_millis(1);

/// What the kernel told us about the SYN of one accepted connection; read
/// once at accept and shared by every request on the connection.
#[derive(Clone, Debug)]
pub enum ConnSyn {
    Saved {
        record: Arc<Record>,
        rtt_us: Option<u32>,
    },
    /// The kernel kept no SYN: a SYN-cookie handshake (the listen queue
    /// overflowed, e.g. under a SYN flood).
    NotSaved,
    /// The saved SYN could not be read, or did not decode as a SYN (should
    /// not happen).
    Undecodable(UnreadableSyn),
}

/// Why a connection's saved SYN gave no fingerprint.
#[derive(Clone, Debug, thiserror::Error)]
pub enum UnreadableSyn {
    #[error("TCP_SAVED_SYN failed: {0}")]
    Failed(Arc<std::io::Error>),
    #[error("the saved packet is not a SYN")]
    NotASyn,
    #[error("{}", .0.as_str())]
    Skipped(Skip),
}

pub struct Conn {
    pub peer: SocketAddr,
    pub syn: ConnSyn,
}

/// The wall clock, as a store timestamp: the accept time of saved SYNs,
/// expiry at lookup.
pub fn now() -> Timestamp {
    Timestamp::wall_clock()
}

/// Answers are built whole, except the listing of every address, which is
/// streamed: on a full store it runs to a gigabyte.
type Resp = Response<Either<Full<Bytes>, ListingBody>>;

struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

const NO_KEY_CONFIGURED: &str = "API key endpoints are disabled: no API key is configured \
     (start synprint serve with --api-key or SYNPRINT_API_KEY)";

#[derive(Default)]
struct Query {
    key: Option<String>,
    ip: Option<IpAddr>,
    port: Option<u16>,
    detail: bool,
    by_ip: bool,
}

fn flag(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "query parameter `{name}` must be 1, true, yes or empty, or 0, false or no (any case)"
        ))),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would take
                // a sign (`%+1`).
                let &[hi, lo] = b.get(i + 1..i + 3)? else {
                    return None;
                };
                let digit = |d: u8| char::from(d).to_digit(16);
                out.push((digit(hi)? * 16 + digit(lo)?) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The query parameters synprint reads.
const QUERY_NAMES: [&str; 5] = ["key", "ip", "port", "detail", "by_ip"];

fn parse_query(q: Option<&str>) -> Result<Query, ApiError> {
    let mut out = Query::default();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // Names are form-encoded like values (`%64etail` is `detail`).
        // Unknown parameters (cache busters, tracking) are ignored, as
        // zardaxt does, however they are encoded: a site's `?utm=50%off`
        // must not cost its visitor the answer.
        let Some(name) = percent_decode(k).filter(|n| QUERY_NAMES.contains(&n.as_str())) else {
            continue;
        };
        let v = percent_decode(v).ok_or_else(|| {
            ApiError::bad_request(format!("query parameter `{name}` is badly encoded"))
        })?;
        // ASCII white space only, as an OpenAPI pattern can say it
        // (`[ \t\n\f\r]`): `\s` differs between regex engines.
        let v = v.trim_matches(|c: char| c.is_ascii_whitespace());
        match name.as_str() {
            "key" => out.key = Some(v.to_string()),
            "ip" => {
                let ip = v.parse::<IpAddr>().map_err(|_| {
                    ApiError::bad_request("query parameter `ip` is not an IPv4 or IPv6 address")
                })?;
                out.ip = Some(ip.to_canonical());
            }
            "port" => {
                out.port = Some(port_number(v).ok_or_else(|| {
                    ApiError::bad_request("query parameter `port` must be a number from 0 to 65535")
                })?)
            }
            "detail" => out.detail = flag(&name, v)?,
            "by_ip" => out.by_ip = flag(&name, v)?,
            _ => {}
        }
    }
    // Checked wherever the parameters are read, as the rest: a port alone
    // names no connection.
    if out.port.is_some() && out.ip.is_none() {
        return Err(ApiError::bad_request("query parameter `port` needs `ip`"));
    }
    Ok(out)
}

enum Auth {
    /// No key presented.
    Anonymous,
    Valid,
}

impl AppState {
    /// The key from `?key=` or `Authorization: Bearer`. A presented key
    /// must be right; it is never logged or echoed.
    fn authenticate(&self, q: &Query, headers: &HeaderMap) -> Result<Auth, ApiError> {
        // The scheme name is case-insensitive (RFC 9110). Read as UTF-8
        // (a configured key may be any), and bytes that are not UTF-8 are a
        // wrong key, not a missing one.
        let auth = headers
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()));
        let bearer = auth
            .as_deref()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim());
        let Some(presented) = q.key.as_deref().or(bearer) else {
            return Ok(Auth::Anonymous);
        };
        match &self.api_key {
            None => Err(ApiError::forbidden(NO_KEY_CONFIGURED)),
            Some(k) if k.matches(presented) => Ok(Auth::Valid),
            Some(_) => Err(ApiError::forbidden("wrong API key")),
        }
    }

    fn require_key(&self, q: &Query, headers: &HeaderMap) -> Result<(), ApiError> {
        match self.authenticate(q, headers)? {
            Auth::Valid => Ok(()),
            Auth::Anonymous if self.api_key.is_none() => {
                Err(ApiError::forbidden(NO_KEY_CONFIGURED))
            }
            Auth::Anonymous => Err(ApiError::forbidden(
                "this endpoint needs the API key (?key=KEY or Authorization: Bearer KEY)",
            )),
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }
}

/// Who the client is: the peer, or what a trusted proxy says.
struct Caller {
    ip: IpAddr,
    port: Option<u16>,
    /// A trusted proxy named the client, so this connection's own SYN is
    /// the proxy's and must not be used.
    forwarded: bool,
}

/// One X-Forwarded-For entry: an address, or an address and the client's
/// source port as some proxies write it (`192.0.2.1:5678`,
/// `[2001:db8::1]:5678`).
fn forwarded_hop(hop: &str) -> Option<(IpAddr, Option<u16>)> {
    let hop = hop.trim();
    match hop.parse::<IpAddr>() {
        Ok(ip) => Some((ip.to_canonical(), None)),
        Err(_) => hop
            .parse::<SocketAddr>()
            .ok()
            .map(|a| (a.ip().to_canonical(), Some(a.port()))),
    }
}

fn bad_header(name: &str) -> ApiError {
    ApiError::bad_request(format!("header {name} from the proxy is not valid"))
}

/// The last line of a header a trusted proxy sets, trimmed. A line that is
/// not visible ASCII is as bad as one that does not parse: taken for no
/// header, it would answer with the proxy's own SYN.
fn last_line<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match h.get_all(name).iter().next_back() {
        Some(v) => match v.to_str() {
            Ok(v) => Ok(Some(v.trim())),
            Err(_) => Err(bad_header(name)),
        },
        None => Ok(None),
    }
}

fn caller(state: &AppState, peer: SocketAddr, h: &HeaderMap) -> Result<Caller, ApiError> {
    let peer_ip = peer.ip().to_canonical();
    let direct = Caller {
        ip: peer_ip,
        port: Some(peer.port()),
        forwarded: false,
    };
    if !state.trusted(peer_ip) {
        return Ok(direct);
    }
    // Only the configured header: the proxy passes on whatever the client
    // put in the other one. The client's source port comes from the
    // X-Forwarded-For entry where the proxy wrote one there, else from
    // X-Real-Port (nginx: `proxy_set_header X-Real-Port $remote_port`);
    // never from X-Forwarded-Port, which by convention (AWS ALB, Traefik,
    // HAProxy) is the port the client connected to.
    let (ip, entry_port) = match state.real_ip_header {
        RealIpHeader::XRealIp => {
            // Several lines: the last was added nearest to us.
            let ip = match last_line(h, "X-Real-IP")? {
                Some(v) => Some(
                    v.parse::<IpAddr>()
                        .map_err(|_| bad_header("X-Real-IP"))?
                        .to_canonical(),
                ),
                None => None,
            };
            (ip, None)
        }
        RealIpHeader::XForwardedFor => {
            // Each proxy appends the address it saw, to the last line or as
            // a line of its own: walk every line from the right past our
            // own trusted proxies; the first other address is the client.
            // What lies left of it was written by the client (or proxies
            // before it) and is not read.
            let mut client = None;
            'lines: for line in h.get_all("x-forwarded-for").iter().rev() {
                let line = line.to_str().map_err(|_| bad_header("X-Forwarded-For"))?;
                for hop in line.rsplit(',') {
                    let hop = forwarded_hop(hop).ok_or_else(|| bad_header("X-Forwarded-For"))?;
                    client = Some(hop);
                    if !state.trusted(hop.0) {
                        break 'lines;
                    }
                }
            }
            (client.map(|c| c.0), client.and_then(|c| c.1))
        }
    };
    let Some(ip) = ip else { return Ok(direct) };
    // X-Real-Port is read only where no X-Forwarded-For entry gave the
    // port: a line that is not used is not judged either.
    let port = match entry_port {
        Some(port) => Some(port),
        // Empty is absent: a proxy may clear the client's by sending it so.
        None => last_line(h, "X-Real-Port")?
            .filter(|v| !v.is_empty())
            .map(|v| port_number(v).ok_or_else(|| bad_header("X-Real-Port")))
            .transpose()?,
    };
    Ok(Caller {
        ip,
        port,
        forwarded: true,
    })
}

/// A port as digits only: `u16::from_str` also takes a leading `+`, which
/// no proxy writes.
fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A body of `content_type`; `cors` lets any origin read it.
fn body_response(status: StatusCode, body: Bytes, content_type: &'static str, cors: bool) -> Resp {
    response(status, Either::Left(Full::new(body)), content_type, cors)
}

fn response(
    status: StatusCode,
    body: Either<Full<Bytes>, ListingBody>,
    content_type: &'static str,
    cors: bool,
) -> Resp {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if cors {
        allow_any_origin(h);
    }
    r
}

/// The public endpoints answer a site's pages from any origin, as zardaxt's.
fn allow_any_origin(h: &mut hyper::HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// Answers about connections are never to be cached.
fn json_response<T: Serialize>(status: StatusCode, body: &T, cors: bool) -> Resp {
    // Our types serialize infallibly; should one ever fail, the answer must
    // not look like a success.
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(b) => (status, b),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            b"{\"error\":\"serialization failed\"}".to_vec(),
        ),
    };
    no_store(body_response(
        status,
        Bytes::from(bytes),
        "application/json",
        cors,
    ))
}

fn no_store(mut r: Resp) -> Resp {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn error_response(e: &ApiError, cors: bool) -> Resp {
    json_response(e.status, &ErrorBody { error: &e.message }, cors)
}

#[derive(Serialize)]
struct NoFingerprint {
    os_mismatch: Option<bool>,
    lookup_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    lookup_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syn_saved: Option<bool>,
    msg: String,
}

/// An answer without a fingerprint: `os_mismatch` null and why.
fn no_fingerprint(ip: IpAddr, port: Option<u16>, syn_saved: Option<bool>, msg: String) -> Resp {
    let body = NoFingerprint {
        os_mismatch: None,
        lookup_ip: ip,
        lookup_port: port,
        syn_saved,
        msg,
    };
    json_response(StatusCode::OK, &body, true)
}

#[derive(Serialize)]
struct Details {
    os_highest_class: Option<&'static str>,
    highest_os_avg: Option<f64>,
    perfect_score: f64,
    num_fingerprints: usize,
    num_syns: u64,
    lookup_ip: IpAddr,
    client_ip: IpAddr,
    os_mismatch: Option<bool>,
    syn_source: SynSource,
    rtt_ms: Option<f64>,
}

#[derive(Serialize)]
struct Answer<'a> {
    #[serde(flatten)]
    judgements: Judgements,
    lookup_ip: IpAddr,
    lookup_port: u16,
    /// `syn` for a client's SYN; `syn_ack` where a lookup found only the
    /// address's answers as a server.
    kind: &'static str,
    avg_score_os_class: Option<ZardaxtScores>,
    /// zardaxt's scale for `avg_score_os_class`: probabilities reach 1.
    perfect_score: f64,
    classification: Option<&'a RawValue>,
    syn_source: SynSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_fingerprints: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fp: Option<&'a Record>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
}

/// Every stored address with its fingerprints, as zardaxt's listing:
/// `{ "ADDR": [fingerprint, ...], ... }`, serialized a chunk at a time as
/// the client reads it, so the answer never sits whole in memory (a full
/// store of 100k addresses x 8 fingerprints is ~1 GB of JSON; built whole,
/// it took the process to 2.4 GB). What is listed is the store as it was
/// when the request came: a snapshot of shared records, not copies.
pub struct ListingBody {
    rest: std::vec::IntoIter<IpHistory>,
    state: ListingState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ListingState {
    Start,
    Entries,
    Done,
}

/// Bytes serialized per frame: large enough that framing costs nothing,
/// small enough that one frame is a moment of one worker's time.
const LISTING_CHUNK: usize = 64 * 1024;

impl ListingBody {
    fn new(histories: Vec<IpHistory>) -> Self {
        ListingBody {
            rest: histories.into_iter(),
            state: ListingState::Start,
        }
    }

    /// The next chunk of the JSON text, or `None` after the closing brace.
    fn next_chunk(&mut self) -> Option<Result<Bytes, serde_json::Error>> {
        let mut buf = Vec::with_capacity(LISTING_CHUNK + LISTING_CHUNK / 4);
        loop {
            match self.state {
                ListingState::Done => break,
                ListingState::Start => buf.push(b'{'),
                ListingState::Entries if buf.len() >= LISTING_CHUNK => break,
                ListingState::Entries => {}
            }
            let Some(h) = self.rest.next() else {
                buf.push(b'}');
                self.state = ListingState::Done;
                break;
            };
            if self.state == ListingState::Entries {
                buf.push(b',');
            }
            self.state = ListingState::Entries;
            let entry = serde_json::to_writer(&mut buf, &h.ip.to_string()).and_then(|()| {
                buf.push(b':');
                serde_json::to_writer(&mut buf, &h.fingerprints)
            });
            if let Err(e) = entry {
                // Ending the stream with an error makes hyper cut the
                // connection: the client sees a broken answer, not a
                // well-formed one with entries missing.
                self.state = ListingState::Done;
                return Some(Err(e));
            }
        }
        (!buf.is_empty()).then(|| Ok(Bytes::from(buf)))
    }
}

impl Body for ListingBody {
    type Data = Bytes;
    type Error = serde_json::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.get_mut().next_chunk().map(|c| c.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.state == ListingState::Done
    }
}

fn listing_response(histories: Vec<IpHistory>, cors: bool) -> Resp {
    let body = Either::Right(ListingBody::new(histories));
    no_store(response(StatusCode::OK, body, "application/json", cors))
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct StatsBody {
    numIPs: usize,
    numFingerprints: usize,
    numConnections: usize,
    store: crate::store::StoreStats,
    listener_syns: u64,
    listener_no_saved_syn: u64,
    kernel_drops: u64,
}

struct Found {
    record: Arc<Record>,
    rtt_us: Option<u32>,
    source: SynSource,
}

/// Where an answer's SYN came from (`syn_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum SynSource {
    /// The kernel's copy of this very connection's SYN (`TCP_SAVED_SYN`).
    SavedSyn,
    /// The store: a captured SYN, or an earlier connection's saved one.
    Store,
}

const PERFECT_SCORE: f64 = 1.0;

fn answer(
    state: &AppState,
    found: &Found,
    caller_ip: IpAddr,
    q: &Query,
    user_agent: Option<&str>,
    now: Timestamp,
) -> Resp {
    let r = &found.record;
    let view = state.classifier.view(r, user_agent);
    if view.as_ref().is_some_and(|v| v.classification.is_some()) {
        state.metrics.classified.fetch_add(1, Relaxed);
    }
    let scores = view
        .as_ref()
        .map(|v| ZardaxtScores::from_probabilities(&v.probabilities));
    let judgements = view.as_ref().map(|v| v.judgements).unwrap_or_default();
    let rtt_ms = found.rtt_us.map(|us| f64::from(us) / 1000.0);
    let mut a = Answer {
        judgements,
        lookup_ip: r.obs().src_ip,
        lookup_port: r.obs().src_port,
        kind: r.obs().kind.as_str(),
        avg_score_os_class: scores,
        perfect_score: PERFECT_SCORE,
        classification: view.as_ref().and_then(|v| v.classification.as_deref()),
        syn_source: found.source,
        verdict: None,
        rtt_ms: None,
        num_fingerprints: None,
        fp: None,
        details: None,
    };
    if q.detail {
        let history = state.store.by_ip(r.obs().src_ip, now);
        // Of the kind answered: an address that is also a server a capture
        // saw answering has SYN+ACKs stored too. The one answered counts
        // where its address went before its connection did.
        let (num, syns) = history.map_or((0, 0), |h| h.counts(r.obs().kind));
        let (num, syns) = (num.max(1), syns.max(1));
        let highest = scores.and_then(|s| s.highest());
        a.verdict = view.as_ref().and_then(|v| v.verdict.as_deref());
        a.rtt_ms = Some(rtt_ms);
        a.num_fingerprints = Some(num);
        a.fp = Some(r);
        a.details = Some(Details {
            os_highest_class: highest.map(|h| h.0),
            highest_os_avg: highest.map(|h| h.1),
            perfect_score: PERFECT_SCORE,
            num_fingerprints: num,
            num_syns: syns,
            lookup_ip: r.obs().src_ip,
            client_ip: caller_ip,
            os_mismatch: judgements.os_mismatch,
            syn_source: found.source,
            rtt_ms,
        });
    }
    json_response(StatusCode::OK, &a, true)
}

fn not_found_in_store(state: &AppState, ip: IpAddr, port: Option<u16>, now: Timestamp) -> Resp {
    let stats = state.store.stats(now);
    let msg = match port {
        // The connection's SYN was never seen, or its entry made room for
        // newer ones; the address may still have others.
        Some(_) => match state.store.by_ip(ip, now) {
            Some(h) => format!(
                "no fingerprint for this connection ({} connections in memory); this IP has {} \
                 SYNs stored, and a lookup by IP answers with its newest (`ip` without `port`, or \
                 `by_ip=1` behind a proxy)",
                stats.connections, h.syns
            ),
            None => format!(
                "no fingerprint for this connection or its IP ({} connections, {} IPs in memory)",
                stats.connections, stats.ips
            ),
        },
        None => format!("no fingerprint for this IP ({} IPs in memory)", stats.ips),
    };
    no_fingerprint(ip, port, None, msg)
}

/// Looks an address (and port) up in the store once the captures have
/// delivered what came before the request (waiting up to `capture_wait`).
async fn lookup(state: &AppState, ip: IpAddr, port: Option<u16>) -> Option<Found> {
    look_up_after_captures(
        &state.metrics,
        state.capture_wait,
        state.late_captures,
        || lookup_now(state, ip, port, now()),
    )
    .await
}

/// `look` once the captures have delivered what their kernels held now,
/// waiting for them up to `wait`; with `late` captures (off the host's
/// path) a miss is looked for again until `wait` is up. The API's lookups
/// and p0f's query socket both ask the store this way.
pub(super) async fn look_up_after_captures<T>(
    metrics: &Metrics,
    wait: Duration,
    late: bool,
    mut look: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + wait;
    captures_catch_up(metrics, now(), deadline).await;
    loop {
        let found = look();
        if found.is_some() || !late || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(CAPTURE_RETRY).await;
    }
}

/// Waits until every capture has delivered what its kernel held at
/// `asked`, or until `deadline`.
async fn captures_catch_up(metrics: &Metrics, asked: Timestamp, deadline: Instant) {
    let mut first = true;
    while Instant::now() < deadline && !metrics.captures_caught_up_to(asked, first) {
        first = false;
        tokio::time::sleep(CAPTURE_RETRY).await;
    }
}

fn lookup_now(state: &AppState, ip: IpAddr, port: Option<u16>, now: Timestamp) -> Option<Found> {
    let record = match port {
        Some(p) => state.store.by_connection(ip, p, now)?,
        None => Arc::clone(&state.store.by_ip(ip, now)?.newest_client()?.record),
    };
    Some(Found {
        record,
        rtt_us: None,
        source: SynSource::Store,
    })
}

async fn classify(
    state: &AppState,
    conn: &Conn,
    req: &Request<hyper::body::Incoming>,
) -> Result<Resp, ApiError> {
    let q = parse_query(req.uri().query())?;
    let h = req.headers();
    // Read lossily: a byte that is not ASCII must not hide the OS the rest
    // of the User-Agent claims (a bot could switch the mismatch check off
    // with one).
    let ua = h
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let ua = ua.as_deref().map(str::trim);
    let now = now();
    let me = caller(state, conn.peer, h)?;
    // The key decides only what the query asks for with it (`?key=`, or
    // another address): an Authorization header a site sends for its own
    // reasons must not turn the caller's own answer into a listing or a 403.
    let auth = if q.key.is_some() || q.ip.is_some() {
        state.authenticate(&q, h)?
    } else {
        Auth::Anonymous
    };
    match auth {
        Auth::Valid => match q.ip {
            Some(ip) => {
                return Ok(match lookup(state, ip, q.port).await {
                    Some(f) => answer(state, &f, me.ip, &q, ua, now),
                    None => not_found_in_store(state, ip, q.port, now),
                })
            }
            None => return Ok(listing_response(state.store.all(now), true)),
        },
        Auth::Anonymous if q.ip.is_some() => {
            return Err(ApiError::forbidden(match state.api_key {
                None => NO_KEY_CONFIGURED,
                Some(_) => "looking up another address needs the API key",
            }))
        }
        Auth::Anonymous => {}
    }
    if me.forwarded || q.by_ip {
        let port = if q.by_ip { None } else { me.port };
        return Ok(match lookup(state, me.ip, port).await {
            Some(f) => answer(state, &f, me.ip, &q, ua, now),
            None => not_found_in_store(state, me.ip, port, now),
        });
    }
    match &conn.syn {
        ConnSyn::Saved { record, rtt_us } => {
            let f = Found {
                record: Arc::clone(record),
                rtt_us: *rtt_us,
                source: SynSource::SavedSyn,
            };
            Ok(answer(state, &f, me.ip, &q, ua, now))
        }
        // A capture may have seen the SYN the kernel did not keep: its
        // exact connection is as good an answer. Captures hand SYNs over
        // up to 10 ms late, and a request on loopback or a LAN comes
        // sooner, so this waits as a proxy's lookup does.
        ConnSyn::NotSaved if state.capture_wait > Duration::ZERO => {
            let found = match me.port {
                Some(port) => lookup(state, me.ip, Some(port)).await,
                None => None,
            };
            Ok(match found {
                Some(f) => answer(state, &f, me.ip, &q, ua, now),
                None => syn_not_saved(me.ip, me.port),
            })
        }
        ConnSyn::NotSaved => Ok(syn_not_saved(me.ip, me.port)),
        ConnSyn::Undecodable(why) => Ok(no_fingerprint(
            me.ip,
            me.port,
            Some(true),
            format!("the saved SYN of this connection could not be read or decoded: {why}"),
        )),
    }
}

fn syn_not_saved(ip: IpAddr, port: Option<u16>) -> Resp {
    no_fingerprint(
        ip,
        port,
        Some(false),
        "the kernel saved no SYN for this connection (it was answered with a SYN cookie: \
         the listen queue overflowed, e.g. under a SYN flood, or net.ipv4.tcp_syncookies \
         is 2); no fingerprint rather than a guess"
            .into(),
    )
}

const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";

/// 204 with the methods allowed; a public endpoint's answer to a CORS
/// preflight says them to any origin too.
fn options_response(public: bool) -> Resp {
    let mut r = Response::new(Either::Left(Full::new(Bytes::new())));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    if public {
        allow_any_origin(h);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization"),
        );
    }
    r
}

fn method_not_allowed(public: bool) -> Resp {
    let mut r = error_response(
        &ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET, HEAD and OPTIONS are supported",
        ),
        public,
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    r
}

/// The endpoint a path names; one trailing slash is allowed on every
/// endpoint, as it always was on `/classify`.
fn route(path: &str) -> Endpoint {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    match path {
        "/classify" => Endpoint::Classify,
        "/all" => Endpoint::All,
        "/stats" => Endpoint::Stats,
        "/healthz" => Endpoint::Healthz,
        "/metrics" => Endpoint::Metrics,
        "/openapi.json" => Endpoint::OpenApi,
        _ => Endpoint::Other,
    }
}

/// Answers one request. Never fails: every error is a JSON answer.
pub async fn handle(state: &AppState, conn: &Conn, req: &Request<hyper::body::Incoming>) -> Resp {
    let start = Instant::now();
    let endpoint = route(req.uri().path());
    let public = matches!(
        endpoint,
        Endpoint::Classify | Endpoint::Healthz | Endpoint::OpenApi
    );
    // RFC 9112 3.2: a server must answer 400 to an HTTP/1.1 request with
    // no Host header or more than one (hyper leaves that to it).
    let one_host = || req.headers().get_all(header::HOST).iter().count() == 1;
    let resp = if req.version() == Version::HTTP_11 && !one_host() {
        error_response(
            &ApiError::new(
                StatusCode::BAD_REQUEST,
                "an HTTP/1.1 request needs exactly one Host header",
            ),
            public,
        )
    } else if req.method() == Method::CONNECT {
        // Not a proxy, whatever the target names.
        method_not_allowed(public)
    } else if req.uri().path() == "*" {
        // RFC 9110 9.3.7: `OPTIONS *` asks about the server as a whole.
        if req.method() == Method::OPTIONS {
            options_response(false)
        } else {
            error_response(
                &ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "the target `*` is for OPTIONS only",
                ),
                false,
            )
        }
    } else if endpoint == Endpoint::Other {
        error_response(
            &ApiError::new(StatusCode::NOT_FOUND, "not found; see /openapi.json"),
            false,
        )
    } else if req.method() == Method::OPTIONS {
        options_response(public)
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        method_not_allowed(public)
    } else {
        let result = match endpoint {
            Endpoint::Classify => classify(state, conn, req).await,
            Endpoint::All => parse_query(req.uri().query())
                .and_then(|q| state.require_key(&q, req.headers()))
                .map(|()| listing_response(state.store.all(now()), false)),
            Endpoint::Stats => parse_query(req.uri().query())
                .and_then(|q| state.require_key(&q, req.headers()))
                .map(|()| {
                    let s = state.store.stats(now());
                    let body = StatsBody {
                        numIPs: s.ips,
                        numFingerprints: s.fingerprints,
                        numConnections: s.connections,
                        store: s,
                        listener_syns: state.metrics.listener_syns.load(Relaxed),
                        listener_no_saved_syn: state.metrics.listener_no_syn.load(Relaxed),
                        kernel_drops: state.metrics.kernel_drops(),
                    };
                    json_response(StatusCode::OK, &body, false)
                }),
            Endpoint::Healthz => {
                // A capture that ended (its interface went away) may have
                // been the only source of answers: a monitor must see it.
                // A link that is down is waited for, and the listener still
                // answers: said, but no reason to take this instance out.
                let stopped = state.metrics.stopped_captures();
                let links_down = state.metrics.links_down();
                Ok(if stopped.is_empty() && links_down.is_empty() {
                    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}), true)
                } else if stopped.is_empty() {
                    json_response(
                        StatusCode::OK,
                        &serde_json::json!({"status": "link_down", "interfaces": links_down}),
                        true,
                    )
                } else {
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &serde_json::json!({"status": "capture_stopped", "interfaces": stopped}),
                        true,
                    )
                })
            }
            Endpoint::Metrics => {
                let text = state.metrics.render(&state.store.stats(now()));
                let content_type = "text/plain; version=0.0.4";
                Ok(body_response(
                    StatusCode::OK,
                    Bytes::from(text),
                    content_type,
                    false,
                ))
            }
            Endpoint::OpenApi => Ok(body_response(
                StatusCode::OK,
                state.openapi.clone(),
                "application/json",
                true,
            )),
            Endpoint::Other => Err(ApiError::new(StatusCode::NOT_FOUND, "not found")),
        };
        result.unwrap_or_else(|e| error_response(&e, public))
    };
    let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    state
        .metrics
        .request(endpoint, resp.status().as_u16(), elapsed);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed listing is zardaxt's map, whole and valid, however the
    /// chunks fall, and comes in more than one chunk when it is large.
    #[test]
    fn listing_streams_every_address_in_chunks() {
        use crate::analyze::Engine;
        use crate::craft::Stack;
        use crate::store::{MemoryStore, StoreConfig};
        use std::net::{Ipv4Addr, Ipv6Addr};

        // One template per IP version: a record keeps its version.
        let template = |client: IpAddr, server: IpAddr| {
            let bytes = Stack::Windows.syn(client, 40000, server, 443, 1).ip_bytes();
            let obs = crate::packet::decode_ip(Timestamp(0), &bytes)
                .expect("decodes")
                .expect("a SYN");
            Engine::default().fingerprint(obs, None)
        };
        let v4 = template(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        );
        let v6 = template(
            IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | 1)),
            IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | 2)),
        );
        let store = MemoryStore::new(StoreConfig {
            max_ips: 10_000,
            per_ip: 2,
            max_connections: 100,
            ttl_ns: u64::MAX,
        });
        let n: u32 = 700;
        for i in 0..n {
            let (template, ip) = if i % 3 == 0 {
                let a = Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i));
                (&v6, IpAddr::V6(a))
            } else {
                (&v4, IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)))
            };
            let r = template
                .clone()
                .with_source(ip, 1024, Timestamp(u64::from(i) + 1))
                .expect("the template's IP version");
            store.insert(Arc::new(r));
        }
        let snapshot = store.all(Timestamp(u64::from(n) + 1));
        let expected: serde_json::Map<String, serde_json::Value> = snapshot
            .iter()
            .map(|h| {
                let v = serde_json::to_value(&h.fingerprints).expect("value");
                (h.ip.to_string(), v)
            })
            .collect();

        let mut body = ListingBody::new(snapshot);
        let mut text = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = body.next_chunk() {
            text.extend_from_slice(&chunk.expect("serializes"));
            chunks += 1;
        }
        assert!(body.is_end_stream());
        assert!(chunks > 1, "{} bytes in one chunk", text.len());
        let got: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&text).expect("one JSON object");
        assert_eq!(got.len(), n as usize);
        assert_eq!(got, expected);

        let mut empty = ListingBody::new(Vec::new());
        let only = empty.next_chunk().expect("a chunk").expect("ok");
        assert_eq!(&only[..], b"{}");
        assert!(empty.next_chunk().is_none());
    }

    #[test]
    fn query_values() {
        let q = parse_query(Some("detail=1&by_ip&ip=%3A%3Affff%3A10.0.0.1&port=80&x=y"))
            .ok()
            .expect("valid");
        assert!(q.detail && q.by_ip);
        assert_eq!(q.ip, Some("10.0.0.1".parse().expect("ip")));
        assert_eq!(q.port, Some(80));
        for bad in [
            "detail=2",
            "ip=1.2.3",
            "port=70000",
            "port=-1",
            "port=%2B80",
            "port=",
            "by_ip=maybe",
            "key=%zz",
            "key=%+1",
            "key=%-1",
            "key=%1",
            "key=%",
        ] {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
        // A name that is not ours is ignored, however it is encoded.
        for ignored in ["%+1=1", "x=%zz", "%6b=%", "utm=50%off"] {
            let q = parse_query(Some(&format!("{ignored}&detail=1")));
            assert!(q.is_ok_and(|q| q.detail && q.key.is_none()), "{ignored}");
        }
        assert!(!parse_query(Some("detail=0")).ok().expect("valid").detail);
        // Empty means yes, as a bare `?detail` does.
        assert!(parse_query(Some("detail=")).ok().expect("valid").detail);
        assert_eq!(
            percent_decode("a%2Fb%2fc+d%41").as_deref(),
            Some("a/b/c dA")
        );
    }
}

//! `synprint serve`: fingerprint the visitors of a live site and answer per
//! request over HTTP, zardaxt-compatible.
//!
//! Two SYN sources feed one [`crate::store`]:
//! - the server's own listening sockets, where the kernel saves each
//!   connection's SYN (`TCP_SAVE_SYN`; no privileges), so a request is
//!   answered from the very connection that carried it;
//! - optional AF_PACKET captures (`--interface`) for SYNs to other services
//!   on the host.
//!
//! Entry points: [`ServeArgs`] (the clap arguments), [`ServeConfig::resolve`],
//! [`run`] (blocks until SIGINT/SIGTERM/SIGHUP), and [`Server`] for tests and
//! embedding.

mod cidr;
mod cli;
mod config;
mod http;
mod listener;
mod metrics;
mod openapi;
mod os_view;
pub mod p0f_api;
mod slots;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

pub use cidr::{Cidr, CidrError};
pub use cli::ServeArgs;
pub use config::{ApiKey, ConfigError, RealIpHeader, ServeConfig};
pub use metrics::Metrics;
pub use os_view::{installed_classifier, Judgements, OsClassifier, OsProbabilities, OsView};

use crate::analyze::{Analyzer, AnalyzerConfig, Engine, LiveEvent};
use crate::capture::{self, CaptureCounters, LiveCapture, LiveCaptureError, Stopped};
use crate::packet::Filter;
use crate::store::{FingerprintStore, MemoryStore};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Capture(#[from] LiveCaptureError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    User(#[from] sys::SwitchError),
    #[error("cannot give up CAP_NET_RAW once the captures are open: {0}")]
    GiveUpCapture(std::io::Error),
    #[error("p0f query socket: {0}")]
    P0fSocket(#[from] p0f_api::SocketError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
}

/// A running server: listeners, capture threads, store.
pub struct Server {
    addrs: Vec<SocketAddr>,
    store: Arc<dyn FingerprintStore>,
    metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    alive: mpsc::Receiver<()>,
    stop_captures: Arc<AtomicBool>,
    capture_threads: Vec<std::thread::JoinHandle<()>>,
    /// The p0f query socket's task: its file is removed when it ends.
    p0f_socket: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Opens every capture interface, then gives up CAP_NET_RAW, which
    /// nothing needs once they are open. Capabilities are per thread and
    /// inherited: call it before the async runtime starts its threads (as
    /// [`run`] does), so that none of them holds it. A `--user` that cannot
    /// be switched to is refused first, before anything is opened.
    pub fn open_captures(config: &ServeConfig) -> Result<Vec<LiveCapture>, ServeError> {
        if let Some(account) = &config.user {
            sys::can_become(account)?;
        }
        let captures = capture::open_all(&config.interfaces, &config.capture)?;
        if !captures.is_empty() {
            sys::give_up_capability(sys::CAP_NET_RAW).map_err(ServeError::GiveUpCapture)?;
        }
        Ok(captures)
    }

    /// Binds every listen address and the p0f socket, switches to
    /// `--user`, then serves in the background on the current tokio runtime,
    /// with the captures [`Server::open_captures`] opened (the capture tests
    /// open theirs inside a network namespace). Errors here are start-up
    /// errors.
    pub async fn start_with(
        config: &ServeConfig,
        engine: Arc<Engine>,
        classifier: Arc<dyn OsClassifier>,
        captures: Vec<LiveCapture>,
    ) -> Result<Server, ServeError> {
        let store: Arc<dyn FingerprintStore> = Arc::new(MemoryStore::new(config.store));
        let metrics = Arc::new(Metrics::default());
        let mut listeners = Vec::new();
        for &addr in &config.listen {
            let std_listener = listener::bind(addr, &config.listen)
                .map_err(|source| ServeError::Listen { addr, source })?;
            let l = tokio::net::TcpListener::from_std(std_listener)
                .map_err(|source| ServeError::Listen { addr, source })?;
            listeners.push(l);
        }
        // Bound before anything is spawned, so a refused socket stops the
        // start as a refused listen address does.
        let query_socket = match &config.p0f_socket {
            Some(path) => Some(p0f_api::QuerySocket::bind(path)?),
            None => None,
        };
        // Every socket is open (the captures were opened by the caller):
        // from here on, what serve does it does as the configured user.
        if let Some(account) = &config.user {
            sys::become_user(account)?;
        }
        let addrs = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let state = Arc::new(http::AppState {
            api_key: config.api_key.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            real_ip_header: config.real_ip_header,
            store: Arc::clone(&store),
            classifier,
            metrics: Arc::clone(&metrics),
            openapi: Bytes::from(openapi::document().to_string()),
            late_captures: captures
                .iter()
                .any(|c| c.options().promiscuous || c.options().tunnels),
            capture_wait: if captures.is_empty() {
                Duration::ZERO
            } else {
                http::CAPTURE_WAIT
            },
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (alive_tx, alive) = mpsc::channel::<()>(1);
        let slots = slots::Slots::new(config.max_connections);
        for l in listeners {
            tokio::spawn(listener::accept_loop(
                l,
                Arc::clone(&state),
                Arc::clone(&engine),
                Arc::clone(&slots),
                shutdown_rx.clone(),
                alive_tx.clone(),
            ));
        }
        tokio::spawn(release_memory_periodically(shutdown_rx.clone()));
        let p0f_socket = query_socket.map(|q| {
            tokio::spawn(q.serve(
                Arc::clone(&store),
                Arc::clone(&metrics),
                state.capture_wait,
                state.late_captures,
                shutdown_rx.clone(),
            ))
        });
        let stop_captures = Arc::new(AtomicBool::new(false));
        let mut capture_threads = Vec::new();
        for cap in captures {
            let counters = metrics.capture(cap.interface());
            let (engine, store, stop, filter) = (
                Arc::clone(&engine),
                Arc::clone(&store),
                Arc::clone(&stop_captures),
                config.capture_filter.clone(),
            );
            let name = format!("capture-{}", cap.interface());
            let t = std::thread::Builder::new()
                .name(name)
                .spawn(move || capture_into(cap, &engine, store.as_ref(), &counters, &stop, filter))
                .map_err(ServeError::Runtime)?;
            capture_threads.push(t);
        }
        Ok(Server {
            addrs,
            store,
            metrics,
            shutdown,
            alive,
            stop_captures,
            capture_threads,
            p0f_socket,
        })
    }

    /// The bound addresses (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn store(&self) -> Arc<dyn FingerprintStore> {
        Arc::clone(&self.store)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Stops accepting, lets open connections finish their current request
    /// (at most `grace`), stops the captures.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        // Every connection task holds a sender; recv() returns None once the
        // accept loops and all connections are gone.
        let _ = tokio::time::timeout(grace, self.alive.recv()).await;
        if let Some(task) = self.p0f_socket.take() {
            let _ = task.await;
        }
        self.stop_captures.store(true, Relaxed);
        for t in self.capture_threads.drain(..) {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// A capture thread's work: every record `filter` keeps goes into the
/// store, until `stop`.
pub fn capture_into(
    mut cap: LiveCapture,
    engine: &Engine,
    store: &dyn FingerprintStore,
    counters: &CaptureCounters,
    stop: &AtomicBool,
    filter: Option<Filter>,
) {
    // Host tracking feeds the p0f query socket's `last_nat`/`last_chg`.
    let config = AnalyzerConfig {
        track_hosts: true,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = Analyzer::new(engine, config);
    analyzer.keep_only_matching(filter);
    let interface = cap.interface().to_string();
    let port = cap.options().port;
    let mut feed = analyzer.live(port, counters, |e: LiveEvent| {
        match e {
            LiveEvent::Record(r) => store.insert(Arc::new(r.clone())),
            LiveEvent::BlockEnd => {}
            LiveEvent::Link(event) => {
                crate::say!("synprint serve: capture on {interface}: {event}");
            }
        }
        Ok::<(), std::convert::Infallible>(())
    });
    let stored = cap.stream(counters, || !stop.load(Relaxed), &mut feed);
    match stored {
        Ok(()) => {}
        Err(Stopped::Deliver(never)) => match never {},
        // The API goes on answering from the store and the listener.
        Err(Stopped::Capture(e)) => {
            counters.stopped.store(true, Relaxed);
            crate::say!("synprint serve: {e}; that capture has stopped (/healthz says so)");
        }
    }
}

/// Every [`TRIM_EVERY`], gives back to the system what finished connections
/// freed (their request buffers, up to 112 KiB each), so a burst of
/// connections does not leave the process at its peak size.
async fn release_memory_periodically(mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let _ = tokio::task::spawn_blocking(sys::release_free_memory).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

const TRIM_EVERY: Duration = Duration::from_secs(10);

/// What serve says at start after its listening addresses, and what
/// `serve --check` prints.
fn announcement(config: &ServeConfig) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(path) = &config.p0f_socket {
        lines.push(format!("answering p0f queries on {}", path.display()));
    }
    let described = config.capture.described(config.capture_filter.as_ref());
    for i in &config.interfaces {
        lines.push(format!("capturing SYNs on {i}{described}"));
    }
    lines.push(knowledge(config));
    if let Some(a) = &config.user {
        lines.push(format!(
            "runs as user `{}` (uid {}, gid {}) once its sockets are open",
            a.name, a.uid, a.gid
        ));
    }
    lines.extend(config.notes.iter().cloned());
    if config.api_key.is_none() {
        lines.push(
            "no API key configured; /all, /stats and lookups of other addresses are off".into(),
        );
    }
    if let Some(all) = config.trusted_proxies.iter().find(|c| c.is_everything()) {
        lines.push(format!(
            "warning: trusted proxy {all} is every address: any client can name, in {}, the \
             address it is answered for",
            config.real_ip_header
        ));
    }
    lines
}

/// Raises the open-files limit to its hard limit; what to say if that is
/// still too low for `max_connections` (each connection is a descriptor,
/// and so is each capture, listener and file: a few dozen spare).
fn open_files_warning(config: &ServeConfig) -> Option<String> {
    match sys::raise_open_files_limit() {
        Ok(files) if files < config.max_connections as u64 + 64 => Some(format!(
            "the open-files limit is {files}, below max_connections {} (raise the hard \
             limit, e.g. LimitNOFILE= in a systemd unit)",
            config.max_connections
        )),
        Ok(_) => None,
        Err(e) => Some(format!("cannot raise the open-files limit: {e}")),
    }
}

/// What to say when the kernel answers every handshake with a SYN cookie
/// (`net.ipv4.tcp_syncookies` 2, read in serve's own network namespace):
/// it then saves no SYN, so the listener's own connections go unanswered.
fn syn_cookies_warning(config: &ServeConfig) -> Option<String> {
    let mode = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies").ok()?;
    (mode.trim() == "2").then(|| {
        let instead = if config.interfaces.is_empty() {
            "so no connection to the listener can be fingerprinted"
        } else {
            "so the listener's connections are answered only from captured SYNs"
        };
        format!(
            "warning: net.ipv4.tcp_syncookies is 2: the kernel answers every handshake with a \
             SYN cookie and saves no SYN, {instead} (1, the default, uses cookies only when \
             the listen queue overflows)"
        )
    })
}

/// `serve --check`: the settings serve would run with, from the flags, the
/// environment and the config file, without listening or capturing. The
/// capture interfaces are looked up, so a mistyped name fails here rather
/// than at start; privileges are not (the check may run as another user
/// than the service).
pub fn check(config: &ServeConfig) -> Result<Vec<String>, ServeError> {
    for interface in config.interfaces.iter().filter(|i| *i != "any") {
        sys::ifindex(interface).map_err(|source| LiveCaptureError::NoSuchInterface {
            interface: interface.clone(),
            source,
        })?;
    }
    // An address of this host binds on a free port of its own; the port
    // itself may be the running server's, which a check before a restart
    // must not mind.
    for &addr in &config.listen {
        std::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .map_err(|source| ServeError::Listen { addr, source })?;
    }
    if let Some(path) = &config.p0f_socket {
        p0f_api::QuerySocket::check_place(path)?;
    }
    let mut lines: Vec<String> = config
        .listen
        .iter()
        .map(|a| format!("would listen on http://{a}/classify"))
        .collect();
    lines.extend(announcement(config));
    lines.extend(open_files_warning(config));
    lines.extend(syn_cookies_warning(config));
    // Not an error: the check may run as another user than the service.
    if let Some(Err(e)) = config.user.as_ref().map(sys::can_become) {
        lines.push(format!("warning: {e}"));
    }
    let proxies: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(|c| c.to_string())
        .collect();
    lines.push(if proxies.is_empty() {
        "no trusted proxy: the client is the connection's peer".into()
    } else {
        format!(
            "client address from {} when the peer is in {}",
            config.real_ip_header,
            proxies.join(", ")
        )
    });
    if config.api_key.is_some() {
        lines.push("API key set".into());
    }
    let s = &config.store;
    lines.push(format!(
        "serves {} connections at once; remembers {} addresses, {} fingerprints each, {} \
         connections, for {} s after last seen",
        config.max_connections,
        s.max_ips,
        s.per_ip,
        s.max_connections,
        s.ttl_ns / 1_000_000_000
    ));
    Ok(lines)
}

/// Which p0f database and OS model answer, as said at start: a service
/// that was meant to load a learned model shows whether it did.
fn knowledge(config: &ServeConfig) -> String {
    let p0f = match &config.p0f_db {
        Some(path) => format!("the p0f database {}", path.display()),
        None => "the built-in p0f database (p0f 3.09b)".to_string(),
    };
    let model = match &config.model {
        Some(path) => format!(
            "the built-in OS model and the counts learned in {}",
            path.display()
        ),
        None => "the built-in OS model".to_string(),
    };
    format!("fingerprints with {p0f}; classifies with {model}")
}

/// SIGINT, SIGTERM and SIGHUP (the terminal or SSH session went away, as
/// p0f takes it when not a daemon; as [`sys::hangup_stops`] says),
/// installed before the server announces itself so a signal
/// right after start-up is a clean shutdown, not a kill.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Result<Signals, ServeError> {
        use tokio::signal::unix::{signal, SignalKind};
        let caught = |kind: SignalKind| signal(kind).map_err(ServeError::Signal);
        let hup = if sys::hangup_stops().map_err(ServeError::Signal)? {
            Some(caught(SignalKind::hangup())?)
        } else {
            None
        };
        Ok(Signals {
            term: caught(SignalKind::terminate())?,
            int: caught(SignalKind::interrupt())?,
            hup,
        })
    }

    async fn wait(&mut self) {
        let hup = async {
            match &mut self.hup {
                Some(hup) => hup.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
            _ = hup => {}
        }
    }
}

/// Runs `synprint serve` until SIGINT, SIGTERM or SIGHUP, then shuts down
/// gracefully. The caller builds the engine (with `config.model` and
/// `config.p0f_db`).
pub fn run(config: ServeConfig, engine: Arc<Engine>) -> Result<(), ServeError> {
    // Before the runtime's threads exist: they start without CAP_NET_RAW.
    let captures = Server::open_captures(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(async move {
        let mut signals = Signals::install()?;
        for warning in open_files_warning(&config)
            .into_iter()
            .chain(syn_cookies_warning(&config))
        {
            crate::say!("synprint serve: {warning}");
        }
        let classifier = os_view::installed_classifier();
        let server = Server::start_with(&config, engine, classifier, captures).await?;
        for a in server.local_addrs() {
            crate::say!("synprint serve: listening on http://{a}/classify");
        }
        for line in announcement(&config) {
            crate::say!("synprint serve: {line}");
        }
        signals.wait().await;
        crate::say!("synprint serve: shutting down");
        server.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}

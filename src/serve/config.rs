//! Configuration: a file (TOML, or zardaxt's `zardaxt.json`), `SYNPRINT_*`
//! environment variables and flags, in increasing precedence. Every value is
//! validated at start; an error names the key and where it came from.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cidr::Cidr;
use super::cli::ServeArgs;
use crate::capture::CaptureOptions;
use crate::packet::Filter;
use crate::store::StoreConfig;
use crate::sys::{self, Account};

pub const DEFAULT_PORT: u16 = 8249;

/// The API key. Its `Debug` form is redacted so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> Option<Self> {
        let key = key.trim().to_string();
        (!key.is_empty()).then_some(ApiKey(key))
    }

    /// Compares in time independent of where the strings differ, so the key
    /// cannot be guessed byte by byte from response times.
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.as_bytes();
        let b = candidate.as_bytes();
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len() {
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ y);
        }
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Which header a trusted proxy names the client in. Only that one is read:
/// a proxy passes on whatever the client sent in the other, so believing
/// both would let a client name any address (nginx's `real_ip_header`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RealIpHeader {
    /// `X-Real-IP` (and `X-Real-Port` for the source port), as the proxy
    /// sets it.
    #[default]
    XRealIp,
    /// `X-Forwarded-For`: the rightmost address that is not a trusted
    /// proxy, over every line of the header (the source port from that
    /// entry, else `X-Real-Port`; never `X-Forwarded-Port`, the port the
    /// client connected to).
    XForwardedFor,
}

impl fmt::Display for RealIpHeader {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            RealIpHeader::XRealIp => "X-Real-IP",
            RealIpHeader::XForwardedFor => "X-Forwarded-For",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("expected X-Real-IP or X-Forwarded-For")]
pub struct UnknownRealIpHeader;

impl std::str::FromStr for RealIpHeader {
    type Err = UnknownRealIpHeader;

    fn from_str(s: &str) -> Result<Self, UnknownRealIpHeader> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-real-ip" => Ok(RealIpHeader::XRealIp),
            "x-forwarded-for" => Ok(RealIpHeader::XForwardedFor),
            _ => Err(UnknownRealIpHeader),
        }
    }
}

/// Connections served at once by default: each may hold an unfinished
/// request head of [`MAX_REQUEST_HEAD`] (up to 112 KiB when it arrives in
/// one burst), so this bounds that memory at about 450 MiB.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// More connections than any one process can hold file descriptors for.
const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;

/// A port setting (`api_server_port` 0 asks for any free port).
const PORTS: RangeInclusive<u64> = 0..=u16::MAX as u64;

/// The largest request head read (hyper's read buffer, which a single read
/// can overshoot to 112 KiB); a longer one is refused with 431.
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Everything `serve` needs, resolved and validated.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: Vec<SocketAddr>,
    pub api_key: Option<ApiKey>,
    pub trusted_proxies: Vec<Cidr>,
    pub real_ip_header: RealIpHeader,
    pub max_connections: usize,
    pub interfaces: Vec<String>,
    /// The port filter, promiscuous mode and tunnels of every capture
    /// interface.
    pub capture: CaptureOptions,
    pub model: Option<PathBuf>,
    pub p0f_db: Option<PathBuf>,
    /// Where p0f's query protocol is answered (`p0f -s`).
    pub p0f_socket: Option<PathBuf>,
    /// Which captured SYNs and SYN+ACKs are kept (`--capture-filter`).
    pub capture_filter: Option<Filter>,
    pub store: StoreConfig,
    /// The account serve runs as once its sockets are open (`--user`).
    pub user: Option<Account>,
    /// What the configuration asks that serve does not do, to be said at
    /// start (a zardaxt.json `pcap_filter`).
    pub notes: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: vec![SocketAddr::new(
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                DEFAULT_PORT,
            )],
            api_key: None,
            trusted_proxies: Cidr::loopback().to_vec(),
            real_ip_header: RealIpHeader::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            interfaces: Vec::new(),
            capture: CaptureOptions::default(),
            model: None,
            p0f_db: None,
            p0f_socket: None,
            capture_filter: None,
            store: StoreConfig::default(),
            user: None,
            notes: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "config file {path} is larger than {}",
        crate::bounded::size(MAX_CONFIG_BYTES)
    )]
    TooLarge { path: PathBuf },
    #[error("config file {path} is not valid {format}: {message}")]
    Syntax {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("{origin}: unknown key `{key}`")]
    UnknownKey { origin: String, key: String },
    #[error("{origin}: invalid value for `{key}`: {reason}")]
    Invalid {
        origin: String,
        key: String,
        reason: String,
    },
}

/// One layer's settings; `None` / empty means "not set here".
#[derive(Default, Debug)]
struct Layer {
    listen: Option<Vec<SocketAddr>>,
    api_key: Option<String>,
    /// `Some(empty)`: set to trust no proxy.
    trusted_proxies: Option<Vec<Cidr>>,
    real_ip_header: Option<RealIpHeader>,
    max_connections: Option<usize>,
    /// `Some(empty)`: set to capture on none.
    interfaces: Option<Vec<String>>,
    capture_port: Option<u16>,
    capture_filter: Option<Filter>,
    promiscuous: Option<bool>,
    capture_tunnels: Option<bool>,
    model: Option<PathBuf>,
    p0f_db: Option<PathBuf>,
    p0f_socket: Option<PathBuf>,
    store_max_ips: Option<usize>,
    store_per_ip: Option<usize>,
    store_max_connections: Option<usize>,
    store_ttl_secs: Option<u64>,
    user: Option<Account>,
    notes: Vec<String>,
}

impl Layer {
    /// The checks one layer's values must pass by themselves; `name` gives
    /// a key as this layer's origin spells it.
    fn check(&self, origin: &str, name: &dyn Fn(ConfigKey) -> String) -> Result<(), ConfigError> {
        let bad = |key: ConfigKey, reason: String| Err(invalid(origin, &name(key), reason));
        let listen = self.listen.as_deref().unwrap_or_default();
        if let Some(twice) = listen
            .iter()
            .enumerate()
            // Port 0 asks for any free port: twice is two listeners.
            .filter(|(_, a)| a.port() != 0)
            .find_map(|(i, a)| listen.get(..i)?.contains(a).then_some(a))
        {
            return bad(ConfigKey::Listen, format!("{twice} is listed twice"));
        }
        let interfaces = self.interfaces.as_deref().unwrap_or_default();
        if let Some(twice) = interfaces
            .iter()
            .enumerate()
            .find_map(|(i, n)| interfaces.get(..i)?.contains(n).then_some(n))
        {
            // Two captures of one interface store every SYN twice.
            return bad(ConfigKey::Interfaces, format!("{twice} is listed twice"));
        }
        if interfaces.len() > 1 && interfaces.iter().any(|i| i == "any") {
            let why = "`any` captures every interface already: list it alone";
            return bad(ConfigKey::Interfaces, why.into());
        }
        if self
            .api_key
            .clone()
            .is_some_and(|k| ApiKey::new(k).is_none())
        {
            return bad(ConfigKey::ApiKey, "the key is empty".into());
        }
        // A file's and a variable's numbers were checked as they were read;
        // the flags' are checked here, against the same bounds.
        let as_u64 = |v: Option<usize>| v.map(|v| v as u64);
        let numbers = [
            (ConfigKey::MaxConnections, as_u64(self.max_connections)),
            (ConfigKey::CapturePort, self.capture_port.map(u64::from)),
            (ConfigKey::StoreMaxIps, as_u64(self.store_max_ips)),
            (ConfigKey::StorePerIp, as_u64(self.store_per_ip)),
            (
                ConfigKey::StoreMaxConnections,
                as_u64(self.store_max_connections),
            ),
            (ConfigKey::StoreTtlSecs, self.store_ttl_secs),
        ];
        for (key, value) in numbers {
            if let Some(v) = value.filter(|v| !key.numbers().contains(v)) {
                return bad(key, out_of_range(v, key.numbers()));
            }
        }
        Ok(())
    }

    fn over(self, base: Layer) -> Layer {
        Layer {
            listen: self.listen.or(base.listen),
            api_key: self.api_key.or(base.api_key),
            trusted_proxies: self.trusted_proxies.or(base.trusted_proxies),
            real_ip_header: self.real_ip_header.or(base.real_ip_header),
            max_connections: self.max_connections.or(base.max_connections),
            interfaces: self.interfaces.or(base.interfaces),
            capture_port: self.capture_port.or(base.capture_port),
            capture_filter: self.capture_filter.or(base.capture_filter),
            promiscuous: self.promiscuous.or(base.promiscuous),
            capture_tunnels: self.capture_tunnels.or(base.capture_tunnels),
            model: self.model.or(base.model),
            p0f_db: self.p0f_db.or(base.p0f_db),
            p0f_socket: self.p0f_socket.or(base.p0f_socket),
            store_max_ips: self.store_max_ips.or(base.store_max_ips),
            store_per_ip: self.store_per_ip.or(base.store_per_ip),
            store_max_connections: self.store_max_connections.or(base.store_max_connections),
            store_ttl_secs: self.store_ttl_secs.or(base.store_ttl_secs),
            user: self.user.or(base.user),
            notes: [self.notes, base.notes].concat(),
        }
    }
}

/// A listening address: an IP address and a port, never a host name
/// (which would need a resolver at start, and may name several addresses).
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    text.parse().map_err(|_| match text.rsplit_once(':') {
        // nginx's `listen *:80`.
        Some(("*", port)) if port.parse::<u16>().is_ok() => {
            format!("`*` is no address here: [::]:{port} listens on every address, IPv4 and IPv6")
        }
        Some((host, port))
            if port.parse::<u16>().is_ok()
                && host.bytes().any(|b| b.is_ascii_alphabetic())
                && !host.contains([':', '[', ']']) =>
        {
            format!(
                "`{host}` is a host name: give an IP address, such as 127.0.0.1:{port} or \
                 [::1]:{port}"
            )
        }
        _ => "expected an IP address and a port, such as 127.0.0.1:8249 or [::1]:8249".into(),
    })
}

impl Layer {
    fn set(&mut self, key: ConfigKey, value: &Setting) -> Result<(), ConfigError> {
        match key {
            ConfigKey::Listen => {
                let listen = value
                    .list()?
                    .iter()
                    .map(|s| listen_addr(s).map_err(|e| value.invalid(format!("`{s}`: {e}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                // Falling back to the default would listen on every
                // interface.
                if listen.is_empty() {
                    return Err(value.invalid("is empty: give at least one address"));
                }
                self.listen = Some(listen);
            }
            ConfigKey::ApiKey => self.api_key = Some(value.string()?),
            ConfigKey::TrustedProxies => self.trusted_proxies = Some(value.parsed_list()?),
            ConfigKey::RealIpHeader => self.real_ip_header = Some(value.parsed()?),
            ConfigKey::MaxConnections => self.max_connections = Some(value.number(key.numbers())?),
            ConfigKey::Interfaces => self.interfaces = Some(value.list()?),
            ConfigKey::CapturePort => self.capture_port = Some(value.number(key.numbers())?),
            ConfigKey::CaptureFilter => {
                let text = value.string()?;
                self.capture_filter = Some(Filter::parse(&text).map_err(|e| value.invalid(e))?);
            }
            ConfigKey::Promiscuous => self.promiscuous = Some(value.boolean()?),
            ConfigKey::CaptureTunnels => self.capture_tunnels = Some(value.boolean()?),
            ConfigKey::Model => self.model = Some(PathBuf::from(value.string()?)),
            ConfigKey::P0fDb => self.p0f_db = Some(PathBuf::from(value.string()?)),
            ConfigKey::P0fSocket => self.p0f_socket = Some(PathBuf::from(value.string()?)),
            ConfigKey::StoreMaxIps => self.store_max_ips = Some(value.number(key.numbers())?),
            ConfigKey::StorePerIp => self.store_per_ip = Some(value.number(key.numbers())?),
            ConfigKey::StoreMaxConnections => {
                self.store_max_connections = Some(value.number(key.numbers())?)
            }
            ConfigKey::StoreTtlSecs => self.store_ttl_secs = Some(value.number(key.numbers())?),
            ConfigKey::User => {
                self.user =
                    Some(sys::account_named(&value.string()?).map_err(|e| value.invalid(e))?)
            }
        }
        Ok(())
    }
}

impl ServeConfig {
    /// Resolves flags, the environment (`env` looks a variable up; pass
    /// `|k| std::env::var(k).ok()`) and the config file the flags or the
    /// environment name.
    pub fn resolve(
        args: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let flags = Layer {
            listen: Some(args.listen.clone()).filter(|l| !l.is_empty()),
            api_key: args.api_key.clone(),
            trusted_proxies: Some(args.trusted_proxy.clone()).filter(|t| !t.is_empty()),
            real_ip_header: args.real_ip_header,
            max_connections: args.max_connections,
            interfaces: Some(args.interface.clone()).filter(|i| !i.is_empty()),
            capture_port: args.capture_port,
            capture_filter: args.capture_filter.clone(),
            // A flag can only turn it on; off is the absence of the flag.
            promiscuous: args.promiscuous.then_some(true),
            capture_tunnels: args.capture_tunnels.then_some(true),
            model: args.model.clone(),
            p0f_db: args.p0f_db.clone(),
            p0f_socket: args.p0f_socket.clone(),
            store_max_ips: args.store_max_ips,
            store_per_ip: args.store_per_ip,
            store_max_connections: args.store_max_connections,
            store_ttl_secs: args.store_ttl_secs,
            user: match &args.user {
                Some(name) => Some(
                    sys::account_named(name)
                        .map_err(|e| invalid("command line", &ConfigKey::User.flag(), e))?,
                ),
                None => None,
            },
            notes: Vec::new(),
        };
        let env_layer = env_layer(&env)?;
        let path = args
            .config
            .clone()
            .or_else(|| env("SYNPRINT_CONFIG").map(PathBuf::from));
        let file_origin = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let file = match path {
            Some(p) => file_layer(&p)?,
            None => Layer::default(),
        };
        // Each layer is checked on its own, so an error names where the
        // value came from (the file, the variable, the flag).
        flags.check("command line", &ConfigKey::flag)?;
        env_layer.check("environment", &ConfigKey::env_var)?;
        file.check(&file_origin, &|key| key.name().to_string())?;
        let l = flags.over(env_layer.over(file));
        let interfaces = l.interfaces.unwrap_or_default();
        let d = ServeConfig::default();
        let ds = d.store;
        if l.capture_port.is_some() && interfaces.is_empty() {
            return Err(invalid(
                "configuration",
                ConfigKey::CapturePort.name(),
                "it filters capture interfaces, and none are configured",
            ));
        }
        if l.capture_filter.is_some() && interfaces.is_empty() {
            return Err(invalid(
                "configuration",
                ConfigKey::CaptureFilter.name(),
                format!("{NO_INTERFACES} (zardaxt's `pcap_filter` is read as this setting)"),
            ));
        }
        if l.capture_tunnels == Some(true) && interfaces.is_empty() {
            return Err(invalid(
                "configuration",
                ConfigKey::CaptureTunnels.name(),
                NO_INTERFACES,
            ));
        }
        if l.promiscuous == Some(true) {
            let reason = if interfaces.is_empty() {
                Some(NO_INTERFACES)
            } else if interfaces.iter().any(|i| i == "any") {
                Some("`any` stands for all interfaces and cannot be made promiscuous")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(invalid(
                    "configuration",
                    ConfigKey::Promiscuous.name(),
                    reason,
                ));
            }
        }
        Ok(ServeConfig {
            listen: l.listen.unwrap_or(d.listen),
            // Checked: an empty key is an error, not "no key".
            api_key: l.api_key.and_then(ApiKey::new),
            real_ip_header: l.real_ip_header.unwrap_or_default(),
            max_connections: l.max_connections.unwrap_or(d.max_connections),
            trusted_proxies: l.trusted_proxies.unwrap_or(d.trusted_proxies),
            interfaces,
            capture: CaptureOptions {
                port: l.capture_port,
                promiscuous: l.promiscuous.unwrap_or(false),
                tunnels: l.capture_tunnels.unwrap_or(false),
            },
            model: l.model,
            p0f_db: l.p0f_db,
            p0f_socket: l.p0f_socket,
            capture_filter: l.capture_filter,
            store: StoreConfig {
                max_ips: l.store_max_ips.unwrap_or(ds.max_ips),
                per_ip: l.store_per_ip.unwrap_or(ds.per_ip),
                max_connections: l.store_max_connections.unwrap_or(ds.max_connections),
                ttl_ns: l
                    .store_ttl_secs
                    .map_or(ds.ttl_ns, |s| s.saturating_mul(1_000_000_000)),
            },
            user: l.user,
            notes: l.notes,
        })
    }
}

/// Why a capture setting is refused without capture interfaces.
const NO_INTERFACES: &str = "it applies to capture interfaces, and none are configured";

fn invalid(origin: &str, key: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// A setting: its name in a configuration file, also read from the
/// environment as `SYNPRINT_<NAME>` ([`ConfigKey::env_var`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfigKey {
    Listen,
    ApiKey,
    TrustedProxies,
    RealIpHeader,
    MaxConnections,
    Interfaces,
    CapturePort,
    CaptureFilter,
    Promiscuous,
    CaptureTunnels,
    Model,
    P0fDb,
    P0fSocket,
    StoreMaxIps,
    StorePerIp,
    StoreMaxConnections,
    StoreTtlSecs,
    User,
}

impl ConfigKey {
    pub(crate) const ALL: [ConfigKey; 18] = [
        ConfigKey::Listen,
        ConfigKey::ApiKey,
        ConfigKey::TrustedProxies,
        ConfigKey::RealIpHeader,
        ConfigKey::MaxConnections,
        ConfigKey::Interfaces,
        ConfigKey::CapturePort,
        ConfigKey::CaptureFilter,
        ConfigKey::Promiscuous,
        ConfigKey::CaptureTunnels,
        ConfigKey::Model,
        ConfigKey::P0fDb,
        ConfigKey::P0fSocket,
        ConfigKey::StoreMaxIps,
        ConfigKey::StorePerIp,
        ConfigKey::StoreMaxConnections,
        ConfigKey::StoreTtlSecs,
        ConfigKey::User,
    ];

    /// The values a number setting takes, from a file, a variable or a flag.
    fn numbers(self) -> RangeInclusive<u64> {
        match self {
            ConfigKey::MaxConnections => 1..=MAX_CONNECTIONS_LIMIT as u64,
            ConfigKey::CapturePort => PORTS,
            ConfigKey::StoreMaxIps | ConfigKey::StorePerIp | ConfigKey::StoreMaxConnections => {
                1..=usize::MAX as u64
            }
            _ => 1..=u64::MAX,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            ConfigKey::Listen => "listen",
            ConfigKey::ApiKey => "api_key",
            ConfigKey::TrustedProxies => "trusted_proxies",
            ConfigKey::RealIpHeader => "real_ip_header",
            ConfigKey::MaxConnections => "max_connections",
            ConfigKey::Interfaces => "interfaces",
            ConfigKey::CapturePort => "capture_port",
            ConfigKey::CaptureFilter => "capture_filter",
            ConfigKey::Promiscuous => "promiscuous",
            ConfigKey::CaptureTunnels => "capture_tunnels",
            ConfigKey::Model => "model",
            ConfigKey::P0fDb => "p0f_db",
            ConfigKey::P0fSocket => "p0f_socket",
            ConfigKey::StoreMaxIps => "store_max_ips",
            ConfigKey::StorePerIp => "store_per_ip",
            ConfigKey::StoreMaxConnections => "store_max_connections",
            ConfigKey::StoreTtlSecs => "store_ttl_secs",
            ConfigKey::User => "user",
        }
    }

    fn named(name: &str) -> Option<ConfigKey> {
        ConfigKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The command-line flag that sets it.
    fn flag(self) -> String {
        match self {
            ConfigKey::Interfaces => "--interface".into(),
            key => format!("--{}", key.name().replace('_', "-")),
        }
    }

    pub(crate) fn env_var(self) -> String {
        format!("SYNPRINT_{}", self.name().to_ascii_uppercase())
    }
}

fn env_layer(env: &impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let mut l = Layer::default();
    for key in ConfigKey::ALL {
        let var = key.env_var();
        // An empty variable is an unset one, as shells treat `VAR=`.
        if let Some(text) = env(&var).filter(|v| !v.trim().is_empty()) {
            l.set(key, &Setting::text("environment", &var, &text))?;
        }
    }
    Ok(l)
}

/// The largest config file read; a wrong path (`/dev/zero`) stops there.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

fn file_layer(path: &Path) -> Result<Layer, ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = crate::bounded::read_whole(path, MAX_CONFIG_BYTES)
        .map_err(read)?
        .ok_or_else(|| ConfigError::TooLarge {
            path: path.to_path_buf(),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })?;
    // zardaxt.json under another name is still JSON: no TOML file starts
    // with a brace.
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    // Editors on some systems start a UTF-8 file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let json = json || text.trim_start().starts_with('{');
    let value: Value = if json {
        let UniqueKeys(table) = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            format: "JSON",
            message: e.to_string(),
        })?;
        Value::Object(table)
    } else {
        toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            format: "TOML",
            message: crate::classify::toml_error_line(text, &e),
        })?
    };
    layer_from_value(&path.display().to_string(), &value)
}

/// A JSON table whose keys are each given once: serde_json would keep the
/// last of two without a word, where TOML refuses them.
struct UniqueKeys(serde_json::Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of keys")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut table = serde_json::Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if table.contains_key(&key) {
                        let twice = format!("`{key}` is given twice");
                        return Err(serde::de::Error::custom(twice));
                    }
                    table.insert(key, value);
                }
                Ok(UniqueKeys(table))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// One value as a layer gives it, with where it came from and the name
/// it has there (for errors): a variable's text, or a file's typed value.
struct Setting<'a> {
    origin: &'a str,
    name: &'a str,
    raw: Raw<'a>,
}

enum Raw<'a> {
    Text(&'a str),
    Value(&'a Value),
}

impl<'a> Setting<'a> {
    fn text(origin: &'a str, name: &'a str, text: &'a str) -> Self {
        Setting {
            origin,
            name,
            raw: Raw::Text(text),
        }
    }

    fn invalid(&self, reason: impl fmt::Display) -> ConfigError {
        invalid(self.origin, self.name, reason)
    }

    /// A list: a file's array of strings, or one comma-separated string.
    fn list(&self) -> Result<Vec<String>, ConfigError> {
        let split = |s: &str| {
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        };
        if let Some(s) = self.as_str() {
            return Ok(split(s));
        }
        match self.raw {
            Raw::Value(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.invalid("expected a list of strings"))
                })
                .collect(),
            _ => Err(self.invalid("expected a string or a list of strings")),
        }
    }

    fn parsed_list<T: std::str::FromStr>(&self) -> Result<Vec<T>, ConfigError>
    where
        T::Err: fmt::Display,
    {
        self.list()?
            .iter()
            .map(|s| s.parse().map_err(|e| self.invalid(format!("`{s}`: {e}"))))
            .collect()
    }

    fn as_str(&self) -> Option<&'a str> {
        match self.raw {
            Raw::Text(s) => Some(s),
            Raw::Value(v) => v.as_str(),
        }
    }

    fn string(&self) -> Result<String, ConfigError> {
        self.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid("expected a string"))
    }

    fn parsed<T: std::str::FromStr>(&self) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let s = self.string()?;
        s.trim()
            .parse()
            .map_err(|e| self.invalid(format!("`{s}`: {e}")))
    }

    /// A number in `range`: a file's integer (not a string of digits), or
    /// a variable's digits.
    fn number<T: TryFrom<u64>>(&self, range: RangeInclusive<u64>) -> Result<T, ConfigError> {
        let n = match self.raw {
            // Digits only, as the API reads ports: `from_str` takes `+`.
            Raw::Text(t) if !t.trim().bytes().all(|b| b.is_ascii_digit()) => {
                return Err(self.invalid(format!("`{t}` is not a number")));
            }
            Raw::Text(t) => t.trim().parse().ok(),
            Raw::Value(v) => v.as_u64(),
        };
        n.filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                let given = match self.raw {
                    Raw::Text(t) => t.trim().to_string(),
                    Raw::Value(v) => v.to_string(),
                };
                self.invalid(out_of_range(given, range))
            })
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        match self.raw {
            Raw::Text(_) => self.parsed(),
            Raw::Value(v) => v
                .as_bool()
                .ok_or_else(|| self.invalid("expected true or false")),
        }
    }
}

/// Whether a tcpdump filter only tests TCP flags (`tcp[tcpflags] & (tcp-syn|
/// tcp-ack) != 0`, `tcp[13] & 2 != 0`): the flags byte alone, with flag
/// names, numbers and operators around it, nothing naming an address, a
/// port, a protocol or another header byte.
fn tests_only_tcp_flags(filter: &str) -> bool {
    const WORDS: [&str; 12] = [
        "tcp", "tcp-syn", "tcp-ack", "tcp-fin", "tcp-rst", "tcp-push", "tcp-urg", "tcp-ece",
        "tcp-cwr", "and", "or", "not",
    ];
    let lower = filter.to_ascii_lowercase();
    // Each `tcp[...]` must be the flags byte; the words around them may not
    // name anything else.
    let mut around = String::new();
    let mut flag_bytes = 0;
    let mut tail = lower.as_str();
    while let Some(open) = tail.find('[') {
        let Some(close) = tail[open..].find(']').map(|c| open + c) else {
            return false;
        };
        let byte = tail[open + 1..close].replace(' ', "");
        if !tail[..open].trim_end().ends_with("tcp")
            || !["13", "13:1", "tcpflags", "tcpflags:1"].contains(&byte.as_str())
        {
            return false;
        }
        flag_bytes += 1;
        around.push_str(&tail[..open]);
        around.push(' ');
        tail = &tail[close + 1..];
    }
    around.push_str(tail);
    let known = |word: &str| {
        WORDS.contains(&word)
            || word.strip_prefix("0x").map_or_else(
                || word.parse::<u32>().is_ok(),
                |hex| u32::from_str_radix(hex, 16).is_ok(),
            )
    };
    flag_bytes > 0
        && around
            .split(|c: char| c.is_whitespace() || "()&|!=<>".contains(c))
            .filter(|w| !w.is_empty())
            .all(known)
}

fn out_of_range(given: impl fmt::Display, range: RangeInclusive<u64>) -> String {
    let (min, max) = range.into_inner();
    format!("{given} is not a whole number from {min} to {max}")
}

/// Reads synprint's keys and zardaxt.json's. zardaxt keys that configure
/// what synprint does differently (`pcap_filter`: synprint filters in the
/// kernel; `verbose`, `store_fingerprints`, `write_after`,
/// `enable_uptime_interpolation`) are accepted and ignored, so an existing
/// zardaxt.json works unchanged; an ignored filter is noted, as it may
/// have kept the capture to one port.
fn layer_from_value(origin: &str, v: &Value) -> Result<Layer, ConfigError> {
    let table = v
        .as_object()
        .ok_or_else(|| invalid(origin, "(top level)", "expected a table of keys"))?;
    let mut l = Layer::default();
    let mut zardaxt_ip: Option<IpAddr> = None;
    let mut zardaxt_port: Option<u16> = None;
    // Which name set each key: two names for one setting (`interface` and
    // `interfaces`) would otherwise leave the one read last.
    let mut set_by: Vec<(ConfigKey, &str)> = Vec::new();
    for (name, val) in table {
        let setting = Setting {
            origin,
            name,
            raw: Raw::Value(val),
        };
        let key = match name.as_str() {
            "api_server_ip" => {
                zardaxt_ip = Some(setting.parsed()?);
                continue;
            }
            "api_server_port" => {
                zardaxt_port = Some(setting.number(PORTS)?);
                continue;
            }
            // zardaxt's filter is applied where `capture_filter` reads it
            // (`tcp port 443`), and noted where it only tests TCP flags (its
            // default, `tcp[tcpflags] & ...`, which synprint's kernel filter
            // does). Any other filter it cannot read is refused: dropping
            // `tcp dst port 443 and tcp[13] & 2 != 0` whole would widen the
            // capture to every port.
            "pcap_filter" => match val.as_str().map(|f| (f, Filter::parse(f))) {
                Some((_, Ok(_))) => ConfigKey::CaptureFilter,
                Some((f, Err(_))) if f.trim().is_empty() => continue,
                Some((f, Err(e))) if tests_only_tcp_flags(f) => {
                    l.notes.push(format!(
                        "{origin}: `pcap_filter` is not applied ({e}); synprint's kernel \
                         filter takes every SYN and SYN+ACK, IPv6 ones too (tcpdump's `tcp[]` \
                         reaches IPv4 only)"
                    ));
                    continue;
                }
                Some((_, Err(e))) => {
                    return Err(setting.invalid(format!(
                        "{e}; synprint reads a filter's address and port terms (as \
                         `capture_filter`), not byte offsets or lengths, and tests the TCP \
                         flags itself: write the filter in the file without them"
                    )))
                }
                _ => continue,
            },
            "verbose" | "store_fingerprints" | "write_after" | "enable_uptime_interpolation" => {
                continue
            }
            // zardaxt's name, and the singular spellings of the lists.
            "clear_dict_after" => ConfigKey::StoreMaxIps,
            "trusted_proxy" => ConfigKey::TrustedProxies,
            "interface" => ConfigKey::Interfaces,
            name => ConfigKey::named(name).ok_or_else(|| ConfigError::UnknownKey {
                origin: origin.to_string(),
                key: name.to_string(),
            })?,
        };
        if let Some((_, first)) = set_by.iter().find(|(k, _)| *k == key) {
            return Err(setting.invalid(format!("`{first}` sets it already: give one of the two")));
        }
        set_by.push((key, name));
        l.set(key, &setting)?;
    }
    if zardaxt_ip.is_some() || zardaxt_port.is_some() {
        if set_by.iter().any(|(k, _)| *k == ConfigKey::Listen) {
            let why = "`api_server_ip`/`api_server_port` set it already: give one of the two";
            return Err(invalid(origin, ConfigKey::Listen.name(), why));
        }
        l.listen.get_or_insert_default().push(SocketAddr::new(
            zardaxt_ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            zardaxt_port.unwrap_or(DEFAULT_PORT),
        ));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write config");
        (dir, p)
    }

    /// Arguments naming a config file of `text`, which lives as long as
    /// the directory returned.
    fn with_config(name: &str, text: &str) -> (tempfile::TempDir, ServeArgs) {
        let (dir, p) = write(name, text);
        let args = ServeArgs {
            config: Some(p),
            ..Default::default()
        };
        (dir, args)
    }

    /// Why `args` and the variables `pairs` are refused.
    fn refusal(args: &ServeArgs, pairs: &[(&str, &str)]) -> String {
        match ServeConfig::resolve(args, env(pairs)) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    /// A listening address is an IP address and a port; a host name is
    /// said to be one, the other mistakes get the form to write.
    #[test]
    fn listen_addresses_name_the_mistake() {
        assert_eq!(
            listen_addr(" [::1]:80 "),
            Ok("[::1]:80".parse().expect("addr"))
        );
        let host = listen_addr("localhost:8249").expect_err("host name");
        assert!(
            host.contains("`localhost` is a host name") && host.contains("127.0.0.1:8249"),
            "{host}"
        );
        let any = listen_addr("*:8249").expect_err("*");
        assert!(any.contains("[::]:8249 listens on every address"), "{any}");
        for bad in [
            "::1:8249",
            "127.0.0.1",
            "127.0.0.1:65536",
            ":80",
            "[::1]80",
            "127.1:80",
            "0:80",
        ] {
            let e = listen_addr(bad).expect_err(bad);
            assert!(
                e.starts_with("expected an IP address and a port"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn defaults() {
        let c = ServeConfig::resolve(&ServeArgs::default(), env(&[])).expect("defaults");
        assert_eq!(
            c.listen,
            vec!["[::]:8249".parse::<SocketAddr>().expect("addr")]
        );
        assert!(c.api_key.is_none());
        assert!(c.trusted_proxies[0].contains("127.0.0.1".parse().expect("ip")));
    }

    /// An empty list of trusted proxies trusts none (the loopback default
    /// would let any local process name the address to look up); an
    /// empty list of addresses to listen on is refused rather than
    /// replaced by the default, which listens on every interface.
    #[test]
    fn empty_lists_mean_what_they_say() {
        let (_d, args) = with_config("t.toml", "trusted_proxies = []\n");
        let c = ServeConfig::resolve(&args, env(&[])).expect("valid");
        assert!(c.trusted_proxies.is_empty());
        let c = ServeConfig::resolve(
            &ServeArgs::default(),
            env(&[("SYNPRINT_TRUSTED_PROXIES", ",")]),
        )
        .expect("valid");
        assert!(c.trusted_proxies.is_empty());
        let e = ServeConfig::resolve(&ServeArgs::default(), env(&[("SYNPRINT_LISTEN", ",")]))
            .expect_err("no address to listen on");
        assert!(e.to_string().contains("SYNPRINT_LISTEN"), "{e}");
        // The environment can take back the file's capture interfaces.
        let (_d, args) = with_config("i.toml", "interfaces = [\"eth1\"]\n");
        let c = ServeConfig::resolve(&args, env(&[])).expect("valid");
        assert_eq!(c.interfaces, ["eth1"]);
        let c = ServeConfig::resolve(&args, env(&[("SYNPRINT_INTERFACES", ",")])).expect("valid");
        assert!(c.interfaces.is_empty(), "{:?}", c.interfaces);
    }

    #[test]
    fn flags_over_env_over_file() {
        let (_d, p) = write(
            "s.toml",
            "listen = [\"127.0.0.1:1\"]\napi_key = \"file\"\nstore_per_ip = 3\nstore_max_ips = 10\n",
        );
        let args = ServeArgs {
            config: Some(p),
            api_key: Some("flag".into()),
            ..Default::default()
        };
        let c = ServeConfig::resolve(
            &args,
            env(&[("SYNPRINT_API_KEY", "env"), ("SYNPRINT_STORE_PER_IP", "5")]),
        )
        .expect("valid");
        assert!(c.api_key.as_ref().is_some_and(|k| k.matches("flag")));
        assert_eq!(c.store.per_ip, 5);
        assert_eq!(c.store.max_ips, 10);
        assert_eq!(
            c.listen,
            vec!["127.0.0.1:1".parse::<SocketAddr>().expect("addr")]
        );
        let c = ServeConfig::resolve(
            &ServeArgs {
                api_key: None,
                ..args
            },
            env(&[("SYNPRINT_API_KEY", "env")]),
        )
        .expect("valid");
        assert!(c.api_key.as_ref().is_some_and(|k| k.matches("env")));
    }

    #[test]
    fn port_zero_may_be_listed_twice() {
        let args = ServeArgs {
            listen: vec!["127.0.0.1:0".parse().expect("addr"); 2],
            ..Default::default()
        };
        let c = ServeConfig::resolve(&args, env(&[])).expect("two ephemeral listeners");
        assert_eq!(c.listen.len(), 2);
    }

    #[test]
    fn real_ip_header_and_connection_cap_from_each_layer() {
        let c = ServeConfig::resolve(&ServeArgs::default(), env(&[])).expect("defaults");
        assert_eq!(c.real_ip_header, RealIpHeader::XRealIp);
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        let (_d, file) = with_config(
            "a.toml",
            "real_ip_header = \"X-Forwarded-For\"\nmax_connections = 10\n",
        );
        let c = ServeConfig::resolve(&file, env(&[])).expect("file");
        assert_eq!(c.real_ip_header, RealIpHeader::XForwardedFor);
        assert_eq!(c.max_connections, 10);
        let c = ServeConfig::resolve(
            &file,
            env(&[
                ("SYNPRINT_REAL_IP_HEADER", "x-real-ip"),
                ("SYNPRINT_MAX_CONNECTIONS", "20"),
            ]),
        )
        .expect("env over file");
        assert_eq!(c.real_ip_header, RealIpHeader::XRealIp);
        assert_eq!(c.max_connections, 20);
        let flags = ServeArgs {
            real_ip_header: Some(RealIpHeader::XForwardedFor),
            max_connections: Some(30),
            ..file
        };
        let c = ServeConfig::resolve(&flags, env(&[("SYNPRINT_MAX_CONNECTIONS", "20")]))
            .expect("flags over env");
        assert_eq!(c.real_ip_header, RealIpHeader::XForwardedFor);
        assert_eq!(c.max_connections, 30);
    }

    /// The capture filter from each layer, over the one below; refused
    /// without an interface and when it does not parse, naming where it
    /// came from; zardaxt's `pcap_filter` is one where it parses.
    #[test]
    fn the_capture_filter_from_each_layer() {
        let text = |c: &ServeConfig| c.capture_filter.as_ref().map(|f| f.to_string());
        let (_d, file) = with_config(
            "c.toml",
            "interfaces = [\"eth1\"]\ncapture_filter = \"port 443\"\n",
        );
        let c = ServeConfig::resolve(&file, env(&[])).expect("file");
        assert_eq!(text(&c).as_deref(), Some("port 443"));
        let vars = [("SYNPRINT_CAPTURE_FILTER", "ip6")];
        let c = ServeConfig::resolve(&file, env(&vars)).expect("env over file");
        assert_eq!(text(&c).as_deref(), Some("ip6"));
        let flag = ServeArgs {
            capture_filter: Some(Filter::parse("net 10").expect("filter")),
            ..file.clone()
        };
        let c = ServeConfig::resolve(&flag, env(&vars)).expect("flag over env");
        assert_eq!(text(&c).as_deref(), Some("net 10"));

        let bad = [("SYNPRINT_CAPTURE_FILTER", "port http")];
        let e = ServeConfig::resolve(&file, env(&bad))
            .expect_err("bad")
            .to_string();
        assert!(
            e.contains("SYNPRINT_CAPTURE_FILTER") && e.contains("a port number"),
            "{e}"
        );
        let (_d2, alone) = with_config("c.toml", "capture_filter = \"port 443\"\n");
        let e = refusal(&alone, &[]);
        assert!(
            e.contains("capture_filter") && e.contains("none are configured"),
            "{e}"
        );
        let (_d4, z_alone) = with_config("z.json", r#"{"pcap_filter": "tcp port 443"}"#);
        let e = refusal(&z_alone, &[]);
        assert!(e.contains("zardaxt's `pcap_filter`"), "{e}");

        let (_d3, z) = with_config(
            "zardaxt.json",
            r#"{"interface": "en0", "pcap_filter": "tcp port 443"}"#,
        );
        let c = ServeConfig::resolve(&z, env(&[])).expect("zardaxt.json");
        assert_eq!(text(&c).as_deref(), Some("tcp port 443"));
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    /// The capture's switches, promiscuous mode and tunnels: off unless
    /// asked for, from any layer; a flag can only turn one on.
    #[test]
    fn capture_switches_from_each_layer() {
        type Switch = (ConfigKey, fn(&mut ServeArgs), fn(&CaptureOptions) -> bool);
        let switches: [Switch; 2] = [
            (
                ConfigKey::Promiscuous,
                |a| a.promiscuous = true,
                |c| c.promiscuous,
            ),
            (
                ConfigKey::CaptureTunnels,
                |a| a.capture_tunnels = true,
                |c| c.tunnels,
            ),
        ];
        let resolve = |args: &ServeArgs, vars: &[(&str, &str)]| {
            ServeConfig::resolve(args, env(vars)).map(|c| c.capture)
        };
        for (key, flag_on, get) in switches {
            let (name, var) = (key.name(), key.env_var());
            let defaults = resolve(&ServeArgs::default(), &[]).expect("defaults");
            assert!(!get(&defaults), "{name}");
            let (_d, file) = with_config(
                "c.toml",
                &format!("interfaces = [\"eth1\"]\n{name} = true\n"),
            );
            assert!(get(&resolve(&file, &[]).expect("file")), "{name}");
            let c = resolve(&file, &[(&var, "false")]).expect("env over file");
            assert!(!get(&c), "{name}");
            let mut flag = ServeArgs {
                interface: vec!["eth1".into()],
                ..Default::default()
            };
            flag_on(&mut flag);
            let c = resolve(&flag, &[(&var, "false")]).expect("flag over env");
            assert!(get(&c), "{name}");
            let e = resolve(&flag, &[(&var, "1")])
                .expect_err("not a boolean")
                .to_string();
            assert!(e.contains(&var), "{e}");
        }
    }

    #[test]
    fn zardaxt_json_is_accepted() {
        let (_d, p) = write(
            "zardaxt.json",
            r#"{"interface": "en0", "api_server_ip": "::", "api_server_port": 8249,
               "verbose": false, "api_key": "abcd1234",
               "pcap_filter": "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0",
               "store_fingerprints": false, "write_after": 1000,
               "clear_dict_after": 5000, "enable_uptime_interpolation": false}"#,
        );
        let c = ServeConfig::resolve(
            &ServeArgs {
                config: Some(p.clone()),
                ..Default::default()
            },
            env(&[]),
        )
        .expect("zardaxt.json");
        assert_eq!(c.interfaces, vec!["en0".to_string()]);
        assert_eq!(
            c.listen,
            vec!["[::]:8249".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!(c.store.max_ips, 5000);
        assert!(c.api_key.as_ref().is_some_and(|k| k.matches("abcd1234")));
        // The filter is not applied, and serve says so at start.
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(
            c.notes[0].contains("`pcap_filter` is not applied"),
            "{:?}",
            c.notes
        );
        assert!(
            c.notes[0].starts_with(&p.display().to_string()),
            "{:?}",
            c.notes
        );
        // A filter that narrows more than the flags is refused rather
        // than dropped whole, which would widen the capture.
        for narrowing in [
            "tcp dst port 443 and tcp[tcpflags] & tcp-syn != 0",
            "ip and tcp[13] & 2 != 0",
            "tcp[2:2] = 443",
            // Port 443 as bytes, beside a flags test.
            "tcp[2] = 1 and tcp[3] = 187 and tcp[13] & 2 != 0",
            "tcp[14] = 255",
            "tcp port 443 and greater 60",
        ] {
            let (_d4, p4) = write("n.json", &format!(r#"{{"pcap_filter": "{narrowing}"}}"#));
            let args = ServeArgs {
                config: Some(p4),
                ..Default::default()
            };
            let e = refusal(&args, &[]);
            assert!(
                e.contains("`pcap_filter`") && e.contains("without them"),
                "{e}"
            );
        }
        for flags_only in [
            "tcp[13] & 0x02 != 0",
            "tcp[tcpflags] & tcp-syn != 0 and not tcp[tcpflags] & tcp-ack != 0",
            "tcp[ 13 : 1 ] & (tcp-syn|tcp-ack) != 0",
        ] {
            let text = format!(r#"{{"pcap_filter": "{flags_only}"}}"#);
            let (_d4, p4) = write("f.json", &text);
            let args = ServeArgs {
                config: Some(p4),
                ..Default::default()
            };
            let notes = ServeConfig::resolve(&args, env(&[]))
                .expect(flags_only)
                .notes;
            assert_eq!(notes.len(), 1, "{flags_only}: {notes:?}");
        }
        let (_d3, empty_filter) = write("z.json", r#"{"pcap_filter": ""}"#);
        let args = ServeArgs {
            config: Some(empty_filter),
            ..Default::default()
        };
        assert_eq!(
            ServeConfig::resolve(&args, env(&[])).expect("json").notes,
            Vec::<String>::new()
        );
        // The same file under another name is still read as JSON.
        let text = std::fs::read_to_string(&p).expect("read");
        let (_d2, renamed) = write("zardaxt.conf", &text);
        let args = ServeArgs {
            config: Some(renamed),
            ..Default::default()
        };
        let c2 = ServeConfig::resolve(&args, env(&[])).expect("JSON by its brace");
        assert_eq!(c2.interfaces, c.interfaces);
    }

    /// A setting given twice in a JSON file, under one name or under two
    /// (zardaxt's `interface` and synprint's `interfaces`), is refused:
    /// the one read last would otherwise win without a word (here, no
    /// capture at all, or 10/8 trusted after all). A byte-order mark is
    /// read past, in either format.
    #[test]
    fn a_setting_given_twice_is_refused() {
        for (text, names) in [
            (
                r#"{"interface": "lo", "interfaces": []}"#,
                ["interface", "interfaces"],
            ),
            (
                r#"{"trusted_proxies": [], "trusted_proxy": "10.0.0.0/8"}"#,
                ["trusted_proxies", "trusted_proxy"],
            ),
            (
                r#"{"clear_dict_after": 5, "store_max_ips": 6}"#,
                ["clear_dict_after", "store_max_ips"],
            ),
            (r#"{"api_key": "a", "api_key": "b"}"#, ["api_key", "twice"]),
            (
                r#"{"listen": ["127.0.0.1:1"], "api_server_port": 2}"#,
                ["listen", "api_server_port"],
            ),
        ] {
            let (_d, args) = with_config("z.json", text);
            let e = ServeConfig::resolve(&args, env(&[]))
                .expect_err(text)
                .to_string();
            assert!(names.iter().all(|n| e.contains(n)), "{text}: {e}");
        }
        for (name, text) in [
            ("b.json", "\u{feff}{\"store_per_ip\": 3}"),
            ("b.toml", "\u{feff}store_per_ip = 3\n"),
        ] {
            let (_d, args) = with_config(name, text);
            let c = ServeConfig::resolve(&args, env(&[])).expect(name);
            assert_eq!(c.store.per_ip, 3);
        }
    }

    /// A TOML syntax error is one line naming where it is.
    #[test]
    fn toml_syntax_errors_are_one_line() {
        let (_d, args) = with_config("a.toml", "api_key = \"k\"\nlisten = [\n");
        let e = refusal(&args, &[]);
        assert!(!e.trim_end().contains('\n'), "{e}");
        assert!(e.contains("is not valid TOML: line 2, column"), "{e}");
    }

    /// A config path to something endless is refused at the bound.
    #[test]
    fn endless_config_files_are_refused() {
        let args = ServeArgs {
            config: Some("/dev/zero".into()),
            ..Default::default()
        };
        let e = ServeConfig::resolve(&args, env(&[])).expect_err("endless");
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        let (_d, args) = with_config("a.toml", &"# comment\n".repeat(100_000));
        ServeConfig::resolve(&args, env(&[])).expect("a large file under the bound");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("a.toml", "listen = [\"nope\"]\n", "`listen`"),
            ("a.toml", "listen = []\n", "`listen`: is empty"),
            ("a.toml", "colour = 1\n", "`colour`"),
            ("a.toml", "store_per_ip = -1\n", "`store_per_ip`"),
            (
                "a.toml",
                "trusted_proxies = [\"10.0.0.0/99\"]\n",
                "`trusted_proxies`",
            ),
            (
                "a.json",
                "{\"api_server_port\": 70000}",
                "`api_server_port`: 70000 is not a whole number from 0 to 65535",
            ),
            (
                "a.toml",
                "store_per_ip = -1\n",
                "`store_per_ip`: -1 is not a whole number from 1 to",
            ),
            (
                "a.toml",
                "max_connections = \"10\"\n",
                "`max_connections`: \"10\" is not a whole number from 1 to 1048576",
            ),
            ("a.toml", "api_key = \" \"\n", "`api_key`"),
            (
                "a.toml",
                "listen = [\"127.0.0.1:1\", \"[::1]:2\", \"127.0.0.1:1\"]\n",
                "127.0.0.1:1 is listed twice",
            ),
            (
                "a.toml",
                "interfaces = [\"lo\", \"eth0\", \"lo\"]\n",
                "lo is listed twice",
            ),
            (
                "a.toml",
                "interfaces = [\"eth1\", \"any\"]\n",
                "`any` captures every interface already",
            ),
            ("a.toml", "store_ttl_secs = 0\n", "`store_ttl_secs`"),
            (
                "a.toml",
                "promiscuous = \"yes\"\n",
                "expected true or false",
            ),
            ("a.toml", "promiscuous = true\n", "none are configured"),
            ("a.toml", "capture_port = 443\n", "`capture_port`"),
            ("a.toml", "capture_tunnels = true\n", "`capture_tunnels`"),
            (
                "a.toml",
                "interfaces = [\"any\"]\npromiscuous = true\n",
                "cannot be made promiscuous",
            ),
            ("a.toml", "max_connections = 0\n", "`max_connections`"),
            (
                "a.toml",
                "max_connections = 100000000\n",
                "from 1 to 1048576",
            ),
            (
                "a.toml",
                "real_ip_header = \"Forwarded\"\n",
                "`real_ip_header`",
            ),
        ];
        for (name, text, key) in cases {
            let (_d, args) = with_config(name, text);
            let e = ServeConfig::resolve(&args, env(&[]))
                .expect_err(text)
                .to_string();
            assert!(e.contains(key), "{e}");
        }
        // Values checked on their own name where they came from: the file,
        // the variable, or the flag.
        for text in [
            "max_connections = 0\n",
            "store_ttl_secs = 0\n",
            "api_key = \"\"\n",
        ] {
            let (dir, args) = with_config("z.toml", text);
            let e = ServeConfig::resolve(&args, env(&[]))
                .expect_err(text)
                .to_string();
            let file = dir.path().join("z.toml").display().to_string();
            assert!(e.starts_with(&format!("{file}: invalid value")), "{e}");
        }
        for (var, value) in [
            ("SYNPRINT_MAX_CONNECTIONS", "0"),
            ("SYNPRINT_STORE_TTL_SECS", "0"),
            ("SYNPRINT_STORE_PER_IP", "0"),
            ("SYNPRINT_INTERFACES", "lo,lo"),
            ("SYNPRINT_CAPTURE_PORT", "+443"),
        ] {
            let e = ServeConfig::resolve(&ServeArgs::default(), env(&[(var, value)]))
                .expect_err(var)
                .to_string();
            assert!(
                e.starts_with(&format!("environment: invalid value for `{var}`")),
                "{e}"
            );
        }
        let flags = ServeArgs {
            store_max_ips: Some(0),
            ..Default::default()
        };
        let e = refusal(&flags, &[]);
        assert!(
            e.starts_with("command line: invalid value for `--store-max-ips`"),
            "{e}"
        );
        let flags = ServeArgs {
            interface: vec!["lo".into(), "any".into()],
            ..Default::default()
        };
        let e = refusal(&flags, &[]);
        assert!(e.contains("`--interface`"), "{e}");
        let e = refusal(&ServeArgs::default(), &[("SYNPRINT_LISTEN", "x:y")]);
        assert!(e.contains("SYNPRINT_LISTEN"), "{e}");
        let (_d, p) = write("a.toml", "listen = [");
        let e = ServeConfig::resolve(
            &ServeArgs {
                config: Some(p),
                ..Default::default()
            },
            env(&[]),
        )
        .expect_err("syntax");
        assert!(matches!(e, ConfigError::Syntax { .. }));
    }

    /// `user` names an account of this system, looked up when the settings
    /// are read: its ids come with it; an unknown or empty name is an error
    /// naming where it was given (a flag, a variable, a file).
    #[test]
    fn user_is_an_existing_account() {
        // The first account of this system that is not root.
        let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
        let (name, uid) = passwd
            .lines()
            .filter_map(|l| {
                let mut fields = l.split(':');
                Some((fields.next()?, fields.nth(1)?.parse::<u32>().ok()?))
            })
            .find(|&(_, uid)| uid != 0)
            .expect("an account other than root");
        let (_d, args) = with_config("a.toml", &format!("user = \"{name}\"\n"));
        let c = ServeConfig::resolve(&args, env(&[])).expect("the account exists");
        let account = c.user.expect("a user");
        assert_eq!((account.name.as_str(), account.uid), (name, uid));
        let (_d, root) = with_config("a.toml", "user = \"root\"\n");
        let e = refusal(&root, &[]);
        assert!(
            e.ends_with("`root` is uid 0, which keeps every privilege: name an unprivileged user"),
            "{e}"
        );
        let flagged = ServeArgs {
            user: Some("no-such-user-synprint".into()),
            ..args.clone()
        };
        let e = refusal(&flagged, &[]);
        assert_eq!(
            e,
            "command line: invalid value for `--user`: no user named `no-such-user-synprint` on \
             this system"
        );
        let (_d, args) = with_config("a.toml", "user = \" \"\n");
        let e = refusal(&args, &[]);
        assert!(
            e.ends_with("invalid value for `user`: the user name is empty"),
            "{e}"
        );
        let e = refusal(
            &ServeArgs::default(),
            &[("SYNPRINT_USER", "no-such-user-synprint")],
        );
        assert!(
            e.starts_with("environment: invalid value for `SYNPRINT_USER`"),
            "{e}"
        );
        let c = ServeConfig::resolve(&ServeArgs::default(), env(&[])).expect("defaults");
        assert!(c.user.is_none());
    }

    /// `ALL` lists every setting once, and each is found by its name: a
    /// setting left out would be refused in files and never read from the
    /// environment.
    #[test]
    fn every_setting_is_listed_once() {
        let index = |k: ConfigKey| match k {
            ConfigKey::Listen => 0,
            ConfigKey::ApiKey => 1,
            ConfigKey::TrustedProxies => 2,
            ConfigKey::RealIpHeader => 3,
            ConfigKey::MaxConnections => 4,
            ConfigKey::Interfaces => 5,
            ConfigKey::CapturePort => 6,
            ConfigKey::CaptureFilter => 7,
            ConfigKey::Promiscuous => 8,
            ConfigKey::CaptureTunnels => 9,
            ConfigKey::Model => 10,
            ConfigKey::P0fDb => 11,
            ConfigKey::P0fSocket => 12,
            ConfigKey::StoreMaxIps => 13,
            ConfigKey::StorePerIp => 14,
            ConfigKey::StoreMaxConnections => 15,
            ConfigKey::StoreTtlSecs => 16,
            ConfigKey::User => 17,
        };
        for (i, k) in ConfigKey::ALL.into_iter().enumerate() {
            assert_eq!(index(k), i, "{k:?}");
            assert_eq!(ConfigKey::named(k.name()), Some(k));
        }
    }

    #[test]
    fn key_comparison_and_redaction() {
        let k = ApiKey::new("secret".into()).expect("key");
        assert!(k.matches("secret"));
        assert!(!k.matches("secreT"));
        assert!(!k.matches("secret2"));
        assert!(!k.matches(""));
        assert!(!format!("{k:?}").contains("secret"));
        assert!(ApiKey::new("  ".into()).is_none());
    }
}

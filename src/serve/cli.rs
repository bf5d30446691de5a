use std::net::SocketAddr;
use std::path::PathBuf;

use super::cidr::Cidr;
use super::config::RealIpHeader;

/// `synprint serve`: fingerprint the visitors of a live site and answer per
/// request over HTTP. Flags override `SYNPRINT_*` environment variables,
/// which override the `--config` file.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    after_help = "Each setting can also come from the environment (SYNPRINT_CONFIG, \
    SYNPRINT_LISTEN, SYNPRINT_API_KEY, SYNPRINT_TRUSTED_PROXIES, SYNPRINT_REAL_IP_HEADER, \
    SYNPRINT_MAX_CONNECTIONS, SYNPRINT_INTERFACES, SYNPRINT_CAPTURE_PORT, SYNPRINT_CAPTURE_FILTER, SYNPRINT_PROMISCUOUS, \
    SYNPRINT_CAPTURE_TUNNELS, SYNPRINT_MODEL, SYNPRINT_P0F_DB, SYNPRINT_P0F_SOCKET, \
    SYNPRINT_STORE_MAX_IPS, SYNPRINT_STORE_PER_IP, SYNPRINT_STORE_MAX_CONNECTIONS, \
    SYNPRINT_STORE_TTL_SECS, SYNPRINT_USER) or the --config file: flags override the environment, which \
    overrides the file. docs/serve.md has the details."
)]
pub struct ServeArgs {
    /// Configuration file: TOML, or JSON such as zardaxt's `zardaxt.json` (a `.json` name or a leading `{`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to serve the API on (repeatable). Default `[::]:8249`, dual
    /// stack.
    #[arg(long = "listen", value_name = "ADDR:PORT", value_parser = super::config::listen_addr)]
    pub listen: Vec<SocketAddr>,
    /// API key for the lookup and listing endpoints (no default: without a
    /// key they are off). Prefer SYNPRINT_API_KEY: flags show up in `ps`.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Reverse proxy whose X-Real-IP / X-Forwarded-For is believed
    /// (repeatable; default loopback).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxy: Vec<Cidr>,
    /// The header a trusted proxy names the client in: X-Real-IP (default)
    /// or X-Forwarded-For. Only this one is read.
    #[arg(long, value_name = "HEADER")]
    pub real_ip_header: Option<RealIpHeader>,
    /// Connections served at once (default 4096); a new one takes the slot
    /// of a connection quiet for a second, or waits in the kernel's accept
    /// queue.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Also capture SYNs on this interface (repeatable; `any` for all).
    /// Needs CAP_NET_RAW.
    #[arg(long = "interface", value_name = "NAME")]
    pub interface: Vec<String>,
    /// Capture only SYNs to (and SYN+ACKs from) this server port.
    #[arg(long, value_name = "PORT")]
    pub capture_port: Option<u16>,
    /// With --interface: keep only the SYNs and SYN+ACKs this tcpdump-style
    /// expression keeps (host, net, port, portrange, src/dst, ip/ip6/tcp,
    /// and/or/not; as `analyze --filter`).
    #[arg(long, value_name = "EXPR", value_parser = crate::packet::Filter::parse)]
    pub capture_filter: Option<crate::packet::Filter>,
    /// Put the capture interfaces into promiscuous mode while serving (a
    /// mirror/SPAN port needs it); the kernel undoes it when synprint exits.
    #[arg(long)]
    pub promiscuous: bool,
    /// Also read the SYNs inside tunnels on the capture interfaces (VXLAN,
    /// GRE/ERSPAN, Geneve, IP-in-IP, MPLS, PPPoE, ...): the kernel then
    /// passes every packet of those tunnels.
    #[arg(long)]
    pub capture_tunnels: bool,
    /// A learned classification model (from `synprint learn`).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// A p0f.fp database to use instead of the built-in p0f 3.09b one.
    #[arg(long, value_name = "PATH")]
    pub p0f_db: Option<PathBuf>,
    /// Also answer p0f's query protocol (`p0f -s`) on this Unix socket, so
    /// p0f clients ask synprint about a host unchanged (mode 0660).
    #[arg(long, value_name = "PATH")]
    pub p0f_socket: Option<PathBuf>,
    /// Once the listening, capture and p0f sockets are open, run as this
    /// user (its groups, no capabilities), as p0f -u and tcpdump -Z do. Needs root.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Source addresses remembered (default 100000).
    #[arg(long, value_name = "N")]
    pub store_max_ips: Option<usize>,
    /// Distinct fingerprints remembered per address (default 8).
    #[arg(long, value_name = "N")]
    pub store_per_ip: Option<usize>,
    /// (address, port) pairs remembered for exact lookups (default 100000).
    #[arg(long, value_name = "N")]
    pub store_max_connections: Option<usize>,
    /// Seconds a fingerprint is remembered after it was last seen (default
    /// 3600).
    #[arg(long, value_name = "SECS")]
    pub store_ttl_secs: Option<u64>,
    /// Check the configuration (flags, environment, config file), the model
    /// and the p0f database, print the settings serve would run with, and
    /// exit without serving (status 2 and the error when something is
    /// wrong).
    #[arg(long)]
    pub check: bool,
}

#[cfg(test)]
mod tests {
    use clap::Args;

    use crate::serve::config::ConfigKey;

    /// `serve --help` names every environment variable the configuration
    /// reads.
    #[test]
    fn help_lists_every_environment_variable() {
        let cmd = super::ServeArgs::augment_args(clap::Command::new("serve"));
        let help = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let names = ConfigKey::ALL.map(ConfigKey::env_var);
        for name in names.iter().map(String::as_str).chain(["SYNPRINT_CONFIG"]) {
            assert!(help.contains(name), "{name} missing from serve --help");
        }
    }
}

//! `serve`'s configuration reader on arbitrary input: a config file (TOML,
//! or JSON such as zardaxt.json) or one `SYNPRINT_*` variable's text gives
//! a configuration that keeps its documented bounds, or a typed error;
//! never a panic. A configuration read is also checked as `serve --check`
//! checks it.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use synprint::serve::{self, ServeArgs, ServeConfig};

/// The variables serve reads besides SYNPRINT_CONFIG, as `serve --help`
/// lists them.
const VARIABLES: [&str; 18] = [
    "SYNPRINT_LISTEN",
    "SYNPRINT_API_KEY",
    "SYNPRINT_TRUSTED_PROXIES",
    "SYNPRINT_REAL_IP_HEADER",
    "SYNPRINT_MAX_CONNECTIONS",
    "SYNPRINT_INTERFACES",
    "SYNPRINT_CAPTURE_PORT",
    "SYNPRINT_CAPTURE_FILTER",
    "SYNPRINT_PROMISCUOUS",
    "SYNPRINT_CAPTURE_TUNNELS",
    "SYNPRINT_MODEL",
    "SYNPRINT_P0F_DB",
    "SYNPRINT_P0F_SOCKET",
    "SYNPRINT_STORE_MAX_IPS",
    "SYNPRINT_STORE_PER_IP",
    "SYNPRINT_STORE_MAX_CONNECTIONS",
    "SYNPRINT_STORE_TTL_SECS",
    "SYNPRINT_USER",
];

/// This process's scratch files, one per name (the reader tells JSON from
/// TOML by the name as well as the text).
fn scratch(json: bool) -> &'static PathBuf {
    static PATHS: OnceLock<[PathBuf; 2]> = OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        [
            dir.join(format!("synprint-fuzz-config-{pid}.toml")),
            dir.join(format!("synprint-fuzz-config-{pid}.json")),
        ]
    });
    &paths[usize::from(json)]
}

// The first byte chooses: a variable (0..=17, the rest its text), a
// `.json` file (18) or a `.toml` file (anything else) holding the rest.
fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let mut args = ServeArgs::default();
    let mut variable = None;
    match VARIABLES.get(usize::from(choice)) {
        Some(&name) => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            variable = Some((name, text.to_string()));
        }
        None => {
            let path = scratch(choice == VARIABLES.len() as u8);
            if std::fs::write(path, rest).is_err() {
                return;
            }
            args.config = Some(path.clone());
        }
    }
    let env = |name: &str| {
        variable
            .as_ref()
            .filter(|(n, _)| *n == name)
            .map(|(_, text)| text.clone())
    };
    let config = match ServeConfig::resolve(&args, env) {
        Ok(c) => c,
        Err(e) => {
            // An error names where the value came from: the variable, the
            // file, or the settings together (a capture setting without
            // an interface).
            let message = e.to_string();
            let origin = match (&variable, &args.config) {
                (Some((name, _)), _) => name.to_string(),
                (None, Some(path)) => path.display().to_string(),
                (None, None) => unreachable!("one source is given"),
            };
            assert!(
                message.contains(&origin) || message.contains("configuration"),
                "{message}"
            );
            return;
        }
    };
    assert!(!config.listen.is_empty(), "no listen address: {config:?}");
    assert!(
        (1..=1 << 20).contains(&config.max_connections),
        "{config:?}"
    );
    let store = &config.store;
    assert!(store.max_ips >= 1 && store.per_ip >= 1 && store.max_connections >= 1);
    assert!(store.ttl_ns >= 1_000_000_000, "{config:?}");
    if config.interfaces.is_empty() {
        // Capture settings without a capture are refused, not ignored.
        assert!(config.capture.port.is_none() && config.capture_filter.is_none());
        assert!(!config.capture.promiscuous && !config.capture.tunnels);
    }
    if let (Some(key), Some(("SYNPRINT_API_KEY", text))) = (&config.api_key, &variable) {
        assert!(key.matches(text.trim()), "the key is not the variable's");
    }
    let _ = serve::check(&config);
});

//! User-Agent → OS class, with the `ua-parser` crate and uap-core's standard
//! OS and device regex sets (shipped as `data/uap-os-regexes.json` and
//! `data/uap-device-regexes.json`, Apache-2.0, see `data/uap-core.NOTICE`).
//!
//! The regexes compile once, on first use (tens of milliseconds; the whole
//! device set, about 80 ms, only when a User-Agent looks like a crawler's);
//! parsing a User-Agent is then a prefiltered regex match, a few
//! microseconds. This runs per labelled row or per API request, never per
//! packet.

use std::sync::OnceLock;

use serde::Deserialize;
use ua_parser::{device, os};

use super::classes::Os;

const OS_REGEXES: &str = include_str!("../../data/uap-os-regexes.json");
const DEVICE_REGEXES: &str = include_str!("../../data/uap-device-regexes.json");

#[derive(Deserialize)]
struct OsSection {
    os_parsers: Vec<os::Parser<'static>>,
}

#[derive(Deserialize)]
struct DeviceSection {
    device_parsers: Vec<device::Parser<'static>>,
}

/// The User-Agent regex set could not be loaded (a broken data file: a
/// build defect, reported rather than panicking).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("User-Agent regex set (data/uap-{0}-regexes.json): {1}")]
pub struct UaParserError(&'static str, String);

type Built<T> = Result<T, UaParserError>;

/// The error of a data file (`set`: `os` or `device`) that does not load.
fn bad(set: &'static str) -> impl Fn(&str, &dyn std::fmt::Display) -> UaParserError {
    move |what, e| UaParserError(set, format!("{what}: {e}"))
}

fn extractor() -> Built<&'static os::Extractor<'static>> {
    static EXTRACTOR: OnceLock<Built<os::Extractor<'static>>> = OnceLock::new();
    EXTRACTOR
        .get_or_init(|| {
            let bad = bad("os");
            let section: OsSection =
                serde_json::from_str(OS_REGEXES).map_err(|e| bad("invalid JSON", &e))?;
            os::Builder::new()
                .push_all(section.os_parsers)
                .map_err(|e| bad("bad regex", &e))?
                .build()
                .map_err(|e| bad("cannot build matcher", &e))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// uap-core's name for the device of a declared crawler.
const SPIDER: &str = "Spider";

/// A device extractor over uap-core's device parsers, in order; with
/// `spiders_only`, over those naming [`SPIDER`] alone.
fn devices(spiders_only: bool) -> Built<device::Extractor<'static>> {
    let bad = bad("device");
    let section: DeviceSection =
        serde_json::from_str(DEVICE_REGEXES).map_err(|e| bad("invalid JSON", &e))?;
    let parsers = section
        .device_parsers
        .into_iter()
        .filter(|p| !spiders_only || p.device_replacement.as_deref() == Some(SPIDER));
    device::Builder::new()
        .push_all(parsers)
        .map_err(|e| bad("bad regex", &e))?
        .build()
        .map_err(|e| bad("cannot build matcher", &e))
}

/// Whether the User-Agent is a declared crawler's: it names itself one
/// ([`names_itself_crawler`]), or uap-core takes it for one (its device is
/// `Spider`). Googlebot's smartphone crawler says Android,
/// Applebot macOS, bingbot Windows, none of them the OS of the stack that
/// sends their SYNs. The few crawler patterns decide first; only a User-Agent
/// one of them matches goes through the whole ordered device set, whose
/// first match is the answer (a Kindle's `Silk` browser matches the generic
/// crawler pattern, but a device rule before it).
fn declared_crawler(ua: &str) -> Result<bool, UaParserError> {
    if names_itself_crawler(ua) {
        return Ok(true);
    }
    static SPIDERS: OnceLock<Built<device::Extractor<'static>>> = OnceLock::new();
    static ALL: OnceLock<Built<device::Extractor<'static>>> = OnceLock::new();
    let spiders = SPIDERS
        .get_or_init(|| devices(true))
        .as_ref()
        .map_err(Clone::clone)?;
    if spiders.extract(ua).is_none() {
        return Ok(false);
    }
    let all = ALL
        .get_or_init(|| devices(false))
        .as_ref()
        .map_err(Clone::clone)?;
    Ok(all.extract(ua).is_some_and(|d| d.device == SPIDER))
}

/// Whether a `compatible;` comment names the agent as a crawler (`(compatible;
/// Bytespider; …)`, `(compatible; AhrefsBot/7.0; …)`): the convention
/// crawlers declare themselves by. uap-core's ordered device rules can miss
/// it: Bytespider's mobile User-Agent meets a generic Android phone rule
/// first, so without this it reads as an Android browser, and its
/// datacenter SYNs would be learned as Android and flagged as mismatches.
fn names_itself_crawler(ua: &str) -> bool {
    let ua = ua.to_ascii_lowercase();
    ua.match_indices("compatible;").any(|(at, mark)| {
        let name = ua[at + mark.len()..]
            .trim_start()
            .split([';', ')', '/', ' ', '+'])
            .next()
            .unwrap_or_default();
        // A part of the name ends in the word (`Googlebot`,
        // `DuckDuckBot-Https`, `Baiduspider`), so a name merely holding the
        // letters (`Abbott`) is no crawler's.
        name.split(['-', '_', '.']).any(|part| {
            ["bot", "spider", "crawler"]
                .iter()
                .any(|word| part.ends_with(word))
        })
    })
}

/// The bytes of a User-Agent that are parsed. Browsers' are 100 to 300
/// bytes, with the platform near the start; past that, a crafted one made
/// the device parsers fall back to the regex crate's slowest engine at
/// about 1 µs a byte (70 ms of a server thread for a 60 KB header, asked
/// by anyone without a key).
pub const MAX_USER_AGENT: usize = 512;

/// `text` cut to at most `max` bytes, at a character boundary.
fn head(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a User-Agent says of the OS that sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UaReading {
    /// It names this class.
    Os(Os),
    /// A declared crawler's (uap-core's `Spider` device, or a `compatible;`
    /// comment naming a bot, spider or crawler): whatever OS it
    /// names is the device it emulates, not the stack that sends its SYNs.
    Crawler,
    /// It names none of synprint's classes (curl, TVs, unknown strings) in
    /// the bytes read; `cut`: it is longer than [`MAX_USER_AGENT`], of which
    /// only the first bytes were read.
    NoOs { cut: bool },
}

impl UaReading {
    /// The OS a browser's User-Agent names; `None` for a crawler's or one
    /// that names none.
    pub fn os(self) -> Option<Os> {
        match self {
            UaReading::Os(os) => Some(os),
            UaReading::Crawler | UaReading::NoOs { .. } => None,
        }
    }
}

/// Reads a User-Agent: the OS it names, unless it is a declared crawler's.
///
/// Chrome's reduced User-Agent still names the platform (`Windows NT 10.0`,
/// `Macintosh; Intel Mac OS X 10_15_7`, `Linux; Android 10; K`, `X11;
/// Linux x86_64`, `X11; CrOS x86_64 14541.0.0`), which is all this needs.
/// iPadOS in desktop mode claims to be a Mac: the label is then `macOS`,
/// as any User-Agent-based label would be. Only the first
/// `MAX_USER_AGENT` (512) bytes are read.
pub fn read_user_agent(ua: &str) -> Result<UaReading, UaParserError> {
    let cut = ua.len() > MAX_USER_AGENT;
    let ua = head(ua, MAX_USER_AGENT);
    if declared_crawler(ua)? {
        return Ok(UaReading::Crawler);
    }
    let ex = extractor()?;
    Ok(
        match ex.extract(ua).and_then(|v| os_from_uap_family(&v.os)) {
            Some(os) => UaReading::Os(os),
            None => UaReading::NoOs { cut },
        },
    )
}

/// The OS a User-Agent names, or `None` when it names none of synprint's
/// classes or is a declared crawler's ([`read_user_agent`]).
pub fn os_from_user_agent(ua: &str) -> Result<Option<Os>, UaParserError> {
    read_user_agent(ua).map(UaReading::os)
}

/// uap-core's OS family names and synprint's classes (Windows Phone has
/// none: it is not the desktop stack).
const UAP_FAMILIES: &[(&str, Os)] = &[
    ("Windows", Os::Windows),
    ("Mac OS X", Os::MacOs),
    ("macOS", Os::MacOs),
    ("iOS", Os::Ios),
    ("iPadOS", Os::Ios),
    ("Android", Os::Android),
    ("Chrome OS", Os::ChromeOs),
    ("Chromium OS", Os::ChromeOs),
    ("FreeBSD", Os::FreeBsd),
    ("OpenBSD", Os::OpenBsd),
    ("Linux", Os::Linux),
    ("Ubuntu", Os::Linux),
    ("Kubuntu", Os::Linux),
    ("Xubuntu", Os::Linux),
    ("Lubuntu", Os::Linux),
    ("Debian", Os::Linux),
    ("Fedora", Os::Linux),
    ("Red Hat", Os::Linux),
    ("SUSE", Os::Linux),
    ("openSUSE", Os::Linux),
    ("Mint", Os::Linux),
    ("Linux Mint", Os::Linux),
    ("Arch Linux", Os::Linux),
    ("Gentoo", Os::Linux),
    ("CentOS", Os::Linux),
    ("Slackware", Os::Linux),
    ("Mandriva", Os::Linux),
    ("PCLinuxOS", Os::Linux),
    ("Mageia", Os::Linux),
    ("elementary OS", Os::Linux),
    ("Manjaro", Os::Linux),
    ("Puppy", Os::Linux),
    ("BackTrack", Os::Linux),
];

/// OS families uap-core names that no synprint class stands for: TV,
/// watch, feature-phone and other mobile systems, Solaris, NetBSD. (Their
/// Linux-based ones are not desktop Linux's stack as shipped.)
const UAP_WITHOUT_CLASS: &[&str] = &[
    "ATV OS X",
    "tvOS",
    "WatchOS",
    "BlackBerry OS",
    "BlackBerry Tablet OS",
    "Brew MP",
    "BREW",
    "Bada",
    "Chromecast Android",
    "Chromecast Fuchsia",
    "Chromecast Linux",
    "Chromecast SmartSpeaker",
    "FireHbbTV",
    "Firefox OS",
    "GoogleTV",
    "HarmonyOS",
    "KaiOS",
    "Kindle",
    "Maemo",
    "MeeGo",
    "NetBSD",
    "Nokia Series 30 Plus",
    "Nokia Series 40",
    "Roku",
    "Sailfish",
    "SerenityOS",
    "Solaris",
    "Symbian OS",
    "Symbian^3",
    "Symbian^3 Anna",
    "Symbian^3 Belle",
    "Tizen",
    "VRE",
    "Web0S",
    "WebTV",
    "webOS",
    "WeTab",
    "Windows Mobile",
    "Windows Phone",
];

/// Whether a label names an OS uap-core knows and synprint has no class
/// for, versions after it allowed (`KaiOS 2.5`, `Windows Phone 8.1`): a
/// labels file's row naming one is unused, not an error. Only words that
/// start with a digit are dropped: `Kindle Fire` (an Android tablet) or
/// `Samsung Androd` stays an error.
pub fn names_os_without_class(label: &str) -> bool {
    let mut t = label.trim();
    // Longer than any name in the list plus a few words of version.
    if t.len() > 64 {
        return false;
    }
    loop {
        if UAP_WITHOUT_CLASS.iter().any(|n| n.eq_ignore_ascii_case(t)) {
            return true;
        }
        match t.rsplit_once(char::is_whitespace) {
            Some((head, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
                t = head.trim_end();
            }
            _ => return false,
        }
    }
}

/// Maps uap-core's OS family names to synprint's classes, in any case.
pub fn os_from_uap_family(family: &str) -> Option<Os> {
    UAP_FAMILIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(family))
        .map(|&(_, os)| os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_of_each_platform() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", Some(Os::Windows)),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", Some(Os::MacOs)),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.3 Mobile/15E148 Safari/604.1", Some(Os::Ios)),
            ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", Some(Os::Android)),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", Some(Os::Linux)),
            ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", Some(Os::Linux)),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", Some(Os::ChromeOs)),
            ("curl/8.5.0", None),
            ("", None),
            // Declared crawlers name the device they emulate, not their own
            // stack; a browser that only looks like one to the generic
            // crawler pattern (a Kindle's Silk) is still a browser.
            ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", None),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.0 Mobile/15E148 Safari/604.1 (compatible; YandexMobileBot/3.0; +http://yandex.com/bots)", None),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot", None),
            ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36", None),
            ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36", Some(Os::Android)),
            // uap-core's device rules read this one as an Android phone;
            // its `compatible;` comment says what it is.
            ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", None),
            ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", None),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)", None),
            // `compatible;` alone is no crawler's mark: old browsers wrote it.
            ("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)", Some(Os::Windows)),
            ("Mozilla/5.0 (compatible; Konqueror/4.5; FreeBSD) KHTML/4.5.4 (like Gecko)", Some(Os::FreeBsd)),
        ];
        for (ua, want) in cases {
            assert_eq!(os_from_user_agent(ua), Ok(want), "{ua}");
        }
        // A name that only holds the letters is none of synprint's
        // crawler marks (uap-core's own patterns may still take it).
        assert!(!names_itself_crawler(
            "Mozilla/5.0 (compatible; Abbott/2.0)"
        ));
        assert!(names_itself_crawler(
            "Mozilla/5.0 (compatible; Googlebot/2.1)"
        ));
    }

    /// Only the head of a User-Agent is parsed: a crawler token 100 KB in
    /// is not read (reading it took the slowest regex engine ~0.1 s), and
    /// a cut inside a multi-byte character is no error.
    #[test]
    fn only_the_head_is_parsed() {
        let padded = |pad: &str| {
            format!(
                "Mozilla/5.0 (Linux; Android 10) {pad} \
                 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
            )
        };
        let short = padded("a");
        assert_eq!(read_user_agent(&short), Ok(UaReading::Crawler));
        let long = padded(&"a".repeat(100_000));
        assert_eq!(read_user_agent(&long), Ok(UaReading::Os(Os::Android)));
        let wide = padded(&"é".repeat(MAX_USER_AGENT));
        assert_eq!(os_from_user_agent(&wide), Ok(Some(Os::Android)));
        // The platform past the bytes read: said to be cut, not absent.
        let late = format!(
            "{} (Windows NT 10.0; Win64; x64)",
            "x".repeat(MAX_USER_AGENT)
        );
        assert_eq!(read_user_agent(&late), Ok(UaReading::NoOs { cut: true }));
        assert_eq!(
            read_user_agent("curl/8.5.0"),
            Ok(UaReading::NoOs { cut: false })
        );
        // A crawler that names no OS is a crawler still.
        let bingbot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; \
                       bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36";
        assert_eq!(read_user_agent(bingbot), Ok(UaReading::Crawler));
    }
}

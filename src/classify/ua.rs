//! User-Agent → OS class, with the `ua-parser` crate and uap-core's standard
//! OS regex set (shipped as `data/uap-os-regexes.json`, Apache-2.0, see
//! `data/uap-os-regexes.NOTICE`).
//!
//! The regexes compile once, on first use (tens of milliseconds); parsing a
//! User-Agent is then a prefiltered regex match. This runs per labelled row
//! or per API request, never per packet.

use std::sync::OnceLock;

use serde::Deserialize;
use ua_parser::os;

use super::classes::Os;

const OS_REGEXES: &str = include_str!("../../data/uap-os-regexes.json");

#[derive(Deserialize)]
struct OsSection {
    os_parsers: Vec<os::Parser<'static>>,
}

/// The User-Agent regex set could not be loaded (a broken data file: a
/// build defect, reported rather than panicking).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("User-Agent regex set (data/uap-os-regexes.json): {0}")]
pub struct UaParserError(String);

fn extractor() -> Result<&'static os::Extractor<'static>, UaParserError> {
    static EXTRACTOR: OnceLock<Result<os::Extractor<'static>, UaParserError>> = OnceLock::new();
    EXTRACTOR
        .get_or_init(|| {
            let section: OsSection = serde_json::from_str(OS_REGEXES)
                .map_err(|e| UaParserError(format!("invalid JSON: {e}")))?;
            os::Builder::new()
                .push_all(section.os_parsers)
                .map_err(|e| UaParserError(format!("bad regex: {e}")))?
                .build()
                .map_err(|e| UaParserError(format!("cannot build matcher: {e}")))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The OS a User-Agent names, or `None` when it names none of synprint's
/// classes (bots, TVs, unknown strings).
///
/// Chrome's reduced User-Agent still names the platform (`Windows NT 10.0`,
/// `Macintosh; Intel Mac OS X 10_15_7`, `Linux; Android 10; K`, `X11;
/// Linux x86_64`, `X11; CrOS x86_64 14541.0.0`), which is all this needs.
/// iPadOS in desktop mode claims to be a Mac: the label is then `macOS`,
/// as any User-Agent-based label would be.
pub fn os_from_user_agent(ua: &str) -> Result<Option<Os>, UaParserError> {
    let ex = extractor()?;
    let Some(v) = ex.extract(ua) else {
        return Ok(None);
    };
    Ok(os_from_uap_family(&v.os))
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
];

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
        ];
        for (ua, want) in cases {
            assert_eq!(os_from_user_agent(ua), Ok(want), "{ua}");
        }
    }
}

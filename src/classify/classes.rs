//! The answer space: operating systems and the stack families they belong to.

use std::fmt;
use std::str::FromStr;

/// An operating system class. `Unknown` is a real class of the model ("none
/// of the stacks below"), not a missing value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Os {
    Windows,
    MacOs,
    Ios,
    Android,
    Linux,
    ChromeOs,
    FreeBsd,
    OpenBsd,
    Embedded,
    Unknown,
}

/// Number of [`Os`] classes; score arrays are indexed by [`Os::index`].
pub const N_OS: usize = 10;

impl Os {
    pub const ALL: [Os; N_OS] = [
        Os::Windows,
        Os::MacOs,
        Os::Ios,
        Os::Android,
        Os::Linux,
        Os::ChromeOs,
        Os::FreeBsd,
        Os::OpenBsd,
        Os::Embedded,
        Os::Unknown,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The contract name used in JSON, model files and label CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Os::Windows => "Windows",
            Os::MacOs => "macOS",
            Os::Ios => "iOS",
            Os::Android => "Android",
            Os::Linux => "Linux",
            Os::ChromeOs => "ChromeOS",
            Os::FreeBsd => "FreeBSD",
            Os::OpenBsd => "OpenBSD",
            Os::Embedded => "embedded",
            Os::Unknown => "unknown",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Os::Windows => Family::Windows,
            Os::MacOs | Os::Ios => Family::Apple,
            Os::Android | Os::Linux | Os::ChromeOs | Os::Embedded => Family::Linux,
            Os::FreeBsd | Os::OpenBsd => Family::Bsd,
            Os::Unknown => Family::Other,
        }
    }

    /// Parses a label as people and tools write it: the contract names, any
    /// case, plus zardaxt's `Mac OS` / `Chromium OS` and a few common
    /// spellings (`Mac OS X`, `iPadOS`, `Chrome OS`).
    pub fn from_label(s: &str) -> Option<Os> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let os = match lower.as_str() {
            "windows" => Os::Windows,
            "macos" | "mac os" | "mac os x" | "macos x" | "osx" | "os x" => Os::MacOs,
            "ios" | "ipados" | "iphone os" => Os::Ios,
            "android" => Os::Android,
            "linux" | "gnu/linux" | "ubuntu" | "debian" | "fedora" => Os::Linux,
            "chromeos" | "chrome os" | "chromium os" | "cros" => Os::ChromeOs,
            "freebsd" => Os::FreeBsd,
            "openbsd" => Os::OpenBsd,
            "embedded" => Os::Embedded,
            // uap-core names what it cannot place `Other`, as synprint
            // names the family of `unknown`.
            "unknown" | "other" => Os::Unknown,
            _ => return None,
        };
        Some(os)
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field as an error message quotes it: whole up to 80 characters, else
/// its start, quoted, and its length outside the quotes (a megabyte-long
/// field makes no one-line error).
pub(crate) fn quoted(s: &str) -> String {
    const SHOWN: usize = 80;
    match s.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], s.len()),
        None => format!("{s:?}"),
    }
}

/// A label that names no known OS: the name quoted as the error shows it
/// (a long one cut short, with its length), and the desktop OS it names a
/// phone, CE, embedded or touch edition of, if that is why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}OS name {name} (expected one of Windows, macOS, iOS, Android, Linux, ChromeOS, FreeBSD, \
     OpenBSD, embedded, unknown)",
    match edition_of {
        Some(os) => format!("a phone, CE, embedded or touch edition of {os} is another stack, not {os}: "),
        None => "unknown ".to_string(),
    }
)]
pub struct UnknownOsName {
    pub name: String,
    pub edition_of: Option<Os>,
}

/// Labels files name the OS as people and tools write it: uap-core's
/// family names (`Mac OS X`, `Chrome OS`, `Arch Linux`), often followed by
/// a version, edition or release name (`Windows NT 10.0`, `Windows 10 Pro
/// N`, `macOS Sonoma 14.1`, `Fedora Linux 39`). Trailing words are dropped
/// until a class is named. A desktop OS's phone, CE, embedded or touch
/// edition (`Windows Phone`, `Windows CE`, `Linux embedded`, `Ubuntu
/// Touch`) is another stack and makes the label an error; of a phone's OS
/// (`Android Mobile`, `iOS 17.4 Mobile`) such a word says nothing more.
impl FromStr for Os {
    type Err = UnknownOsName;
    fn from_str(s: &str) -> Result<Os, UnknownOsName> {
        // Longer than any OS name: not worth lowercasing (a corrupt field
        // of many words would otherwise be lowercased once per word).
        const LONGEST_NAME: usize = 32;
        let name = |t: &str| {
            (t.len() <= LONGEST_NAME)
                .then(|| Os::from_label(t).or_else(|| super::ua::os_from_uap_family(t)))
                .flatten()
        };
        let mut t = s.trim();
        let mut edition = false;
        loop {
            if let Some(os) = name(t) {
                if edition && !matches!(os, Os::Android | Os::Ios) {
                    return Err(UnknownOsName {
                        name: quoted(s),
                        edition_of: Some(os),
                    });
                }
                return Ok(os);
            }
            let (head, last) = t
                .rsplit_once(char::is_whitespace)
                .ok_or_else(|| UnknownOsName {
                    name: quoted(s),
                    edition_of: None,
                })?;
            edition |= names_another_stack(last);
            t = head.trim_end();
        }
    }
}

/// A word after an OS's name that names an edition: a phone, CE/embedded
/// or touch one, another TCP stack for a desktop OS (`Os::from_str`).
fn names_another_stack(word: &str) -> bool {
    const WORDS: &[&str] = &["phone", "mobile", "ce", "compact", "embedded", "touch"];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

impl serde::Serialize for Os {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The level at which TCP stacks truly differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Windows,
    Apple,
    Linux,
    Bsd,
    Other,
}

pub const N_FAMILY: usize = 5;

impl Family {
    pub const ALL: [Family; N_FAMILY] = [
        Family::Windows,
        Family::Apple,
        Family::Linux,
        Family::Bsd,
        Family::Other,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Windows => "Windows",
            Family::Apple => "Apple",
            Family::Linux => "Linux",
            Family::Bsd => "BSD",
            Family::Other => "other",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Family {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for os in Os::ALL {
            assert_eq!(Os::from_label(os.name()), Some(os));
            assert_eq!(os.index(), Os::ALL.iter().position(|&o| o == os).unwrap());
        }
        assert_eq!(Os::from_label("Mac OS"), Some(Os::MacOs));
        assert_eq!(Os::from_label("Chromium OS"), Some(Os::ChromeOs));
        assert_eq!(Os::from_label(" iOS "), Some(Os::Ios));
        assert_eq!(Os::from_label("Other"), Some(Os::Unknown));
        assert_eq!("Other".parse::<Os>(), Ok(Os::Unknown));
        assert_eq!(Os::from_label("Plan 9"), None);
        assert!("Plan 9".parse::<Os>().is_err());
    }

    #[test]
    fn labels_may_carry_a_version() {
        for (label, os) in [
            ("Windows 10", Os::Windows),
            ("Windows 8.1", Os::Windows),
            ("Windows NT 10.0", Os::Windows),
            ("Windows 10 Pro N", Os::Windows),
            ("Windows Server 2022 Datacenter", Os::Windows),
            ("Mac OS X 10.15.7", Os::MacOs),
            ("Mac OS X 10_15", Os::MacOs),
            ("macOS High Sierra", Os::MacOs),
            ("iOS 17.1.2", Os::Ios),
            ("Android  14 ", Os::Android),
            ("Ubuntu 22.04 LTS", Os::Linux),
            ("Fedora Linux 39", Os::Linux),
            ("Debian GNU/Linux 12", Os::Linux),
            ("arch linux", Os::Linux),
            ("Red Hat Enterprise Linux 9", Os::Linux),
            ("Chrome OS Flex", Os::ChromeOs),
            ("Android Mobile", Os::Android),
            ("iOS 17.4 Mobile", Os::Ios),
            ("iPadOS 17 Touch", Os::Ios),
        ] {
            assert_eq!(label.parse::<Os>().ok(), Some(os), "{label}");
        }
        // A desktop OS's phone or embedded edition is another stack, and
        // the model file's class names are not relaxed.
        for label in [
            "Plan 9",
            "Windows Phone 8.1",
            "Windows Mobile 6.5",
            "Windows CE",
            "Windows Embedded Compact 7",
            "Linux embedded",
            "Ubuntu Touch",
            "10",
            "Fire OS 8",
        ] {
            assert!(label.parse::<Os>().is_err(), "{label}");
        }
        // The edition is named as the reason.
        let e = "Windows Mobile 6.5".parse::<Os>().unwrap_err();
        assert_eq!(e.edition_of, Some(Os::Windows));
        assert!(e.to_string().contains("edition of Windows"), "{e}");
        assert_eq!("Plan 9".parse::<Os>().unwrap_err().edition_of, None);
        assert_eq!(Os::from_label("Windows 10"), None);
        // However many words follow (a corrupt field of ten thousand).
        let long = format!("Windows{}", " x".repeat(10_000));
        assert_eq!(long.parse::<Os>(), Ok(Os::Windows));
        assert!(format!("Plan{}", " 9".repeat(10_000))
            .parse::<Os>()
            .is_err());
    }

    #[test]
    fn families_group_stacks() {
        assert_eq!(Os::Ios.family(), Family::Apple);
        assert_eq!(Os::Embedded.family(), Family::Linux);
        assert_eq!(Os::OpenBsd.family(), Family::Bsd);
        assert_eq!(Os::Unknown.family(), Family::Other);
    }
}

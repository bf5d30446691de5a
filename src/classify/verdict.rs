//! The TCP side against the User-Agent the client sent: does the stack
//! contradict the claimed OS, does the MSS say tunnel, how far away is it.

use serde::Serialize;

use super::classes::{Family, Os};
use super::model::Classification;
use super::ua::{read_user_agent, UaParserError, UaReading, MAX_USER_AGENT};
use crate::p0f::Mtu;
use crate::packet::hops;
use crate::packet::{IpVersion, Kind, Observation};

/// `os_mismatch` is true only when the TCP side gives the User-Agent's
/// family a probability below `1 - MISMATCH_THRESHOLD`, i.e. is at least
/// 90% sure the stack belongs to another family. Families, not OSes:
/// macOS/iOS and Android/Linux cannot be told apart reliably from a SYN,
/// so a desktop-mode iPad or Android browser is no mismatch.
pub const MISMATCH_THRESHOLD: f32 = 0.9;

/// `embedded_suspected` needs the stack to be an embedded device's (a
/// router, modem or IoT stack) with at least this probability, under a
/// browser OS's claim: the classifier's answer is then `embedded`.
pub const EMBEDDED_THRESHOLD: f32 = 0.5;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The OS the User-Agent names (`null` when none of synprint's classes).
    pub ua_os: Option<Os>,
    pub ua_family: Option<Family>,
    /// The User-Agent declares a crawler (uap-core's `Spider` device):
    /// whatever OS it names is the device it emulates, not its own stack,
    /// so `ua_os` is `null` and there is no mismatch judgement.
    pub ua_crawler: bool,
    /// `null` when either side is unknown.
    pub os_mismatch: Option<bool>,
    /// The MSS is below what a direct Ethernet path gives (1460 over IPv4,
    /// 1440 over IPv6): a VPN, PPPoE, IPsec or other tunnel lowered it.
    /// Not IPv4's default 536, which stacks send without reading their
    /// link's MTU.
    pub tunnel_suspected: bool,
    /// The SYN's stack is an embedded device's (router, modem, IoT) with
    /// probability [`EMBEDDED_THRESHOLD`] or more while the claim names a
    /// browser's OS: such a device may have opened the connection for the
    /// client (residential proxies run on them), whatever the family says:
    /// embedded Linux is family Linux, so under an Android claim
    /// `os_mismatch` is false.
    pub embedded_suspected: bool,
    /// A client SYN from initial TTL 255 whose fields fit no client stack:
    /// a proxy, load balancer or other network device built it, so it says
    /// nothing of the client's own stack (`os_mismatch` is null then).
    /// Whatever the claim, none included.
    pub middlebox_suspected: bool,
    /// p0f-style label of the path MTU (MSS + 40 / + 60) when it is not
    /// plain Ethernet.
    pub mtu_link: Option<String>,
    /// Hops between the client and the sensor, from the TTL.
    pub hops: u8,
    pub reasons: Vec<String>,
}

impl Verdict {
    /// Writes the same JSON object as the `Serialize` impl.
    pub fn write_json(&self, j: &mut crate::json::JsonBuf) {
        j.begin_object();
        j.key("ua_os");
        j.opt_str(self.ua_os.map(Os::name));
        j.key("ua_family");
        j.opt_str(self.ua_family.map(Family::name));
        j.key("ua_crawler");
        j.bool(self.ua_crawler);
        j.key("os_mismatch");
        match self.os_mismatch {
            Some(b) => j.bool(b),
            None => j.null(),
        }
        j.key("tunnel_suspected");
        j.bool(self.tunnel_suspected);
        j.key("embedded_suspected");
        j.bool(self.embedded_suspected);
        j.key("middlebox_suspected");
        j.bool(self.middlebox_suspected);
        j.key("mtu_link");
        j.opt_str(self.mtu_link.as_deref());
        j.key("hops");
        j.u64(u64::from(self.hops));
        j.key("reasons");
        j.begin_array();
        for r in &self.reasons {
            j.str(r);
        }
        j.end_array();
        j.end_object();
    }
}

/// A direct Ethernet path's MTU, which tunnels, VPNs and PPPoE lower.
const ETHERNET_MTU: u32 = 1500;

/// IPv4's default path MTU (MSS 536): what a stack that did not read its
/// interface's MTU announces, whatever the path (embedded stacks, old
/// modems' settings), so it says nothing of a tunnel.
const DEFAULT_MTU_V4: u32 = 576;

/// Builds the verdict for a classified SYN and the User-Agent its
/// connection carried.
///
/// `mtu` is the path MTU p0f reports for the SYN and its link label from
/// p0f's MTU table, as the record's `mtu` holds them: the verdict judges
/// the same MTU the record shows, with one table of link labels for the
/// whole program (none where p0f reports none: no MSS, or a SYN p0f takes
/// for a userland tool's).
pub fn verdict(
    c: &Classification,
    user_agent: Option<&str>,
    obs: &Observation,
    mtu: Option<Mtu<'_>>,
) -> Result<Verdict, UaParserError> {
    Ok(match user_agent {
        Some(ua) => verdict_for_user_agent_reading(c, read_user_agent(ua)?, obs, mtu),
        None => judge(c, Claim::Absent, obs, mtu),
    })
}

/// As [`verdict`], for a User-Agent already read (a labels CSV reads each
/// distinct User-Agent once).
pub fn verdict_for_user_agent_reading(
    c: &Classification,
    reading: UaReading,
    obs: &Observation,
    mtu: Option<Mtu<'_>>,
) -> Verdict {
    judge(c, Claim::UserAgent(reading), obs, mtu)
}

/// As [`verdict`], for an OS known otherwise (a labels CSV's `os`
/// column): the reasons name the label, not a User-Agent.
pub fn verdict_for_os(
    c: &Classification,
    os: Option<Os>,
    obs: &Observation,
    mtu: Option<Mtu<'_>>,
) -> Verdict {
    judge(c, Claim::Label(os), obs, mtu)
}

/// The OS claimed, and where it came from, as the reasons name it.
#[derive(Clone, Copy)]
enum Claim {
    /// A labels CSV's `os` column (`None`: it names no known OS).
    Label(Option<Os>),
    /// A User-Agent, read.
    UserAgent(UaReading),
    /// The request sent no User-Agent.
    Absent,
}

/// The verdict on the OS a client claims; `claim` says where the claim
/// came from, in the reasons.
fn judge(c: &Classification, claim: Claim, obs: &Observation, mtu: Option<Mtu<'_>>) -> Verdict {
    let mut reasons = Vec::new();
    let ua_crawler = matches!(claim, Claim::UserAgent(UaReading::Crawler));
    let (ua_os, name) = match claim {
        Claim::Label(os) => (os, "label"),
        Claim::UserAgent(reading) => (reading.os(), "User-Agent"),
        Claim::Absent => (None, "User-Agent"),
    };
    let unjudged = match claim {
        _ if ua_os == Some(Os::Unknown) => format!("{name} says unknown"),
        Claim::UserAgent(UaReading::Crawler) => "User-Agent declares a crawler (the OS it \
                                                 names is the device it emulates, not its \
                                                 own stack)"
            .to_string(),
        Claim::UserAgent(UaReading::NoOs { cut: true }) => format!(
            "User-Agent names no known OS in its first {MAX_USER_AGENT} bytes (the bytes read)"
        ),
        Claim::Absent => "no User-Agent sent".to_string(),
        _ => format!("{name} names no known OS"),
    };
    // `unknown` is no claim to judge.
    let ua_os = ua_os.filter(|&os| os != Os::Unknown);
    let ua_family = ua_os.map(Os::family);
    let tcp_known = c.os != Os::Unknown && c.family != Family::Other;
    // Client SYNs only: a server's SYN+ACK is its own stack's.
    let middlebox_suspected = c.from_middlebox();
    let os_mismatch = match ua_family {
        // A server's answer (an API lookup that found only the address's
        // SYN+ACK) says nothing of the stack the client's browser runs on.
        Some(_) if obs.kind == Kind::SynAck => {
            reasons.push(
                "a server's SYN+ACK, not the client's SYN: no mismatch judgement".to_string(),
            );
            None
        }
        // Its fields are a device's: nothing of the client's stack to
        // judge the claim against.
        Some(_) if middlebox_suspected => {
            reasons.push(format!("{}; no mismatch judgement", middlebox_reason(obs)));
            None
        }
        Some(uf) if tcp_known => {
            let p_ua = c.family_scores.get(uf);
            let mismatch = p_ua < 1.0 - MISMATCH_THRESHOLD;
            if mismatch {
                reasons.push(format!(
                    "{name} says {} ({} family) but the TCP stack is {} family (p={:.3}; p({})={:.3})",
                    ua_os.map_or("?", Os::name),
                    uf,
                    c.family,
                    c.family_confidence(),
                    uf,
                    p_ua
                ));
            } else {
                reasons.push(format!(
                    "{name} family {uf} is consistent with the TCP stack (p={p_ua:.3})"
                ));
            }
            Some(mismatch)
        }
        Some(_) => {
            reasons.push("TCP stack not recognised: no mismatch judgement".into());
            None
        }
        None => {
            reasons.push(format!("{unjudged}: no mismatch judgement"));
            None
        }
    };

    // Said above where there was a claim to judge.
    if middlebox_suspected && ua_family.is_none() {
        reasons.push(middlebox_reason(obs));
    }

    // Browsers run on stacks that start at TTL 64 or 128; 255 is where
    // routers, load balancers and carrier proxies start (and Solaris, and
    // embedded stacks, which claim no browser's OS).
    let browser_os = ua_os.is_some_and(|os| os != Os::Embedded);

    // A device may have opened the connection whatever the family says.
    // Not for a server's SYN+ACK. Nor where a middlebox's fields already
    // say a device built the SYN (its own reason): defensive, as the
    // built-in model's middlebox answers stay below the threshold.
    // Probability 0.5 or more makes `embedded` the answer.
    let p_embedded = c.scores.get(Os::Embedded);
    let embedded_suspected = browser_os
        && obs.kind == Kind::Syn
        && !middlebox_suspected
        && p_embedded >= EMBEDDED_THRESHOLD;
    if embedded_suspected {
        reasons.push(format!(
            "{name} says {} but the TCP stack is an embedded device's (router, modem or IoT; \
             p={p_embedded:.3}): such a device may have opened this connection for the client \
             (a proxy; residential proxy networks run on them)",
            ua_os.map_or("?", Os::name)
        ));
    }
    if browser_os && c.evidence.features.client_from_ttl_255() && !middlebox_suspected {
        reasons.push(match obs.ip_version {
            IpVersion::V4 => "initial TTL 255: no Windows, Apple, Android, desktop Linux or BSD \
                              stack starts there; a network device rewrote the TTL or built \
                              this SYN"
                .into(),
            IpVersion::V6 => "initial hop limit 255: no Windows, Apple, Android, desktop Linux or \
                              BSD stack starts there unless a router advertisement says so; or \
                              a network device rewrote it or built this SYN"
                .into(),
        });
    }

    // p0f's MTU is the MSS plus the IP and TCP headers.
    let overhead = crate::p0f::header_bytes(obs.ip_version);
    let direct = ETHERNET_MTU - overhead;
    let (tunnel_suspected, mtu_link) = match mtu {
        Some(m) if obs.ip_version == IpVersion::V4 && m.raw_mtu == DEFAULT_MTU_V4 => {
            reasons.push(format!(
                "MSS {}: the default a stack sends without its link's MTU (RFC 1122), \
                 not a tunnel's",
                DEFAULT_MTU_V4 - overhead
            ));
            (false, None)
        }
        Some(m) if m.raw_mtu < ETHERNET_MTU => {
            // p0f's table has no label for many tunnel MTUs (and none for
            // mobile networks' odd values).
            let label = m
                .link
                .unwrap_or("unlabelled link: tunnel, VPN or mobile network");
            reasons.push(format!(
                "MSS {} is below {direct} (direct Ethernet): path MTU {}, {label}",
                m.raw_mtu.saturating_sub(overhead),
                m.raw_mtu
            ));
            (true, Some(label.to_string()))
        }
        _ => (false, None),
    };

    let hops = hops(obs.ttl);
    Verdict {
        ua_os,
        ua_family,
        ua_crawler,
        os_mismatch,
        tunnel_suspected,
        embedded_suspected,
        middlebox_suspected,
        mtu_link,
        hops,
        reasons,
    }
}

/// Why a SYN counts as a network device's own.
fn middlebox_reason(obs: &Observation) -> String {
    let ttl = match obs.ip_version {
        IpVersion::V4 => "TTL",
        IpVersion::V6 => "hop limit",
    };
    format!(
        "initial {ttl} 255 and fields like no client stack's: a proxy or network device built \
         this SYN"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testdata::observation;
    use crate::classify::Model;
    use crate::craft::Stack;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    const WINDOWS_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.3 Mobile/15E148 Safari/604.1";

    /// A client's SYN of `stack` to port 443.
    fn packet(stack: Stack, v6: bool) -> crate::craft::TcpPacket {
        let (a, b) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            )
        };
        stack.syn(a, 40000, b, 443, 5)
    }

    fn syn(stack: Stack, v6: bool, ttl_drop: u8) -> Observation {
        let mut p = packet(stack, v6);
        p.ttl -= ttl_drop;
        observation(&p)
    }

    fn judge(obs: &Observation, ua: Option<&str>) -> Verdict {
        let m = Model::builtin().unwrap();
        let db = crate::p0f::Database::builtin();
        verdict(&m.classify(obs, None), ua, obs, db.mtu(obs)).unwrap()
    }

    /// TTL 255 under a browser's User-Agent: a Windows stack's fields are
    /// judged as usual (a network rewrote the TTL), with a warning; a
    /// proxy's fields (they fit no client stack) leave nothing to judge.
    #[test]
    fn a_ttl_255_syn_under_a_browser_user_agent_is_called_a_middlebox() {
        let mut p = packet(Stack::Windows, false);
        p.ttl = 250;
        let says = |v: &Verdict, text: &str| v.reasons.iter().any(|r| r.contains(text));
        let v = judge(&observation(&p), Some(IPHONE_UA));
        assert_eq!(v.os_mismatch, Some(true));
        assert!(!v.middlebox_suspected, "{v:?}");
        assert!(says(&v, "rewrote the TTL"), "{:?}", v.reasons);
        // An embedded device may start at 255: no warning for that claim.
        let obs = observation(&p);
        let c = Model::builtin().unwrap().classify(&obs, None);
        let v = verdict_for_os(&c, Some(Os::Embedded), &obs, None);
        assert!(!says(&v, "TTL 255"), "{:?}", v.reasons);
        // Without a User-Agent there is nothing to explain; a TTL-128 SYN
        // is no middlebox.
        assert!(!says(&judge(&observation(&p), None), "TTL 255"));
        p.ttl = 120;
        assert!(!says(&judge(&observation(&p), Some(WINDOWS_UA)), "TTL 255"));

        (p.ttl, p.window) = (250, 4200);
        p.options = crate::craft::OptionBytes::new()
            .mss(1460)
            .nop()
            .ws(2)
            .sok()
            .eol()
            .pad()
            .0;
        for ua in [Some(IPHONE_UA), Some(WINDOWS_UA), None] {
            let v = judge(&observation(&p), ua);
            assert!(v.middlebox_suspected, "{v:?}");
            assert_eq!(v.os_mismatch, None);
            assert!(
                says(&v, "a proxy or network device built this SYN"),
                "{:?}",
                v.reasons
            );
            assert!(!says(&v, "rewrote the TTL"), "{:?}", v.reasons);
        }
        // A device answering as a server is that server's own stack.
        p.flags |= crate::packet::flags::ACK;
        assert!(!judge(&observation(&p), Some(IPHONE_UA)).middlebox_suspected);
    }

    const ANDROID_UA: &str = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";

    /// One of the router SYNs of mod_tcpfingerprint's botnet example
    /// (window 5808, scale 2, MSS 1452, TTL 64 - 20).
    fn router_syn() -> crate::craft::TcpPacket {
        let mut p = packet(Stack::Linux, false);
        (p.ttl, p.window) = (44, 5808);
        p.options = crate::craft::OptionBytes::new()
            .mss(1452)
            .sok()
            .ts(7, 0)
            .nop()
            .ws(2)
            .0;
        p
    }

    /// An embedded device's SYN under an Android User-Agent is the same
    /// family (no mismatch) but a device, not a phone, opened it.
    #[test]
    fn a_routers_syn_under_a_browsers_user_agent_is_suspected() {
        let says = |v: &Verdict| v.reasons.iter().any(|r| r.contains("embedded device's"));
        let v = judge(&observation(&router_syn()), Some(ANDROID_UA));
        assert!(
            v.reasons
                .iter()
                .any(|r| r.starts_with("User-Agent says Android but the TCP stack is an embedded")),
            "{v:?}"
        );
        assert_eq!(v.os_mismatch, Some(false), "{v:?}");
        assert!(v.embedded_suspected && says(&v), "{v:?}");
        let v = judge(&observation(&router_syn()), Some(WINDOWS_UA));
        assert_eq!(v.os_mismatch, Some(true), "{v:?}");
        assert!(v.embedded_suspected && says(&v), "{v:?}");

        // No claim, a device's own claim, a crawler: nothing to suspect.
        let obs = observation(&router_syn());
        let c = Model::builtin().unwrap().classify(&obs, None);
        let not = |v: Verdict| assert!(!v.embedded_suspected && !says(&v), "{v:?}");
        not(judge(&obs, None));
        not(judge(&obs, Some("curl/8.5.0")));
        not(verdict_for_os(&c, Some(Os::Embedded), &obs, None));
        not(judge(
            &obs,
            Some("Mozilla/5.0 (Linux; Android 13) MyBot/1.0"),
        ));
        // The same device answering as a server: its own fields.
        let mut answer = router_syn();
        answer.flags |= crate::packet::flags::ACK;
        let obs = observation(&answer);
        let c = Model::builtin().unwrap().classify(&obs, None);
        assert!(c.scores.get(Os::Embedded) >= EMBEDDED_THRESHOLD, "{c:?}");
        not(judge(&obs, Some(ANDROID_UA)));
        // The router's SYN with another window, scale and TTL.
        let variant = |window: u16, ws: u8, ttl: u8| {
            let mut p = router_syn();
            (p.window, p.ttl) = (window, ttl);
            p.options = crate::craft::OptionBytes::new()
                .mss(1460)
                .sok()
                .ts(7, 0)
                .nop()
                .ws(ws)
                .0;
            let obs = observation(&p);
            (Model::builtin().unwrap().classify(&obs, None), obs)
        };
        // Either side of the threshold, both answered `embedded`.
        let (c, obs) = variant(5840, 0, 64);
        let p = c.scores.get(Os::Embedded);
        assert!(
            c.os == Os::Embedded && (0.4..EMBEDDED_THRESHOLD).contains(&p),
            "{c:?}"
        );
        not(judge(&obs, Some(ANDROID_UA)));
        let (c, obs) = variant(14600, 4, 64);
        let p = c.scores.get(Os::Embedded);
        assert!((EMBEDDED_THRESHOLD..0.6).contains(&p), "{c:?}");
        let v = judge(&obs, Some(ANDROID_UA));
        assert!(v.embedded_suspected && says(&v), "{v:?}");
        // Old Linux kernels' window 29200 with a router's scale: embedded
        // is possible (p about 0.3) but not the classifier's answer.
        let (c, obs) = variant(29200, 4, 44);
        assert!(
            c.os != Os::Embedded && c.scores.get(Os::Embedded) > 0.1,
            "{c:?}"
        );
        not(judge(&obs, Some(ANDROID_UA)));
        // Phones and desktops under their own claims.
        not(judge(&syn(Stack::Android, false, 12), Some(ANDROID_UA)));
        not(judge(&syn(Stack::Linux, false, 6), Some(ANDROID_UA)));
        not(judge(&syn(Stack::Windows, false, 6), Some(WINDOWS_UA)));
    }

    /// Browsers' SYNs through real networks (hops, tunnel MSS values,
    /// windows following the MSS) under their own OS's claim are not
    /// suspected; embedded stacks' under a browser OS's claim are where the
    /// classifier is sure enough (239 of 400: their windows such as 29200
    /// are also old Linux kernels').
    #[test]
    fn embedded_suspicion_on_realistic_syns() {
        use crate::classify::testdata::{labelled_set, BROWSER_STACKS};
        let m = Model::builtin().unwrap();
        let suspected = |set: Vec<(Observation, Os)>, claim: Option<Os>| {
            let n = set.len();
            let hits = set
                .into_iter()
                .filter(|(obs, os)| {
                    let c = m.classify(obs, None);
                    verdict_for_os(&c, claim.or(Some(*os)), obs, None).embedded_suspected
                })
                .count();
            (hits, n)
        };
        let (hits, n) = suspected(labelled_set(&BROWSER_STACKS, 400, 7), None);
        let (hits2, n2) = suspected(labelled_set(&[Stack::Embedded], 400, 7), Some(Os::Android));
        assert!(hits * 500 <= n, "{hits} of {n} browsers' SYNs suspected");
        assert!(
            hits2 * 2 >= n2,
            "only {hits2} of {n2} embedded SYNs suspected"
        );
    }

    /// A Linux server's SYN+ACK under a Windows User-Agent: the answer is
    /// the server's stack, not the client's, so nothing to judge.
    #[test]
    fn a_syn_ack_is_no_ground_for_a_mismatch() {
        let p = packet(Stack::Linux, false);
        let v = judge(&observation(&p), Some(WINDOWS_UA));
        assert_eq!(v.os_mismatch, Some(true));
        let p = crate::craft::TcpPacket::syn_ack_for(&p);
        let v = judge(&observation(&p), Some(WINDOWS_UA));
        assert_eq!(v.os_mismatch, None);
        assert!(
            v.reasons.iter().any(|r| r.contains("a server's SYN+ACK")),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn linux_stack_with_windows_user_agent_is_a_mismatch() {
        let v = judge(&syn(Stack::Linux, false, 6), Some(WINDOWS_UA));
        assert_eq!(v.ua_os, Some(Os::Windows));
        assert_eq!(v.ua_family, Some(Family::Windows));
        assert_eq!(v.os_mismatch, Some(true));
        assert_eq!(v.hops, 6);
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("User-Agent says Windows")),
            "{:?}",
            v.reasons
        );
    }

    /// An OS from a labels CSV is judged the same, and the reasons say it
    /// was a label.
    #[test]
    fn a_labelled_os_is_named_as_a_label() {
        let obs = syn(Stack::Linux, false, 6);
        let m = Model::builtin().unwrap();
        let v = verdict_for_os(&m.classify(&obs, None), Some(Os::Windows), &obs, None);
        assert_eq!(v.os_mismatch, Some(true));
        assert!(
            v.reasons
                .iter()
                .any(|r| r.starts_with("label says Windows")),
            "{:?}",
            v.reasons
        );
        assert!(!v.reasons.iter().any(|r| r.contains("User-Agent")));
        // `unknown` is a name the labels accept: no claim, and said so.
        let v = verdict_for_os(&m.classify(&obs, None), Some(Os::Unknown), &obs, None);
        assert_eq!(v.os_mismatch, None);
        assert!(v.reasons[0].starts_with("label says unknown"), "{v:?}");
    }

    #[test]
    fn matching_and_unknown_sides() {
        let v = judge(&syn(Stack::Windows, false, 10), Some(WINDOWS_UA));
        assert_eq!(v.os_mismatch, Some(false));
        assert_eq!(v.hops, 10);
        // A Mac stack under an iPhone User-Agent: same family, no mismatch.
        let v = judge(&syn(Stack::MacOs, false, 0), Some(IPHONE_UA));
        assert_eq!(v.os_mismatch, Some(false));
        let v = judge(&syn(Stack::Windows, false, 0), Some("curl/8.5.0"));
        assert_eq!(v.ua_os, None);
        assert_eq!(v.os_mismatch, None);
        assert!(
            v.reasons[0].starts_with("User-Agent names no known OS"),
            "{v:?}"
        );
        let v = judge(&syn(Stack::Windows, false, 0), None);
        assert_eq!(v.os_mismatch, None);
        assert_eq!(v.reasons[0], "no User-Agent sent: no mismatch judgement");
    }

    #[test]
    fn tunnel_sized_mss_is_flagged() {
        // The iOS preset carries a cellular MSS (1380 over IPv4).
        let v = judge(&syn(Stack::Ios, false, 3), Some(IPHONE_UA));
        assert!(v.tunnel_suspected);
        assert!(v.mtu_link.is_some());
        assert!(
            v.reasons.iter().any(|r| r.contains("MSS 1380")),
            "{:?}",
            v.reasons
        );
        // Direct Ethernet over IPv4 and over IPv6 (1440): no tunnel.
        let v = judge(&syn(Stack::Windows, false, 3), Some(WINDOWS_UA));
        assert!(!v.tunnel_suspected);
        assert_eq!(v.mtu_link, None);
        let v = judge(&syn(Stack::Windows, true, 3), Some(WINDOWS_UA));
        assert!(!v.tunnel_suspected);
        // PPPoE: MSS 1452 -> MTU 1492.
        let mut p = Stack::Windows.syn(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            1,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            2,
            1,
        );
        p.options = crate::craft::OptionBytes::new()
            .mss(1452)
            .nop()
            .ws(8)
            .nop()
            .nop()
            .sok()
            .0;
        let v = judge(&observation(&p), Some(WINDOWS_UA));
        assert!(v.tunnel_suspected);
        assert_eq!(
            v.mtu_link.as_deref(),
            Some("DSL"),
            "p0f.fp's label for MTU 1492"
        );
        // MSS 536, the default without a link MTU: no tunnel; 535 is one.
        for (mss, tunnel) in [(536, false), (535, true)] {
            p.options = crate::craft::OptionBytes::new().mss(mss).0;
            let v = judge(&observation(&p), Some(WINDOWS_UA));
            assert_eq!(v.tunnel_suspected, tunnel, "{mss}: {:?}", v.reasons);
            assert_eq!(v.mtu_link.is_some(), tunnel, "{mss}");
        }
        let j = serde_json::to_value(&v).unwrap();
        for k in [
            "ua_os",
            "ua_family",
            "ua_crawler",
            "os_mismatch",
            "tunnel_suspected",
            "embedded_suspected",
            "middlebox_suspected",
            "mtu_link",
            "hops",
            "reasons",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        assert_eq!(j["ua_os"], "Windows");
        let mut buf = crate::json::JsonBuf::new();
        v.write_json(&mut buf);
        let fast: serde_json::Value = serde_json::from_slice(buf.as_bytes()).unwrap();
        assert_eq!(fast, j);
    }
}

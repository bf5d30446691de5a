//! Every link type and encapsulation synprint decodes, written to one
//! pcapng (an interface per link type) and one classic pcap per link type,
//! decoded by synprint and by tshark: the two must agree field by field.

mod common;
mod skipped;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use synprint::capture::{
    ByteOrder, PcapPrecision, PcapWriter, PcapngInterface, PcapngWriter, TsResolution,
};
use synprint::craft::{
    ethernet_frame, ipv4_outer, ipv6_with_extensions, nflog, teredo, udp, Encapsulation, Ipv6Ext,
    Stack, TcpPacket,
};
use synprint::packet::{flags, LinkType, Timestamp, TunnelKind};

/// Per encapsulation: a SYN of each stack over IPv4 and IPv6, the
/// SYN+ACK answering each, and a data segment (which must not count).
fn packets() -> Vec<TcpPacket> {
    let mut out = Vec::new();
    let v4 = (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)),
    );
    let v6 = (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 20)),
    );
    for (i, stack) in Stack::ALL.into_iter().enumerate() {
        let i = i as u16;
        for (src, dst) in [v4, v6] {
            let syn = stack.syn(src, 40_000 + i, dst, 443, u32::from(i));
            let mut syn_ack = TcpPacket::syn_ack_for(&syn);
            syn_ack.window = 65160 - i;
            syn_ack.options = synprint::craft::OptionBytes::new()
                .mss(1400 - i)
                .nop()
                .ws(7)
                .0;
            let mut data = TcpPacket::syn_ack_for(&syn_ack);
            data.flags = flags::ACK | flags::PSH;
            data.payload = b"GET / HTTP/1.1\r\n\r\n".to_vec();
            out.extend([syn, syn_ack, data]);
        }
    }
    out
}

#[test]
fn every_link_type_and_encapsulation_agrees_with_tshark() {
    if common::tshark_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pkts = packets();
    let mut total = 0;
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let path = dir.path().join(format!("all-{order:?}.pcapng"));
        write_pcapng(&path, order, &pkts);
        total += common::compare_with_tshark(&path);
    }
    for enc in Encapsulation::ALL {
        let path = dir.path().join(format!("{enc:?}.pcap"));
        let n = write_pcap(&path, enc, &pkts);
        let compared = common::compare_with_tshark(&path);
        assert_eq!(compared, n, "{enc:?}: every SYN and SYN+ACK decoded");
    }
    // Two SYN-kind packets of every three, per encapsulation and file.
    assert_eq!(total, 2 * Encapsulation::ALL.len() * pkts.len() * 2 / 3);
}

/// Teredo carries IPv6 only, so it is not in `Encapsulation::ALL`: every
/// IPv6 packet with and without the authentication and origin headers.
#[test]
fn teredo_agrees_with_tshark() {
    if common::tshark_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teredo.pcap");
    let all = [(false, false), (true, false), (false, true), (true, true)];
    let frames = write_teredo_pcap(&path, &all);
    assert_eq!(
        common::compare_with_tshark(&path),
        (frames * 2 / 3) as usize
    );
}

/// NFLOG's attributes are in the capturing host's byte order, which is
/// the file's, so it is not in `Encapsulation::ALL` (whose frames do not
/// know the file they go to): a little- and a big-endian file of each.
#[test]
fn nflog_in_either_byte_order_agrees_with_tshark() {
    if common::tshark_missing() {
        return;
    }
    let pkts = packets();
    let dir = tempfile::tempdir().unwrap();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let mut w =
            PcapWriter::with_format(Vec::new(), LinkType::NFLOG, order, PcapPrecision::Micros)
                .unwrap();
        for (i, p) in pkts.iter().enumerate() {
            let frame = nflog(&p.ip_bytes(), order == ByteOrder::Big);
            w.write(Timestamp(i as u64 * 1000), &frame).unwrap();
        }
        let path = dir.path().join(format!("nflog-{order:?}.pcap"));
        std::fs::write(&path, w.into_inner()).unwrap();
        assert_eq!(common::compare_with_tshark(&path), pkts.len() * 2 / 3);
    }
}

/// IPv4 options and IPv6 extension headers, as raw IP.
#[test]
fn ip_options_and_ipv6_extension_headers_agree_with_tshark() {
    if common::tshark_missing() {
        return;
    }
    let pkts = packets();
    let mut frames = Vec::new();
    for p in pkts.iter().filter(|p| p.src.is_ipv4()) {
        let mut p = p.clone();
        // Record route with room for two addresses, then NOP, EOL.
        p.ip_options = vec![7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        frames.push(p.ip_bytes());
    }
    let atomic = Ipv6Ext::Fragment {
        offset: 0,
        more: false,
    };
    let chains: [&[Ipv6Ext]; 6] = [
        &[Ipv6Ext::HopByHop],
        &[Ipv6Ext::Routing],
        &[Ipv6Ext::DestinationOptions],
        &[atomic],
        &[Ipv6Ext::Shim6],
        &[
            Ipv6Ext::HopByHop,
            Ipv6Ext::Routing,
            Ipv6Ext::DestinationOptions,
        ],
    ];
    for p in pkts.iter().filter(|p| p.src.is_ipv6()) {
        for chain in chains {
            frames.push(ipv6_with_extensions(&p.ip_bytes(), chain));
        }
    }
    let mut w = PcapWriter::new(Vec::new(), LinkType::RAW).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(Timestamp(i as u64), f).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ip-options.pcap");
    std::fs::write(&path, w.into_inner()).unwrap();
    let syn_kind = frames.len() * 2 / 3;
    assert_eq!(common::compare_with_tshark(&path), syn_kind);
}

fn write_pcapng(path: &Path, order: ByteOrder, pkts: &[TcpPacket]) {
    let mut w = PcapngWriter::new(Vec::new(), order).unwrap();
    let mut ifaces = Vec::new();
    for (i, enc) in Encapsulation::ALL.iter().enumerate() {
        // Link types of one packet are the same for both IP versions,
        // except RawVersioned, which gets one interface per version.
        let (l4, _) = enc.wrap(&pkts[0].ip_bytes());
        let (l6, _) = enc.wrap(&pkts[3].ip_bytes());
        let resolution = if i % 2 == 0 {
            TsResolution::Decimal(9)
        } else {
            TsResolution::Decimal(6)
        };
        let mut add = |link: LinkType| {
            w.add_interface(PcapngInterface {
                resolution,
                ..PcapngInterface::new(link)
            })
            .unwrap()
        };
        let i4 = add(l4);
        let i6 = if l6 == l4 { i4 } else { add(l6) };
        ifaces.push((i4, i6));
    }
    let mut t = 1_700_000_000_000_000_000u64;
    for (enc, &(i4, i6)) in Encapsulation::ALL.iter().zip(&ifaces) {
        for p in pkts {
            let (_, frame) = enc.wrap(&p.ip_bytes());
            let iface = if p.src.is_ipv4() { i4 } else { i6 };
            t += 1_000_000;
            w.write(iface, Timestamp(t), &frame).unwrap();
        }
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

/// Every IPv6 packet of [`packets`] in Teredo, once for each (authentication
/// indicator, origin indication) asked; returns the frame count.
fn write_teredo_pcap(path: &Path, headers: &[(bool, bool)]) -> u64 {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    let mut frames = 0;
    for p in packets().iter().filter(|p| p.src.is_ipv6()) {
        for &(auth, origin) in headers {
            let u = udp(3544, 40000, &teredo(&p.ip_bytes(), auth, origin));
            w.write(Timestamp(frames), &ethernet_frame(&ipv4_outer(17, &u)))
                .unwrap();
            frames += 1;
        }
    }
    std::fs::write(path, w.into_inner()).unwrap();
    frames
}

/// One classic pcap per encapsulation (IPv4 and IPv6 separately for the
/// per-version raw link types); returns the SYN-kind packet count.
fn write_pcap(path: &Path, enc: Encapsulation, pkts: &[TcpPacket]) -> usize {
    let (link, _) = enc.wrap(&pkts[0].ip_bytes());
    let mut w =
        PcapWriter::with_format(Vec::new(), link, ByteOrder::Big, PcapPrecision::Micros).unwrap();
    let mut n = 0;
    for (i, p) in pkts.iter().enumerate() {
        let (l, frame) = enc.wrap(&p.ip_bytes());
        if l != link {
            continue;
        }
        if p.flags & flags::SYN != 0 {
            n += 1;
        }
        w.write(
            Timestamp(1_700_000_000_000_000_000 + i as u64 * 1000),
            &frame,
        )
        .unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
    n
}

/// The tunnel each SYN and SYN+ACK names, against tshark's dissection of
/// the same frames: the innermost tunnel's kind and identifier, and the
/// addresses of the IP header around it (the second-to-last IP layer in
/// tshark's protocol list); no tunnel where there is one IP layer only.
#[test]
fn tunnels_agree_with_tshark() {
    if common::tshark_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pkts = packets();
    let mut tunnelled = std::collections::BTreeSet::new();
    for enc in Encapsulation::ALL {
        let path = dir.path().join(format!("{enc:?}.pcap"));
        let n = write_pcap(&path, enc, &pkts);
        let (kinds, compared) = compare_tunnels_with_tshark(&path);
        assert_eq!(compared, n, "{enc:?}: every SYN and SYN+ACK compared");
        tunnelled.extend(kinds);
    }
    let path = dir.path().join("teredo.pcap");
    write_teredo_pcap(&path, &[(false, true)]);
    tunnelled.extend(compare_tunnels_with_tshark(&path).0);
    // Every kind was met (so none is compared only as absent).
    assert_eq!(
        tunnelled,
        TunnelKind::ALL.map(|k| k.as_str().to_owned()).into(),
        "tunnel kinds met"
    );
}

/// Compares the tunnel of every observation in `path` with tshark's
/// reading; returns the tunnel kinds met and the observations compared.
fn compare_tunnels_with_tshark(path: &Path) -> (Vec<String>, usize) {
    const FIELDS: [&str; 15] = [
        "frame.number",
        "frame.protocols",
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
        "udp.dstport",
        "vxlan.vni",
        "geneve.vni",
        "gre.key",
        "gre.key.call_id",
        "erspan.spanid",
        "gtp.teid",
        "lisp-data.iid",
        "l2tp.tunnel",
    ];
    let mut cmd = std::process::Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(path).args([
        "-Y",
        "tcp.flags.syn == 1",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
        "-E",
        "separator=\t",
    ]);
    for f in FIELDS.iter().chain(&["l2tp.session"]) {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (ours, _) = common::our_observations(path);
    let mut kinds = Vec::new();
    let mut compared = 0;
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let col = |name: &str| {
            let at = FIELDS
                .iter()
                .chain(&["l2tp.session"])
                .position(|f| *f == name)
                .unwrap();
            cols.get(at).copied().unwrap_or("")
        };
        let all =
            |name: &str| -> Vec<&str> { col(name).split(';').filter(|s| !s.is_empty()).collect() };
        // tshark prints hexadecimal fields with 0x.
        let last_number = |name: &str| {
            all(name).last().map(|v| match v.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                None => v.parse::<u32>().unwrap(),
            })
        };
        let frame: u64 = col("frame.number").parse().unwrap();
        let obs = &ours[&frame];
        let protocols: Vec<&str> = col("frame.protocols").split(':').collect();
        let ip_layers: Vec<usize> = (0..protocols.len())
            .filter(|&i| matches!(protocols[i], "ip" | "ipv6"))
            .collect();
        let want = match *ip_layers.as_slice() {
            [.., outer, inner] => {
                let version = protocols[outer];
                let nth = ip_layers
                    .iter()
                    .filter(|&&i| i < outer && protocols[i] == version)
                    .count();
                let address = |field: &str| all(&format!("{version}.{field}"))[nth].to_owned();
                let between = &protocols[outer + 1..inner];
                let has = |p: &str| between.contains(&p);
                let (kind, id) = if has("erspan") {
                    (
                        "erspan",
                        last_number("erspan.spanid").or(last_number("gre.key")),
                    )
                } else if has("udp") && last_number("udp.dstport") == Some(4790) {
                    // tshark decodes VXLAN-GPE but leaves it out of the
                    // protocol list.
                    ("vxlan_gpe", last_number("vxlan.vni"))
                } else if has("vxlan") {
                    ("vxlan", last_number("vxlan.vni"))
                } else if has("geneve") {
                    ("geneve", last_number("geneve.vni"))
                } else if has("gtp") {
                    ("gtp_u", last_number("gtp.teid"))
                } else if has("l2tp") {
                    let session = last_number("l2tp.session").unwrap();
                    (
                        "l2tp",
                        last_number("l2tp.tunnel").map(|t| t << 16 | session),
                    )
                } else if has("lisp-data") {
                    ("lisp", last_number("lisp-data.iid"))
                } else if has("teredo") {
                    ("teredo", None)
                } else if has("etherip") {
                    ("etherip", None)
                } else if has("gre") && last_number("gre.key.call_id").is_some() {
                    ("pptp", last_number("gre.key.call_id"))
                } else if has("gre") {
                    ("gre", last_number("gre.key"))
                } else if between.first() == Some(&"mpls") {
                    ("mpls_in_ip", None)
                } else if between.first() == Some(&"udp") && has("mpls") {
                    ("mpls_in_udp", None)
                } else {
                    assert!(
                        between.is_empty(),
                        "{} frame {frame}: {protocols:?}",
                        path.display()
                    );
                    ("ip_in_ip", None)
                };
                kinds.push(kind.to_owned());
                Some((kind.to_owned(), id, address("src"), address("dst")))
            }
            _ => None,
        };
        let got = obs.tunnel.as_ref().map(|t| {
            (
                t.kind.as_str().to_owned(),
                t.id,
                t.outer_src.to_string(),
                t.outer_dst.to_string(),
            )
        });
        assert_eq!(got, want, "{} frame {frame}: {protocols:?}", path.display());
        compared += 1;
    }
    assert_eq!(
        compared,
        ours.len(),
        "{}: tshark saw every SYN",
        path.display()
    );
    (kinds, compared)
}

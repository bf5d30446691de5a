//! Byte-level tests of the decoder: frames built with `craft`, one per link
//! type and encapsulation, plus every malformation the decoder names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::craft::{
    bsd_loopback, ethernet_frame, ipv4_outer, ipv6_with_extensions, udp, with_auth_header,
    Encapsulation, Ipv6Ext, OptionBytes, Stack, TcpPacket,
};

const TS: Timestamp = Timestamp(1_700_000_000_123_456_789);

fn v4_syn() -> TcpPacket {
    Stack::Linux.syn(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        51000,
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)),
        443,
        3,
    )
}

fn v6_syn() -> TcpPacket {
    Stack::MacOs.syn(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
        50123,
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x20)),
        80,
        11,
    )
}

/// Decodes and insists on an observation.
fn observe(link: LinkType, frame: &[u8]) -> Observation {
    match decode(link, TS, frame) {
        Ok(Some(o)) => o,
        other => panic!("expected an observation, got {other:?}"),
    }
}

/// Every observation field against the crafted packet it came from.
fn assert_matches(o: &Observation, p: &TcpPacket) {
    let ip = p.ip_bytes();
    assert_eq!(o.ts, TS);
    assert_eq!(o.src_ip, p.src);
    assert_eq!(o.dst_ip, p.dst);
    assert_eq!(o.ttl, p.ttl);
    assert_eq!(o.tos, p.tos);
    assert_eq!(o.src_port, p.src_port);
    assert_eq!(o.dst_port, p.dst_port);
    assert_eq!(o.seq, p.seq);
    assert_eq!(o.ack, p.ack);
    assert_eq!(o.tcp_flags, p.flags);
    assert_eq!(o.window, p.window);
    assert_eq!(o.urgent_ptr, p.urgent);
    assert_eq!(usize::from(o.payload_len), p.payload.len());
    assert_eq!(o.ip_total_length as usize, ip.len());
    let tcp_len = 20 + p.options.len().div_ceil(4) * 4;
    assert_eq!(usize::from(o.tcp_data_offset) * 4, tcp_len);
    assert_eq!(o.options, TcpOptions::parse(&p.tcp_bytes()[20..tcp_len]));
    match p.src {
        IpAddr::V4(_) => {
            assert_eq!(o.ip_version, IpVersion::V4);
            assert_eq!(o.df, p.df);
            assert_eq!(o.mf, p.mf);
            assert_eq!(o.ip_reserved_flag, p.ip_reserved_flag);
            assert_eq!(o.ip_id, p.ip_id);
            assert_eq!(usize::from(o.ip_header_len), 20 + p.ip_options.len());
            assert_eq!(usize::from(o.ip_options_len), p.ip_options.len());
            assert_eq!(o.flow_label, 0);
        }
        IpAddr::V6(_) => {
            assert_eq!(o.ip_version, IpVersion::V6);
            assert!(!o.df && !o.mf);
            assert_eq!(o.ip_id, 0);
            assert_eq!(o.ip_header_len, 40);
            assert_eq!(o.flow_label, p.flow_label);
        }
    }
}

#[test]
fn every_encapsulation_yields_the_inner_syn() {
    for p in [v4_syn(), v6_syn()] {
        for enc in Encapsulation::ALL {
            let (link, frame) = enc.wrap(&p.ip_bytes());
            let o = match decode(link, TS, &frame) {
                Ok(Some(o)) => o,
                other => panic!("{enc:?} {}: {other:?}", p.src),
            };
            let mut o = o;
            if enc == Encapsulation::AuthHeader {
                // The IP length counts the authentication header too.
                o.ip_total_length -= 24;
                o.ip_options_len -= if o.ip_version == IpVersion::V6 { 24 } else { 0 };
            }
            assert_matches(&o, &p);
            assert_eq!(o.kind, Kind::Syn);
        }
    }
}

#[test]
fn syn_ack_and_header_details_are_kept() {
    let mut p = TcpPacket::syn_ack_for(&v4_syn());
    p.options = OptionBytes::new().mss(1400).nop().ws(3).0;
    p.flags |= flags::ECE | flags::NS;
    p.tos = 0x02;
    p.ip_reserved_flag = true;
    p.df = false;
    p.urgent = 7;
    p.ip_options = vec![1, 1, 1, 0];
    p.payload = b"hi".to_vec();
    let o = observe(LinkType::ETHERNET, &ethernet_frame(&p.ip_bytes()));
    assert_eq!(o.kind, Kind::SynAck);
    assert!(o.has_flag(flags::NS) && o.has_flag(flags::ECE));
    assert_matches(&o, &p);
    assert_eq!(o.ip_options_len, 4);
}

#[test]
fn tcp_reserved_bits_are_reported() {
    let mut ip = v4_syn().ip_bytes();
    ip[20 + 12] |= 0b0000_1110;
    let o = observe(LinkType::RAW, &ip);
    assert_eq!(o.tcp_flags, 0xe00 | flags::SYN);
}

#[test]
fn only_syn_and_syn_ack_without_rst_or_fin_are_observed() {
    use flags::*;
    let cases = [
        (SYN, true),
        (SYN | ACK, true),
        (SYN | ECE | CWR, true),
        (SYN | PSH | URG, true),
        (ACK, false),
        (ACK | PSH, false),
        (FIN | ACK, false),
        (RST, false),
        (SYN | RST, false),
        (SYN | FIN, false),
        (SYN | ACK | RST, false),
        (0, false),
    ];
    for (fl, observed) in cases {
        let mut p = v4_syn();
        p.flags = fl;
        let got = decode(LinkType::RAW, TS, &p.ip_bytes());
        assert_eq!(got.map(|o| o.is_some()), Ok(observed), "flags {fl:#x}");
    }
}

#[test]
fn non_syn_is_none_even_with_malformed_options() {
    // The cheap path never looks at the data offset or the options.
    let mut p = v4_syn();
    p.flags = flags::ACK;
    let mut ip = p.ip_bytes();
    ip[20 + 12] = 0x20 | (ip[20 + 12] & 0x0f);
    assert_eq!(decode_ip(TS, &ip), Ok(None));
}

#[test]
fn ethernet_padding_and_fcs_are_trimmed() {
    let mut p = TcpPacket::default();
    p.options.clear();
    let mut frame = ethernet_frame(&p.ip_bytes());
    frame.extend_from_slice(&[0; 6]); // padding to 60 bytes
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // FCS
    let o = observe(LinkType::ETHERNET, &frame);
    assert_eq!(o.payload_len, 0);
    assert_eq!(o.ip_total_length, 40);
}

#[test]
fn every_truncation_is_named() {
    for p in [v4_syn(), v6_syn()] {
        for enc in Encapsulation::ALL {
            let (link, frame) = enc.wrap(&p.ip_bytes());
            for cut in 0..frame.len() {
                assert_eq!(
                    decode(link, TS, &frame[..cut]),
                    Err(Skip::Truncated),
                    "{enc:?} cut at {cut} of {}",
                    frame.len()
                );
            }
        }
    }
}

#[test]
fn segments_cut_by_the_snap_length() {
    for p in [v4_syn(), v6_syn()] {
        let mut data = TcpPacket::syn_ack_for(&p);
        data.flags = flags::ACK | flags::PSH;
        data.payload = vec![7; 1000];
        for enc in Encapsulation::ALL {
            let (link, frame) = enc.wrap(&data.ip_bytes());
            // Cut inside the payload: the flags are visible, no SYN.
            let cut = &frame[..frame.len() - 900];
            assert_eq!(decode(link, TS, cut), Ok(None), "{enc:?}");
            let mut syn = p.clone();
            syn.payload = vec![7; 1000];
            let (link, frame) = enc.wrap(&syn.ip_bytes());
            let cut = &frame[..frame.len() - 900];
            assert_eq!(decode(link, TS, cut), Err(Skip::Truncated), "{enc:?}");
        }
    }
}

#[test]
fn null_accepts_both_byte_orders_and_every_inet6_family() {
    let ip6 = v6_syn().ip_bytes();
    for family in [10, 24, 28, 30] {
        for big_endian in [false, true] {
            let o = observe(LinkType::NULL, &bsd_loopback(&ip6, family, big_endian));
            assert_eq!(o.ip_version, IpVersion::V6);
        }
        let o = observe(LinkType::LOOP, &bsd_loopback(&ip6, family, true));
        assert_eq!(o.ip_version, IpVersion::V6);
    }
    let ip4 = v4_syn().ip_bytes();
    for big_endian in [false, true] {
        observe(LinkType::NULL, &bsd_loopback(&ip4, 2, big_endian));
    }
    // LOOP is always network order: a little-endian family is not IP.
    assert_eq!(
        decode(LinkType::LOOP, TS, &bsd_loopback(&ip4, 2, false)),
        Err(Skip::NotIp)
    );
    assert_eq!(
        decode(LinkType::NULL, TS, &bsd_loopback(&ip4, 7, false)),
        Err(Skip::NotIp)
    );
}

#[test]
fn link_type_mismatches_are_named() {
    let ip4 = v4_syn().ip_bytes();
    let ip6 = v6_syn().ip_bytes();
    assert_eq!(decode(LinkType(9999), TS, &ip4), Err(Skip::UnknownLinkType));
    assert_eq!(decode(LinkType::IPV6, TS, &ip4), Err(Skip::BadIpVersion));
    assert_eq!(decode(LinkType::IPV4, TS, &ip6), Err(Skip::BadIpVersion));
    observe(LinkType::DLT_RAW_12, &ip4);
    observe(LinkType::DLT_RAW_14, &ip6);
    let mut bad = ip4.clone();
    bad[0] = 0x55;
    assert_eq!(decode(LinkType::RAW, TS, &bad), Err(Skip::BadIpVersion));
    // ARP over Ethernet.
    let mut arp = ethernet_frame(&ip4);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(decode(LinkType::ETHERNET, TS, &arp), Err(Skip::NotIp));
    // IPv4 EtherType with an IPv6 packet.
    let mut mislabelled = ethernet_frame(&ip6);
    mislabelled[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &mislabelled),
        Err(Skip::BadIpVersion)
    );
}

#[test]
fn ipv4_header_length_errors() {
    let ip = v4_syn().ip_bytes();
    for ihl in 0..5u8 {
        let mut bad = ip.clone();
        bad[0] = 0x40 | ihl;
        assert_eq!(decode_ip(TS, &bad), Err(Skip::BadHeaderLength), "ihl {ihl}");
    }
    // Total length shorter than the header.
    let mut bad = ip.clone();
    bad[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(decode_ip(TS, &bad), Err(Skip::BadHeaderLength));
    // Total length longer than the capture.
    let mut bad = ip.clone();
    bad[2..4].copy_from_slice(&((ip.len() + 1) as u16).to_be_bytes());
    assert_eq!(decode_ip(TS, &bad), Err(Skip::Truncated));
    // IHL past the total length.
    let mut bad = ip.clone();
    bad[0] = 0x4f;
    bad[2..4].copy_from_slice(&40u16.to_be_bytes());
    assert_eq!(decode_ip(TS, &bad[..40]), Err(Skip::BadHeaderLength));
}

#[test]
fn ipv4_options_are_skipped_and_counted() {
    let mut p = v4_syn();
    // Record route (7) with room for two addresses, then EOL padding.
    p.ip_options = vec![7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let o = observe(LinkType::RAW, &p.ip_bytes());
    assert_eq!(o.ip_options_len, 12);
    assert_eq!(o.ip_header_len, 32);
    assert_matches(&o, &p);
}

#[test]
fn tcp_header_length_errors() {
    let ip = v4_syn().ip_bytes();
    for doff in 0..5u8 {
        let mut bad = ip.clone();
        bad[32] = doff << 4;
        assert_eq!(
            decode_ip(TS, &bad),
            Err(Skip::BadHeaderLength),
            "doff {doff}"
        );
    }
    let mut bad = ip.clone();
    bad[32] = 0xf0;
    assert_eq!(decode_ip(TS, &bad), Err(Skip::BadHeaderLength));
    // An IP total length that leaves fewer than 20 bytes for TCP, the
    // packet all there: its header is wrong, nothing was cut (`truncated`
    // is for the snap length).
    let mut short = ip.clone();
    short[2..4].copy_from_slice(&30u16.to_be_bytes());
    assert_eq!(decode_ip(TS, &short), Err(Skip::BadHeaderLength));
    assert_eq!(decode_ip(TS, &short[..30]), Err(Skip::BadHeaderLength));
    // The same 30 bytes cut from a whole packet by the snap length.
    assert_eq!(decode_ip(TS, &ip[..30]), Err(Skip::Truncated));
}

#[test]
fn malformed_options_are_flagged_not_skipped() {
    let mut p = v4_syn();
    // Unknown option with length 0.
    p.options = OptionBytes::new().mss(1460).raw(&[30, 0]).pad().0;
    let o = observe(LinkType::RAW, &p.ip_bytes());
    assert!(o.options.malformed);
    assert_eq!(o.options.mss, Some(1460));
    // Timestamp running past the header end.
    p.options = OptionBytes::new().nop().nop().raw(&[8, 10, 0, 0]).0;
    let o = observe(LinkType::RAW, &p.ip_bytes());
    assert!(o.options.malformed);
    assert_eq!(o.options.timestamp, None);
}

#[test]
fn ipv4_fragments_are_skipped() {
    let mut p = v4_syn();
    p.mf = true;
    assert_eq!(decode_ip(TS, &p.ip_bytes()), Err(Skip::Fragment));
    let mut ip = v4_syn().ip_bytes();
    ip[7] = 1; // offset 8 bytes
    assert_eq!(decode_ip(TS, &ip), Err(Skip::Fragment));
}

/// An IPsec authentication header, IPv4 or IPv6 (twice over, too), is
/// walked to the TCP segment; cut anywhere short of TCP, it is `Truncated`.
#[test]
fn authentication_headers_are_walked() {
    for p in [v4_syn(), v6_syn()] {
        let ip = p.ip_bytes();
        let plain = observe(LinkType::RAW, &ip);
        let once = with_auth_header(&ip);
        let twice = with_auth_header(&once);
        for pkt in [&once, &twice] {
            let o = observe(LinkType::RAW, pkt);
            assert_eq!(o.options, plain.options);
            assert_eq!((o.src_port, o.seq, o.window), (p.src_port, p.seq, p.window));
            assert_eq!(usize::try_from(o.ip_total_length), Ok(pkt.len()));
            let header = if o.ip_version == IpVersion::V4 {
                20
            } else {
                40
            };
            for cut in header..pkt.len() - ip.len() + header {
                assert_eq!(decode_ip(TS, &pkt[..cut]), Err(Skip::Truncated), "{cut}");
            }
        }
        // An authentication header longer than the whole packet's IP length
        // leaves: a header is wrong, nothing was cut.
        let mut long = once.clone();
        let header = if p.src.is_ipv4() { 20 } else { 40 };
        long[header + 1] = 200;
        assert_eq!(decode_ip(TS, &long), Err(Skip::BadHeaderLength));
    }
}

/// RFC 1701 source routing: entries of any length are stepped over up to
/// the one with family and length zero; a list that never ends, or ends
/// past the packet, is truncated (tshark checks the crafted form, see
/// `Encapsulation::GreRouted`).
#[test]
fn gre_source_routes_are_walked_to_the_inner_packet() {
    let p = v4_syn();
    let ip = p.ip_bytes();
    let plain = observe(LinkType::RAW, &ip);
    // The routing bit (and the checksum bit, or not), IPv4 inside, then
    // the checksum word, there with either bit.
    let routed_with = |flags: u8, entries: &[&[u8]], inner: &[u8]| {
        let mut g = vec![flags, 0x00, 0x08, 0x00, 0, 0, 0, 0];
        for e in entries {
            g.extend_from_slice(e);
        }
        g.extend_from_slice(inner);
        ipv4_outer(47, &g)
    };
    let routed = |entries: &[&[u8]], inner: &[u8]| routed_with(0xc0, entries, inner);
    let as_route = [0x00, 0x0a, 0, 2, 0xfd, 0xe8];
    let ip_route = [0x08, 0x00, 4, 8, 192, 0, 2, 1, 198, 51, 100, 9];
    let end = [0, 0, 0, 0];
    for entries in [
        &[&end[..]][..],
        &[&ip_route, &end],
        &[&as_route, &ip_route, &end],
    ] {
        let o = observe(LinkType::RAW, &routed(entries, &ip));
        assert_eq!(o.options, plain.options);
        assert_eq!((o.src_port, o.seq, o.ttl), (p.src_port, p.seq, p.ttl));
    }
    let o = observe(LinkType::RAW, &routed_with(0x40, &[&ip_route, &end], &ip));
    assert_eq!(o.seq, p.seq);
    // Only family and length both zero end the list: either alone is an
    // entry.
    for not_end in [&[0, 0, 0, 2, 0, 0][..], &[0x08, 0x00, 0, 0]] {
        let o = observe(LinkType::RAW, &routed(&[not_end, &end], &ip));
        assert_eq!(o.seq, p.seq);
    }
    // No end of the list before the packet ends.
    assert_eq!(
        decode_ip(TS, &routed(&[&ip_route], &[])),
        Err(Skip::Truncated)
    );
    // An entry longer than what follows.
    assert_eq!(
        decode_ip(TS, &routed(&[&[0x08, 0x00, 0, 255, 1]], &[])),
        Err(Skip::Truncated)
    );
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let p = v6_syn();
    let ip6 = p.ip_bytes();
    let atomic = Ipv6Ext::Fragment {
        offset: 0,
        more: false,
    };
    let chains: [&[Ipv6Ext]; 9] = [
        &[Ipv6Ext::HopByHop],
        &[Ipv6Ext::Routing],
        &[Ipv6Ext::DestinationOptions],
        &[atomic],
        &[Ipv6Ext::Shim6],
        &[Ipv6Ext::Generic(135)],
        &[Ipv6Ext::DestinationOptions, Ipv6Ext::Generic(139)],
        &[
            Ipv6Ext::HopByHop,
            Ipv6Ext::DestinationOptions,
            Ipv6Ext::Routing,
            atomic,
            Ipv6Ext::DestinationOptions,
        ],
        &[],
    ];
    for chain in chains {
        let pkt = ipv6_with_extensions(&ip6, chain);
        let o = observe(LinkType::RAW, &pkt);
        assert_eq!(usize::from(o.ip_options_len), 8 * chain.len(), "{chain:?}");
        assert_eq!(usize::try_from(o.ip_total_length), Ok(pkt.len()));
        assert_eq!(o.src_port, p.src_port);
        assert_eq!(o.options, observe(LinkType::RAW, &ip6).options);
        for cut in 40..pkt.len() {
            assert_eq!(decode_ip(TS, &pkt[..cut]), Err(Skip::Truncated));
        }
    }
    for (offset, more) in [(0, true), (1, false), (100, true)] {
        let pkt = ipv6_with_extensions(&ip6, &[Ipv6Ext::Fragment { offset, more }]);
        assert_eq!(decode_ip(TS, &pkt), Err(Skip::Fragment));
    }
    // A longer header of the generic layout: one more eight-byte unit.
    for number in [135, 139, 140] {
        let mut pkt = ipv6_with_extensions(&ip6, &[Ipv6Ext::Generic(number)]);
        pkt[41] = 1;
        pkt.splice(48..48, [0u8; 8]);
        let payload = (pkt.len() - 40) as u16;
        pkt[4..6].copy_from_slice(&payload.to_be_bytes());
        let o = observe(LinkType::RAW, &pkt);
        assert_eq!(o.ip_options_len, 16, "{number}");
        assert_eq!(o.src_port, p.src_port);
    }
    // A header synprint does not walk (253, for experiments) ends the walk.
    let pkt = ipv6_with_extensions(&ip6, &[Ipv6Ext::Generic(253)]);
    assert_eq!(decode_ip(TS, &pkt), Err(Skip::NotTcp));
    // An extension header whose length runs past the payload length, the
    // packet whole: a header is wrong (as an IPv4 header length past the
    // total length is), nothing was cut.
    let mut pkt = ipv6_with_extensions(&ip6, &[Ipv6Ext::HopByHop]);
    pkt[41] = 200;
    assert_eq!(decode_ip(TS, &pkt), Err(Skip::BadHeaderLength));
    // A jumbogram's payload length of 0 (RFC 2675) leaves its hop-by-hop
    // header no room either, however many bytes follow.
    let mut jumbo = ipv6_with_extensions(&ip6, &[Ipv6Ext::HopByHop]);
    jumbo[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(decode_ip(TS, &jumbo), Err(Skip::BadHeaderLength));
    // The same header cut by the snap length is a cut.
    let mut cut = ipv6_with_extensions(&ip6, &[Ipv6Ext::HopByHop]);
    cut.truncate(44);
    assert_eq!(decode_ip(TS, &cut), Err(Skip::Truncated));
}

#[test]
fn transports_and_tunnels_that_are_not_followed() {
    let inner = v4_syn().ip_bytes();
    // ICMP.
    assert_eq!(
        decode_ip(TS, &ipv4_outer(1, &[8, 0, 0, 0])),
        Err(Skip::NotTcp)
    );
    // IPv6 "no next header".
    assert_eq!(
        decode_ip(TS, &crate::craft::ipv6_outer(59, &[])),
        Err(Skip::NotTcp)
    );
    // Plain UDP (DNS).
    assert_eq!(
        decode_ip(TS, &ipv4_outer(17, &udp(5353, 53, &[0; 12]))),
        Err(Skip::NotTcp)
    );
    // L2TPv3 over IP: a tunnel, whatever it carries.
    let mut l2tp = vec![0, 0, 0, 7, 0, 0, 0, 0];
    l2tp.extend_from_slice(&crate::craft::ethernet_frame(&inner));
    assert_eq!(
        decode_ip(TS, &ipv4_outer(115, &l2tp)),
        Err(Skip::UnsupportedEncapsulation)
    );
    // GRE carrying LLDP.
    let g = crate::craft::gre(0x88cc, Default::default(), &inner);
    assert_eq!(
        decode_ip(TS, &ipv4_outer(47, &g)),
        Err(Skip::UnsupportedEncapsulation)
    );
    // Geneve with an unknown protocol; a "version 1", which has never
    // existed, is not Geneve at all.
    let gen = crate::craft::geneve(0x8847, 0, &inner);
    assert_eq!(
        decode_ip(TS, &ipv4_outer(17, &udp(1, 6081, &gen))),
        Err(Skip::UnsupportedEncapsulation)
    );
    let mut gen = crate::craft::geneve(0x0800, 0, &inner);
    gen[0] |= 0x40;
    assert_eq!(
        decode_ip(TS, &ipv4_outer(17, &udp(1, 6081, &gen))),
        Err(Skip::NotTcp)
    );
    // UDP length shorter than its header.
    let mut u = udp(1, 4789, &crate::craft::vxlan(&ethernet_frame(&inner)));
    u[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(
        decode_ip(TS, &ipv4_outer(17, &u)),
        Err(Skip::BadHeaderLength)
    );
}

/// Old stacks and NATs hand out ports such as 1701, 3544, 4789 or 8472 as
/// ephemeral ones, so DNS, QUIC and other plain UDP reach tunnel ports in
/// real captures: when the first bytes are not the tunnel's header, the
/// datagram counts as the UDP it is, not as a broken tunnel.
#[test]
fn plain_udp_on_a_tunnel_port_is_not_tcp() {
    use super::tunnel::UDP_TUNNEL_PORTS;
    // A DNS query for example.com (id 0xd2a7), its answer (one A record),
    // QUIC short-header bytes, and datagrams shorter than any tunnel header.
    let query: &[u8] = b"\xd2\xa7\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
\x07example\x03com\x00\x00\x01\x00\x01";
    let mut answer = query.to_vec();
    answer[2..4].copy_from_slice(&[0x81, 0x80]);
    answer[7] = 1;
    answer.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x22");
    let quic = [
        0x43u8, 0x9a, 0x51, 0x07, 0xee, 0x10, 0x2c, 0x83, 0x00, 0x11, 0x7f, 0x3b,
    ];
    for port in UDP_TUNNEL_PORTS {
        for (what, body) in [
            ("DNS query", query),
            ("DNS answer", &answer[..]),
            ("QUIC", &quic[..]),
            ("4 bytes", &quic[..4]),
            ("empty", &[][..]),
        ] {
            for (src, dst) in [(port, 53), (53, port), (port, 443)] {
                assert_eq!(
                    decode_ip(TS, &ipv4_outer(17, &udp(src, dst, body))),
                    Err(Skip::NotTcp),
                    "{what} from port {src} to port {dst}"
                );
            }
        }
    }
}

/// GRE in UDP is opened only as GRE version 0 with its reserved bits
/// clear, carrying what GRE over IP would be opened for; anything else on
/// its port is plain UDP, where GRE over IP would be an unsupported
/// encapsulation.
#[test]
fn gre_in_udp_is_only_gre_that_would_be_opened() {
    use crate::craft::{gre, GreFields};
    let ip = v4_syn().ip_bytes();
    let in_udp = |g: &[u8]| decode_ip(TS, &ipv4_outer(17, &udp(40000, 4754, g)));
    let plain = gre(0x0800, GreFields::default(), &ip);
    let obs = in_udp(&plain).expect("decoded").expect("a SYN");
    assert_eq!(obs.tunnel.map(|t| t.kind), Some(TunnelKind::Gre));
    let mut reserved = plain.clone();
    reserved[1] |= 0x08;
    let mut version_1 = plain.clone();
    version_1[1] |= 0x01;
    let mut other = plain.clone();
    other[2..4].copy_from_slice(&0x1234u16.to_be_bytes());
    for (what, g) in [
        ("reserved bit", &reserved),
        ("version 1", &version_1),
        ("protocol", &other),
    ] {
        assert_eq!(in_udp(g), Err(Skip::NotTcp), "{what}");
    }
    assert_eq!(
        decode_ip(TS, &ipv4_outer(47, &other)),
        Err(Skip::UnsupportedEncapsulation)
    );
}

/// Ethernet II from `payload` and an EtherType (locally administered MACs).
fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn mpls_payloads_are_told_apart_by_their_first_bytes() {
    use crate::craft::mpls;
    let p = v4_syn();
    let frame = ethernet_frame(&p.ip_bytes());
    // A pseudowire with its control word (sequence number 5).
    let mut pw = vec![0, 0, 0, 5];
    pw.extend_from_slice(&frame);
    assert_matches(
        &observe(LinkType::ETHERNET, &ether(0x8847, &mpls(&[7, 8], &pw))),
        &p,
    );
    // The same frame without control word.
    assert_matches(
        &observe(LinkType::ETHERNET, &ether(0x8848, &mpls(&[7], &frame))),
        &p,
    );
    // An 802.3 frame (LLC/SNAP) in a pseudowire, with and without control
    // word.
    let llc = crate::craft::ethernet_8023(&p.ip_bytes(), &[]);
    let mut llc_cw = vec![0, 0, 0, 6];
    llc_cw.extend_from_slice(&llc);
    for pw in [&llc, &llc_cw] {
        assert_matches(
            &observe(LinkType::ETHERNET, &ether(0x8847, &mpls(&[7], pw))),
            &p,
        );
    }
    // Neither IP nor an Ethernet frame carrying IP at either offset (an
    // 802.3 frame whose SNAP names ARP, an Ethernet II frame of ARP, bytes
    // of neither IP version).
    let mut llc_arp = llc.clone();
    llc_arp[20..22].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(
        decode(
            LinkType::ETHERNET,
            TS,
            &ether(0x8847, &mpls(&[7], &llc_arp))
        ),
        Err(Skip::UnsupportedEncapsulation)
    );
    let mut arp = frame.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &ether(0x8847, &mpls(&[7], &arp))),
        Err(Skip::UnsupportedEncapsulation)
    );
    let mut other = p.ip_bytes();
    other[0] = 0x15;
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &ether(0x8847, &mpls(&[7], &other))),
        Err(Skip::UnsupportedEncapsulation)
    );
    // The generic associated channel and OAM alert labels, at the bottom
    // or above it, carry a control channel whatever its first nibble, as
    // an associated channel header without them does (first nibble 1).
    let mut ach = p.ip_bytes();
    ach[0] = 0x10;
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &ether(0x8847, &mpls(&[100], &ach))),
        Err(Skip::UnsupportedEncapsulation)
    );
    for labels in [[100, 13], [13, 100], [100, 14], [14, 100]] {
        assert_eq!(
            decode(
                LinkType::ETHERNET,
                TS,
                &ether(0x8847, &mpls(&labels, &p.ip_bytes()))
            ),
            Err(Skip::UnsupportedEncapsulation),
            "{labels:?}"
        );
    }
    // A label stack that never reaches its bottom entry.
    let mut open = mpls(&[7, 8], &[]);
    open[6] &= !1;
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &ether(0x8847, &open)),
        Err(Skip::Truncated)
    );
    // Pseudowires nest like any tunnel, and as deep.
    let mut f = frame;
    for _ in 0..=MAX_TUNNEL_DEPTH {
        f = ether(0x8847, &mpls(&[9], &f));
    }
    assert_eq!(decode(LinkType::ETHERNET, TS, &f), Err(Skip::TooDeep));
}

#[test]
fn ppp_control_traffic_and_other_versions_are_named() {
    use crate::craft::{gtp_u, l2tp, ppp, pppoe_session};
    let p = v6_syn();
    let ip = p.ip_bytes();
    // LCP (0xc021) over PPP, PPPoE discovery, a PPPoE version other than 1.
    let mut lcp = ppp(&ip, true, false);
    lcp[2..4].copy_from_slice(&0xc021u16.to_be_bytes());
    assert_eq!(decode(LinkType::PPP, TS, &lcp), Err(Skip::NotIp));
    let session = pppoe_session(&ip);
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &ether(0x8863, &session)),
        Err(Skip::NotIp)
    );
    let mut v2 = session.clone();
    v2[0] = 0x21;
    assert_eq!(
        decode(LinkType::ETHERNET, TS, &ether(0x8864, &v2)),
        Err(Skip::UnsupportedEncapsulation)
    );
    // A PPPoE length beyond the frame (snap length) still reaches the SYN.
    let mut long = session;
    long[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
    assert_matches(&observe(LinkType::PPP_ETHER, &long), &p);
    assert_eq!(
        decode(LinkType::PPP, TS, &[0xff, 0x03, 0x00]),
        Err(Skip::Truncated)
    );

    let over_udp = |port: u16, body: &[u8]| ipv4_outer(17, &udp(40000, port, body));
    // GTP-U: an echo request, GTP' (protocol type 0, which has a port of
    // its own), an extension header of length zero, and one running past
    // the packet.
    let gtp = gtp_u(&ip);
    let mut echo = gtp.clone();
    echo[1] = 1;
    assert_eq!(decode_ip(TS, &over_udp(2152, &echo)), Err(Skip::NotIp));
    let mut prime = gtp.clone();
    prime[0] &= !0x10;
    assert_eq!(decode_ip(TS, &over_udp(2152, &prime)), Err(Skip::NotTcp));
    let mut zero = gtp.clone();
    zero[12] = 0;
    assert_eq!(
        decode_ip(TS, &over_udp(2152, &zero)),
        Err(Skip::BadHeaderLength)
    );
    let mut past = gtp.clone();
    past[15] = 0x85;
    past[16] = 200;
    assert_eq!(decode_ip(TS, &over_udp(2152, &past)), Err(Skip::Truncated));
    // From the GTP-U port as well as to it.
    let reply = ipv4_outer(17, &udp(2152, 40000, &gtp));
    assert_matches(&observe(LinkType::RAW, &reply), &p);

    // L2TP: a control message, version 3, and the offset field.
    let data = l2tp(&ip);
    let mut control = data.clone();
    control[0] |= 0x80;
    assert_eq!(decode_ip(TS, &over_udp(1701, &control)), Err(Skip::NotIp));
    let mut v3 = data.clone();
    v3[1] = 0x03;
    assert_eq!(
        decode_ip(TS, &over_udp(1701, &v3)),
        Err(Skip::UnsupportedEncapsulation)
    );
    // Length, ids and no sequence: offset size 2, two padding bytes.
    let mut offset = vec![0x42, 0x02, 0, 0, 0, 7, 0, 9, 0, 2, 0xaa, 0xbb];
    offset.extend_from_slice(&ppp(&ip, true, false));
    assert_matches(&observe(LinkType::RAW, &over_udp(1701, &offset)), &p);
}

/// PPTP's enhanced GRE: acknowledgement-only packets, encrypted (MPPE)
/// PPP, other GRE versions and version 1 headers that break RFC 2637.
#[test]
fn pptp_gre_and_its_malformations() {
    use crate::craft::{ppp, pptp_gre};
    let p = v4_syn();
    let ip = p.ip_bytes();
    let over_gre = |g: &[u8]| ipv4_outer(47, g);
    // Without an acknowledgement number, and with a PPP frame that leaves
    // out the address bytes and compresses the protocol.
    let plain = pptp_gre(&ppp(&ip, false, true), 1, None);
    assert_matches(&observe(LinkType::RAW, &over_gre(&plain)), &p);
    // Only an acknowledgement: no payload.
    let mut ack_only = pptp_gre(&[], 0, Some(9));
    ack_only[0] &= !0x10; // no sequence number either
    ack_only.drain(8..12);
    assert_eq!(decode_ip(TS, &over_gre(&ack_only)), Err(Skip::NotIp));
    // MPPE-encrypted or compressed: PPP protocol 0x00fd (and 0x00fb per
    // link), unreadable as encrypted 802.11 frames are.
    for protocol in [0x00fdu16, 0x00fb] {
        let mut mppe = ppp(&ip, true, false);
        mppe[2..4].copy_from_slice(&protocol.to_be_bytes());
        assert_eq!(
            decode_ip(TS, &over_gre(&pptp_gre(&mppe, 2, None))),
            Err(Skip::UnsupportedEncapsulation)
        );
    }
    // A payload length beyond the packet (snap length) still reaches the
    // SYN; one inside it cuts the PPP frame.
    let mut long = pptp_gre(&ppp(&ip, true, false), 3, None);
    long[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
    assert_matches(&observe(LinkType::RAW, &over_gre(&long)), &p);
    let mut short = pptp_gre(&ppp(&ip, true, false), 3, None);
    short[4..6].copy_from_slice(&30u16.to_be_bytes());
    assert_eq!(decode_ip(TS, &over_gre(&short)), Err(Skip::Truncated));
    // Version 1 without its key field, with a checksum, or not carrying
    // PPP; version 2.
    let good = pptp_gre(&ppp(&ip, true, false), 4, None);
    for (byte, set, clear) in [(0, 0, 0x20), (0, 0x80, 0), (1, 0x02, 0x01)] {
        let mut g = good.clone();
        g[byte] = (g[byte] | set) & !clear;
        assert_eq!(
            decode_ip(TS, &over_gre(&g)),
            Err(Skip::UnsupportedEncapsulation),
            "{g:02x?}"
        );
    }
    let mut not_ppp = good.clone();
    not_ppp[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
    assert_eq!(
        decode_ip(TS, &over_gre(&not_ppp)),
        Err(Skip::UnsupportedEncapsulation)
    );
}

/// EtherIP's version is not checked, as Wireshark does not: FreeBSD 6.1
/// to 7.1 wrote it in the wrong nibble.
#[test]
fn etherip_of_any_version_is_opened() {
    use crate::craft::etherip;
    let p = v4_syn();
    for first in [0x30, 0x03, 0x40] {
        let mut e = etherip(&ethernet_frame(&p.ip_bytes()));
        e[0] = first;
        assert_matches(&observe(LinkType::RAW, &ipv4_outer(97, &e)), &p);
    }
    assert_eq!(
        decode_ip(TS, &ipv4_outer(97, &[0x30])),
        Err(Skip::Truncated)
    );
}

#[test]
fn vxlan_gpe_lisp_and_teredo_edges() {
    use crate::craft::{lisp, teredo, vxlan_gpe};
    let (v4, v6) = (v4_syn(), v6_syn());
    let over_udp = |port: u16, body: &[u8]| ipv4_outer(17, &udp(40000, port, body));
    // VXLAN-GPE without the P flag is VXLAN: Ethernet inside.
    let plain = vxlan_gpe(None, &ethernet_frame(&v4.ip_bytes()));
    assert_matches(&observe(LinkType::RAW, &over_udp(4790, &plain)), &v4);
    // NSH (4) is not followed.
    let nsh = vxlan_gpe(Some(4), &v4.ip_bytes());
    assert_eq!(
        decode_ip(TS, &over_udp(4790, &nsh)),
        Err(Skip::UnsupportedEncapsulation)
    );
    // LISP carries either IP version.
    assert_matches(
        &observe(LinkType::RAW, &over_udp(4341, &lisp(&v6.ip_bytes()))),
        &v6,
    );
    // Teredo carries IPv6 only, so IPv4 after its origin header means the
    // datagram was not Teredo. An authentication header longer than the
    // datagram: not Teredo either, unless the snap length cut it.
    assert_eq!(
        decode_ip(TS, &over_udp(3544, &teredo(&v4.ip_bytes(), false, true))),
        Err(Skip::NotTcp)
    );
    let mut auth = teredo(&v6.ip_bytes(), true, false);
    auth[3] = 250;
    assert_eq!(decode_ip(TS, &over_udp(3544, &auth)), Err(Skip::NotTcp));
    let mut cut = over_udp(3544, &auth);
    // The IPv4 and UDP lengths claim 300 bytes the capture does not hold.
    let (ip_len, udp_len) = (cut.len() as u16 + 300, cut.len() as u16 - 20 + 300);
    cut[2..4].copy_from_slice(&ip_len.to_be_bytes());
    cut[24..26].copy_from_slice(&udp_len.to_be_bytes());
    assert_eq!(decode_ip(TS, &cut), Err(Skip::Truncated));
}

#[test]
fn wifi_frames_that_carry_no_readable_ip_are_named() {
    use crate::craft::{radiotap, wifi_data};
    let p = v4_syn();
    let data = wifi_data(&p.ip_bytes(), false);
    let qos = wifi_data(&p.ip_bytes(), true);
    let named = |f: &[u8]| decode(LinkType::IEEE802_11, TS, f);
    // Encrypted (protected flag), management (beacon), QoS null, A-MSDU.
    let mut protected = data.clone();
    protected[1] |= 0x40;
    assert_eq!(named(&protected), Err(Skip::UnsupportedEncapsulation));
    let mut beacon = data.clone();
    beacon[0] = 0x80;
    assert_eq!(named(&beacon), Err(Skip::NotIp));
    let mut null = qos.clone();
    null[0] = 0xc8;
    assert_eq!(named(&null), Err(Skip::NotIp));
    let mut amsdu = qos.clone();
    amsdu[24] |= 0x80;
    assert_eq!(named(&amsdu), Err(Skip::UnsupportedEncapsulation));
    // Between access points (four addresses), and QoS with HT control.
    let mut wds = data[..24].to_vec();
    wds[1] = 0x03;
    wds.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
    wds.extend_from_slice(&data[24..]);
    assert_matches(&observe(LinkType::IEEE802_11, &wds), &p);
    let mut ht = qos[..26].to_vec();
    ht[1] |= 0x80;
    ht.extend_from_slice(&[0, 0, 0, 0]);
    ht.extend_from_slice(&qos[26..]);
    assert_matches(&observe(LinkType::IEEE802_11, &ht), &p);
    // A radiotap length past the frame.
    let mut r = radiotap(&data);
    r[2] = 0xff;
    assert_eq!(
        decode(LinkType::IEEE802_11_RADIOTAP, TS, &r),
        Err(Skip::Truncated)
    );
}

#[test]
fn nflog_in_either_byte_order_and_its_malformations() {
    use crate::craft::nflog;
    for p in [v4_syn(), v6_syn()] {
        for big_endian in [false, true] {
            let frame = nflog(&p.ip_bytes(), big_endian);
            assert_matches(&observe(LinkType::NFLOG, &frame), &p);
            // The payload attribute is 4-byte padded: the last bytes may
            // go without losing the packet.
            let whole = 12 + 4 + p.ip_bytes().len();
            for cut in 0..whole {
                assert_eq!(
                    decode(LinkType::NFLOG, TS, &frame[..cut]),
                    Err(Skip::Truncated),
                    "cut at {cut}"
                );
            }
        }
    }
    let frame = nflog(&v4_syn().ip_bytes(), false);
    // An attribute shorter than its own header.
    let mut short = frame.clone();
    short[4] = 2;
    assert_eq!(
        decode(LinkType::NFLOG, TS, &short),
        Err(Skip::BadHeaderLength)
    );
    // Netlink's flag bits on the type do not hide the payload.
    let mut flagged = frame.clone();
    flagged[15] |= 0x80;
    assert_matches(&observe(LinkType::NFLOG, &flagged), &v4_syn());
}

/// macOS's PKTAP: the header's own length, record type and inner link
/// type decide; a header too short, a record that is no packet, a PKTAP
/// header inside one and an inner link type synprint does not read are
/// named (the last two as encapsulations not opened).
#[test]
fn pktap_header_edges() {
    use crate::craft::pktap;
    let p = v6_syn();
    let eth = ethernet_frame(&p.ip_bytes());
    // A longer header than the shortest, as later macOS versions write.
    let mut longer = pktap(LinkType::ETHERNET, &[0; 20]);
    longer[0] = 128;
    longer.truncate(128);
    longer.extend_from_slice(&eth);
    assert_matches(&observe(LinkType::PKTAP, &longer), &p);
    let mut short = pktap(LinkType::ETHERNET, &eth);
    short[0] = 104;
    assert_eq!(
        decode(LinkType::PKTAP, TS, &short),
        Err(Skip::BadHeaderLength)
    );
    let mut none = pktap(LinkType::ETHERNET, &eth);
    none[4] = 0;
    assert_eq!(decode(LinkType::PKTAP, TS, &none), Err(Skip::NotIp));
    let nested = pktap(LinkType::PKTAP, &pktap(LinkType::ETHERNET, &eth));
    assert_eq!(
        decode(LinkType::PKTAP, TS, &nested),
        Err(Skip::UnsupportedEncapsulation)
    );
    let usb = pktap(LinkType(189), &eth);
    assert_eq!(
        decode(LinkType::PKTAP, TS, &usb),
        Err(Skip::UnsupportedEncapsulation)
    );
    // Raw IP under the header, as a utun interface gives it.
    assert_matches(
        &observe(LinkType::PKTAP, &pktap(LinkType::DLT_RAW_12, &p.ip_bytes())),
        &p,
    );
}

#[test]
fn pflog_reads_every_inet6_family_and_its_own_length() {
    use crate::craft::pflog;
    let p = v6_syn();
    for family in [24, 28, 30] {
        let mut f = pflog(&p.ip_bytes());
        f[1] = family;
        assert_matches(&observe(LinkType::PFLOG, &f), &p);
    }
    // An older, shorter header: the packet follows at its padded length.
    let mut short = pflog(&v4_syn().ip_bytes());
    short[0] = 45;
    short.drain(48..64);
    assert_matches(&observe(LinkType::PFLOG, &short), &v4_syn());
    let mut bad = short.clone();
    bad[0] = 1;
    assert_eq!(
        decode(LinkType::PFLOG, TS, &bad),
        Err(Skip::BadHeaderLength)
    );
}

#[test]
fn tunnel_depth_is_bounded() {
    let mut pkt = v4_syn().ip_bytes();
    for _ in 0..MAX_TUNNEL_DEPTH {
        pkt = ipv4_outer(4, &pkt);
    }
    observe(LinkType::RAW, &pkt);
    pkt = ipv4_outer(4, &pkt);
    assert_eq!(decode_ip(TS, &pkt), Err(Skip::TooDeep));
    // An Ethernet pseudowire in MPLS-in-IP is two tunnels: four such
    // layers are the most that are opened.
    let pseudowire_in_ip =
        |inner: &[u8]| ipv4_outer(137, &crate::craft::mpls(&[100], &ethernet_frame(inner)));
    let mut pkt = v4_syn().ip_bytes();
    for _ in 0..MAX_TUNNEL_DEPTH / 2 {
        pkt = pseudowire_in_ip(&pkt);
    }
    observe(LinkType::RAW, &pkt);
    pkt = pseudowire_in_ip(&pkt);
    assert_eq!(decode_ip(TS, &pkt), Err(Skip::TooDeep));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_as_any_link_never_panic(
            link in prop::sample::select(
                LinkType::DECODED.iter().map(|l| l.0).chain([7]).collect::<Vec<u32>>()
            ),
            bytes in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = decode(LinkType(link), TS, &bytes);
        }

        #[test]
        fn mutated_syns_never_panic(
            enc in prop::sample::select(Encapsulation::ALL.to_vec()),
            v6 in any::<bool>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let p = if v6 { v6_syn() } else { v4_syn() };
            let (link, mut frame) = enc.wrap(&p.ip_bytes());
            for (at, byte) in flips {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            let end = cut.index(frame.len() + 1);
            let _ = decode(link, TS, &frame[..end]);
        }
    }
}

/// A SYN with data, saved without it (headers only), decodes as the whole
/// packet does, over IPv4 and IPv6.
#[test]
fn a_saved_syn_without_its_data_decodes_as_the_packet() {
    for v6 in [false, true] {
        let mut syn = if v6 { v6_syn() } else { v4_syn() };
        syn.payload = vec![0; 100];
        let whole = syn.ip_bytes();
        let saved = whole[..whole.len() - 100].to_vec();
        assert!(decode_ip(TS, &saved).is_err());
        assert_eq!(
            decode_saved_syn(TS, saved),
            decode_ip(TS, &whole),
            "IPv6: {v6}"
        );
    }
}

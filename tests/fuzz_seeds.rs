//! Writes the fuzz targets' seed corpora into `fuzz/seeds/<target>/` from
//! crafted frames and captures. Run it after changing `craft`:
//!
//! ```text
//! cargo test --test fuzz_seeds -- --ignored
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use synprint::capture::{
    ByteOrder, PcapPrecision, PcapWriter, PcapngInterface, PcapngWriter, TsResolution,
};
use synprint::classify::{learn_from, ModelFile, Os, Sample, BUILTIN_MODEL};
use synprint::craft::{
    ipv4_outer, ipv6_with_extensions, nflog, teredo, udp, Encapsulation, Ipv6Ext, OptionBytes,
    Stack, TcpPacket,
};
use synprint::packet::{decode_ip, LinkType, Timestamp};

fn syns() -> Vec<TcpPacket> {
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d));
    let v6 = |d| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d));
    let mut out = Vec::new();
    for (i, stack) in [Stack::Windows, Stack::MacOs, Stack::Linux, Stack::OpenBsd]
        .into_iter()
        .enumerate()
    {
        let i = i as u16;
        out.push(stack.syn(v4(1), 40000 + i, v4(2), 443, u32::from(i)));
        out.push(stack.syn(v6(1), 40000 + i, v6(2), 80, u32::from(i)));
    }
    let ack = TcpPacket::syn_ack_for(&out[0]);
    out.push(ack);
    out
}

/// A decode seed: the link type (two bytes, big-endian), then the frame.
fn decode_seed(link: LinkType, frame: &[u8]) -> Vec<u8> {
    let mut s = (link.0 as u16).to_be_bytes().to_vec();
    s.extend_from_slice(frame);
    s
}

#[test]
#[ignore = "writes files into fuzz/seeds; run on purpose"]
fn write_fuzz_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let decode_dir = root.join("decode");
    let capture_dir = root.join("capture");
    std::fs::create_dir_all(&decode_dir).unwrap();
    std::fs::create_dir_all(&capture_dir).unwrap();
    let pkts = syns();

    for enc in Encapsulation::ALL {
        // One IPv4 and one IPv6 SYN per encapsulation keeps the corpus small.
        for p in [&pkts[0], &pkts[3]] {
            let (link, frame) = enc.wrap(&p.ip_bytes());
            let name = format!("{enc:?}-v{}", if p.src.is_ipv4() { 4 } else { 6 });
            std::fs::write(decode_dir.join(name), decode_seed(link, &frame)).unwrap();
        }
    }
    for (i, p) in pkts.iter().enumerate() {
        let (link, frame) = Encapsulation::Ethernet.wrap(&p.ip_bytes());
        std::fs::write(
            decode_dir.join(format!("stack-{i}")),
            decode_seed(link, &frame),
        )
        .unwrap();
    }
    // Outside `Encapsulation::ALL` (their frames depend on more than the
    // packet): NFLOG in both byte orders, Teredo.
    for big_endian in [false, true] {
        std::fs::write(
            decode_dir.join(format!("nflog-{}", if big_endian { "be" } else { "le" })),
            decode_seed(LinkType::NFLOG, &nflog(&pkts[0].ip_bytes(), big_endian)),
        )
        .unwrap();
    }
    let udp_teredo = udp(3544, 40000, &teredo(&pkts[1].ip_bytes(), true, true));
    std::fs::write(
        decode_dir.join("teredo"),
        decode_seed(LinkType::RAW, &ipv4_outer(17, &udp_teredo)),
    )
    .unwrap();
    let ext = ipv6_with_extensions(
        &pkts[1].ip_bytes(),
        &[
            Ipv6Ext::HopByHop,
            Ipv6Ext::Routing,
            Ipv6Ext::Fragment {
                offset: 0,
                more: false,
            },
            Ipv6Ext::DestinationOptions,
        ],
    );
    std::fs::write(
        decode_dir.join("ipv6-ext"),
        decode_seed(LinkType::RAW, &ext),
    )
    .unwrap();
    // Mobility (135), HIP (139) and Shim6 (140): walked like hop-by-hop.
    let ext = ipv6_with_extensions(
        &pkts[1].ip_bytes(),
        &[Ipv6Ext::Generic(135), Ipv6Ext::Generic(139), Ipv6Ext::Shim6],
    );
    std::fs::write(
        decode_dir.join("ipv6-ext-generic"),
        decode_seed(LinkType::RAW, &ext),
    )
    .unwrap();

    let t = |i: usize| Timestamp(1_700_000_000_000_000_000 + i as u64 * 1_000_123);
    for (order, precision) in [
        (ByteOrder::Little, PcapPrecision::Micros),
        (ByteOrder::Big, PcapPrecision::Nanos),
    ] {
        let mut w =
            PcapWriter::with_format(Vec::new(), LinkType::ETHERNET, order, precision).unwrap();
        for (i, p) in pkts.iter().take(3).enumerate() {
            w.write(t(i), &Encapsulation::Vlan.wrap(&p.ip_bytes()).1)
                .unwrap();
        }
        let name = format!("pcap-{order:?}-{precision:?}");
        std::fs::write(capture_dir.join(name), w.into_inner()).unwrap();
    }
    // A SYN+ACK minutes after its SYN (the handshake table has forgotten
    // it; p0f, without an expiry round since, has not), its window the
    // SYN's MSS and none of the other divisors p0f tries: the `analyze`
    // target's one allowed difference.
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    let mut syn = pkts[0].clone();
    syn.options = OptionBytes::new().mss(1000).0;
    let mut late = TcpPacket::syn_ack_for(&syn);
    late.window = 1000;
    late.options = OptionBytes::new().mss(1380).0;
    w.write(t(0), &Encapsulation::Ethernet.wrap(&syn.ip_bytes()).1)
        .unwrap();
    w.write(
        Timestamp(t(0).0 + 600_000_000_000),
        &Encapsulation::Ethernet.wrap(&late.ip_bytes()).1,
    )
    .unwrap();
    std::fs::write(capture_dir.join("pcap-late-syn-ack"), w.into_inner()).unwrap();
    let mut w = PcapngWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    let eth = w
        .add_interface(PcapngInterface::new(LinkType::ETHERNET))
        .unwrap();
    let sll2 = w
        .add_interface(PcapngInterface {
            resolution: TsResolution::Binary(30),
            offset_secs: 100,
            ..PcapngInterface::new(LinkType::LINUX_SLL2)
        })
        .unwrap();
    w.write(eth, t(0), &Encapsulation::Vxlan.wrap(&pkts[0].ip_bytes()).1)
        .unwrap();
    w.write(
        sll2,
        t(1),
        &Encapsulation::LinuxSll2.wrap(&pkts[1].ip_bytes()).1,
    )
    .unwrap();
    w.write_block(4, &[0, 0, 0, 0]).unwrap();
    w.write_obsolete(0, t(2), &Encapsulation::Gre.wrap(&pkts[2].ip_bytes()).1)
        .unwrap();
    w.write_simple(&Encapsulation::QinQ.wrap(&pkts[4].ip_bytes()).1)
        .unwrap();
    w.section(ByteOrder::Big).unwrap();
    let null = w
        .add_interface(PcapngInterface {
            resolution: TsResolution::Decimal(9),
            ..PcapngInterface::new(LinkType::NULL)
        })
        .unwrap();
    w.write(
        null,
        t(3),
        &Encapsulation::NullBe.wrap(&pkts[5].ip_bytes()).1,
    )
    .unwrap();
    std::fs::write(capture_dir.join("pcapng-two-sections"), w.into_inner()).unwrap();

    write_model_and_label_seeds(&root, &pkts);
}

/// `model`: the built-in model and one learned from the crafted SYNs;
/// `labels`: CSVs with an `os` column, a `user_agent` column, both, and
/// zardaxt's spellings, labelling the SYN the target classifies.
fn write_model_and_label_seeds(root: &Path, pkts: &[TcpPacket]) {
    let model_dir = root.join("model");
    let labels_dir = root.join("labels");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::fs::create_dir_all(&labels_dir).unwrap();

    std::fs::write(model_dir.join("builtin.toml"), BUILTIN_MODEL).unwrap();
    let mut learned = ModelFile::empty_learned();
    let obs: Vec<_> = pkts
        .iter()
        .filter_map(|p| decode_ip(Timestamp(1), &p.ip_bytes()).unwrap())
        .collect();
    let oses = [Os::Windows, Os::Windows, Os::MacOs, Os::Ios, Os::Linux];
    learn_from(
        &mut learned,
        obs.iter()
            .zip(oses.iter().cycle())
            .map(|(obs, &os)| Sample { obs, p0f: None, os }),
    );
    std::fs::write(model_dir.join("learned.toml"), learned.to_toml()).unwrap();

    let windows_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let iphone_ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) \
                     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    for (name, text) in [
        ("os.csv", "src_ip,src_port,os\n192.0.2.1,40000,Windows\n::ffff:192.0.2.9,1,Mac OS\n".to_string()),
        (
            "ua.csv",
            format!("src_ip,src_port,user_agent\n192.0.2.1,40000,\"{iphone_ua}\"\n2001:db8::1,443,curl/8.0\n"),
        ),
        (
            "both.csv",
            format!("\u{feff}SRC_IP,src_port,user_agent,os,extra\n192.0.2.1, 40000 ,\"{windows_ua}\",Chromium OS,x\n"),
        ),
    ] {
        std::fs::write(labels_dir.join(name), text).unwrap();
    }
}

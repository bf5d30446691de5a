//! Reader tests against captures written by the writers in this module.

use std::io::{self, Read};

use super::*;
use crate::packet::{LinkType, Timestamp};

/// An owned copy of a frame: time, link, bytes, original length, interface.
type Owned = (Timestamp, LinkType, Vec<u8>, u32, u32);

fn ts(secs: u64, nanos: u32) -> Timestamp {
    Timestamp::from_secs_nanos(secs, nanos)
}

/// Frame contents of varied lengths (including empty and odd sizes).
fn frames() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![1],
        (0..61u8).collect(),
        vec![0xee; 1514],
        (0..=255u8).cycle().take(3001).collect(),
    ]
}

/// Reads everything, returning owned copies and the error, if any.
fn read_all(bytes: &[u8]) -> (Vec<Owned>, Option<CaptureError>) {
    read_all_from(bytes)
}

fn read_all_from<R: Read>(src: R) -> (Vec<Owned>, Option<CaptureError>) {
    let mut out = Vec::new();
    let mut reader = match CaptureReader::new(src) {
        Ok(r) => r,
        Err(e) => return (out, Some(e)),
    };
    loop {
        match reader.next_frame() {
            Ok(Some(f)) => out.push((f.ts, f.link, f.data.to_vec(), f.orig_len, f.interface)),
            Ok(None) => return (out, None),
            Err(e) => {
                // The stream stays ended after an error.
                assert!(matches!(reader.next_frame(), Ok(None)));
                return (out, Some(e));
            }
        }
    }
}

/// A `Read` that hands out at most a few bytes per call, to exercise
/// records split across reads.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn pcap_file(order: ByteOrder, precision: PcapPrecision) -> Vec<u8> {
    let mut w = PcapWriter::with_format(Vec::new(), LinkType::LINUX_SLL, order, precision).unwrap();
    for (i, f) in frames().iter().enumerate() {
        w.write(ts(1_700_000_000 + i as u64, 123_456_789), f)
            .unwrap();
    }
    w.into_inner()
}

#[test]
fn pcap_both_byte_orders_and_precisions() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for precision in [PcapPrecision::Micros, PcapPrecision::Nanos] {
            let file = pcap_file(order, precision);
            let reader = CaptureReader::new(&file[..]).unwrap();
            assert_eq!(reader.format(), CaptureFormat::Pcap);
            let (got, err) = read_all(&file);
            assert!(err.is_none(), "{err:?}");
            let nanos = match precision {
                PcapPrecision::Micros => 123_456_000,
                PcapPrecision::Nanos => 123_456_789,
            };
            let want: Vec<_> = frames()
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    let len = f.len() as u32;
                    (
                        ts(1_700_000_000 + i as u64, nanos),
                        LinkType::LINUX_SLL,
                        f,
                        len,
                        0,
                    )
                })
                .collect();
            assert_eq!(got, want, "{order:?} {precision:?}");
            assert_eq!(
                read_all_from(Trickle {
                    data: &file,
                    step: 0
                })
                .0,
                want
            );
        }
    }
}

#[test]
fn pcap_link_type_ignores_fcs_bits_and_keeps_orig_len() {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    w.write_truncated(ts(1, 0), &[1, 2, 3], 1500).unwrap();
    let mut file = w.into_inner();
    // FCS length 4, "F" bit set.
    file[20..24].copy_from_slice(&(1u32 | 0x4400_0000).to_le_bytes());
    let (got, err) = read_all(&file);
    assert!(err.is_none());
    assert_eq!(got[0].1, LinkType::ETHERNET);
    assert_eq!(got[0].3, 1500);
}

#[test]
fn pcap_cut_off_keeps_earlier_records_and_names_the_offset() {
    let file = pcap_file(ByteOrder::Little, PcapPrecision::Nanos);
    // Offsets of each record.
    let mut starts = vec![24usize];
    for f in frames() {
        starts.push(starts.last().unwrap() + 16 + f.len());
    }
    assert_eq!(*starts.last().unwrap(), file.len());
    for cut in [
        starts[2] + 3,
        starts[2] + 16,
        starts[3] + 20,
        file.len() - 1,
    ] {
        let (got, err) = read_all(&file[..cut]);
        let whole = starts.iter().filter(|&&s| s <= cut).count() - 1;
        assert_eq!(got.len(), whole, "cut {cut}");
        match err {
            Some(e @ CaptureError::CutOff { .. }) => {
                assert_eq!(e.offset(), starts[whole] as u64);
                assert!(e
                    .to_string()
                    .starts_with(&format!("error at byte {}: the file ends", starts[whole])));
            }
            other => panic!("cut {cut}: {other:?}"),
        }
    }
    // A header cut short.
    let (_, err) = read_all(&file[..10]);
    assert!(matches!(err, Some(CaptureError::CutOff { offset: 0, .. })));
}

#[test]
fn not_a_capture() {
    for bytes in [
        &b""[..],
        b"ab",
        b"GET / HTTP/1.1\r\n",
        &[0xa1, 0xb2, 0xc3, 0xd5, 0, 0, 0, 0],
    ] {
        let (_, err) = read_all(bytes);
        match err {
            Some(e @ CaptureError::NotACapture { .. }) => {
                assert_eq!(e.offset(), 0);
                assert!(e.to_string().contains("not a pcap or pcapng capture"));
            }
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
}

/// What is handed over by mistake is named, with the way out.
#[test]
fn not_a_capture_says_what_it_is() {
    for (bytes, says) in [
        (&b""[..], "error at byte 0: the input is empty"),
        (b"GET /", "(its first bytes, in hex: 47 45 54 20)"),
        (&[0x28, 0xb5, 0x2f, 0xfd, 0], "zstd-compressed: `zstd -dc"),
        (&[0x04, 0x22, 0x4d, 0x18, 0x64], "lz4-compressed: `lz4 -dc"),
        (&[0x02, 0x21, 0x4c, 0x18, 0], "lz4-compressed: `lz4 -dc"),
        (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0], "xz-compressed"),
        (b"BZh91AY", "bzip2-compressed"),
        (&[0x34, 0xcd, 0xb2, 0xa1, 2, 0], "modified (Kuznetzov) pcap"),
        (&[0xa1, 0xb2, 0xcd, 0x34, 0, 2], "modified (Kuznetzov) pcap"),
    ] {
        let (_, err) = read_all(bytes);
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains(says), "{bytes:?}: {text}");
    }
}

#[test]
fn pcap_bad_version_and_huge_record() {
    let mut file = pcap_file(ByteOrder::Little, PcapPrecision::Micros);
    file[4] = 3;
    assert!(matches!(
        read_all(&file).1,
        Some(CaptureError::Malformed {
            why: Malformation::UnsupportedVersion { major: 3, minor: 4 },
            ..
        })
    ));
    let mut file = pcap_file(ByteOrder::Big, PcapPrecision::Micros);
    file[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_be_bytes());
    let (got, err) = read_all(&file);
    assert!(got.is_empty());
    assert!(matches!(
        err,
        Some(CaptureError::Malformed {
            offset: 24,
            why: Malformation::TooLarge { .. },
            ..
        })
    ));
}

#[test]
fn records_larger_than_the_read_chunk() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    let mut w = PcapWriter::new(Vec::new(), LinkType::RAW).unwrap();
    w.write(ts(5, 0), &[9; 40]).unwrap();
    w.write(ts(6, 0), &big).unwrap();
    w.write(ts(7, 0), &[8; 40]).unwrap();
    let (got, err) = read_all(&w.into_inner());
    assert!(err.is_none());
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].2, big);
    assert_eq!(got[2].2, vec![8; 40]);
}

/// Two sections: the first little-endian with three interfaces (Ethernet
/// in microseconds, raw IP in nanoseconds, SLL in 2^-20 s shifted by an
/// offset), the second big-endian with one NULL interface.
fn pcapng_file() -> (Vec<u8>, Vec<Owned>) {
    let t0 = ts(1_700_000_000, 987_654_321);
    let mut want = Vec::new();
    let mut w = PcapngWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    let eth = w
        .add_interface(PcapngInterface::new(LinkType::ETHERNET))
        .unwrap();
    let raw = w
        .add_interface(PcapngInterface {
            resolution: TsResolution::Decimal(9),
            ..PcapngInterface::new(LinkType::RAW)
        })
        .unwrap();
    let sll = w
        .add_interface(PcapngInterface {
            resolution: TsResolution::Binary(20),
            offset_secs: 1_600_000_000,
            ..PcapngInterface::new(LinkType::LINUX_SLL)
        })
        .unwrap();
    let f = frames();
    w.write(eth, t0, &f[2]).unwrap();
    want.push((
        ts(1_700_000_000, 987_654_000),
        LinkType::ETHERNET,
        f[2].clone(),
        61,
        0,
    ));
    // A name-resolution block and a custom block, both skipped.
    w.write_block(4, &[0, 0, 0, 0]).unwrap();
    w.write_block(0x0000_0bad, &[1, 2, 3, 4, 5]).unwrap();
    w.write(raw, t0, &f[1]).unwrap();
    want.push((t0, LinkType::RAW, f[1].clone(), 1, 1));
    w.write(sll, t0, &f[4]).unwrap();
    // 2^-20 s units: 987654321 ns is 1035630.5... units, floored, back to ns.
    let units = (987_654_321u64 << 20) / 1_000_000_000;
    let sll_ts = ts(1_700_000_000, ((units * 1_000_000_000) >> 20) as u32);
    want.push((sll_ts, LinkType::LINUX_SLL, f[4].clone(), 3001, 2));
    w.write_obsolete(0, ts(1_700_000_001, 5_000), &f[3])
        .unwrap();
    want.push((
        ts(1_700_000_001, 5_000),
        LinkType::ETHERNET,
        f[3].clone(),
        1514,
        0,
    ));
    w.write_simple(&f[2]).unwrap();
    // A simple packet block takes the previous packet's time.
    want.push((
        ts(1_700_000_001, 5_000),
        LinkType::ETHERNET,
        f[2].clone(),
        61,
        0,
    ));

    w.section(ByteOrder::Big).unwrap();
    let null = w
        .add_interface(PcapngInterface::new(LinkType::NULL))
        .unwrap();
    w.write(null, ts(1_700_000_002, 0), &f[0]).unwrap();
    want.push((ts(1_700_000_002, 0), LinkType::NULL, vec![], 0, 0));
    w.write(null, ts(1_700_000_003, 1000), &f[3]).unwrap();
    want.push((
        ts(1_700_000_003, 1000),
        LinkType::NULL,
        f[3].clone(),
        1514,
        0,
    ));
    (w.into_inner(), want)
}

#[test]
fn pcapng_sections_interfaces_and_block_kinds() {
    let (file, want) = pcapng_file();
    assert_eq!(
        CaptureReader::new(&file[..]).unwrap().format(),
        CaptureFormat::Pcapng
    );
    let (got, err) = read_all(&file);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, want);
    let (got, err) = read_all_from(Trickle {
        data: &file,
        step: 3,
    });
    assert!(err.is_none());
    assert_eq!(got, want);
}

#[test]
fn pcapng_simple_packet_honours_snaplen() {
    let mut w = PcapngWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    w.add_interface(PcapngInterface {
        snaplen: 10,
        ..PcapngInterface::new(LinkType::RAW)
    })
    .unwrap();
    w.write_simple(&[7; 30]).unwrap();
    let (got, err) = read_all(&w.into_inner());
    assert!(err.is_none());
    assert_eq!(got[0].2, vec![7; 10]);
    assert_eq!(got[0].3, 30);
}

/// Offset of the n-th block in a pcapng file.
fn block_offset(file: &[u8], n: usize, big_endian: bool) -> usize {
    let mut at = 0;
    for _ in 0..n {
        let b: [u8; 4] = file[at + 4..at + 8].try_into().unwrap();
        at += if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        } as usize;
    }
    at
}

#[test]
fn pcapng_malformations_are_named_with_their_offset() {
    let (file, _) = pcapng_file();
    // Block 4 is the first enhanced packet block (after SHB and 3 IDBs).
    let epb = block_offset(&file, 4, false);

    let mut bad = file.clone();
    bad[epb + 4] = 0x0d; // length not a multiple of four
    let (got, err) = read_all(&bad);
    assert!(got.is_empty());
    assert!(
        matches!(err, Some(CaptureError::Malformed { offset, why: Malformation::BlockLength(_), .. }) if offset == epb as u64)
    );

    let mut bad = file.clone();
    bad[epb + 4] += 4; // leading length no longer matches the trailer
    assert!(matches!(
        read_all(&bad).1,
        Some(CaptureError::Malformed {
            why: Malformation::TrailerMismatch { .. },
            ..
        })
    ));

    let mut bad = file.clone();
    bad[epb + 4..epb + 8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let err = read_all(&bad).1.expect("an error");
    assert!(
        matches!(
            err,
            CaptureError::Malformed {
                why: Malformation::BlockTooLarge {
                    len: 0x8000_0000,
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("block length 2147483648 exceeds"),
        "{err}"
    );

    let mut bad = file.clone();
    bad[epb + 8] = 9; // interface 9
    assert!(matches!(
        read_all(&bad).1,
        Some(CaptureError::Malformed {
            why: Malformation::UnknownInterface(9),
            ..
        })
    ));

    let mut bad = file.clone();
    bad[epb + 20..epb + 24].copy_from_slice(&1000u32.to_le_bytes()); // caplen
    assert!(matches!(
        read_all(&bad).1,
        Some(CaptureError::Malformed {
            why: Malformation::CapturedPastBlock { caplen: 1000 },
            ..
        })
    ));

    let mut bad = file.clone();
    bad[8] = 0x99; // byte-order magic
    assert!(matches!(
        read_all(&bad).1,
        Some(CaptureError::Malformed {
            offset: 0,
            why: Malformation::ByteOrderMagic(_),
            ..
        })
    ));

    // An interface option running past its block.
    let sll_idb = block_offset(&file, 3, false);
    let mut bad = file.clone();
    bad[sll_idb + 18] = 200;
    assert!(matches!(
        read_all(&bad).1,
        Some(CaptureError::Malformed {
            why: Malformation::OptionPastBlock,
            ..
        })
    ));

    // Cut inside the third packet block: two frames, then the offset.
    let third = block_offset(&file, 8, false);
    let (got, err) = read_all(&file[..third + 30]);
    assert_eq!(got.len(), 2);
    let err = err.unwrap();
    assert!(matches!(err, CaptureError::CutOff { .. }));
    assert_eq!(err.offset(), third as u64);
    assert!(err.to_string().contains("enhanced packet block"));

    // Cut inside the next block's type field: no type to name.
    for left in 1..4 {
        let (got, err) = read_all(&file[..third + left]);
        assert_eq!(got.len(), 2);
        let err = err.unwrap().to_string();
        assert!(
            err.ends_with(&format!("a pcapng block header ({left} of 12 bytes)")),
            "{err}"
        );
    }
}

/// Interface blocks are kept until their section ends: a section of
/// nothing else must stop at a bound, not take all memory.
#[test]
fn pcapng_interfaces_per_section_are_bounded() {
    let mut w = PcapngWriter::new(Vec::new(), ByteOrder::Little).unwrap();
    let first = w
        .add_interface(PcapngInterface::new(LinkType::ETHERNET))
        .unwrap();
    let f = frames();
    w.write(first, ts(1_700_000_000, 0), &f[2]).unwrap();
    let before = w.into_inner();
    let idb = &before[block_offset(&before, 1, false)..block_offset(&before, 2, false)];
    let mut file = before.clone();
    let limit = 1 << 16;
    for _ in 1..limit {
        file.extend_from_slice(idb);
    }
    // Up to the bound, interfaces are fine and packets still read.
    let (got, err) = read_all(&file);
    assert_eq!((got.len(), err.is_none()), (1, true), "{err:?}");
    let over = file.len();
    file.extend_from_slice(idb);
    let (got, err) = read_all(&file);
    assert_eq!(got.len(), 1);
    let err = err.unwrap();
    assert_eq!(err.offset(), over as u64);
    assert!(matches!(
        err,
        CaptureError::Malformed {
            why: Malformation::TooManyInterfaces(_),
            ..
        }
    ));
    // A new section starts afresh.
    let mut next = file[..over].to_vec();
    next.extend_from_slice(&before);
    next.extend_from_slice(idb);
    let (got, err) = read_all(&next);
    assert_eq!((got.len(), err.is_none()), (2, true), "{err:?}");
}

#[test]
fn clock_resolutions() {
    use super::reader::tests_support::nanos_for;
    assert_eq!(nanos_for(6, 1), 1000);
    assert_eq!(nanos_for(9, 7), 7);
    assert_eq!(nanos_for(0, 3), 3_000_000_000);
    assert_eq!(nanos_for(12, 5000), 5);
    assert_eq!(nanos_for(0x80 | 10, 1024), 1_000_000_000);
    assert_eq!(nanos_for(100, u64::MAX), 0);
    assert_eq!(nanos_for(0x80 | 127, u64::MAX), 0);
}

/// An interface block that repeats its clock options (the format allows
/// each once): the first of each counts, as tshark reads them.
#[test]
fn repeated_clock_options_take_the_first() {
    let block = |ty: u32, body: &[u8]| {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let mut b = ty.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.resize(len as usize - 4, 0);
        b.extend_from_slice(&len.to_le_bytes());
        b
    };
    let option = |code: u16, value: &[u8]| {
        let mut o = code.to_le_bytes().to_vec();
        o.extend_from_slice(&(value.len() as u16).to_le_bytes());
        o.extend_from_slice(value);
        o.resize(4 + value.len().next_multiple_of(4), 0);
        o
    };
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut idb = vec![101, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    for o in [
        option(9, &[9]),
        option(9, &[3]),
        option(14, &100u64.to_le_bytes()),
        option(14, &200u64.to_le_bytes()),
        option(0, &[]),
    ] {
        idb.extend_from_slice(&o);
    }
    let frame = &frames()[1];
    let units: u64 = 1_700_000_000_123_456_789;
    let mut epb = 0u32.to_le_bytes().to_vec();
    epb.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(units as u32).to_le_bytes());
    epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    epb.extend_from_slice(frame);
    let file = [block(0x0a0d_0d0a, &shb), block(1, &idb), block(6, &epb)].concat();
    let (got, err) = read_all(&file);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ts(1_700_000_100, 123_456_789));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_as_a_capture_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = read_all(&bytes);
        }

        #[test]
        fn mutated_captures_never_panic(
            pcapng in any::<bool>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut file = if pcapng { pcapng_file().0 } else { pcap_file(ByteOrder::Big, PcapPrecision::Micros) };
            for (at, byte) in flips {
                let i = at.index(file.len());
                file[i] = byte;
            }
            let end = cut.index(file.len() + 1);
            let _ = read_all(&file[..end]);
        }
    }
}

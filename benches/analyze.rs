//! `cargo bench --bench analyze`: synprint's full analysis against
//! huginn-net-tcp on the same generated captures, in one run, on one core.
//!
//! Four captures: 1M SYNs of eight stacks over varying hop counts (a few
//! hundred shapes), 100k whole connections, 1M SYNs of the same stacks over
//! varied paths (MSS and hop count: thousands of shapes), and 1M SYNs of
//! random header values (the worst case for the per-shape caches). Prints
//! packets/s for the read floor (merely walking the file's records),
//! synprint with `--format none` and `--format jsonl` (to a file), and
//! huginn-net-tcp's full TCP analysis (syn, syn-ack, mtu, uptime, with its
//! bundled database) fed frame by frame, plus the ratios; and, when p0f is
//! installed, `p0f -r` over the same file (a separate process, one round:
//! it is two orders of magnitude slower).
//!
//! `SYNPRINT_BENCH_FILES=a.pcap:b.pcapng` measures the same contenders on
//! those captures instead of generated ones.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a small
//! smoke run so the harness itself stays tested.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use synprint::analyze::{Analyzer, AnalyzerConfig, Engine};
use synprint::capture::{plain_size, CaptureReader, PcapWriter};
use synprint::craft::{ethernet_frame, numbered_hosts, OptionBytes, Stack, TcpPacket};
use synprint::output::{Format, PreallocatedFile, RecordWriter};
use synprint::packet::{flags, LinkType, Timestamp};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 5 } else { 1 };
    // glibc raises its mmap threshold when a large block is freed, so from
    // the second round on, a run's large tables would come from the heap
    // and be zeroed there, where `synprint analyze` (one run per process)
    // gets them from mmap, zeroed lazily. Fixing the threshold keeps every
    // round like a process's one run; on small captures that fixed cost is
    // most of a run.
    // SAFETY: mallopt only changes allocator settings; called before any
    // other thread exists.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    let tmp = tempfile::tempdir().expect("temporary directory");
    let bench = Bench {
        rounds,
        full,
        engine: Engine::default(),
        unclassified: Engine::default().without_classification(),
        hdb: Arc::new(
            huginn_net_db::TcpDatabase::load_default().expect("huginn-net-db bundled database"),
        ),
        out_path: tmp.path().join("out.jsonl"),
    };
    // SYNPRINT_BENCH_FILES=a.pcap:b.pcapng measures those captures (any
    // format and link type synprint reads) instead of the generated ones:
    // the same contenders, side by side, on one's own traffic.
    if let Some(files) = std::env::var_os("SYNPRINT_BENCH_FILES") {
        println!("synprint analyze benchmark on given captures (best of {rounds})");
        println!();
        bench.measure_files(std::env::split_paths(&files));
        return;
    }

    let (syns, conns) = if full {
        (1_000_000, 100_000)
    } else {
        (2_000, 200)
    };
    // SYNPRINT_BENCH_DIR keeps the generated captures (e.g. to profile
    // `synprint analyze` on them, or to run p0f over the same files).
    let dir =
        std::env::var_os("SYNPRINT_BENCH_DIR").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).expect("the captures' directory");
    let syn_path = dir.join("syn.pcap");
    let mixed_path = dir.join("mixed.pcap");
    let paths_path = dir.join("paths.pcap");
    let shapes_path = dir.join("new-shapes.pcap");
    let n_syn = write_syn_capture(&syn_path, syns, client_syn);
    let n_mixed = write_mixed_capture(&mixed_path, conns);
    let n_paths = write_syn_capture(&paths_path, syns, varied_path_syn);
    let n_shapes = write_syn_capture(&shapes_path, syns, new_shape_syn);
    println!(
        "synprint analyze benchmark ({} mode, best of {rounds})",
        if full { "full" } else { "smoke" }
    );
    println!(
        "captures: {n_syn} distinct client SYNs; {conns} whole connections = {n_mixed} packets; \
         {n_paths} SYNs over varied paths (MSS and hop count: thousands of shapes); \
         {n_shapes} SYNs of random header values (nearly every one a shape not seen before: \
         the worst case for synprint's per-shape caches)"
    );
    println!();
    for (name, path, packets, records) in [
        ("SYN-only capture", &syn_path, n_syn, n_syn),
        ("mixed capture", &mixed_path, n_mixed, 2 * u64::from(conns)),
        ("varied-paths capture", &paths_path, n_paths, n_paths),
        ("new-shapes capture", &shapes_path, n_shapes, n_shapes),
    ] {
        let config = AnalyzerConfig::default();
        bench.measure(name, path, packets, config, Some(records));
    }
    // The smoke run also goes the way of SYNPRINT_BENCH_FILES.
    if !full {
        bench.measure_files([mixed_path]);
    }
}

/// The contenders and what every measurement shares.
struct Bench {
    rounds: usize,
    full: bool,
    engine: Engine,
    unclassified: Engine,
    hdb: Arc<huginn_net_db::TcpDatabase>,
    out_path: std::path::PathBuf,
}

impl Bench {
    /// Measures each capture given (a bad one is reported and skipped).
    fn measure_files(&self, paths: impl IntoIterator<Item = std::path::PathBuf>) {
        for path in paths {
            // Each contender reads the file again, round after round: a
            // pipe would be empty after the first.
            if !path.is_file() {
                println!("{}: not measured: not a regular file", path.display());
                continue;
            }
            if let Err(e) = CaptureReader::open(&path) {
                println!("{}: not measured: {e}", path.display());
                continue;
            }
            let (packets, _) = walk(&path);
            // As `synprint analyze` sizes its tables: by the file, unless
            // it is compressed.
            let config = plain_size(&path)
                .map_or_else(AnalyzerConfig::default, AnalyzerConfig::for_capture_bytes);
            self.measure(&path.display().to_string(), &path, packets, config, None);
        }
    }

    /// Measures every contender on one capture of `packets` frames and
    /// prints the figures; `records` (SYN and SYN+ACK records) is counted
    /// by a run where it is not known.
    fn measure(
        &self,
        name: &str,
        path: &Path,
        packets: u64,
        config: AnalyzerConfig,
        records: Option<u64>,
    ) {
        let (rounds, engine, out_path) = (self.rounds, &self.engine, &self.out_path);
        let run = |engine: &Engine, format: Format, out: &mut dyn Write| {
            synprint_run(engine, config, path, format, out)
        };
        let floor = best(rounds, || walk(path));
        let none = best(rounds, || run(engine, Format::None, &mut std::io::sink()));
        let none_unclassified = best(rounds, || {
            run(&self.unclassified, Format::None, &mut std::io::sink())
        });
        // The same JSON written to io::sink: synprint's own cost of the
        // format, without the kernel's copy into the page cache.
        let jsonl_sink = best(rounds, || run(engine, Format::Jsonl, &mut std::io::sink()));
        // Each round starts from no file, untimed: truncating the previous
        // round's output would charge this round for the page cache's
        // cleanup.
        let (jsonl, jsonl_kernel) = best_after(
            rounds,
            || {
                let _ = std::fs::remove_file(out_path);
            },
            || {
                // As `synprint analyze -o FILE` writes it: its blocks
                // reserved ahead of the writes.
                let mut file = PreallocatedFile::create(out_path).expect("output file");
                run(engine, Format::Jsonl, &mut file)
            },
        );
        let _ = std::fs::remove_file(out_path);
        let huginn = best(rounds, || huginn_run(&self.hdb, path));
        let p0f = if self.full { p0f_run(path) } else { None };
        // A given capture: its record counts, and whether huginn-net-tcp
        // (which guesses each frame's link layer) saw its SYNs at all.
        let (records, counts) = match records {
            Some(n) => (n, None),
            None => {
                let (syn, syn_ack) = run(engine, Format::None, &mut std::io::sink());
                (syn + syn_ack, Some((syn, huginn_run(&self.hdb, path))))
            }
        };
        let pps = |s: f64| packets as f64 / s;
        println!("{name} ({packets} packets, {records} records):");
        println!(
            "  read floor (walk records)    {:>12.0} packets/s",
            pps(floor)
        );
        println!(
            "  synprint --format none       {:>12.0} packets/s  {:>6.2}x huginn  {:>5.2}x floor time",
            pps(none),
            huginn / none,
            none / floor
        );
        let per_record = if records == 0 {
            "no records".to_string()
        } else {
            let ns = (none - none_unclassified) * 1e9 / records as f64;
            format!("classification adds {ns:.0} ns per record")
        };
        println!(
            "  ... without classification   {:>12.0} packets/s  ({per_record})",
            pps(none_unclassified),
        );
        println!(
            "  synprint --format jsonl      {:>12.0} packets/s  {:>6.2}x huginn  (kernel {:.2} s of {:.2} s)",
            pps(jsonl),
            huginn / jsonl,
            jsonl_kernel,
            jsonl
        );
        println!(
            "  ... jsonl to io::sink        {:>12.0} packets/s  {:>6.2}x huginn  (formatting without the file)",
            pps(jsonl_sink),
            huginn / jsonl_sink
        );
        println!(
            "  huginn-net-tcp 2.2.1 (full)  {:>12.0} packets/s",
            pps(huginn)
        );
        if let Some((syn, huginn_syn)) = counts {
            println!(
                "  SYNs fingerprinted           {syn:>12} synprint, {huginn_syn} huginn-net-tcp"
            );
        }
        match p0f {
            Some(p0f) => println!(
                "  p0f 3 (-r FILE > /dev/null)  {:>12.0} packets/s  (synprint none: {:.0}x p0f)",
                pps(p0f),
                p0f / none
            ),
            None if self.full => {
                println!(
                    "  p0f 3: not run (no p0f, or it failed on this file; apt-get install p0f)"
                )
            }
            None => {}
        }
        println!();
    }
}

/// Fastest of `rounds` runs, in seconds.
fn best<T>(rounds: usize, f: impl FnMut() -> T) -> f64 {
    best_after(rounds, || (), f).0
}

/// Fastest of `rounds` runs of `f`, each after an untimed `prepare`: its
/// wall-clock seconds and the kernel time this thread spent in it.
fn best_after<T>(rounds: usize, mut prepare: impl FnMut(), mut f: impl FnMut() -> T) -> (f64, f64) {
    let mut best = (f64::INFINITY, 0.0);
    for _ in 0..rounds {
        prepare();
        let kernel = thread_kernel_secs();
        let t = Instant::now();
        black_box(f());
        let wall = t.elapsed().as_secs_f64();
        if wall < best.0 {
            best = (wall, thread_kernel_secs() - kernel);
        }
    }
    best
}

/// System CPU time of the calling thread so far, in seconds (0 where
/// getrusage fails).
fn thread_kernel_secs() -> f64 {
    // SAFETY: getrusage writes one rusage into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0.0;
    }
    usage.ru_stime.tv_sec as f64 + usage.ru_stime.tv_usec as f64 * 1e-6
}

/// Opens a capture the benchmark made or one checked to open.
fn open(path: &Path) -> CaptureReader<Box<dyn std::io::Read>> {
    CaptureReader::open(path).expect("capture opens")
}

/// Walks the file's records (the read floor): its frames (up to the first
/// unreadable record) and their bytes.
fn walk(path: &Path) -> (u64, u64) {
    let mut r = open(path);
    let (mut frames, mut bytes) = (0u64, 0u64);
    while let Ok(Some(f)) = r.next_frame() {
        frames += 1;
        bytes += f.data.len() as u64;
    }
    (frames, bytes)
}

/// Runs synprint's analysis over `path`; returns its SYN and SYN+ACK
/// record counts.
fn synprint_run(
    engine: &Engine,
    config: AnalyzerConfig,
    path: &Path,
    format: Format,
    out: &mut dyn Write,
) -> (u64, u64) {
    let mut r = open(path);
    let mut analyzer = Analyzer::new(engine, config);
    let mut w = RecordWriter::new(BufWriter::with_capacity(1 << 16, out), format);
    let mut emit = |rec: &mut synprint::analyze::Record| w.write(rec);
    while let Ok(Some(f)) = r.next_frame() {
        analyzer
            .feed_frame(f.link, f.ts, f.data, &mut emit)
            .expect("write record");
    }
    analyzer.drain(&mut emit).expect("write record");
    w.flush().expect("flush");
    let stats = analyzer.stats();
    (stats.syn, stats.syn_ack)
}

/// Seconds `p0f -r` takes over the file, its report going to /dev/null
/// (p0f refuses a log file that is not a regular file); `None` without a
/// working p0f.
fn p0f_run(path: &Path) -> Option<f64> {
    // Debian installs p0f in /usr/sbin, which a user's PATH lacks.
    let sbin = Path::new("/usr/sbin/p0f");
    let p0f = if sbin.exists() {
        sbin
    } else {
        Path::new("p0f")
    };
    let t = Instant::now();
    let status = std::process::Command::new(p0f)
        .arg("-r")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| t.elapsed().as_secs_f64())
}

fn huginn_run(db: &Arc<huginn_net_db::TcpDatabase>, path: &Path) -> u64 {
    use huginn_net_tcp::packet_parser::{parse_packet, IpPacket};
    let matcher = huginn_net_db::SharedTcpSignatureMatcher::new(Arc::clone(db));
    let matcher: &dyn huginn_net_tcp::matcher_api::TcpMatcher = &matcher;
    let mut tracker = huginn_net_tcp::ConnectionTracker::new(1 << 20);
    let mut r = open(path);
    let mut found = 0u64;
    while let Ok(Some(f)) = r.next_frame() {
        let res = match parse_packet(f.data) {
            IpPacket::Ipv4(p) => {
                huginn_net_tcp::process_ipv4_packet(&p, &mut tracker, Some(matcher))
            }
            IpPacket::Ipv6(p) => {
                huginn_net_tcp::process_ipv6_packet(&p, &mut tracker, Some(matcher))
            }
            IpPacket::None => continue,
        };
        if let Ok(res) = res {
            found += u64::from(res.syn.is_some());
        }
    }
    found
}

fn client_syn(i: u32) -> TcpPacket {
    let stack = Stack::ALL[(i as usize) % Stack::ALL.len()];
    // One in ten clients on IPv6.
    let (c, s) = numbered_hosts(i, i % 10 == 9);
    let mut p = stack.syn(c, 1024 + (i % 60_000) as u16, s, 443, i);
    // Arrive over a varying number of hops, as real traffic does.
    p.ttl = p.ttl.saturating_sub((i % 17) as u8);
    p
}

/// splitmix64 of the index: reproducible random bits per SYN, no
/// generator state to thread.
fn random_bits(i: u32) -> u64 {
    let mut z = u64::from(i)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A SYN of one of the eight stacks as a busy site sees them: the MSS of
/// the client's path (mostly 1460, then PPPoE, tunnels and mobile
/// networks) and a hop count of 0-40, mostly short. Stacks times MSS
/// values times hop counts make thousands of shapes, many more than the
/// first capture's few hundred, each seen many times.
fn varied_path_syn(i: u32) -> TcpPacket {
    const MSS: [u16; 16] = [
        1460, 1460, 1460, 1460, 1460, 1460, 1440, 1440, 1452, 1400, 1380, 1360, 1412, 1420, 1436,
        1350,
    ];
    let r = random_bits(i);
    let mut p = client_syn(i);
    // client_syn's own hop count (i % 17) undone, then the path's: the
    // minimum of two uniform draws, so short paths lead.
    let hops = ((r % 41).min((r >> 8) % 41)) as u8;
    p.ttl = p.ttl.saturating_add((i % 17) as u8).saturating_sub(hops);
    let mss = MSS[((r >> 16) % MSS.len() as u64) as usize] - if p.src.is_ipv6() { 20 } else { 0 };
    set_mss(&mut p.options, mss);
    p
}

/// Rewrites the value of the first MSS option in raw option bytes.
fn set_mss(options: &mut [u8], mss: u16) {
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            0 => return,
            1 => at += 1,
            2 => {
                if let Some(v) = options.get_mut(at + 2..at + 4) {
                    v.copy_from_slice(&mss.to_be_bytes());
                }
                return;
            }
            _ => at += usize::from(options.get(at + 1).copied().unwrap_or(1).max(2)),
        }
    }
}

/// A SYN whose TTL, window, MSS, window scale and option layout are drawn
/// at random (from a fixed seed per index): almost every one has a shape
/// no earlier SYN had, so no per-shape answer or template is reused.
fn new_shape_syn(i: u32) -> TcpPacket {
    let r = random_bits(i);
    let mut p = client_syn(i);
    p.ttl = 1 + (r % 255) as u8;
    p.window = (r >> 8) as u16 | 1;
    let mss = 500 + ((r >> 24) % 961) as u16;
    let ws = ((r >> 34) % 15) as u8;
    let o = OptionBytes::new().mss(mss);
    p.options = match (r >> 40) % 5 {
        0 => o.nop().ws(ws).nop().nop().sok(),
        1 => o.sok().ts(i, 0).nop().ws(ws),
        2 => o.nop().ws(ws).nop().nop().ts(i, 0).sok().eol().eol(),
        3 => o.nop().nop().sok().nop().ws(ws),
        _ => o,
    }
    .0;
    p
}

fn server_syn_ack(syn: &TcpPacket) -> TcpPacket {
    let mut p = TcpPacket::syn_ack_for(syn);
    p.window = 65160;
    let mss = if syn.src.is_ipv6() { 1440 } else { 1460 };
    p.options = OptionBytes::new()
        .mss(mss)
        .sok()
        .ts(0x2000_0000, 0x1000)
        .nop()
        .ws(7)
        .0;
    p
}

fn write_syn_capture(path: &Path, n: u32, syn: fn(u32) -> TcpPacket) -> u64 {
    let mut w = PcapWriter::new(
        BufWriter::new(File::create(path).expect("create")),
        LinkType::ETHERNET,
    )
    .expect("pcap header");
    for i in 0..n {
        let frame = ethernet_frame(&syn(i).ip_bytes());
        w.write(
            Timestamp(1_700_000_000_000_000_000 + u64::from(i) * 1_000),
            &frame,
        )
        .expect("write");
    }
    w.into_inner().flush().expect("flush");
    u64::from(n)
}

/// Whole connections, 1000 at a time interleaved: SYN, SYN+ACK, ACK, a
/// request, its ACK, two response segments, an ACK, and the FIN exchange.
fn write_mixed_capture(path: &Path, conns: u32) -> u64 {
    let mut w = PcapWriter::new(
        BufWriter::new(File::create(path).expect("create")),
        LinkType::ETHERNET,
    )
    .expect("pcap header");
    let mut t = 1_700_000_000_000_000_000u64;
    let mut count = 0u64;
    let batch = 1000u32;
    let mut start = 0;
    while start < conns {
        let end = (start + batch).min(conns);
        let flows: Vec<Vec<TcpPacket>> = (start..end).map(connection).collect();
        let steps = flows.iter().map(Vec::len).max().unwrap_or(0);
        for step in 0..steps {
            for f in &flows {
                if let Some(p) = f.get(step) {
                    t += 1_000;
                    w.write(Timestamp(t), &ethernet_frame(&p.ip_bytes()))
                        .expect("write");
                    count += 1;
                }
            }
        }
        start = end;
    }
    w.into_inner().flush().expect("flush");
    count
}

fn connection(i: u32) -> Vec<TcpPacket> {
    let syn = client_syn(i);
    let sa = server_syn_ack(&syn);
    let seg = |from_client: bool, fl: u16, payload: usize| {
        let (base, other) = if from_client {
            (&syn, &sa)
        } else {
            (&sa, &syn)
        };
        let mut p = TcpPacket::syn(base.src, base.src_port, base.dst, base.dst_port);
        p.ttl = base.ttl;
        p.flags = fl;
        p.seq = base.seq.wrapping_add(1);
        p.ack = other.seq.wrapping_add(1);
        p.window = 502;
        p.options = OptionBytes::new().nop().nop().ts(7, 9).0;
        p.payload = vec![0x41; payload];
        p
    };
    vec![
        syn.clone(),
        sa.clone(),
        seg(true, flags::ACK, 0),
        seg(true, flags::ACK | flags::PSH, 320),
        seg(false, flags::ACK, 0),
        seg(false, flags::ACK, 1400),
        seg(false, flags::ACK | flags::PSH, 900),
        seg(true, flags::ACK, 0),
        seg(true, flags::ACK | flags::FIN, 0),
        seg(false, flags::ACK | flags::FIN, 0),
        seg(true, flags::ACK, 0),
    ]
}

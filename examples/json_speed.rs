//! Measures the JSON lines writer alone: the records of the benchmark's
//! SYN capture are analysed once, held in memory, then written again and
//! again to a sink that discards them (no I/O):
//!
//! ```text
//! cargo run --release --example json_speed -- /tmp/benchcap/syn.pcap
//! ```
//!
//! Prints the fastest round's nanoseconds per record. Two more arguments
//! set the number of records and rounds (default 200000 and 15; few of
//! each under `valgrind --tool=callgrind`).

use std::hint::black_box;
use std::time::Instant;

use synprint::analyze::{Analyzer, AnalyzerConfig, Engine, Record};
use synprint::output::{Format, RecordWriter};

mod support;

fn main() {
    let support::Run {
        mut reader,
        count: max_records,
        rounds,
    } = support::Run::from_args(
        "json_speed CAPTURE [RECORDS [ROUNDS]] (e.g. the analyze benchmark's syn.pcap)",
        200_000,
        15,
    );
    let engine = Engine::default();
    let mut analyzer = Analyzer::new(&engine, AnalyzerConfig::default());
    let mut records: Vec<Record> = Vec::new();
    let mut keep = |r: &mut Record| -> std::io::Result<()> {
        if records.len() < max_records {
            records.push(r.clone());
        }
        Ok(())
    };
    while let Ok(Some(f)) = reader.next_frame() {
        let _ = analyzer.feed_frame(f.link, f.ts, f.data, &mut keep);
    }
    let _ = analyzer.drain(&mut keep);
    let mut best = f64::INFINITY;
    let mut bytes = 0usize;
    for _ in 0..rounds {
        let mut w = RecordWriter::new(Counter(0), Format::Jsonl);
        let t = Instant::now();
        for r in &records {
            let _ = w.write(r);
        }
        let _ = w.flush();
        best = best.min(t.elapsed().as_secs_f64());
        bytes = w.into_inner().map(|c| c.0).unwrap_or(0);
    }
    let n = records.len().max(1) as f64;
    println!(
        "{} records, {:.0} bytes each: {:.1} ns per record (best of {rounds})",
        records.len(),
        bytes as f64 / n,
        best * 1e9 / n
    );
    black_box(bytes);
}

/// A sink that counts what it is given.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! Measures what classification costs where the shape cache cannot help:
//! every SYN of a capture is fingerprinted from scratch
//! ([`Engine::fingerprint`]: p0f signature and match, MTU, classification),
//! with and without the classifier, and the classifier is timed alone,
//! without and with the answer cache the analyzer gives it:
//!
//! ```text
//! cargo run --release --example classify_speed -- /tmp/benchcap/new-shapes.pcap
//! ```
//!
//! Prints the fastest round's nanoseconds per SYN for each. Two more
//! arguments set the number of SYNs and rounds (default 200000 and 9; few
//! of each under `valgrind --tool=callgrind`).

use std::hint::black_box;
use std::time::Instant;

use synprint::analyze::Engine;
use synprint::classify::{AnswerCache, Features, Model};
use synprint::packet::{decode, Kind, Observation};

mod support;

fn main() {
    let support::Run {
        mut reader,
        count: max_syns,
        rounds,
    } = support::Run::from_args(
        "classify_speed CAPTURE [SYNS [ROUNDS]] (e.g. the analyze benchmark's new-shapes.pcap)",
        200_000,
        9,
    );
    let mut syns: Vec<Observation> = Vec::new();
    while let Ok(Some(f)) = reader.next_frame() {
        if let Ok(Some(obs)) = decode(f.link, f.ts, f.data) {
            if obs.kind == Kind::Syn {
                syns.push(obs);
            }
        }
        if syns.len() == max_syns {
            break;
        }
    }
    let n = syns.len().max(1) as f64;
    let per_syn = |f: &dyn Fn(&Observation)| {
        let mut best = f64::INFINITY;
        for _ in 0..rounds {
            let t = Instant::now();
            for obs in &syns {
                f(obs);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        best * 1e9 / n
    };

    let model = match Model::builtin() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("built-in model: {e}");
            std::process::exit(1);
        }
    };
    let classifier = per_syn(&|obs| {
        black_box(model.classify_features(Features::of(black_box(obs), None)));
    });
    // As the analyzer classifies SYNs of new shapes: each distinct
    // selection of the model's rows scored once. A fresh cache per round.
    let mut scored = 0;
    let cached = {
        let mut best = f64::INFINITY;
        for _ in 0..rounds {
            let mut cache = AnswerCache::new();
            let t = Instant::now();
            for obs in &syns {
                black_box(model.classify_cached(Features::of(black_box(obs), None), &mut cache));
            }
            best = best.min(t.elapsed().as_secs_f64());
            scored = cache.scored();
        }
        best * 1e9 / n
    };
    let engine = Engine::default();
    let with = per_syn(&|obs| {
        black_box(engine.fingerprint(black_box(obs.clone()), None));
    });
    let engine = Engine::default().without_classification();
    let without = per_syn(&|obs| {
        black_box(engine.fingerprint(black_box(obs.clone()), None));
    });
    println!(
        "{} SYNs: classifier alone {classifier:.1} ns, {cached:.1} ns with its answer cache ({scored} scored); fingerprint {with:.1} ns, \
         {without:.1} ns without classification (+{:.1} ns) (best of {rounds})",
        syns.len(),
        with - without
    );
}

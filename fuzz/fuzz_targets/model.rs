//! The OS model file parser on arbitrary text: it must return a model or a
//! typed error, never panic. What parses must survive `learn`'s round trip
//! (written back as TOML, it reads as the same model), compile against the
//! built-in knowledge or on its own, and classify SYNs into probabilities
//! that are finite and sum to one, the same through the analyzer's answer
//! cache as without it.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use synprint::classify::{AnswerCache, Features, Model, ModelFile, ModelKind, P0fClass};
use synprint::craft::Stack;
use synprint::packet::{decode_ip, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match ModelFile::parse(text, Path::new("fuzz.toml")) {
        Ok(f) => f,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let again = ModelFile::parse(&file.to_toml(), Path::new("again.toml"))
        .expect("a model's own TOML reads back");
    assert_eq!(again, file, "the TOML round trip changed the model");

    // Parsed once: the built-in text is not what is being fuzzed.
    static BUILTIN: OnceLock<ModelFile> = OnceLock::new();
    let builtin = BUILTIN.get_or_init(|| ModelFile::builtin().expect("the built-in model loads"));
    let compiled = match file.kind {
        ModelKind::Learned => Model::compile(builtin, Some(&file)),
        ModelKind::Builtin => Model::compile(&file, None),
    };
    let model = match compiled {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d));
    let linux = P0fClass::of("Linux", "3.11 and newer");
    let mut cache = AnswerCache::new();
    for (i, stack) in Stack::ALL.into_iter().enumerate() {
        let p = stack.syn(v4(1), 40000 + i as u16, v4(2), 443, i as u32);
        let Ok(Some(obs)) = decode_ip(Timestamp(1), &p.ip_bytes()) else {
            continue;
        };
        for hint in [None, Some(linux)] {
            let c = model.classify(&obs, hint);
            let sum: f32 = c.scores.0.iter().sum();
            assert!(
                c.scores.0.iter().all(|s| s.is_finite() && *s >= 0.0),
                "{:?}",
                c.scores
            );
            assert!((sum - 1.0).abs() < 1e-3, "scores sum to {sum}");
            assert_eq!(c.confidence, c.scores.get(c.os));
            let _ = c.evidence.strings();
            // The second call finds what the first scored (or found).
            for _ in 0..2 {
                let cached = model.classify_cached(Features::of(&obs, hint), &mut cache);
                assert_eq!(cached, c, "the answer cache changed the answer");
            }
        }
    }
});

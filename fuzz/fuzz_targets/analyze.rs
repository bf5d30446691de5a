//! The whole pipeline on arbitrary capture files: every frame through the
//! analyzer's lookahead, every record written as JSON both directly and
//! through the memo (per-shape templates), which must agree byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprint::analyze::{Analyzer, AnalyzerConfig, Engine, JsonMemo, Record};
use synprint::capture::CaptureReader;
use synprint::output::JsonBuf;

fuzz_target!(|data: &[u8]| {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(Engine::default);
    let Ok(mut reader) = CaptureReader::new(data) else {
        return;
    };
    let config = AnalyzerConfig {
        flow_capacity: 1 << 10,
        uptime_capacity: 1 << 8,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = Analyzer::new(engine, config);
    let mut memo = JsonMemo::new();
    let mut check = |r: Record| -> Result<(), ()> {
        let mut direct = JsonBuf::new();
        r.write_json(&mut direct);
        let mut via = JsonBuf::new();
        r.write_json_memo(&mut via, &mut memo);
        assert_eq!(via.as_bytes(), direct.as_bytes());
        Ok(())
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        let _ = analyzer.feed_frame(frame.link, frame.ts, frame.data, &mut check);
    }
    let _ = analyzer.drain(&mut check);
});

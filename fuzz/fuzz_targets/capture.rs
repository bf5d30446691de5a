//! The capture reader on arbitrary files, decoding every frame it yields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprint::capture::CaptureReader;
use synprint::packet::decode;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(data) else {
        return;
    };
    let mut last_offset = 0;
    while let Ok(Some(frame)) = reader.next_frame() {
        assert!(frame.data.len() <= data.len());
        let _ = decode(frame.link, frame.ts, frame.data);
        // Every frame consumes input, so the loop ends with it.
        let offset = reader.bytes_read();
        assert!(offset > last_offset);
        last_offset = offset;
    }
});

//! What the timing examples over an existing capture share: their command
//! line (`CAPTURE [COUNT [ROUNDS]]`) and opening the capture.

use std::io::Read;
use std::path::Path;

use synprint::capture::CaptureReader;

/// A timing run's command line: the capture, how many of its packets'
/// results to time (`count`) and the rounds, the two with defaults. Exits
/// with `usage` when the capture is missing and with the reader's error
/// when it cannot be read.
pub struct Run {
    pub reader: CaptureReader<Box<dyn Read>>,
    pub count: usize,
    pub rounds: usize,
}

impl Run {
    pub fn from_args(usage: &str, count: usize, rounds: usize) -> Run {
        let Some(path) = std::env::args().nth(1) else {
            eprintln!("usage: {usage}");
            std::process::exit(2);
        };
        let arg = |i: usize, default: usize| {
            std::env::args()
                .nth(i)
                .and_then(|a| a.parse().ok())
                .unwrap_or(default)
        };
        match CaptureReader::open(Path::new(&path)) {
            Ok(reader) => Run {
                reader,
                count: arg(2, count),
                rounds: arg(3, rounds),
            },
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
    }
}

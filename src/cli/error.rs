use std::io;
use std::path::PathBuf;

use synprint::capture::{CaptureError, LiveCaptureError};
use synprint::classify::{CaptureFileError, LabelError, ModelError};
use synprint::p0f::LoadError;
use synprint::serve::{ConfigError, ServeError};

/// Why a command could not run: each layer's own error, or what only the
/// command line knows (which argument named the file, what it refuses).
/// Printed after `synprint: `, and the exit status is 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    P0f(#[from] LoadError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{source} after this run; {}: not written", path.display())]
    ModelOutgrown { path: PathBuf, source: ModelError },
    #[error(
        "{}: not written: with this run's counts the model would pass {}, more than a \
         model file may hold (learn into a new model file)",
        path.display(),
        synprint::bounded::size(synprint::classify::MAX_MODEL_BYTES as u64)
    )]
    ModelTooLarge { path: PathBuf },
    #[error("{}: cannot write the model: {source} (writing {} first)", path.display(), tmp.display())]
    ModelWrite {
        path: PathBuf,
        tmp: PathBuf,
        source: io::Error,
    },
    #[error("--model -: learn writes the model to a file; give its path")]
    ModelToStdout,
    #[error("classification is off")]
    ClassificationOff,
    #[error(transparent)]
    Labels(#[from] LabelError),
    #[error(transparent)]
    Capture(#[from] CaptureFileError),
    #[error(transparent)]
    Live(#[from] LiveCaptureError),
    #[error(transparent)]
    User(#[from] synprint::sys::SwitchError),
    #[error("cannot give up CAP_NET_RAW once the capture is open: {0}")]
    GiveUpCapture(io::Error),
    /// `-o` naming one of the inputs (a swapped argument, a typo) would
    /// empty that capture before it is read.
    #[error("{output}: is also an input ({input}); refusing to write to it")]
    OutputIsInput { output: String, input: String },
    /// Not one capture opens (a mistyped name, a file that is not a
    /// capture): said before the output is created, so an existing `-o`
    /// file is left as it was.
    #[error("no capture could be opened: {}", list(unopened))]
    NoCapture {
        unopened: Vec<(PathBuf, CaptureError)>,
    },
    #[error(
        "the records and the inventory would go to the same place: write the records \
         elsewhere (-o FILE) or none (-f none)"
    )]
    InventoryWithRecords,
    #[error("--inventory-every rewrites a file: give --inventory a file's path, not `-`")]
    InventoryEveryToStdout,
    #[error("`-` (standard input) is given twice; it can be read once")]
    StdinTwice,
    /// A file the command writes (its name as the user typed it).
    #[error("{}: {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    /// An output `--user`'s account may not write.
    #[error("{}: {source} (after --user, files are made as user `{user}`)", path.display())]
    OutputAsUser {
        path: PathBuf,
        user: String,
        source: io::Error,
    },
    #[error("standard output: {0}")]
    Stdout(io::Error),
    #[error("cannot catch stop signals: {0}")]
    Signals(io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// `a.pcap: why; b.pcap: why`.
fn list(unopened: &[(PathBuf, CaptureError)]) -> String {
    let each: Vec<String> = unopened
        .iter()
        .map(|(path, e)| format!("{}: {e}", path.display()))
        .collect();
    each.join("; ")
}

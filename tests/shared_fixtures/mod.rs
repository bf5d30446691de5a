//! Where the public fixture captures are: `../shared/fixtures`, next to
//! the repository (never copied into it), or `SYNPRINT_FIXTURES` (e.g. from
//! a worktree). They are files of the `pcap/` folder of
//! github.com/FoxIO-LLC/ja4.

use std::path::{Path, PathBuf};

pub fn dir() -> PathBuf {
    std::env::var_os("SYNPRINT_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
        PathBuf::from,
    )
}

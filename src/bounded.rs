//! Side files read whole (a `p0f.fp`, a model, a config) are read up to a
//! bound: a wrong path such as `/dev/zero` must end in an error, not in a
//! process that fills memory.

use std::io::{self, Read};
use std::path::Path;

/// The bytes of the file at `path`, or `None` if it holds more than
/// `limit` (what lies past the bound is not read).
pub fn read_whole(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    read_up_to(std::fs::File::open(path)?, limit)
}

/// What `input` holds to its end, or `None` if that is more than `limit`.
pub fn read_up_to(input: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// `4 GiB`, `16 MiB`, `100 bytes`: a bound as messages give it.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_bound_and_no_further() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"four").expect("write");
        assert_eq!(read_whole(&path, 4).expect("read"), Some(b"four".to_vec()));
        assert_eq!(read_whole(&path, 3).expect("read"), None);
        assert_eq!(
            read_whole(Path::new("/dev/zero"), 1 << 20).expect("read"),
            None
        );
        assert!(read_whole(&dir.path().join("missing"), 4).is_err());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(1536 << 20), "1536 MiB");
        assert_eq!(size(100), "100 bytes");
    }
}

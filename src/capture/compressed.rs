//! Captures kept gzip-compressed (`.pcap.gz`, rotated tcpdump files), read
//! as Wireshark reads them: decompressed on the fly, whatever the name.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `src`, decompressed when it starts with a gzip header (several gzip
/// members, as concatenated `.gz` files have, are read one after another);
/// otherwise `src` unchanged. Byte offsets in later errors then count
/// decompressed bytes.
pub fn decompressing<R: Read + 'static>(mut src: R) -> io::Result<Box<dyn Read>> {
    // Two bytes tell; a pipe may deliver them one read at a time.
    let mut head = [0u8; 2];
    let mut have = 0;
    while have < head.len() {
        match src.read(&mut head[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let start = Cursor::new(head[..have].to_vec()).chain(src);
    if is_gzip(&head[..have]) {
        let reader = MultiGzDecoder::new(io::BufReader::with_capacity(1 << 16, start));
        Ok(Box::new(reader))
    } else {
        Ok(Box::new(start))
    }
}

/// Whether a file starting with `head` is gzip-compressed (its size then
/// says nothing of how many packets it holds).
fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

/// The size of the capture at `path` when that size bounds what it holds:
/// a regular file that is not compressed. `None` for `-` (standard
/// input), pipes and other non-files, compressed files, and paths that
/// cannot be read. Only a regular file is opened: reading a pipe's first
/// bytes would take them from the run.
pub fn plain_size(path: &Path) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mut head = [0u8; 2];
    let gzip = File::open(path).ok()?.read_exact(&mut head).is_ok() && is_gzip(&head);
    (!gzip).then_some(m.len())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).expect("to memory");
        e.finish().expect("to memory")
    }

    fn read_all(r: impl Read + 'static) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompressing(r)?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Only a regular, uncompressed file's size counts: a compressed
    /// file's, a device's, standard input's and a missing path's do not.
    #[test]
    fn plain_size_is_a_regular_uncompressed_files_length() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let plain = dir.path().join("a.pcap");
        let pcap = b"\xd4\xc3\xb2\xa1 rest of a pcap";
        std::fs::write(&plain, pcap).expect("write");
        assert_eq!(plain_size(&plain), Some(pcap.len() as u64));
        let packed = dir.path().join("a.pcap.gz");
        std::fs::write(&packed, gzip(pcap)).expect("write");
        assert_eq!(plain_size(&packed), None);
        let one_byte = dir.path().join("b.pcap");
        std::fs::write(&one_byte, b"\x1f").expect("write");
        assert_eq!(plain_size(&one_byte), Some(1));
        for other in ["-", "/dev/null", "/nonexistent/x.pcap"] {
            assert_eq!(plain_size(Path::new(other)), None, "{other}");
        }
        assert_eq!(plain_size(dir.path()), None);
    }

    #[test]
    fn plain_bytes_pass_through_whole() {
        for bytes in [&b""[..], b"\x1f", b"\xd4\xc3\xb2\xa1 rest of a pcap"] {
            assert_eq!(read_all(Cursor::new(bytes.to_vec())).unwrap(), bytes);
        }
    }

    #[test]
    fn gzip_members_are_decompressed_one_after_another() {
        let mut two = gzip(b"first member, ");
        two.extend(gzip(b"second member"));
        assert_eq!(
            read_all(Cursor::new(two)).unwrap(),
            b"first member, second member"
        );
    }

    #[test]
    fn a_cut_gzip_stream_is_an_error_not_a_short_read() {
        let whole = gzip(&[7u8; 10_000]);
        let cut = whole[..whole.len() - 12].to_vec();
        assert!(read_all(Cursor::new(cut)).is_err());
    }
}

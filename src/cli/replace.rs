//! Replacing a file whole: what `learn` writes (the model) and what
//! `analyze --inventory` rewrites are written beside the old file and
//! renamed over it, so a reader never sees half of one.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Why a replacement did not take place; the old file is untouched and the
/// temporary removed in every case.
#[derive(Debug)]
pub enum ReplaceError {
    /// No file could be made beside it (a folder that takes none); the
    /// name last tried.
    Create(io::Error, PathBuf),
    /// Writing it failed (a full disk): writing in place would fail too;
    /// the temporary's name.
    Write(io::Error, PathBuf),
    /// It could not be renamed over the old file (a sticky folder whose
    /// file is another user's).
    Rename(io::Error),
}

impl ReplaceError {
    pub fn into_io(self) -> io::Error {
        match self {
            ReplaceError::Create(e, _) | ReplaceError::Write(e, _) | ReplaceError::Rename(e) => e,
        }
    }
}

/// Where `target`'s replacement is written first: beside it, named for this
/// process, so that runs at the same time never write into one file. The
/// `n`th name tried: a name already taken (a run killed mid-write left it,
/// in a container where every run is PID 1) is passed over, never written
/// through or removed.
fn temporary_named(target: &Path, n: u32) -> PathBuf {
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(format!(".synprint-{}", std::process::id()));
    if n > 0 {
        tmp.push(format!("-{n}"));
    }
    PathBuf::from(tmp)
}

/// How many names are tried before giving up.
const NAMES_TRIED: u32 = 16;

/// A new file under the first free temporary name, made with `mode`.
fn create_temporary(target: &Path, mode: u32) -> Result<(File, PathBuf), ReplaceError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut n = 0;
    loop {
        let tmp = temporary_named(target, n);
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp);
        match made {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n + 1 < NAMES_TRIED => n += 1,
            Err(e) => return Err(ReplaceError::Create(e, tmp)),
        }
    }
}

/// Replaces `target` with what `write` writes, keeping `target`'s
/// permissions and, where allowed, its owner; with `sync`, the new file is
/// on disk before it takes the name (a crash then leaves the old file or
/// the new one, never an empty one). Returns the new file, still open.
///
/// The temporary is made new (never through a file or link already under
/// its name: the next name is tried), with the old file's mode from the
/// start: an inventory or model readable by its owner only is never
/// readable by others, not even while it is written.
pub fn replace_whole(
    target: &Path,
    sync: bool,
    write: impl FnOnce(&File) -> io::Result<()>,
) -> Result<File, ReplaceError> {
    use std::os::unix::fs::{fchown, MetadataExt, PermissionsExt};
    let old = std::fs::metadata(target).ok();
    let mut mode = old.as_ref().map_or(0o666, |m| m.mode() & 0o7777);
    // Its owner's alone until its owner and group are settled.
    let (new, tmp) = create_temporary(target, mode & 0o700)?;
    let written = (|| {
        if let Some(old) = &old {
            // Only root may give a file away; others may keep its group
            // where they belong to it. Where the group cannot be kept, the
            // file's new group gets none of the old group's rights.
            if fchown(&new, Some(old.uid()), Some(old.gid())).is_err() {
                let _ = fchown(&new, None, Some(old.gid()));
                if new.metadata()?.gid() != old.gid() {
                    mode &= !0o2070;
                }
            }
            // The umask took bits the old file had.
            new.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        write(&new)?;
        if sync {
            new.sync_all()?;
        }
        Ok(())
    })();
    let renamed = written
        .map_err(|e| ReplaceError::Write(e, tmp.clone()))
        .and_then(|()| std::fs::rename(&tmp, target).map_err(ReplaceError::Rename));
    match renamed {
        Ok(()) => Ok(new),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_whole_keeping_permissions_and_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("hosts.json");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_whole(&target, true, |mut f| f.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // A write that fails leaves the old file and no temporary.
        let failed = replace_whole(&target, false, |_| Err(io::Error::other("disk full")));
        assert!(matches!(failed, Err(ReplaceError::Write(..))));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // A rename that fails (a folder in the way) leaves no temporary.
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("inside"), "").unwrap();
        let failed = replace_whole(&folder, false, |mut f| f.write_all(b"x"));
        assert!(matches!(failed, Err(ReplaceError::Rename(_))));
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["folder", "hosts.json"]);
        // Nowhere to make it.
        let nowhere = dir.path().join("missing").join("m.toml");
        let failed = replace_whole(&nowhere, false, |_| Ok(()));
        assert!(matches!(failed, Err(ReplaceError::Create(..))));
        // Its mode from the start, the umask's bits too.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o606)).unwrap();
        replace_whole(&target, false, |f| {
            assert_eq!(f.metadata()?.permissions().mode() & 0o777, 0o606);
            Ok(())
        })
        .unwrap();
        // Never through a link (or file) already under a temporary's name:
        // the next name is taken, and what was there is untouched.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "theirs").unwrap();
        std::os::unix::fs::symlink(&elsewhere, temporary_named(&target, 0)).unwrap();
        std::fs::write(temporary_named(&target, 1), "left by a killed run").unwrap();
        replace_whole(&target, false, |mut f| f.write_all(b"x")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "theirs");
        let left = std::fs::read_to_string(temporary_named(&target, 1)).unwrap();
        assert_eq!(left, "left by a killed run");
        // A failure names the temporary it wrote, not the first name.
        let failed = replace_whole(&target, false, |_| Err(io::Error::other("disk full")));
        assert!(
            matches!(&failed, Err(ReplaceError::Write(_, tmp)) if *tmp == temporary_named(&target, 2)),
            "{failed:?}"
        );
        // Every name taken: refused.
        for n in 2..NAMES_TRIED {
            std::fs::write(temporary_named(&target, n), "").unwrap();
        }
        let failed = replace_whole(&target, false, |mut f| f.write_all(b"y"));
        assert!(matches!(failed, Err(ReplaceError::Create(..))));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
    }
}

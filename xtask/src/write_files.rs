//! Replacing several files as one change: each file atomically, and the ones already replaced
//! put back when a later one fails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// New contents for an existing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub path: PathBuf,
    pub contents: String,
}

/// Replaces every file in `writes`, or, on error, restores the ones already replaced.
///
/// Assumption: every file exists; its permissions are kept.
pub fn replace_all(writes: &[FileWrite]) -> anyhow::Result<()> {
    // Old contents are read before anything is written, so a failure cannot leave a file
    // that is neither old nor new.
    let mut originals = Vec::with_capacity(writes.len());
    for write in writes {
        let old =
            fs::read(&write.path).with_context(|| format!("reading {}", write.path.display()))?;
        originals.push(old);
    }
    for (done, write) in writes.iter().enumerate() {
        if let Err(err) = replace(&write.path, write.contents.as_bytes()) {
            for (earlier, old) in writes[..done].iter().zip(&originals).rev() {
                if let Err(restore_err) = replace(&earlier.path, old) {
                    eprintln!(
                        "error: could not restore {}: {restore_err:#}",
                        earlier.path.display()
                    );
                }
            }
            return Err(err)
                .with_context(|| format!("writing {}; no file was changed", write.path.display()));
        }
    }
    Ok(())
}

/// Lists the written files, relative to `root`.
pub fn print_updated(root: &Path, writes: &[FileWrite]) {
    for write in writes {
        let path = write.path.strip_prefix(root).unwrap_or(&write.path);
        eprintln!("updated {}", path.display());
    }
}

/// Writes `contents` to a temporary file beside `path` and renames it over `path`, so that
/// readers see either the old or the new file, never half of one.
fn replace(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a file path without a parent")?;
    let permissions = fs::metadata(path)
        .context("reading permissions")?
        .permissions();
    let mut temp = tempfile::NamedTempFile::new_in(dir).context("creating a temporary file")?;
    temp.write_all(contents)
        .context("writing the temporary file")?;
    temp.as_file()
        .set_permissions(permissions)
        .context("setting permissions")?;
    temp.as_file()
        .sync_all()
        .context("flushing the temporary file")?;
    temp.persist(path)
        .context("renaming the temporary file into place")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "old a").unwrap();
        fs::write(&b, "old b").unwrap();
        replace_all(&[
            FileWrite {
                path: a.clone(),
                contents: "new a".into(),
            },
            FileWrite {
                path: b.clone(),
                contents: "new b".into(),
            },
        ])
        .unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(fs::read_to_string(&b).unwrap(), "new b");
    }

    #[test]
    fn keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, "old").unwrap();
        fs::set_permissions(&a, fs::Permissions::from_mode(0o640)).unwrap();
        replace_all(&[FileWrite {
            path: a.clone(),
            contents: "new".into(),
        }])
        .unwrap();
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    /// The second file can be read but not replaced (no file can be created in /proc, not
    /// even by root), so the first is rolled back.
    #[test]
    fn failure_midway_restores_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, "old a").unwrap();
        let writes = [
            FileWrite {
                path: a.clone(),
                contents: "new a".into(),
            },
            FileWrite {
                path: PathBuf::from("/proc/version"),
                contents: "new".into(),
            },
        ];
        let err = replace_all(&writes).unwrap_err();
        assert!(
            format!("{err:#}").contains("no file was changed"),
            "{err:#}"
        );
        assert_eq!(fs::read_to_string(&a).unwrap(), "old a");
    }
}

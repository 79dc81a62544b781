use std::path::Path;

use super::*;
use crate::index_file::parse_index;

fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(crate::test_git::git(dir, args)).unwrap()
}

fn read(root: &Path) -> (Vec<u8>, Index) {
    let git_dir = root.join(".git");
    let path = git_dir.join("index");
    let data = std::fs::read(&path).unwrap();
    let index = parse_index(&data, &path, &git_dir).unwrap();
    (data, index)
}

/// A repository of `count` committed files `f000`... with old mtimes recorded in the
/// index (so that git finds no entry racily clean), in index format `version`, split.
fn split_repository(count: usize, version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    for i in 0..count {
        std::fs::write(root.join(format!("f{i:03}")), format!("{i}")).unwrap();
    }
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "files"]);
    set_mtimes(root, count, 1_500_000_000);
    git(root, &["update-index", "-q", "--refresh"]);
    git(root, &["update-index", "--index-version", version]);
    // Keep the shared index however much changes (git writes a new one past 20%).
    git(root, &["config", "splitIndex.maxPercentChange", "100"]);
    git(root, &["update-index", "--split-index"]);
    dir
}

fn set_mtimes(root: &Path, count: usize, seconds: u64) {
    for i in 0..count {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        let file = std::fs::File::options()
            .write(true)
            .open(root.join(format!("f{i:03}")));
        file.unwrap().set_modified(time).unwrap();
    }
}

/// Entries as `git ls-files --stage` lists them.
fn listed(entries: &[IndexRecord]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let path = String::from_utf8_lossy(&e.path);
            format!("{:o} {} {}\t{path}", e.mode, e.id, e.stage())
        })
        .collect()
}

fn ls_files_stage(root: &Path) -> Vec<String> {
    git(root, &["ls-files", "--stage"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Replaced, deleted and added entries, in every index format, read as git reads them.
#[test]
fn split_indexes_are_read_as_git_reads_them() {
    for version in ["2", "3", "4"] {
        let dir = split_repository(12, version);
        let root = dir.path();
        // Replaced: staged anew, or refreshed with new stat data.
        std::fs::write(root.join("f001"), "new content").unwrap();
        set_mtimes(root, 12, 1_600_000_000);
        git(root, &["add", "f001", "f002"]);
        git(root, &["rm", "-q", "--cached", "f003", "f004"]);
        std::fs::write(root.join("added"), "a").unwrap();
        std::fs::write(root.join("f00"), "sorts among the others").unwrap();
        git(root, &["add", "added", "f00"]);
        // A conflict: the shared entry is deleted, its stages are added.
        let blob = |content: &str| {
            std::fs::write(root.join("content"), content).unwrap();
            let id = git(root, &["hash-object", "-w", "content"]);
            std::fs::remove_file(root.join("content")).unwrap();
            id.trim().to_owned()
        };
        let stages: Vec<String> = ["base", "ours", "theirs"]
            .iter()
            .enumerate()
            .map(|(n, content)| format!("100644 {} {}\tf006\n", blob(content), n + 1))
            .collect();
        let mut update = crate::test_git::command(root)
            .args(["update-index", "--index-info"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Removing stage 0 first: mode 0 and the null id.
        let input = format!("0 {} 0\tf006\n{}", "0".repeat(40), stages.concat());
        use std::io::Write;
        update
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        assert!(update.wait().unwrap().success());
        if version == "3" {
            std::fs::write(root.join("later"), "l").unwrap();
            git(root, &["add", "-N", "later"]);
            git(root, &["update-index", "--skip-worktree", "f005"]);
        }
        let (data, index) = read(root);
        assert!(data.windows(4).any(|w| w == b"link"), "version {version}");
        let split = index.split.as_ref().expect("a split index");
        let replaced: &[usize] = if version == "3" { &[1, 2, 5] } else { &[1, 2] };
        assert_eq!(split.replaced, replaced, "version {version}");
        assert_eq!(
            listed(&index.entries),
            ls_files_stage(root),
            "version {version}"
        );
        let from_shared: Vec<&[u8]> = index
            .entries
            .iter()
            .filter(|e| e.shared_position.is_some())
            .map(|e| e.path.as_slice())
            .collect();
        assert!(from_shared.contains(&&b"f000"[..]), "version {version}");
        assert!(!from_shared.contains(&&b"f001"[..]), "version {version}");
        assert!(!from_shared.contains(&&b"added"[..]), "version {version}");
    }
}

/// The encoder writes the very bytes git writes, for the bitmaps of real split indexes:
/// runs of untouched entries longer than a word, and words that fill up with ones.
#[test]
fn bitmaps_are_written_as_git_writes_them() {
    let dir = split_repository(300, "2");
    let root = dir.path();
    set_mtimes(root, 300, 1_600_000_000);
    let replaced: Vec<String> = (0..130)
        .chain(140..141)
        .map(|i| format!("f{i:03}"))
        .collect();
    let mut add = vec!["add"];
    add.extend(replaced.iter().map(String::as_str));
    git(root, &add);
    let deleted: Vec<String> = (200..264)
        .chain(299..300)
        .map(|i| format!("f{i:03}"))
        .collect();
    let mut rm = vec!["rm", "-q", "--cached"];
    rm.extend(deleted.iter().map(String::as_str));
    git(root, &rm);

    let (data, index) = read(root);
    let link = index
        .extensions
        .iter()
        .find(|e| &e.signature == b"link")
        .unwrap();
    let bitmaps = &data[link.start + 8 + 20..link.end];
    let (deleted_bits, used) = ewah::decode(bitmaps, 300).unwrap();
    let (replaced_bits, _) = ewah::decode(&bitmaps[used..], 300).unwrap();
    let expected: Vec<usize> = (200..264).chain(299..300).collect();
    assert_eq!(deleted_bits, expected);
    assert_eq!(replaced_bits, (0..130).chain(140..141).collect::<Vec<_>>());
    let mut encoded = ewah::encode(&deleted_bits);
    encoded.extend(ewah::encode(&replaced_bits));
    assert_eq!(encoded, bitmaps);
}

/// New replacements, in the index formats git writes them in and with the extensions that
/// point into the entries (EOIE, IEOT), are read back by git with their new stat data; every
/// other entry is as it was.
#[test]
fn replacements_are_read_back_by_git() {
    for (version, offsets) in [("2", false), ("4", false), ("2", true), ("4", true)] {
        let dir = split_repository(8, version);
        let root = dir.path();
        if offsets {
            git(root, &["config", "index.recordEndOfIndexEntries", "true"]);
            git(root, &["config", "index.recordOffsetTable", "true"]);
            git(root, &["config", "index.threads", "2"]);
        }
        // A replacement and an added entry already, on either side of the new ones.
        set_mtimes(root, 8, 1_600_000_000);
        git(root, &["add", "f003"]);
        std::fs::write(root.join("new"), "n").unwrap();
        git(root, &["add", "new"]);
        let context = format!("version {version}, offsets {offsets}");
        let (data, index) = read(root);
        assert_eq!(index.version.to_string(), version, "{context}");
        if offsets {
            let signatures: Vec<&[u8; 4]> = index.extensions.iter().map(|e| &e.signature).collect();
            assert!(signatures.contains(&b"EOIE"), "{context}: {signatures:?}");
            assert!(signatures.contains(&b"IEOT"), "{context}: {signatures:?}");
        }
        let before = git(root, &["ls-files", "--debug"]);
        let split = index.split.as_ref().unwrap();
        let new: Vec<Replacement> = index
            .entries
            .iter()
            .filter(|e| [&b"f001"[..], b"f005", b"f007"].contains(&e.path.as_slice()))
            .map(|e| {
                let mut stat_data = split.shared_stat_data(e.offset);
                // mtime 1234567890.5
                stat_data[8..12].copy_from_slice(&1_234_567_890u32.to_be_bytes());
                stat_data[12..16].copy_from_slice(&5u32.to_be_bytes());
                Replacement {
                    position: e.shared_position.unwrap(),
                    shared_offset: e.offset,
                    stat_data,
                }
            })
            .collect();
        assert_eq!(new.len(), 3, "{context}");
        let mut written = with_replacements(&data, &index, &new);
        let body = written.len() - 20;
        let digest = sha1::Sha1::digest(&written[..body]);
        written[body..].copy_from_slice(&digest);
        std::fs::write(root.join(".git/index"), &written).unwrap();

        let after = git(root, &["ls-files", "--debug"]);
        let blocks = |text: &str| -> Vec<String> {
            text.split_inclusive('\n')
                .fold(Vec::<String>::new(), |mut blocks, line| {
                    match (line.starts_with("  "), blocks.last_mut()) {
                        (true, Some(block)) => block.push_str(line),
                        _ => blocks.push(line.to_owned()),
                    }
                    blocks
                })
        };
        for (old, new) in blocks(&before).iter().zip(blocks(&after)) {
            if ["f001\n", "f005\n", "f007\n"]
                .iter()
                .any(|p| old.starts_with(p))
            {
                assert!(new.contains("  mtime: 1234567890:5\n"), "{context}: {new}");
            } else {
                assert_eq!(*old, new, "{context}");
            }
        }
        assert_eq!(blocks(&before).len(), blocks(&after).len(), "{context}");
        let (data, again) = read(root);
        let split = again.split.as_ref().unwrap();
        assert_eq!(split.replaced, [1, 3, 5, 7], "{context}");
        // git ignores an EOIE that does not add up, so check it here: where the entries
        // end, and the hash of the headers of the extensions before it.
        if offsets {
            let eoie = again.extensions.last().unwrap();
            assert_eq!(&eoie.signature, b"EOIE", "{context}");
            let payload = &data[eoie.start + 8..eoie.end];
            let end = u32::from_be_bytes(payload[..4].try_into().unwrap());
            assert_eq!(end as usize, again.entries_end, "{context}");
            let mut headers = sha1::Sha1::new();
            for extension in &again.extensions[..again.extensions.len() - 1] {
                assert_ne!(&extension.signature, b"IEOT", "{context}");
                headers.update(&data[extension.start..extension.start + 8]);
            }
            assert_eq!(&payload[4..], headers.finalize().as_slice(), "{context}");
        }
        // git takes the result as its own: it can write it again.
        git(root, &["update-index", "--really-refresh"]);
    }
}

fn record(path: &str, stage: u16, id: u8) -> IndexRecord {
    IndexRecord {
        offset: 0,
        shared_position: None,
        ctime: Default::default(),
        mtime: Default::default(),
        ino: 0,
        mode: crate::objects::EntryMode::REGULAR,
        uid: 0,
        gid: 0,
        size: 0,
        id: git2::Oid::from_bytes(&[id; 20]).unwrap(),
        flags: stage << 12,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// Added entries go in as git's `add_index_entry` puts them, whether they come in order
/// (one pass) or not (one at a time).
#[test]
fn added_entries_replace_and_resolve_as_in_git() {
    let entries = || {
        [("a", 0), ("b", 0), ("c", 1), ("c", 2), ("c", 3), ("d", 0)]
            .map(|(path, stage)| record(path, stage, 1))
            .to_vec()
    };
    // A new b, c resolved (its stages go), and a conflict stage of a new path.
    let added = [("b", 0), ("c", 0), ("e", 2)].map(|(path, stage)| record(path, stage, 2));
    let expected = [
        ("a", 0, 1),
        ("b", 0, 2),
        ("c", 0, 2),
        ("d", 0, 1),
        ("e", 2, 2),
    ];
    let listed = |entries: Vec<IndexRecord>| -> Vec<(String, u16, u8)> {
        entries
            .into_iter()
            .map(|e| {
                let id = e.id.as_bytes()[0];
                (String::from_utf8(e.path.clone()).unwrap(), e.stage(), id)
            })
            .collect()
    };
    let expected: Vec<(String, u16, u8)> = expected
        .iter()
        .map(|&(path, stage, id)| (path.to_owned(), stage, id))
        .collect();
    assert_eq!(listed(add_entries(entries(), added.to_vec())), expected);
    let mut reversed = added.to_vec();
    reversed.reverse();
    assert_eq!(listed(add_entries(entries(), reversed)), expected);
}

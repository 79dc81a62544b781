//! The rules of [`crate::classify`], each on entries, stat data and answers built here.

use super::*;
use crate::answers::AnswerEntry;
use crate::history::HistoryMode;
use crate::objects::EntryMode;

const BLOB: &str = "1111111111111111111111111111111111111111";
const OTHER_BLOB: &str = "2222222222222222222222222222222222222222";
const COMMIT: &str = "3333333333333333333333333333333333333333";
/// Modes as `lstat` gives them.
const REGULAR_ON_DISK: u32 = 0o100644;
const EXECUTABLE_ON_DISK: u32 = 0o100755;
const SYMLINK_ON_DISK: u32 = 0o120777;
const DIRECTORY_ON_DISK: u32 = 0o040755;

fn id(hex: &str) -> Oid {
    Oid::from_str(hex).unwrap()
}

fn second(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// The index entry of a 5-byte regular file `path`, written at second 1000.
fn entry(path: &str) -> IndexRecord {
    IndexRecord {
        offset: 0,
        shared_position: None,
        ctime: second(1000),
        mtime: second(1000),
        ino: 7,
        mode: EntryMode::REGULAR,
        uid: 1000,
        gid: 100,
        size: 5,
        id: id(BLOB),
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// The stat data of the file `entry` recorded, untouched since.
fn stat_of(entry: &IndexRecord) -> FileStat {
    FileStat {
        mtime: entry.mtime,
        ctime: entry.ctime,
        atime: second(3000),
        size: entry.size.into(),
        ino: entry.ino.into(),
        dev: 42,
        mode: REGULAR_ON_DISK,
        uid: entry.uid,
        gid: entry.gid,
    }
}

/// git's defaults, with the index written well after every entry's mtime.
fn rules() -> StatRules {
    StatRules {
        trust_ctime: true,
        file_mode: true,
        symlinks: true,
        index_mtime: Some(second(2000)),
    }
}

/// HEAD's answers: `entries` as committed, each changed last at second 500.
fn head(entries: &[&IndexRecord]) -> Answers {
    let mut entries: Vec<(Vec<u8>, AnswerEntry)> = entries
        .iter()
        .map(|entry| {
            let answer = AnswerEntry {
                blob: entry.id,
                mode: entry.mode,
                change: Some((id(COMMIT), 500)),
            };
            (entry.path.clone(), answer)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Answers {
        commit: id(COMMIT),
        mode: HistoryMode::Simplified,
        entries,
    }
}

/// `classify` of `entry` against `head`, with no conflicts.
fn classified(
    entry: &IndexRecord,
    stat: EntryStat,
    head: &Answers,
    rules: &StatRules,
) -> Result<Candidate, SkipReason> {
    let no_conflicts = FxHashSet::default();
    classify(
        entry,
        stat,
        &mut SortedLookup::new(head),
        &no_conflicts,
        rules,
    )
}

/// The reason `entry` is skipped, None when it is a candidate.
fn skipped(entry: &IndexRecord, stat: FileStat, head: &Answers) -> Option<SkipReason> {
    classified(entry, EntryStat::Found(Ok(stat)), head, &rules()).err()
}

#[test]
fn stat_data_proves_an_entry_clean_only_when_every_field_git_compares_agrees() {
    let entry = entry("f");
    let clean = stat_of(&entry);
    assert!(rules().proves_clean(&entry, &clean));
    type Change = fn(&mut FileStat);
    let changed: [(&str, Change); 7] = [
        ("mtime seconds", |s| s.mtime.seconds += 1),
        ("mtime nanoseconds", |s| s.mtime.nanos += 1),
        ("ctime", |s| s.ctime.seconds += 1),
        ("size", |s| s.size += 1),
        ("inode", |s| s.ino += 1),
        ("owner", |s| s.uid += 1),
        ("group", |s| s.gid += 1),
    ];
    for (what, change) in changed {
        let mut stat = clean;
        change(&mut stat);
        assert!(!rules().proves_clean(&entry, &stat), "{what} changed");
    }
    // Neither the device nor the access time is compared, as in git.
    let elsewhere = FileStat {
        dev: 43,
        atime: second(4000),
        ..clean
    };
    assert!(rules().proves_clean(&entry, &elsewhere));
    // core.trustctime=false: a changed ctime alone proves nothing either way.
    let mut ctime_changed = clean;
    ctime_changed.ctime.seconds += 1;
    let no_ctime = StatRules {
        trust_ctime: false,
        ..rules()
    };
    assert!(no_ctime.proves_clean(&entry, &ctime_changed));
}

/// git's racy-git rule: an entry whose mtime is not older than the index (in whole
/// seconds) may have been written again in the same second after git hashed it.
#[test]
fn racily_clean_entries_are_not_proven_by_their_stat_data() {
    let entry = entry("f");
    let stat = stat_of(&entry);
    let index_written = |index_mtime: Option<Timestamp>| StatRules {
        index_mtime,
        ..rules()
    };
    assert!(index_written(Some(second(1001))).proves_clean(&entry, &stat));
    let same_second = Timestamp {
        seconds: 1000,
        nanos: 999_999_999,
    };
    for index_mtime in [
        Some(same_second),
        Some(second(1000)),
        Some(second(999)),
        None,
    ] {
        let rules = index_written(index_mtime);
        assert!(
            !rules.proves_clean(&entry, &stat),
            "index at {index_mtime:?}"
        );
    }
    // Classified as a candidate whose content must be read.
    let racy = index_written(Some(second(1000)));
    let candidate = classified(&entry, EntryStat::Found(Ok(stat)), &head(&[&entry]), &racy);
    assert!(candidate.unwrap().needs_content_check);
}

/// The index keeps the low 32 bits of each time's seconds, so a file's time is compared
/// as the index holds it.
#[test]
fn index_times_hold_unsigned_32_bit_seconds() {
    let at = |seconds: i64| Timestamp { seconds, nanos: 7 };
    assert_eq!(truncated(at((1 << 32) + 5)), at(5));
    assert_eq!(truncated(at(-1)), at(u32::MAX.into()));
    assert_eq!(truncated(at(1_700_000_000)), at(1_700_000_000));
    assert_eq!(truncated(at(u32::MAX.into())), at(u32::MAX.into()));
    // A file stamped after 2106 is still proven clean by the entry git wrote for it.
    let mut entry = entry("f");
    let mut stat = stat_of(&entry);
    stat.mtime = at((1 << 32) + 1500);
    entry.mtime = at(1500);
    let rules = StatRules {
        index_mtime: Some(second(1600)),
        ..rules()
    };
    assert!(rules.proves_clean(&entry, &stat));
}

#[test]
fn target_times_carry_the_blobs_fingerprint_unless_whole_seconds() {
    let change = LastChange {
        commit: id(COMMIT),
        time: 1_700_000_000,
        approximate: false,
    };
    // 0x11111111 modulo one billion.
    let fingerprint = 286_331_153;
    assert_eq!(fingerprint, blob_fingerprint_nanos(id(BLOB)));
    let target = target_time(change, id(BLOB), false);
    assert_eq!(
        target,
        Timestamp {
            seconds: 1_700_000_000,
            nanos: fingerprint
        }
    );
    assert_eq!(target_time(change, id(BLOB), true), second(1_700_000_000));
}

/// A file is counted correct without being read only when its stat data proves it clean,
/// its answer is stored and it already has its time.
#[test]
fn a_file_is_already_correct_only_when_proven_clean_at_its_stored_time() {
    let limits = TimeLimits::probing(None, None);
    let blob = id(BLOB);
    let target = Timestamp {
        seconds: 500,
        nanos: blob_fingerprint_nanos(blob),
    };
    let candidate = |mtime: Timestamp| Candidate {
        stat: Some(FileStat {
            mtime,
            ..stat_of(&entry("f"))
        }),
        needs_content_check: false,
        known_change: Some((id(COMMIT), 500)),
        answer_at: 0,
    };
    assert_eq!(
        already_correct(&candidate(target), blob, false, &limits),
        Some(target)
    );
    assert_eq!(
        already_correct(&candidate(second(500)), blob, true, &limits),
        Some(second(500))
    );
    let off_by_a_nanosecond = Timestamp {
        nanos: target.nanos + 1,
        ..target
    };
    assert_eq!(
        already_correct(&candidate(off_by_a_nanosecond), blob, false, &limits),
        None
    );
    assert_eq!(
        already_correct(&candidate(target), blob, true, &limits),
        None,
        "the fingerprint is not wanted"
    );
    let unproven = Candidate {
        needs_content_check: true,
        ..candidate(target)
    };
    assert_eq!(already_correct(&unproven, blob, false, &limits), None);
    let walked = Candidate {
        known_change: None,
        ..candidate(target)
    };
    assert_eq!(already_correct(&walked, blob, false, &limits), None);
    // Not stat'ed yet (a first sync): nothing proves its time.
    let deferred = Candidate {
        stat: None,
        needs_content_check: false,
        ..candidate(target)
    };
    assert_eq!(already_correct(&deferred, blob, false, &limits), None);
}

/// On a first sync a file is classified without stat data: what the index and HEAD decide
/// is decided here, the rest when the stamping thread has the file open.
#[test]
fn a_file_not_stated_yet_is_a_candidate_unless_the_index_or_head_rules_it_out() {
    let entry = entry("f");
    let head_answers = head(&[&crate::classify::tests::entry("e"), &entry]);
    let candidate = classified(&entry, EntryStat::Deferred, &head_answers, &rules()).unwrap();
    assert_eq!(candidate.stat, None);
    assert_eq!(candidate.known_change, Some((id(COMMIT), 500)));
    assert_eq!(candidate.answer_at, 1);
    let mut staged = crate::classify::tests::entry("f");
    staged.id = id("9999999999999999999999999999999999999999");
    assert_eq!(
        classified(&staged, EntryStat::Deferred, &head_answers, &rules()).err(),
        Some(SkipReason::Staged)
    );
    let mut sparse = crate::classify::tests::entry("f");
    sparse.flags_extended = FLAG_EXTENDED_SKIP_WORKTREE;
    assert_eq!(
        classified(&sparse, EntryStat::Deferred, &head_answers, &rules()).err(),
        Some(SkipReason::SkipWorktree)
    );
}

#[test]
fn a_clean_file_is_a_candidate_with_its_stored_answer() {
    let entry = entry("f");
    let head = head(&[&crate::classify::tests::entry("e"), &entry]);
    let candidate = classified(
        &entry,
        EntryStat::Found(Ok(stat_of(&entry))),
        &head,
        &rules(),
    )
    .unwrap();
    assert!(!candidate.needs_content_check);
    assert_eq!(candidate.known_change, Some((id(COMMIT), 500)));
    assert_eq!(candidate.stat, Some(stat_of(&entry)));
    // Where the walk's answer would be: the place of its entry in HEAD's answers.
    assert_eq!(candidate.answer_at, 1);
}

#[test]
fn entries_that_are_not_plain_committed_files_are_skipped() {
    let file = entry("f");
    let stat = stat_of(&file);
    let mut submodule = entry("sub");
    submodule.mode = EntryMode::GITLINK;
    let dir = |mode| FileStat { mode, ..stat };
    assert_eq!(
        skipped(&submodule, dir(DIRECTORY_ON_DISK), &head(&[&submodule])),
        Some(SkipReason::Submodule)
    );
    // A sparse entry has no file: it is skip-worktree, not deleted.
    let mut sparse = entry("f");
    sparse.flags_extended = FLAG_EXTENDED_SKIP_WORKTREE;
    let absent = EntryStat::Found(Err(SkipReason::Deleted));
    assert_eq!(
        classified(&sparse, absent, &head(&[&sparse]), &rules()).err(),
        Some(SkipReason::SkipWorktree)
    );
    // `git add -N`: HEAD lacks it, but it is intent-to-add, not staged.
    let mut intent = entry("new");
    intent.flags_extended = FLAG_EXTENDED_INTENT_TO_ADD;
    assert_eq!(
        skipped(&intent, stat, &head(&[&file])),
        Some(SkipReason::IntentToAdd)
    );
    let conflicted: FxHashSet<Vec<u8>> = [b"f".to_vec()].into_iter().collect();
    let head = head(&[&file]);
    let mut lookup = SortedLookup::new(&head);
    assert_eq!(
        classify(
            &file,
            EntryStat::Found(Ok(stat)),
            &mut lookup,
            &conflicted,
            &rules()
        )
        .err(),
        Some(SkipReason::Conflicted)
    );
}

/// The index and HEAD must hold the same blob with the same mode, or what would be
/// stamped is not what HEAD's commit time stands for.
#[test]
fn entries_that_differ_from_head_are_staged() {
    let file = entry("f");
    let stat = stat_of(&file);
    assert_eq!(skipped(&file, stat, &head(&[])), Some(SkipReason::Staged));
    let mut committed = entry("f");
    committed.id = id(OTHER_BLOB);
    assert_eq!(
        skipped(&file, stat, &head(&[&committed])),
        Some(SkipReason::Staged)
    );
    let mut executable = entry("f");
    executable.mode = EntryMode::EXECUTABLE;
    let executable_stat = FileStat {
        mode: EXECUTABLE_ON_DISK,
        ..stat
    };
    assert_eq!(
        skipped(&executable, executable_stat, &head(&[&file])),
        Some(SkipReason::Staged)
    );
}

#[test]
fn files_that_cannot_be_reached_are_skipped_with_the_reason_found() {
    let file = entry("f");
    let head = head(&[&file]);
    let gone = EntryStat::Found(Err(SkipReason::Deleted));
    assert_eq!(
        classified(&file, gone, &head, &rules()).err(),
        Some(SkipReason::Deleted)
    );
    let beyond = EntryStat::Found(Err(SkipReason::BeyondSymlink));
    assert_eq!(
        classified(&file, beyond, &head, &rules()).err(),
        Some(SkipReason::BeyondSymlink)
    );
}

#[test]
fn a_file_of_another_type_on_disk_is_type_changed() {
    let file = entry("f");
    let stat = stat_of(&file);
    let on_disk = |mode| FileStat { mode, ..stat };
    let head_of_file = head(&[&file]);
    for mode in [SYMLINK_ON_DISK, DIRECTORY_ON_DISK] {
        assert_eq!(
            skipped(&file, on_disk(mode), &head_of_file),
            Some(SkipReason::TypeChanged),
            "{mode:o}"
        );
    }
    let mut link = entry("l");
    link.mode = EntryMode::SYMLINK;
    let head_of_link = head(&[&link]);
    assert_eq!(
        skipped(&link, on_disk(SYMLINK_ON_DISK), &head_of_link),
        None
    );
    assert_eq!(
        skipped(&link, on_disk(REGULAR_ON_DISK), &head_of_link),
        Some(SkipReason::TypeChanged)
    );
    // core.symlinks=false: a symlink is checked out as a plain file holding its target.
    let no_symlinks = StatRules {
        symlinks: false,
        ..rules()
    };
    let as_file = EntryStat::Found(Ok(on_disk(REGULAR_ON_DISK)));
    assert!(classified(&link, as_file, &head_of_link, &no_symlinks).is_ok());
    let as_directory = EntryStat::Found(Ok(on_disk(DIRECTORY_ON_DISK)));
    assert_eq!(
        classified(&link, as_directory, &head_of_link, &no_symlinks).err(),
        Some(SkipReason::TypeChanged)
    );
}

#[test]
fn an_executable_bit_that_differs_is_mode_changed_where_git_trusts_it() {
    let file = entry("f");
    let stat = stat_of(&file);
    let mut script = entry("run");
    script.mode = EntryMode::EXECUTABLE;
    let head = head(&[&file, &script]);
    let on_disk = |mode| FileStat { mode, ..stat };
    assert_eq!(
        skipped(&file, on_disk(EXECUTABLE_ON_DISK), &head),
        Some(SkipReason::ModeChanged)
    );
    assert_eq!(
        skipped(&script, on_disk(REGULAR_ON_DISK), &head),
        Some(SkipReason::ModeChanged)
    );
    assert_eq!(skipped(&script, on_disk(EXECUTABLE_ON_DISK), &head), None);
    // Only the owner's bit counts, as in git.
    assert_eq!(skipped(&file, on_disk(0o100655), &head), None);
    // core.filemode=false: the bit is not compared.
    let no_file_mode = StatRules {
        file_mode: false,
        ..rules()
    };
    let not_executable = EntryStat::Found(Ok(on_disk(REGULAR_ON_DISK)));
    assert!(classified(&script, not_executable, &head, &no_file_mode).is_ok());
}

/// A symlink's permission bits mean nothing: its mode is never compared.
#[test]
fn a_symlink_is_never_mode_changed() {
    let mut link = entry("l");
    link.mode = EntryMode::SYMLINK;
    let stat = FileStat {
        mode: SYMLINK_ON_DISK,
        ..stat_of(&link)
    };
    assert_eq!(skipped(&link, stat, &head(&[&link])), None);
    // Under core.symlinks=false, nor is the mode of the file that stands for it.
    let no_symlinks = StatRules {
        symlinks: false,
        ..rules()
    };
    let as_executable_file = FileStat {
        mode: EXECUTABLE_ON_DISK,
        ..stat
    };
    let result = classified(
        &link,
        EntryStat::Found(Ok(as_executable_file)),
        &head(&[&link]),
        &no_symlinks,
    );
    assert!(result.is_ok());
}

/// git's size rule: a size other than the recorded one is a modification, without reading
/// the file; but a recorded size of 0 proves nothing, and the file is read.
#[test]
fn a_size_that_differs_from_a_recorded_size_is_a_modification() {
    let file = entry("f");
    let head_of_file = head(&[&file]);
    let mut grown = stat_of(&file);
    grown.size += 1;
    assert_eq!(
        skipped(&file, grown, &head_of_file),
        Some(SkipReason::Modified)
    );
    let mut unrecorded = entry("f");
    unrecorded.size = 0;
    let candidate = classified(
        &unrecorded,
        EntryStat::Found(Ok(grown)),
        &head_of_file,
        &rules(),
    );
    assert!(candidate.unwrap().needs_content_check);
}

/// Whatever the stat data says, an assume-unchanged entry's content is read: git does not
/// look at such a file, so its stat data in the index may be stale or arbitrary.
#[test]
fn assume_unchanged_entries_have_their_content_read() {
    let mut entry = entry("f");
    entry.flags = FLAG_ASSUME_UNCHANGED;
    let candidate = classified(
        &entry,
        EntryStat::Found(Ok(stat_of(&entry))),
        &head(&[&entry]),
        &rules(),
    );
    assert!(candidate.unwrap().needs_content_check);
}

//! Finding HEAD's answers: stored, or made from the newest stored answers (carried along
//! HEAD's first-parent line, or patched with the difference of the trees), then completed by
//! one walk of history for the paths still open, which stops where they reach a commit with
//! stored answers.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use git2::{Oid, Repository};

use super::{AnswerCache, AnswerEntry, AnswerTrees, Answers};
use crate::Options;
use crate::error::Error;
use crate::history::{
    HistoryMode, KnownAnswers, LastChange, WalkOptions, commit_tree, first_parent_line,
    last_change_times,
};
use crate::odb::{ObjectReader, Replacements};
use crate::open::open_again;
use crate::scope::Scope;
use crate::trace::Trace;

/// Where HEAD's answers come from.
pub(crate) struct AnswerSources<'a, 'c> {
    pub git_dir: &'a Path,
    pub root: &'a Path,
    pub head_id: Oid,
    pub cache: &'c AnswerCache,
    /// Stored answers of other commits, newest first.
    pub others: &'a [LazyAnswers<'c>],
    /// What history is read through.
    pub replacements: std::sync::Arc<Replacements>,
}

/// What [`find_answers`] tells as it goes.
pub(crate) enum AnswerNews {
    /// HEAD's answers as far as they are known without a walk, and whether they are new (not
    /// stored yet). Told first, once.
    Head { answers: Arc<Answers>, fresh: bool },
    /// Answers of the walk, each final, by the place of its entry in HEAD's answers. Told as
    /// the walk finds them.
    Walked(Vec<(u32, LastChange)>),
}

/// What the sync tells the walk while it runs (see [`WalkOptions::stop`] and
/// [`WalkOptions::split_when`]).
#[derive(Clone, Copy)]
pub(crate) struct WalkFlags<'a> {
    pub stop: &'a AtomicBool,
    pub split: &'a AtomicBool,
}

/// HEAD's answers, then those of a history walk for the paths they do not answer yet, told to
/// `tell` as they are found (see [`AnswerNews`]); the walk's answers are also returned whole.
/// Runs on a thread of its own, with its own repository handle, opened only if HEAD's answers
/// or the walk needs one. The walk starts on one thread: the sync's other threads stamp the
/// files whose answers are told meanwhile, and `flags` split the walk in two when they are
/// done, or stop it.
pub(crate) fn find_answers(
    sources: AnswerSources<'_, '_>,
    options: &Options,
    trace: &Trace,
    tell: &(dyn Fn(AnswerNews) + Sync),
    flags: WalkFlags<'_>,
) -> Result<Walked, Error> {
    let AnswerSources {
        git_dir,
        root,
        head_id,
        cache,
        others,
        replacements,
    } = sources;
    // This thread reads the pathspecs itself, which is cheap.
    let scope = Scope::new(options)?;
    let open = || -> Result<Repository, Error> { open_again(git_dir, root) };
    // A sync at a HEAD seen before reads neither its commit, nor its tree, nor history.
    let loaded = cache.load(head_id, options.history);
    let fresh = loaded.is_none();
    let repo = match loaded {
        Some(_) => None,
        None => Some(open()?),
    };
    // One reader for HEAD's tree and the walk, which starts with the trees just read.
    let reader_of =
        |repo| ObjectReader::with_replacements(repo, std::sync::Arc::clone(&replacements));
    let mut reader = repo.as_ref().map(reader_of).transpose()?;
    let answers = match (loaded, &repo, &mut reader) {
        (Some(answers), _, _) => answers,
        (None, Some(repo), Some(reader)) => {
            answers_before_walk(repo, reader, head_id, options.history, others)?
        }
        (None, _, _) => unreachable!("the repository is opened when no answers are stored"),
    };
    trace.phase("head tree (second thread)");
    let answers = Arc::new(answers);
    tell(AnswerNews::Head {
        answers: Arc::clone(&answers),
        fresh,
    });
    let (keys, slots) = number_paths_to_walk(&answers, &scope, !options.no_directories);
    if keys.is_empty() {
        return Ok(Walked::default());
    }
    let opened_now;
    let (repo, reader) = match (&repo, reader) {
        (Some(repo), Some(reader)) => (repo, reader),
        _ => {
            opened_now = open()?;
            (&opened_now, reader_of(&opened_now)?)
        }
    };
    let unresolved: Vec<&[u8]> = keys
        .iter()
        .map(|key| walk_key(&answers.entries, key))
        .collect();
    // Other commits' answers end the walk early; each is read only if the walk reaches its
    // commit.
    let lookups: Vec<_> = others
        .iter()
        .map(|other| move |path: &[u8]| other.get()?.answer(path))
        .collect();
    let known: Vec<KnownAnswers<'_>> = others
        .iter()
        .zip(&lookups)
        .map(|(other, lookup)| KnownAnswers {
            commit: other.commit,
            answers: lookup,
        })
        .collect();
    let tell_walked = |news: Vec<(u32, LastChange)>| {
        let news = news
            .into_iter()
            .map(|(number, answer)| (keys[number as usize].0 as u32, answer))
            .collect();
        tell(AnswerNews::Walked(news));
    };
    let walk = WalkOptions::default()
        .mode(options.history)
        .known(&known)
        .progress(options.progress.as_deref())
        .reader(reader)
        .threads(1)
        .on_answers(&tell_walked)
        .stop(flags.stop)
        .split_when(flags.split);
    let changes = last_change_times(repo, head_id, &unresolved, walk)?;
    trace.phase("history walk (second thread)");
    Ok(Walked { slots, changes })
}

/// The history walk's answers for the paths HEAD's answers left open, each reached by the
/// place of its entry in HEAD's answers, with no lookups by path. The numbering holds for one
/// sync only, so it is kept here, apart from the answers that are stored.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// For each entry of HEAD's answers, its place in `changes`, or [`NOT_WALKED`]; empty when
    /// nothing was walked.
    slots: Vec<u32>,
    /// The walk's answers, in the order of its keys (see [`number_paths_to_walk`]).
    changes: Vec<LastChange>,
}

/// The slot of an entry the walk did not answer.
const NOT_WALKED: u32 = u32::MAX;

impl Walked {
    /// True when the walk answered no path.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The walk's answer for the entry at `at` in HEAD's answers, when it walked that path.
    pub fn get(&self, at: usize) -> Option<LastChange> {
        let slot = *self.slots.get(at)?;
        self.changes.get(slot as usize).copied()
    }
}

/// HEAD's paths, with the answers known without a walk. When HEAD's first-parent line reaches
/// a commit with stored answers (the HEAD of the last sync, a few commits back), only the
/// line's changes are read, and every path they leave alone keeps its stored answer.
/// Otherwise the newest stored answers still save reading HEAD's whole tree: their paths are
/// patched with the difference of the two trees, and every answer is left to the walk.
fn answers_before_walk(
    repo: &Repository,
    reader: &mut ObjectReader<'_>,
    head_id: Oid,
    mode: HistoryMode,
    others: &[LazyAnswers<'_>],
) -> Result<Answers, Error> {
    let stored: Vec<Oid> = others.iter().map(|other| other.commit).collect();
    if let Some(line) = first_parent_line(repo, reader, head_id, &stored)?
        && let Some(base) = others
            .iter()
            .find(|other| other.commit == line.stored_commit)
            .and_then(LazyAnswers::get)
    {
        let base_trees = AnswerTrees::new(base, line.stored_tree);
        let changed = line.changes(reader, mode, &|id| base_trees.tree(id))?;
        return Ok(Answers::at_end_of_line(base, head_id, changed));
    }
    // Through the reader, which reads a replaced commit as its replacement, as git does.
    let tree = commit_tree(reader, head_id)?;
    let base = others.first().and_then(|newest| {
        let base = newest.get()?;
        let base_tree = commit_tree(reader, base.commit).ok()?;
        Some((base, base_tree))
    });
    Answers::of_tree(reader, head_id, tree, mode, base)
}

/// A commit's stored answers, read from disk the first time they are needed.
pub(crate) struct LazyAnswers<'c> {
    cache: &'c AnswerCache,
    commit: Oid,
    mode: HistoryMode,
    answers: std::sync::OnceLock<Option<Answers>>,
}

impl<'c> LazyAnswers<'c> {
    pub fn new(cache: &'c AnswerCache, commit: Oid, mode: HistoryMode) -> Self {
        LazyAnswers {
            cache,
            commit,
            mode,
            answers: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> Option<&Answers> {
        self.answers
            .get_or_init(|| self.cache.load(self.commit, self.mode))
            .as_ref()
    }
}

/// Numbers the paths whose last change the history walk must find (in scope, not answered
/// yet, not submodules; directories only when they are synced) in the order of their keys for
/// the walk, and returns them in that order: each entry's place in `answers`, with its key
/// when it is a directory; and, for each entry of `answers`, its place in that order (see
/// [`Walked`]). A directory's key is its path and a slash, the root's the empty path (see
/// [`crate::history`]); a file's key is its path.
fn number_paths_to_walk(
    answers: &Answers,
    scope: &Scope,
    directories: bool,
) -> (Vec<WalkKey>, Vec<u32>) {
    let mut keys: Vec<WalkKey> = Vec::new();
    for (at, (path, entry)) in answers.entries.iter().enumerate() {
        if entry.change.is_some() || entry.mode.is_gitlink() {
            continue;
        }
        if !entry.mode.is_tree() {
            if scope.contains(path) {
                keys.push((at, None));
            }
        } else if directories && scope.contains_directory(path) {
            let mut key = path.clone();
            if !key.is_empty() {
                key.push(b'/');
            }
            keys.push((at, Some(key)));
        }
    }
    let entries = &answers.entries;
    // The answers' order differs only where a directory's key moves past names that sort
    // between its path and its path and a slash ("a" < "a.c" < "a/"): nearly sorted, which
    // the standard library's sort handles in about one pass.
    keys.sort_by(|a, b| walk_key(entries, a).cmp(walk_key(entries, b)));
    let mut slots = Vec::new();
    if !keys.is_empty() {
        slots = vec![NOT_WALKED; entries.len()];
        for (slot, (at, _)) in keys.iter().enumerate() {
            slots[*at] = slot as u32;
        }
    }
    (keys, slots)
}

/// An entry numbered for the walk: its place in the answers, with its key when it is a
/// directory (see [`number_paths_to_walk`]).
type WalkKey = (usize, Option<Vec<u8>>);

/// The key of an entry numbered by [`number_paths_to_walk`].
fn walk_key<'a>(entries: &'a [(Vec<u8>, AnswerEntry)], key: &'a WalkKey) -> &'a [u8] {
    match &key.1 {
        Some(directory) => directory,
        None => &entries[key.0].0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryMode;
    use crate::objects::EntryMode;

    /// The walk's keys come sorted as the walk wants them (a directory as its path and a
    /// slash, after names that sort between), and each answer comes back to the entry it
    /// was numbered for.
    #[test]
    fn walked_answers_reach_the_entries_they_were_numbered_for() {
        let blob = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let answer = |time: i64| LastChange {
            commit: blob,
            time,
            approximate: false,
        };
        let entry = |path: &str, mode: EntryMode, answered: bool| {
            let change = answered.then_some((blob, 1));
            (path.as_bytes().to_vec(), AnswerEntry { blob, mode, change })
        };
        let answers = Answers {
            commit: blob,
            mode: HistoryMode::Simplified,
            entries: vec![
                entry("", EntryMode::TREE, false),
                entry("a", EntryMode::TREE, false),
                entry("a.c", EntryMode::REGULAR, false),
                entry("a/x", EntryMode::REGULAR, true),
                entry("b", EntryMode::GITLINK, false),
                entry("c", EntryMode::REGULAR, false),
            ],
        };
        let scope = Scope::new(&Options::default()).unwrap();
        let keys_of = |keys: &[WalkKey]| -> Vec<String> {
            let key = |key| String::from_utf8_lossy(walk_key(&answers.entries, key)).into_owned();
            keys.iter().map(key).collect()
        };
        let (keys, slots) = number_paths_to_walk(&answers, &scope, true);
        assert_eq!(keys_of(&keys), ["", "a.c", "a/", "c"]);
        let changes = (0..keys.len() as i64).map(|n| answer(100 + n)).collect();
        let walked = Walked { slots, changes };
        let times: Vec<Option<i64>> = (0..answers.entries.len())
            .map(|at| walked.get(at).map(|change| change.time))
            .collect();
        assert_eq!(
            times,
            [Some(100), Some(102), Some(101), None, None, Some(103)]
        );
        // Without directories, and with nothing to walk.
        let (keys, slots) = number_paths_to_walk(&answers, &scope, false);
        assert_eq!(keys_of(&keys), ["a.c", "c"]);
        assert_eq!(slots.iter().filter(|&&slot| slot != NOT_WALKED).count(), 2);
        let mut all_answered = answers.clone();
        for (_, entry) in &mut all_answered.entries {
            entry.change = Some((blob, 1));
        }
        let (keys, slots) = number_paths_to_walk(&all_answered, &scope, true);
        assert!(keys.is_empty() && slots.is_empty());
        assert_eq!(Walked::default().get(0), None);
    }
}

//! Finding HEAD's answers: stored, or made from the newest stored answers (carried along
//! HEAD's first-parent line, or patched with the difference of the trees), then completed by
//! one walk of history for the paths still open, which stops where they reach a commit with
//! stored answers.

use std::path::Path;

use git2::{Oid, Repository};

use super::{AnswerCache, AnswerEntry, AnswerTrees, Answers, NOT_WALKED};
use crate::Options;
use crate::error::Error;
use crate::history::{
    HistoryMode, KnownAnswers, LastChange, MODE_TREE, WalkOptions, commit_tree, first_parent_line,
    last_change_times,
};
use crate::odb::{ObjectReader, Replacements};
use crate::open::open_again;
use crate::scope::Scope;
use crate::sync::MODE_GITLINK;
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

/// HEAD's answers, with those of a history walk for the paths they do not answer yet (in the
/// order of their `walk_slot`), and whether HEAD's answers are new (not stored yet). Runs on
/// a thread of its own, with its own repository handle, opened only if HEAD's answers or the
/// walk needs one.
pub(crate) fn find_answers(
    sources: AnswerSources<'_, '_>,
    options: &Options,
    trace: &Trace,
) -> Result<(Answers, Vec<LastChange>, bool), Error> {
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
    let mut answers = match (loaded, &repo, &mut reader) {
        (Some(answers), _, _) => answers,
        (None, Some(repo), Some(reader)) => {
            answers_before_walk(repo, reader, head_id, options.history, others)?
        }
        (None, _, _) => unreachable!("the repository is opened when no answers are stored"),
    };
    trace.phase("head tree (second thread)");
    let keys = number_paths_to_walk(&mut answers, &scope, !options.no_directories);
    if keys.is_empty() {
        return Ok((answers, Vec::new(), fresh));
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
    let walk = WalkOptions::default()
        .mode(options.history)
        .known(&known)
        .progress(options.progress.as_deref())
        .reader(reader);
    let changes = last_change_times(repo, head_id, &unresolved, walk)?;
    trace.phase("history walk (second thread)");
    drop(unresolved);
    Ok((answers, changes, fresh))
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
            .find(|other| other.commit == line.anchor)
            .and_then(LazyAnswers::get)
    {
        let base_trees = AnswerTrees::new(base, line.anchor_tree);
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
/// when it is a directory. A directory's key is its path and a slash, the root's the empty
/// path (see [`crate::history`]); a file's key is its path.
fn number_paths_to_walk(
    answers: &mut Answers,
    scope: &Scope,
    directories: bool,
) -> Vec<(usize, Option<Vec<u8>>)> {
    let mut keys: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    for (at, (path, entry)) in answers.entries.iter_mut().enumerate() {
        entry.walk_slot = NOT_WALKED;
        if entry.change.is_some() || entry.mode == MODE_GITLINK {
            continue;
        }
        if entry.mode != MODE_TREE {
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
    for (slot, (at, _)) in keys.iter().enumerate() {
        answers.entries[*at].1.walk_slot = slot as u32;
    }
    keys
}

/// The key of an entry numbered by [`number_paths_to_walk`].
fn walk_key<'a>(
    entries: &'a [(Vec<u8>, AnswerEntry)],
    key: &'a (usize, Option<Vec<u8>>),
) -> &'a [u8] {
    match &key.1 {
        Some(directory) => directory,
        None => &entries[key.0].0,
    }
}

//! Answers: for each tracked path of a commit, the commit that last changed it. Answers found
//! once are kept in the git directory, so that the next sync need not walk history again.
//!
//! The last change of a path as seen from a commit is a function of that commit's history
//! alone, and history is immutable, so an answer once found stays true. Each file under
//! `<git common dir>/mtimestamp/` holds the answers of one commit that was HEAD at a sync, for
//! one history mode: every path of that commit's tree (directories too, and the root as the
//! empty path) with its entry and, where it was computed, its last change: for a directory,
//! the last change of its list of entries. A sync whose HEAD has stored answers needs no
//! history at all; a sync after new commits reads only the commits since a commit with stored
//! answers (see [`crate::history::first_parent_line`]), or walks until its paths reach one.
//!
//! A file that is truncated, corrupt, or written by another version of this tool fails its
//! header or checksum and is ignored (and later replaced): it is never trusted. Answers from a
//! shallow clone's boundary are approximate and are not stored.
//!
//! - `model`: what a commit's answers are, and the lookups a sync makes in them;
//! - `trees`: answers made from a commit's tree or carried along a first-parent line, and the
//!   trees of a commit rebuilt from its answers;
//! - `store`: the answer files, their format and which of them are kept;
//! - `find`: how a sync finds HEAD's answers, the history walk included.

mod find;
mod model;
mod store;
mod trees;

pub(crate) use find::{AnswerNews, AnswerSources, LazyAnswers, WalkFlags, find_answers};
pub(crate) use model::{AnswerEntry, Answers, SortedLookup};
pub(crate) use store::AnswerCache;
pub(crate) use trees::AnswerTrees;

//! The oracle for directories, from the git command line only: each directory's list of
//! entries in every commit (`git ls-tree -r -t`), and git's history simplification walked
//! with the list standing in for a file's content.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use sha1::{Digest, Sha1};

use crate::support::repo::Repo;

// --- Lists and fingerprints -------------------------------------------------------------------

/// A directory's list: (name, kind byte) sorted bytewise by name; the kinds are `d`
/// (directory), `f` (file), `l` (symlink) and `m` (submodule).
pub(super) type List = Vec<(Vec<u8>, u8)>;

/// The kind byte of a tree entry's mode.
pub(super) fn kind_of_mode(mode: &str) -> u8 {
    match mode {
        "040000" => b'd',
        "100644" | "100755" => b'f',
        "120000" => b'l',
        "160000" => b'm',
        other => panic!("unexpected mode {other}"),
    }
}

/// The bytes the fingerprint hashes: each entry as its kind byte, its name and a NUL.
pub(super) fn list_bytes(list: &List) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (name, kind) in list {
        bytes.push(*kind);
        bytes.extend_from_slice(name);
        bytes.push(0);
    }
    bytes
}

/// The nanoseconds of a directory's stamp: the first four bytes of the SHA-1 of its list as
/// a big-endian number, modulo 10⁹.
pub(super) fn list_fingerprint(list: &List) -> u32 {
    let digest = Sha1::digest(list_bytes(list));
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000_000
}

/// A path for messages; the root is ".".
pub(super) fn show(path: &[u8]) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

pub(super) fn show_time(time: Option<(i64, u32)>) -> String {
    time.map_or("nothing".to_owned(), |(s, n)| format!("{s}.{n:09}"))
}

// --- The oracle -------------------------------------------------------------------------------

/// How a sync is run: the history mode and whether nanoseconds are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mode {
    pub(super) first_parent: bool,
    pub(super) whole_seconds: bool,
}

pub(super) const DEFAULT: Mode = Mode {
    first_parent: false,
    whole_seconds: false,
};
pub(super) const FIRST_PARENT: Mode = Mode {
    first_parent: true,
    whole_seconds: false,
};

impl Mode {
    pub(super) fn args(self) -> Vec<&'static str> {
        let mut args = vec!["-q"];
        if self.first_parent {
            args.push("--first-parent");
        }
        if self.whole_seconds {
            args.push("--whole-seconds");
        }
        args
    }
}

/// One directory of one commit: its tree id and its list.
pub(super) struct Dir {
    tree: String,
    pub(super) list: List,
}

/// Everything `git ls-tree -r -t` says about one commit.
pub(super) struct Listing {
    /// Every directory, the root as the empty path.
    pub(super) dirs: BTreeMap<Vec<u8>, Dir>,
    /// Every file and symlink with (mode, blob id).
    blobs: BTreeMap<Vec<u8>, (String, String)>,
}

pub(super) struct Commit {
    pub(super) time: i64,
    pub(super) parents: Vec<String>,
}

/// A directory's answer: the commit that last changed its list, and the mtime it must get.
#[derive(Clone, Debug)]
pub(super) struct Answer {
    pub(super) commit: String,
    pub(super) mtime: (i64, u32),
    /// The commits the walk went through, HEAD first, the answer last.
    chain: Vec<String>,
}

/// The history of a repository's HEAD, read with the git command line: commits and parents
/// from one `git log`, each commit's tree from one `git ls-tree -r -t` when first needed.
pub(super) struct GitHistory<'r> {
    repo: &'r Repo,
    pub(super) head: String,
    pub(super) commits: HashMap<String, Commit>,
    listings: RefCell<HashMap<String, Rc<Listing>>>,
}

impl<'r> GitHistory<'r> {
    pub(super) fn read(repo: &'r Repo) -> GitHistory<'r> {
        let head = repo.git(["rev-parse", "HEAD"]).trim().to_owned();
        let mut commits = HashMap::new();
        for line in repo.git(["log", "--format=%H %ct %T %P", "HEAD"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            commits.insert(
                fields[0].to_owned(),
                Commit {
                    time: fields[1].parse().unwrap(),
                    parents: fields[3..].iter().map(|p| (*p).to_owned()).collect(),
                },
            );
        }
        GitHistory {
            repo,
            head,
            commits,
            listings: RefCell::new(HashMap::new()),
        }
    }

    pub(super) fn listing(&self, commit: &str) -> Rc<Listing> {
        if let Some(listing) = self.listings.borrow().get(commit) {
            return Rc::clone(listing);
        }
        let root_tree = self
            .repo
            .git(["rev-parse", &format!("{commit}^{{tree}}")])
            .trim()
            .to_owned();
        let mut dirs = BTreeMap::new();
        dirs.insert(
            Vec::new(),
            Dir {
                tree: root_tree,
                list: Vec::new(),
            },
        );
        let mut blobs = BTreeMap::new();
        let out = self.repo.git_bytes(["ls-tree", "-r", "-t", "-z", commit]);
        for line in out.split(|&b| b == 0).filter(|l| !l.is_empty()) {
            let tab = line.iter().position(|&b| b == b'\t').unwrap();
            let meta: Vec<&str> = std::str::from_utf8(&line[..tab])
                .unwrap()
                .split(' ')
                .collect();
            let (mode, id) = (meta[0], meta[2]);
            let path = &line[tab + 1..];
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(slash) => (&path[..slash], &path[slash + 1..]),
                None => (&path[..0], path),
            };
            let kind = kind_of_mode(mode);
            dirs.get_mut(parent)
                .unwrap_or_else(|| panic!("ls-tree named {} before its tree", show(path)))
                .list
                .push((name.to_vec(), kind));
            match kind {
                b'd' => {
                    dirs.insert(
                        path.to_vec(),
                        Dir {
                            tree: id.to_owned(),
                            list: Vec::new(),
                        },
                    );
                }
                b'f' | b'l' => {
                    blobs.insert(path.to_vec(), (mode.to_owned(), id.to_owned()));
                }
                _ => {}
            }
        }
        for dir in dirs.values_mut() {
            dir.list.sort();
        }
        let listing = Rc::new(Listing { dirs, blobs });
        self.listings
            .borrow_mut()
            .insert(commit.to_owned(), Rc::clone(&listing));
        listing
    }

    /// Git's simplification for one path, with `content` standing in for the path's content
    /// (`None`: the commit lacks the path): from HEAD, follow the first parent (the only one
    /// with `first_parent`) whose content is equal; the commit where none is, is the answer.
    /// Returns the chain of commits walked, HEAD first, the answer last.
    fn walk<T: PartialEq>(
        &self,
        first_parent: bool,
        content: impl Fn(&Listing) -> Option<T>,
    ) -> Vec<String> {
        let mut at = self.head.clone();
        let here = content(&self.listing(&at)).expect("the path is in HEAD");
        let mut chain = Vec::new();
        loop {
            chain.push(at.clone());
            let parents = &self.commits[&at].parents;
            let compared = if first_parent {
                &parents[..parents.len().min(1)]
            } else {
                &parents[..]
            };
            match compared
                .iter()
                .find(|p| content(&self.listing(p)).as_ref() == Some(&here))
            {
                Some(parent) => at = parent.clone(),
                None => return chain,
            }
        }
    }

    /// The answer for every directory of HEAD, the root (the empty path) included.
    pub(super) fn expected_dirs(&self, mode: Mode) -> BTreeMap<Vec<u8>, Answer> {
        let head = self.listing(&self.head);
        head.dirs
            .iter()
            .map(|(path, dir)| {
                let chain = self.walk(mode.first_parent, |listing| {
                    listing.dirs.get(path).map(|d| d.list.clone())
                });
                let commit = chain.last().unwrap().clone();
                let nanos = if mode.whole_seconds {
                    0
                } else {
                    list_fingerprint(&dir.list)
                };
                let mtime = (self.commits[&commit].time, nanos);
                (
                    path.clone(),
                    Answer {
                        commit,
                        mtime,
                        chain,
                    },
                )
            })
            .collect()
    }

    /// The committer time of the last change of every file and symlink of HEAD, by the same
    /// walk with the mode and blob standing in for the list (checked against `git log`).
    pub(super) fn file_times(&self, first_parent: bool) -> BTreeMap<Vec<u8>, i64> {
        let head = self.listing(&self.head);
        head.blobs
            .keys()
            .map(|path| {
                let chain = self.walk(first_parent, |listing| listing.blobs.get(path).cloned());
                (path.clone(), self.commits[chain.last().unwrap()].time)
            })
            .collect()
    }

    /// What the answers of a history cover, so that a change to the generator cannot quietly
    /// stop testing a case.
    pub(super) fn coverage(
        &self,
        answers: &BTreeMap<Vec<u8>, Answer>,
        seen: &mut BTreeSet<String>,
    ) {
        for (path, answer) in answers {
            if path.iter().filter(|&&b| b == b'/').count() >= 2 {
                seen.insert("a directory 3 deep".into());
            }
            let parents = &self.commits[&answer.commit].parents;
            if parents.len() > 1 {
                let listing = self.listing(&answer.commit);
                let list = &listing.dirs[path].list;
                let differs_from_all = parents.iter().all(|p| {
                    self.listing(p)
                        .dirs
                        .get(path)
                        .is_none_or(|d| &d.list != list)
                });
                if differs_from_all {
                    seen.insert("a merge's list differs from every parent's".into());
                }
            }
            for pair in answer.chain.windows(2) {
                let (child, parent) = (&pair[0], &pair[1]);
                if self.commits[child].parents[0] != *parent {
                    seen.insert("the walk follows a second parent".into());
                }
                let (a, b) = (self.listing(child), self.listing(parent));
                if a.dirs[path].tree != b.dirs[path].tree {
                    seen.insert("an equal list under a changed tree".into());
                }
            }
        }
    }
}

/// The kinds the oracle's answers must show, over all seeds of a test.
pub(super) const ANSWERED: [&str; 4] = [
    "a directory 3 deep",
    "a merge's list differs from every parent's",
    "the walk follows a second parent",
    "an equal list under a changed tree",
];

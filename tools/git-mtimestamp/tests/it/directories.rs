//! Every clean tracked directory (the work-tree root included) gets the committer time of the
//! last commit that changed its list of entries, found as `git log -1 -- PATH` finds a
//! file's, with the list standing in for the file's content; the nanoseconds are a
//! fingerprint of the list.
//!
//! The list of a directory holds each entry's name and kind (directory, file, symlink,
//! submodule), not file modes and not contents. The oracle here computes the answers with the
//! git command line only: it walks history as git's default simplification does (at a commit,
//! follow the first parent whose list is equal; a parent without the directory has no list;
//! with `--first-parent`, only the first parent is compared), and is itself checked against
//! `git log` twice: for files, with the blob standing in for the list, and for directories,
//! through a synthetic history in which every directory's list is a file.
//!
//! Randomized histories are written with `git fast-import` from a model of the tree, so that
//! every commit's tree (merges included) is exactly what the generator chose: both sides of
//! a merge adding different files to one directory, merges taking one side, files becoming
//! directories and symlinks and back, renames, directories that vanish and come back,
//! submodules, chmod-only and content-only commits, same-second commits and clock skew.
//! `DIR_SEED=N` reruns one seed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use sha1::{Digest, Sha1};

use crate::support::history::Rng;
use crate::support::repo::{EPOCH, Repo};
use crate::support::{mtime_of, os};

// --- Lists and fingerprints -------------------------------------------------------------------

/// A directory's list: (name, kind byte) sorted bytewise by name; the kinds are `d`
/// (directory), `f` (file), `l` (symlink) and `m` (submodule).
type List = Vec<(Vec<u8>, u8)>;

/// The kind byte of a tree entry's mode.
fn kind_of_mode(mode: &str) -> u8 {
    match mode {
        "040000" => b'd',
        "100644" | "100755" => b'f',
        "120000" => b'l',
        "160000" => b'm',
        other => panic!("unexpected mode {other}"),
    }
}

/// The bytes the fingerprint hashes: each entry as its kind byte, its name and a NUL.
fn list_bytes(list: &List) -> Vec<u8> {
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
fn list_fingerprint(list: &List) -> u32 {
    let digest = Sha1::digest(list_bytes(list));
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000_000
}

/// A path for messages; the root is ".".
fn show(path: &[u8]) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

fn show_time(time: Option<(i64, u32)>) -> String {
    time.map_or("nothing".to_owned(), |(s, n)| format!("{s}.{n:09}"))
}

// --- The oracle -------------------------------------------------------------------------------

/// How a sync is run: the history mode and whether nanoseconds are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mode {
    first_parent: bool,
    whole_seconds: bool,
}

const DEFAULT: Mode = Mode {
    first_parent: false,
    whole_seconds: false,
};
const FIRST_PARENT: Mode = Mode {
    first_parent: true,
    whole_seconds: false,
};

impl Mode {
    fn args(self) -> Vec<&'static str> {
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
struct Dir {
    tree: String,
    list: List,
}

/// Everything `git ls-tree -r -t` says about one commit.
struct Listing {
    /// Every directory, the root as the empty path.
    dirs: BTreeMap<Vec<u8>, Dir>,
    /// Every file and symlink with (mode, blob id).
    blobs: BTreeMap<Vec<u8>, (String, String)>,
}

struct Commit {
    time: i64,
    parents: Vec<String>,
}

/// A directory's answer: the commit that last changed its list, and the mtime it must get.
#[derive(Clone, Debug)]
struct Answer {
    commit: String,
    mtime: (i64, u32),
    /// The commits the walk went through, HEAD first, the answer last.
    chain: Vec<String>,
}

/// The history of a repository's HEAD, read with the git command line: commits and parents
/// from one `git log`, each commit's tree from one `git ls-tree -r -t` when first needed.
struct GitHistory<'r> {
    repo: &'r Repo,
    head: String,
    commits: HashMap<String, Commit>,
    listings: RefCell<HashMap<String, Rc<Listing>>>,
}

impl<'r> GitHistory<'r> {
    fn read(repo: &'r Repo) -> GitHistory<'r> {
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

    fn listing(&self, commit: &str) -> Rc<Listing> {
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
    fn expected_dirs(&self, mode: Mode) -> BTreeMap<Vec<u8>, Answer> {
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
    fn file_times(&self, first_parent: bool) -> BTreeMap<Vec<u8>, i64> {
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
    fn coverage(&self, answers: &BTreeMap<Vec<u8>, Answer>, seen: &mut BTreeSet<String>) {
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

/// Every tracked directory of HEAD whose content on disk is not exactly its list (at the
/// root, `.git` aside): a fresh clone has none. A submodule is a directory on disk.
fn unclean_dirs(repo: &Repo, listing: &Listing) -> Vec<String> {
    let mut unclean = Vec::new();
    for (path, dir) in &listing.dirs {
        let mut on_disk: List = std::fs::read_dir(repo.path(path))
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| !path.is_empty() || entry.file_name() != ".git")
            .map(|entry| {
                let kind = entry.file_type().unwrap();
                let kind = if kind.is_symlink() {
                    b'l'
                } else if kind.is_dir() {
                    b'd'
                } else {
                    b'f'
                };
                (entry.file_name().as_bytes().to_vec(), kind)
            })
            .collect();
        on_disk.sort();
        let wanted: List = dir
            .list
            .iter()
            .map(|(name, kind)| (name.clone(), if *kind == b'm' { b'd' } else { *kind }))
            .collect();
        if on_disk != wanted {
            unclean.push(format!(
                "{}: tree {:?}, disk {:?}",
                show(path),
                wanted,
                on_disk
            ));
        }
    }
    unclean
}

/// Every directory of `expected` whose mtime differs, one line each, naming the commit.
fn wrong_dirs(repo: &Repo, expected: &BTreeMap<Vec<u8>, Answer>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (path, answer) in expected {
        let actual = mtime_of(&repo.path(path));
        if actual != Some(answer.mtime) {
            wrong.push(format!(
                "directory {}: expected {} (commit {}), found {}",
                show(path),
                show_time(Some(answer.mtime)),
                &answer.commit[..12],
                show_time(actual)
            ));
        }
    }
    wrong
}

/// Every file of HEAD whose mtime is not git's answer (`git log -1 -- PATH`), one line each.
fn wrong_files(repo: &Repo, mode: Mode) -> Vec<String> {
    let mut expected = repo.expected_mtimes(mode.first_parent);
    if mode.whole_seconds {
        for time in expected.values_mut() {
            time.1 = 0;
        }
    }
    repo.mtimes_differing_from(&expected)
        .into_iter()
        .map(|line| format!("file {line}"))
        .collect()
}

/// Syncs `repo` in `mode` and returns what is wrong, each line prefixed with `label`: every
/// tracked directory (all must be clean) and every file must have the oracle's time.
fn sync_and_check(repo: &Repo, mode: Mode, label: &str) -> Vec<String> {
    let history = GitHistory::read(repo);
    let unclean = unclean_dirs(repo, &history.listing(&history.head));
    assert!(
        unclean.is_empty(),
        "{label}: the test expects clean directories only:\n{}",
        unclean.join("\n")
    );
    let expected = history.expected_dirs(mode);
    repo.sync(mode.args());
    let mut wrong = wrong_dirs(repo, &expected);
    wrong.extend(wrong_files(repo, mode));
    wrong
        .into_iter()
        .map(|line| format!("{label} {:?}: {line}", mode.args()))
        .collect()
}

fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} wrong mtimes (rerun one seed with DIR_SEED=N):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The tracked directories of HEAD: the trees of `git ls-tree -r -t -d HEAD` (which lists
/// submodules too) and the root.
fn tracked_dirs(repo: &Repo) -> Vec<Vec<u8>> {
    let out = repo.git_bytes(["ls-tree", "-r", "-t", "-d", "-z", "HEAD"]);
    let mut dirs = vec![Vec::new()];
    for line in out.split(|&b| b == 0).filter(|l| !l.is_empty()) {
        if line.starts_with(b"040000 ") {
            let tab = line.iter().position(|&b| b == b'\t').unwrap();
            dirs.push(line[tab + 1..].to_vec());
        }
    }
    dirs
}

/// The mtime of every tracked directory, file and symlink (submodules aside).
fn all_mtimes(repo: &Repo) -> BTreeMap<Vec<u8>, Option<(i64, u32)>> {
    let mut paths = tracked_dirs(repo);
    paths.extend(repo.head_blobs().into_keys());
    paths
        .into_iter()
        .map(|path| {
            let time = mtime_of(&repo.path(&path));
            (path, time)
        })
        .collect()
}

/// Sets a directory's mtime (a file's too, without opening it for writing).
fn set_dir_mtime(path: &Path, (seconds, nanos): (i64, u32)) {
    let time = SystemTime::UNIX_EPOCH + Duration::new(seconds as u64, nanos);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

// --- A model of trees, written with git fast-import --------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Node {
    File { exec: bool, content: Vec<u8> },
    Link(Vec<u8>),
    Submodule(String),
    Dir(Tree),
}

type Tree = BTreeMap<Vec<u8>, Node>;
type TreePath = Vec<Vec<u8>>;

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::File { .. } => "file",
            Node::Link(_) => "symlink",
            Node::Submodule(_) => "submodule",
            Node::Dir(_) => "directory",
        }
    }
}

fn join(path: &[Vec<u8>]) -> Vec<u8> {
    path.join(&b'/')
}

fn get<'t>(tree: &'t Tree, path: &[Vec<u8>]) -> Option<&'t Node> {
    let (first, rest) = path.split_first()?;
    let node = tree.get(first)?;
    match (rest.is_empty(), node) {
        (true, _) => Some(node),
        (false, Node::Dir(sub)) => get(sub, rest),
        _ => None,
    }
}

/// Removes what is at `path`, and the directories it leaves empty (git has no empty trees).
fn take(tree: &mut Tree, path: &[Vec<u8>]) -> Option<Node> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return tree.remove(first);
    }
    let Some(Node::Dir(sub)) = tree.get_mut(first) else {
        return None;
    };
    let taken = take(sub, rest);
    if sub.is_empty() {
        tree.remove(first);
    }
    taken
}

/// Puts `node` at `path`, replacing what is there and turning anything on the way that is no
/// directory into one; notes in `seen` which kind became which.
fn put(tree: &mut Tree, path: &[Vec<u8>], node: Node, seen: &mut BTreeSet<String>) {
    let (first, rest) = path.split_first().expect("a path");
    if rest.is_empty() {
        let new_kind = node.kind();
        let old_kind = tree.insert(first.clone(), node).map(|old| old.kind());
        if old_kind.is_some_and(|old| old != new_kind) {
            seen.insert(format!("{} -> {new_kind}", old_kind.unwrap()));
        }
        return;
    }
    let entry = tree
        .entry(first.clone())
        .or_insert_with(|| Node::Dir(Tree::new()));
    if !matches!(entry, Node::Dir(_)) {
        seen.insert(format!("{} -> directory", entry.kind()));
        *entry = Node::Dir(Tree::new());
    }
    let Node::Dir(sub) = entry else {
        unreachable!()
    };
    put(sub, rest, node, seen);
}

/// Whether `path` is free for a new entry: nothing there, and only directories on the way.
fn is_free(tree: &Tree, path: &[Vec<u8>]) -> bool {
    let mut here = tree;
    for (i, name) in path.iter().enumerate() {
        match here.get(name) {
            None => return true,
            Some(Node::Dir(sub)) if i + 1 < path.len() => here = sub,
            Some(_) => return false,
        }
    }
    false
}

/// Every entry of `tree` (directories and leaves), parents before children.
fn entries(tree: &Tree) -> Vec<(TreePath, &Node)> {
    fn visit<'t>(tree: &'t Tree, prefix: &mut TreePath, out: &mut Vec<(TreePath, &'t Node)>) {
        for (name, node) in tree {
            prefix.push(name.clone());
            out.push((prefix.clone(), node));
            if let Node::Dir(sub) = node {
                visit(sub, prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    visit(tree, &mut Vec::new(), &mut out);
    out
}

fn leaves(tree: &Tree) -> Vec<TreePath> {
    entries(tree)
        .into_iter()
        .filter(|(_, node)| !matches!(node, Node::Dir(_)))
        .map(|(path, _)| path)
        .collect()
}

/// Every directory, the root (the empty path) first.
fn directories(tree: &Tree) -> Vec<TreePath> {
    let mut dirs = vec![Vec::new()];
    dirs.extend(
        entries(tree)
            .into_iter()
            .filter(|(_, node)| matches!(node, Node::Dir(_)))
            .map(|(path, _)| path),
    );
    dirs
}

/// Names that collide on purpose: `a` is a directory here and a file there, `a.txt` and
/// `a-b` sort before `a/` in git's tree order but after `a` bytewise, and one name is not
/// UTF-8.
const NAMES: [&[u8]; 7] = [b"a", b"b", b"a.txt", b"a-b", b"c d", b"n\xe9", b"x"];
const LINK_TARGETS: [&[u8]; 4] = [b"a", b"../x", b"nowhere", b"/tmp"];

struct Branch {
    name: String,
    /// The fast-import mark of its last commit; `None` before its first one.
    head: Option<usize>,
    tree: Tree,
}

/// A random history from a seed, written into `repo` with `git fast-import`. The model's
/// tree is the next commit's tree; every commit lists its whole tree, so a merge's tree is
/// whatever the generator chose.
struct Generator {
    repo: Repo,
    rng: Rng,
    time: i64,
    next_mark: usize,
    branches: Vec<Branch>,
    current: usize,
    tree: Tree,
    /// Directories deleted whole, to bring back identical later.
    removed: Vec<(TreePath, Node)>,
    unique: usize,
    orphans: usize,
    stream: Vec<u8>,
    /// What the history contains.
    seen: BTreeSet<String>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            repo: Repo::new(),
            rng: Rng::new(seed),
            time: EPOCH,
            next_mark: 1,
            branches: vec![Branch {
                name: "main".into(),
                head: None,
                tree: Tree::new(),
            }],
            current: 0,
            tree: Tree::new(),
            removed: Vec::new(),
            unique: 0,
            orphans: 0,
            stream: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// A history of 40 to 70 commits, with every branch merged or not at the end.
    fn generate(seed: u64) -> Generator {
        let mut generator = Generator::new(seed);
        for _ in 0..14 {
            generator.add();
        }
        generator.gitlink();
        generator.commit(&[], "start");
        let commits = 40 + generator.rng.below(31);
        generator.grow(commits);
        generator.finish();
        generator
    }

    /// Makes about `commits` more commits, then goes back to main and merges some branches,
    /// and writes them into the repository.
    fn grow(&mut self, commits: usize) {
        let mut made = 0;
        while made < commits {
            made += self.step();
        }
        self.switch_to(0);
        for other in 1..self.branches.len() {
            if self.rng.chance(40) {
                self.merge_with(other);
            }
        }
    }

    /// One random step; returns the number of commits made.
    fn step(&mut self) -> usize {
        match self.rng.below(100) {
            0..=29 => {
                for _ in 0..1 + self.rng.below(4) {
                    self.structural();
                }
                if self.rng.chance(30) {
                    self.edit_content();
                }
                self.commit(&[], "change");
                1
            }
            30..=41 => {
                self.edit_content();
                self.seen.insert("a content-only commit".into());
                self.commit(&[], "content only");
                1
            }
            42..=49 => {
                if self.chmod() {
                    self.seen.insert("a chmod-only commit".into());
                }
                self.commit(&[], "chmod only");
                1
            }
            50..=57 => {
                self.new_branch();
                0
            }
            58..=66 => {
                let to = self.rng.below(self.branches.len());
                self.switch_to(to);
                0
            }
            67..=78 => {
                let others: Vec<usize> = (0..self.branches.len())
                    .filter(|&b| b != self.current)
                    .collect();
                if others.is_empty() {
                    0
                } else {
                    let other = *self.rng.pick(&others);
                    self.merge_with(other)
                }
            }
            79..=90 => self.fork_and_merge(),
            91..=95 => self.octopus(),
            96..=97 if self.orphans < 2 => self.orphan(),
            _ => {
                self.seen.insert("an empty commit".into());
                self.commit(&[], "nothing");
                1
            }
        }
    }

    /// Writes everything made so far into the repository, with a ref for every branch.
    fn finish(&mut self) {
        for branch in &self.branches {
            if let Some(head) = branch.head {
                writeln!(
                    self.stream,
                    "reset refs/heads/{}\nfrom :{head}\n",
                    branch.name
                )
                .unwrap();
            }
        }
        let marks = self.repo.sandbox().join("marks");
        let mut command = self.repo.git_command();
        command
            .args(["fast-import", "--quiet", "--force"])
            .arg(format!("--export-marks={}", marks.display()))
            .arg(format!("--import-marks-if-exists={}", marks.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&std::mem::take(&mut self.stream))
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "git fast-import failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The names of the branches that have a commit.
    fn branch_names(&self) -> Vec<String> {
        self.branches
            .iter()
            .filter(|b| b.head.is_some())
            .map(|b| b.name.clone())
            .collect()
    }

    // --- Changes to the tree -------------------------------------------------------------------

    fn content(&mut self) -> Vec<u8> {
        if self.rng.chance(30) {
            format!("shared {}\n", self.rng.below(3)).into_bytes()
        } else {
            self.unique += 1;
            format!("unique {}\n", self.unique).into_bytes()
        }
    }

    fn name(&mut self) -> Vec<u8> {
        self.rng.pick(&NAMES).to_vec()
    }

    /// A directory path, mostly through existing directories, sometimes new ones, up to 5
    /// deep.
    fn random_dir(&mut self) -> TreePath {
        let mut path = TreePath::new();
        let mut here = Some(&self.tree);
        while path.len() < 5 && !self.rng.chance(30) {
            let subdirs: Vec<&Vec<u8>> = here
                .into_iter()
                .flat_map(|t| t.iter())
                .filter(|(_, node)| matches!(node, Node::Dir(_)))
                .map(|(name, _)| name)
                .collect();
            let name = if !subdirs.is_empty() && self.rng.chance(70) {
                (*self.rng.pick(&subdirs)).clone()
            } else {
                self.rng.pick(&NAMES).to_vec()
            };
            here = match here.and_then(|t| t.get(&name)) {
                Some(Node::Dir(sub)) => Some(sub),
                _ => None,
            };
            path.push(name);
        }
        path
    }

    /// A path where a new entry can go without replacing anything, if one is found.
    fn free_path(&mut self) -> Option<TreePath> {
        for _ in 0..20 {
            let mut path = self.random_dir();
            path.push(self.name());
            if is_free(&self.tree, &path) {
                return Some(path);
            }
        }
        None
    }

    fn put(&mut self, path: &[Vec<u8>], node: Node) {
        put(&mut self.tree, path, node, &mut self.seen);
    }

    /// A new file (which may replace a file, symlink or directory of the same name).
    fn add(&mut self) {
        let mut path = self.random_dir();
        path.push(self.name());
        while matches!(get(&self.tree, &path), Some(Node::Dir(_))) && self.rng.chance(70) {
            path.push(self.name());
        }
        let node = Node::File {
            exec: self.rng.chance(20),
            content: self.content(),
        };
        self.put(&path, node);
    }

    fn structural(&mut self) {
        match self.rng.below(14) {
            0..=3 => self.add(),
            4..=5 => self.delete(),
            6..=7 => self.rename(),
            8..=10 => self.swap_kind(),
            11..=12 => self.bring_back(),
            _ => self.gitlink(),
        }
        while leaves(&self.tree).len() < 8 {
            self.add();
        }
    }

    /// Deletes a file, symlink or submodule, or a whole directory (kept for `bring_back`).
    fn delete(&mut self) {
        let all: Vec<TreePath> = entries(&self.tree).into_iter().map(|(p, _)| p).collect();
        let path = self.rng.pick(&all).clone();
        let node = take(&mut self.tree, &path).unwrap();
        if matches!(node, Node::Dir(_)) {
            self.seen.insert("a directory deleted whole".into());
            self.removed.push((path, node));
        }
    }

    /// Brings back a deleted directory exactly as it was.
    fn bring_back(&mut self) {
        if self.removed.is_empty() {
            return self.delete();
        }
        let (path, node) = self.removed.remove(self.rng.below(self.removed.len()));
        if is_free(&self.tree, &path) {
            self.seen.insert("a directory comes back".into());
            self.put(&path, node);
        }
    }

    /// Moves a file, symlink or directory to a free path, as `git mv` does.
    fn rename(&mut self) {
        let all: Vec<TreePath> = entries(&self.tree)
            .into_iter()
            .filter(|(_, node)| !matches!(node, Node::Submodule(_)))
            .map(|(p, _)| p)
            .collect();
        let from = self.rng.pick(&all).clone();
        let node = take(&mut self.tree, &from).unwrap();
        match self.free_path() {
            Some(to) if to != from => {
                self.seen.insert(format!("a {} renamed", node.kind()));
                self.put(&to, node);
            }
            _ => self.put(&from, node),
        }
    }

    /// A file becomes a symlink or a directory of the same name, a symlink a file, a
    /// directory a file.
    fn swap_kind(&mut self) {
        let all: Vec<TreePath> = entries(&self.tree)
            .into_iter()
            .filter(|(_, node)| !matches!(node, Node::Submodule(_)))
            .map(|(p, _)| p)
            .collect();
        let links: Vec<TreePath> = all
            .iter()
            .filter(|p| matches!(get(&self.tree, p), Some(Node::Link(_))))
            .cloned()
            .collect();
        let path = if !links.is_empty() && self.rng.chance(40) {
            self.rng.pick(&links).clone()
        } else {
            self.rng.pick(&all).clone()
        };
        let node = match get(&self.tree, &path).unwrap() {
            Node::File { .. } if self.rng.chance(50) => {
                Node::Link(self.rng.pick(&LINK_TARGETS).to_vec())
            }
            Node::File { .. } => {
                let name = self.name();
                let content = self.content();
                let mut inside = Tree::new();
                inside.insert(
                    name,
                    Node::File {
                        exec: false,
                        content,
                    },
                );
                Node::Dir(inside)
            }
            Node::Link(_) | Node::Dir(_) => Node::File {
                exec: false,
                content: self.content(),
            },
            Node::Submodule(_) => unreachable!(),
        };
        self.put(&path, node);
    }

    /// Adds a submodule (a gitlink, without `.gitmodules`), or removes one.
    fn gitlink(&mut self) {
        let existing: Vec<TreePath> = entries(&self.tree)
            .into_iter()
            .filter(|(_, node)| matches!(node, Node::Submodule(_)))
            .map(|(p, _)| p)
            .collect();
        if !existing.is_empty() && self.rng.chance(40) {
            let path = self.rng.pick(&existing).clone();
            take(&mut self.tree, &path);
        } else if let Some(path) = self.free_path() {
            self.seen.insert("a submodule".into());
            let id = format!("{:016x}{:024x}", self.rng.next_u64(), self.unique);
            self.unique += 1;
            self.put(&path, Node::Submodule(id));
        }
    }

    /// New contents for one to three files (or a submodule's commit): no list changes.
    fn edit_content(&mut self) {
        let candidates: Vec<TreePath> = entries(&self.tree)
            .into_iter()
            .filter(|(_, node)| matches!(node, Node::File { .. } | Node::Submodule(_)))
            .map(|(p, _)| p)
            .collect();
        if candidates.is_empty() {
            return self.add();
        }
        for _ in 0..1 + self.rng.below(3) {
            let path = self.rng.pick(&candidates).clone();
            let node = match get(&self.tree, &path).unwrap() {
                Node::File { exec, .. } => Node::File {
                    exec: *exec,
                    content: self.content(),
                },
                _ => {
                    self.unique += 1;
                    Node::Submodule(format!("{:040x}", self.unique))
                }
            };
            self.put(&path, node);
        }
    }

    /// Flips the executable bit of one or two files; false when there is no file.
    fn chmod(&mut self) -> bool {
        let files: Vec<TreePath> = entries(&self.tree)
            .into_iter()
            .filter(|(_, node)| matches!(node, Node::File { .. }))
            .map(|(p, _)| p)
            .collect();
        if files.is_empty() {
            return false;
        }
        for _ in 0..1 + self.rng.below(2) {
            let path = self.rng.pick(&files).clone();
            if let Some(Node::File { exec, content }) = get(&self.tree, &path).cloned() {
                let node = Node::File {
                    exec: !exec,
                    content,
                };
                self.put(&path, node);
            }
        }
        true
    }

    // --- Commits, branches and merges -----------------------------------------------------------

    /// Mostly later, sometimes the same second, sometimes earlier (a clock behind).
    fn next_time(&mut self) {
        self.time += match self.rng.below(10) {
            0 => {
                self.seen.insert("commits in the same second".into());
                0
            }
            1 => {
                self.seen.insert("clock skew".into());
                -(1 + self.rng.below(600) as i64)
            }
            _ => 1 + self.rng.below(3600) as i64,
        };
    }

    /// Commits the model's tree on the current branch, with `extra` parents after the
    /// branch's head. Returns the new commit's mark.
    fn commit(&mut self, extra: &[usize], message: &str) -> usize {
        self.next_time();
        let mark = self.next_mark;
        self.next_mark += 1;
        let branch = &mut self.branches[self.current];
        let out = &mut self.stream;
        writeln!(out, "commit refs/heads/{}\nmark :{mark}", branch.name).unwrap();
        writeln!(out, "committer t <t@e> {} +0000", self.time).unwrap();
        writeln!(out, "data {}\n{message}", message.len()).unwrap();
        for (i, parent) in branch.head.iter().chain(extra).enumerate() {
            let command = if i == 0 { "from" } else { "merge" };
            writeln!(out, "{command} :{parent}").unwrap();
        }
        writeln!(out, "deleteall").unwrap();
        for (path, node) in entries(&self.tree) {
            let path = join(&path);
            assert!(path[0] != b'"' && !path.contains(&b'\n'));
            let data = match node {
                Node::Dir(_) => continue,
                Node::Submodule(id) => {
                    write!(out, "M 160000 {id} ").unwrap();
                    out.extend_from_slice(&path);
                    out.push(b'\n');
                    continue;
                }
                Node::File {
                    exec: true,
                    content,
                } => {
                    out.extend_from_slice(b"M 100755 inline ");
                    content
                }
                Node::File { content, .. } => {
                    out.extend_from_slice(b"M 100644 inline ");
                    content
                }
                Node::Link(target) => {
                    out.extend_from_slice(b"M 120000 inline ");
                    target
                }
            };
            out.extend_from_slice(&path);
            writeln!(out, "\ndata {}", data.len()).unwrap();
            out.extend_from_slice(data);
            out.push(b'\n');
        }
        out.push(b'\n');
        branch.head = Some(mark);
        branch.tree = self.tree.clone();
        mark
    }

    fn new_branch(&mut self) -> usize {
        let from = &self.branches[self.current];
        let branch = Branch {
            name: format!("b{}", self.branches.len()),
            head: from.head,
            tree: from.tree.clone(),
        };
        self.branches.push(branch);
        self.current = self.branches.len() - 1;
        self.current
    }

    fn switch_to(&mut self, branch: usize) {
        self.current = branch;
        self.tree = self.branches[branch].tree.clone();
    }

    /// Merges branch `other` into the current one, with a tree that is ours, theirs, a mix
    /// of both, or a mix with changes of its own.
    fn merge_with(&mut self, other: usize) -> usize {
        let (ours, theirs) = (&self.branches[self.current], &self.branches[other]);
        let Some(their_head) = theirs.head else {
            return 0;
        };
        if ours.head.is_none() || ours.head == theirs.head {
            return 0;
        }
        let theirs = theirs.tree.clone();
        match self.rng.below(4) {
            0 => {
                self.seen.insert("a merge taking our tree".into());
            }
            1 => {
                self.seen.insert("a merge taking their tree".into());
                self.tree = theirs;
            }
            flavor => {
                for path in leaves(&theirs) {
                    if self.rng.chance(50) {
                        let node = get(&theirs, &path).unwrap().clone();
                        self.put(&path, node);
                    }
                }
                for path in leaves(&self.tree) {
                    if get(&theirs, &path).is_none() && self.rng.chance(25) {
                        take(&mut self.tree, &path);
                    }
                }
                if flavor == 3 {
                    self.seen.insert("an evil merge".into());
                    self.structural();
                }
            }
        }
        self.commit(&[their_head], "merge");
        1
    }

    /// The changes from `base` to `side`, applied to the model's tree (theirs win).
    fn apply_changes(&mut self, base: &Tree, side: &Tree) {
        for path in leaves(side) {
            let node = get(side, &path).unwrap();
            if get(base, &path) != Some(node) {
                let node = node.clone();
                self.put(&path, node);
            }
        }
        for path in leaves(base) {
            if get(side, &path).is_none() {
                take(&mut self.tree, &path);
            }
        }
    }

    /// Both sides add a different file to one directory (one side also changes a file's
    /// content), and the merge takes both: the directory's list differs from both parents'.
    /// Sometimes the merge takes one side instead.
    fn fork_and_merge(&mut self) -> usize {
        if self.branches[self.current].head.is_none() {
            return 0;
        }
        let dirs = directories(&self.tree);
        let dir = self.rng.pick(&dirs).clone();
        let free: Vec<Vec<u8>> = NAMES
            .iter()
            .map(|n| n.to_vec())
            .filter(|name| {
                let mut path = dir.clone();
                path.push(name.clone());
                is_free(&self.tree, &path)
            })
            .collect();
        if free.len() < 2 {
            return 0;
        }
        let base = self.tree.clone();
        let ours_index = self.current;
        let (mut ours_path, mut their_path) = (dir.clone(), dir);
        ours_path.push(free[0].clone());
        their_path.push(free[1].clone());

        self.new_branch();
        let content = self.content();
        self.put(
            &their_path,
            Node::File {
                exec: false,
                content,
            },
        );
        if self.rng.chance(50) {
            self.edit_content();
        }
        let their_head = self.commit(&[], "their side");
        let theirs = self.tree.clone();

        self.switch_to(ours_index);
        let content = self.content();
        self.put(
            &ours_path,
            Node::File {
                exec: false,
                content,
            },
        );
        self.commit(&[], "our side");
        match self.rng.below(10) {
            0 => {
                self.seen.insert("a merge taking our tree".into());
            }
            1 => {
                self.seen.insert("a merge taking their tree".into());
                self.tree = theirs;
            }
            _ => {
                self.seen.insert("both sides add to one directory".into());
                self.apply_changes(&base, &theirs);
            }
        }
        // The twig stays a branch, to be switched to or merged again.
        self.commit(&[their_head], "merge both sides");
        3
    }

    /// Two or three twigs, each adding a file, merged at once.
    fn octopus(&mut self) -> usize {
        if self.branches[self.current].head.is_none() {
            return 0;
        }
        let base = self.tree.clone();
        let ours_index = self.current;
        let mut heads = Vec::new();
        let mut sides = Vec::new();
        for _ in 0..2 + self.rng.below(2) {
            self.switch_to(ours_index);
            self.new_branch();
            if let Some(path) = self.free_path() {
                let content = self.content();
                self.put(
                    &path,
                    Node::File {
                        exec: false,
                        content,
                    },
                );
            }
            heads.push(self.commit(&[], "twig"));
            sides.push(self.tree.clone());
        }
        self.switch_to(ours_index);
        for side in &sides {
            self.apply_changes(&base, side);
        }
        self.seen.insert("an octopus merge".into());
        self.commit(&heads, "octopus");
        heads.len() + 1
    }

    /// A branch with a history of its own (another root commit).
    fn orphan(&mut self) -> usize {
        self.orphans += 1;
        self.branches.push(Branch {
            name: format!("orphan{}", self.orphans),
            head: None,
            tree: Tree::new(),
        });
        self.switch_to(self.branches.len() - 1);
        for _ in 0..5 {
            self.add();
        }
        self.seen.insert("a second root".into());
        self.commit(&[], "another root");
        1
    }
}

/// The kinds a generated history must contain, over all seeds of a test.
const GENERATED: [&str; 17] = [
    "a content-only commit",
    "a chmod-only commit",
    "file -> directory",
    "directory -> file",
    "file -> symlink",
    "symlink -> file",
    "a file renamed",
    "a directory renamed",
    "a directory deleted whole",
    "a directory comes back",
    "a submodule",
    "both sides add to one directory",
    "a merge taking our tree",
    "a merge taking their tree",
    "an octopus merge",
    "commits in the same second",
    "clock skew",
];

/// The kinds the oracle's answers must show, over all seeds of a test.
const ANSWERED: [&str; 4] = [
    "a directory 3 deep",
    "a merge's list differs from every parent's",
    "the walk follows a second parent",
    "an equal list under a changed tree",
];

fn seeds(range: std::ops::Range<u64>) -> Vec<u64> {
    let only: Option<u64> = std::env::var("DIR_SEED").ok().map(|s| s.parse().unwrap());
    range
        .filter(|seed| only.is_none_or(|only| only == *seed))
        .collect()
}

fn assert_covered(seen: &BTreeSet<String>, wanted: &[&str], seeds: &[u64]) {
    if seeds.len() < 5 {
        return;
    }
    let missing: Vec<_> = wanted.iter().filter(|k| !seen.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "no seed of {seeds:?} made {missing:?}; seen: {seen:?}"
    );
}

// --- Checks of the oracle itself -------------------------------------------------------------

/// Checks the oracle of `repo`'s HEAD against git: the walk for files against
/// `git log -1 -- PATH`, the listing against `git ls-tree`, the fingerprint against
/// `sha1sum`, and the walk for directories against `git log` on a synthetic history (made
/// in a sibling repository named `synthetic`) where each directory's list is a file.
fn check_oracle(repo: &Repo, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let history = GitHistory::read(repo);
    let head = history.listing(&history.head);

    // The listing of HEAD is git's.
    let mut dirs = tracked_dirs(repo);
    dirs.sort();
    let ours: Vec<Vec<u8>> = head.dirs.keys().cloned().collect();
    if ours != dirs {
        failures.push(format!(
            "{label}: directories {:?}, git has {:?}",
            ours.iter().map(|p| show(p)).collect::<Vec<_>>(),
            dirs.iter().map(|p| show(p)).collect::<Vec<_>>()
        ));
    }
    for (path, dir) in &head.dirs {
        let mut spec = b"HEAD:".to_vec();
        spec.extend_from_slice(path);
        let out = repo.git_bytes([os("ls-tree"), os("-z"), os(spec)]);
        let mut list: List = out
            .split(|&b| b == 0)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let tab = line.iter().position(|&b| b == b'\t').unwrap();
                let mode = std::str::from_utf8(&line[..6]).unwrap();
                (line[tab + 1..].to_vec(), kind_of_mode(mode))
            })
            .collect();
        list.sort();
        if list != dir.list {
            failures.push(format!(
                "{label}: list of {} differs from git's",
                show(path)
            ));
        }
        // The fingerprint, through another SHA-1.
        let mut sha1sum = std::process::Command::new("sha1sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        sha1sum
            .stdin
            .take()
            .unwrap()
            .write_all(&list_bytes(&dir.list))
            .unwrap();
        let digest = String::from_utf8(sha1sum.wait_with_output().unwrap().stdout).unwrap();
        let nanos = u32::from_str_radix(&digest[..8], 16).unwrap() % 1_000_000_000;
        if nanos != list_fingerprint(&dir.list) {
            failures.push(format!("{label}: fingerprint of {} differs", show(path)));
        }
    }

    // The walk for files is `git log -1 -- PATH`.
    for first_parent in [false, true] {
        for (path, time) in history.file_times(first_parent) {
            let git = if first_parent {
                repo.oracle_time_first_parent(&path)
            } else {
                repo.oracle_time(&path)
            };
            if git != time {
                failures.push(format!(
                    "{label} first_parent={first_parent}: file {}: walk {time}, git log {git}",
                    show(&path)
                ));
            }
        }
    }

    // The walk for directories is `git log -1 -- DIR/.list` in a copy of the history whose
    // trees hold one file per directory, the directory's list.
    let synthetic = repo.init_sibling("synthetic");
    let order = repo.git(["rev-list", "--topo-order", "--reverse", "HEAD"]);
    let mut marks = HashMap::new();
    let mut stream = Vec::new();
    for (n, id) in order.lines().enumerate() {
        let mark = n + 1;
        marks.insert(id.to_owned(), mark);
        let commit = &history.commits[id];
        writeln!(stream, "reset refs/heads/main\ncommit refs/heads/main").unwrap();
        writeln!(
            stream,
            "mark :{mark}\ncommitter t <t@e> {} +0000",
            commit.time
        )
        .unwrap();
        writeln!(stream, "data 0").unwrap();
        for (i, parent) in commit.parents.iter().enumerate() {
            let command = if i == 0 { "from" } else { "merge" };
            writeln!(stream, "{command} :{}", marks[parent]).unwrap();
        }
        writeln!(stream, "deleteall").unwrap();
        for (path, dir) in &history.listing(id).dirs {
            stream.extend_from_slice(b"M 100644 inline ");
            if !path.is_empty() {
                stream.extend_from_slice(path);
                stream.push(b'/');
            }
            let bytes = list_bytes(&dir.list);
            writeln!(stream, ".list\ndata {}", bytes.len()).unwrap();
            stream.extend_from_slice(&bytes);
            stream.push(b'\n');
        }
        stream.push(b'\n');
    }
    writeln!(
        stream,
        "reset refs/heads/main\nfrom :{}",
        marks[&history.head]
    )
    .unwrap();
    let mut child = synthetic
        .git_command()
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    for mode in [DEFAULT, FIRST_PARENT] {
        for (path, answer) in history.expected_dirs(mode) {
            let mut file = path.clone();
            if !file.is_empty() {
                file.push(b'/');
            }
            file.extend_from_slice(b".list");
            let git = if mode.first_parent {
                synthetic.oracle_time_first_parent(&file)
            } else {
                synthetic.oracle_time(&file)
            };
            if git != answer.mtime.0 {
                failures.push(format!(
                    "{label} {:?}: directory {}: walk {}, git log on the lists {git}",
                    mode.args(),
                    show(&path),
                    answer.mtime.0
                ));
            }
        }
    }
    std::fs::remove_dir_all(synthetic.root()).unwrap();
    failures
}

/// The oracle agrees with git, before the tool is asked anything: on generated histories and
/// on one made with git's porcelain (real merges, `git mv`, conflicts).
#[test]
fn the_oracle_agrees_with_git() {
    let mut failures = Vec::new();
    for seed in seeds(0..4) {
        let generated = Generator::generate(seed);
        failures.extend(check_oracle(&generated.repo, &format!("seed {seed}")));
    }
    let repo = porcelain_history();
    failures.extend(check_oracle(&repo, "porcelain"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A history made with git's own commands: `git mv`, a clean merge where both sides add to
/// one directory, a conflicted merge resolved by taking theirs, file/directory and
/// file/symlink changes, a directory that vanishes and comes back.
fn porcelain_history() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("src/a/b/c/deep.txt", "deep")
        .write("src/lib.rs", "lib")
        .write("src/a/x", "x")
        .write("doc/readme", "r")
        .write("name", "a file")
        .commit("start");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("src/main.rs", "main");
    repo.at(EPOCH + 200);
    repo.git(["mv", "src/a/x", "src/a/b/y"]);
    repo.commit("git mv");
    repo.checkout("feature");
    repo.at(EPOCH + 300)
        .commit_file("src/feature.rs", "feature");
    repo.at(EPOCH + 400).commit_file("doc/readme", "changed");
    repo.at(EPOCH + 500)
        .remove("name")
        .write("name/inside", "dir");
    repo.commit("file to directory");
    repo.checkout("main").at(EPOCH + 600);
    assert!(repo.merge(["--no-ff", "feature"]));
    repo.at(EPOCH + 700)
        .commit_file("src/a/b/c/deep.txt", "content only");
    repo.at(EPOCH + 800)
        .chmod("src/lib.rs", 0o755)
        .commit("chmod");
    repo.at(EPOCH + 900).remove("doc").commit("doc vanishes");
    repo.at(EPOCH + 1000)
        .write("doc/readme", "changed")
        .commit("doc comes back");
    repo.branch("other");
    repo.at(EPOCH + 1100).commit_file("src/lib.rs", "ours");
    repo.checkout("other");
    repo.at(EPOCH + 1200)
        .write("src/lib.rs", "theirs")
        .symlink("src/link", "lib.rs")
        .commit("theirs");
    repo.checkout("main").at(EPOCH + 1300);
    assert!(!repo.merge(["other"]), "the merge should conflict");
    repo.git(["checkout", "--theirs", "--", "src/lib.rs"]);
    repo.commit("merge taking theirs");
    repo
}

// --- Hand-built histories -------------------------------------------------------------------

/// The list `(name, kind)...` as the oracle holds it.
fn list(entries: &[(&str, u8)]) -> List {
    let mut list: List = entries
        .iter()
        .map(|(name, kind)| (name.as_bytes().to_vec(), *kind))
        .collect();
    list.sort();
    list
}

/// Asserts that the oracle gives `repo`'s directories exactly these (path, seconds, list)
/// in `mode`, then that a fresh clone synced in `mode` matches the oracle.
fn check_by_hand(repo: &Repo, mode: Mode, wanted: &[(&str, i64, List)]) {
    let history = GitHistory::read(repo);
    let answers = history.expected_dirs(mode);
    let by_hand: BTreeMap<Vec<u8>, (i64, u32)> = wanted
        .iter()
        .map(|(path, seconds, list)| {
            let path = if *path == "." { "" } else { path };
            (path.as_bytes().to_vec(), (*seconds, list_fingerprint(list)))
        })
        .collect();
    let oracle: BTreeMap<Vec<u8>, (i64, u32)> =
        answers.iter().map(|(p, a)| (p.clone(), a.mtime)).collect();
    assert_eq!(
        oracle, by_hand,
        "the oracle disagrees with the hand-made answers"
    );

    let clone = repo.clone_to(&format!("clone-{}", mode.args().join("")), &[]);
    let wrong = sync_and_check(&clone, mode, "hand-built");
    assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
}

#[test]
fn content_and_mode_changes_leave_a_directory_alone_and_list_changes_do_not() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("top", "1")
        .write("d/a", "1")
        .write("d/e/f", "1")
        .write("d/e/g/h", "1")
        .commit("start");
    repo.at(EPOCH + 100).commit_file("d/a", "content only");
    repo.at(EPOCH + 200)
        .chmod("d/a", 0o755)
        .commit("chmod only");
    repo.at(EPOCH + 300).commit_file("d/b", "a new file");
    repo.at(EPOCH + 400).commit_file("d/e/g/h", "deep content");
    repo.at(EPOCH + 500);
    repo.git(["mv", "d/e/f", "d/e/f2"]);
    repo.commit("rename");
    let wanted = [
        (".", EPOCH, list(&[("d", b'd'), ("top", b'f')])),
        (
            "d",
            EPOCH + 300,
            list(&[("a", b'f'), ("b", b'f'), ("e", b'd')]),
        ),
        ("d/e", EPOCH + 500, list(&[("f2", b'f'), ("g", b'd')])),
        ("d/e/g", EPOCH, list(&[("h", b'f')])),
    ];
    check_by_hand(&repo, DEFAULT, &wanted);
    check_by_hand(&repo, FIRST_PARENT, &wanted);
}

#[test]
fn merges_follow_the_side_whose_list_is_equal() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("d/base", "1")
        .write("other/x", "1")
        .commit("start");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("d/ours", "1");
    repo.checkout("feature");
    repo.at(EPOCH + 200).commit_file("d/theirs", "1");
    repo.at(EPOCH + 250).commit_file("other/y", "1");
    repo.checkout("main").at(EPOCH + 300);
    assert!(repo.merge(["--no-ff", "feature"]));
    // A merge that keeps our tree: the directory follows the first parent.
    repo.branch("ignored");
    repo.at(EPOCH + 400).commit_file("d/more", "1");
    repo.checkout("ignored");
    repo.at(EPOCH + 500).commit_file("d/ignored", "1");
    repo.checkout("main").at(EPOCH + 600);
    assert!(repo.merge(["-s", "ours", "ignored"]));

    let d = list(&[
        ("base", b'f'),
        ("more", b'f'),
        ("ours", b'f'),
        ("theirs", b'f'),
    ]);
    let other = list(&[("x", b'f'), ("y", b'f')]);
    let root = list(&[("d", b'd'), ("other", b'd')]);
    check_by_hand(
        &repo,
        DEFAULT,
        &[
            (".", EPOCH, root.clone()),
            ("d", EPOCH + 400, d.clone()),
            ("other", EPOCH + 250, other.clone()),
        ],
    );
    check_by_hand(
        &repo,
        FIRST_PARENT,
        &[
            (".", EPOCH, root),
            ("d", EPOCH + 400, d),
            ("other", EPOCH + 300, other),
        ],
    );
}

#[test]
fn a_merge_whose_list_is_new_gets_the_merge_time() {
    let repo = Repo::new();
    repo.at(EPOCH).write("d/base", "1").commit("start");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("d/ours", "1");
    repo.checkout("feature");
    repo.at(EPOCH + 200).commit_file("d/theirs", "1");
    repo.checkout("main").at(EPOCH + 300);
    assert!(repo.merge(["--no-ff", "feature"]));
    let d = list(&[("base", b'f'), ("ours", b'f'), ("theirs", b'f')]);
    for mode in [DEFAULT, FIRST_PARENT] {
        check_by_hand(
            &repo,
            mode,
            &[
                (".", EPOCH, list(&[("d", b'd')])),
                ("d", EPOCH + 300, d.clone()),
            ],
        );
    }
}

#[test]
fn a_directory_that_vanishes_and_comes_back_gets_the_return_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("d/x", "1")
        .write("d/e/y", "1")
        .write("keep", "1")
        .commit("start");
    repo.at(EPOCH + 100).remove("d").commit("d vanishes");
    repo.at(EPOCH + 200)
        .write("d/x", "1")
        .write("d/e/y", "1")
        .commit("d comes back as it was");
    // The root's list is again what it was at the start, but it was different in between.
    check_by_hand(
        &repo,
        DEFAULT,
        &[
            (".", EPOCH + 200, list(&[("d", b'd'), ("keep", b'f')])),
            ("d", EPOCH + 200, list(&[("e", b'd'), ("x", b'f')])),
            ("d/e", EPOCH + 200, list(&[("y", b'f')])),
        ],
    );
}

#[test]
fn kinds_are_part_of_the_list() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("n", "a file")
        .write("l", "a file")
        .write("g/z", "1")
        .commit("start");
    repo.at(EPOCH + 100)
        .remove("n")
        .write("n/inside", "n is a directory")
        .commit("file to directory");
    repo.at(EPOCH + 200)
        .symlink("l", "n")
        .commit("file to symlink");
    // A submodule (a gitlink without .gitmodules); its empty directory keeps `git add -A`
    // from deleting it.
    std::fs::create_dir(repo.path("g/m")).unwrap();
    repo.git([
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,g/m",
    ]);
    repo.at(EPOCH + 300).commit("add a submodule");
    repo.git([
        "update-index",
        "--cacheinfo",
        "160000,2222222222222222222222222222222222222222,g/m",
    ]);
    repo.at(EPOCH + 400)
        .commit("move the submodule: no list change");
    assert_eq!(
        repo.git(["log", "-1", "--format=%ct", "--", "g/m"]).trim(),
        (EPOCH + 400).to_string()
    );
    check_by_hand(
        &repo,
        DEFAULT,
        &[
            (
                ".",
                EPOCH + 200,
                list(&[("g", b'd'), ("l", b'l'), ("n", b'd')]),
            ),
            ("g", EPOCH + 300, list(&[("m", b'm'), ("z", b'f')])),
            ("n", EPOCH + 100, list(&[("inside", b'f')])),
        ],
    );
}

/// The fingerprint's bytes, pinned: entries sorted bytewise (`a` before `a.txt`, although git
/// sorts the directory `a` after `a.txt`), kind byte, name, NUL.
#[test]
fn the_fingerprint_is_the_sha1_of_the_sorted_kinds_and_names() {
    let root = list(&[("a", b'd'), ("a.txt", b'f'), ("l", b'l'), ("m", b'm')]);
    assert_eq!(list_bytes(&root), b"da\0fa.txt\0ll\0mm\0");
    // python3 -c 'import hashlib; print(hashlib.sha1(b"da\0fa.txt\0ll\0mm\0").hexdigest())'
    // 5b1d3255a606fd457afe203ea5e84ba700c01a03: 0x5b1d3255 % 10^9.
    assert_eq!(list_fingerprint(&root), 528_640_085);

    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a/x", "1")
        .write("a.txt", "1")
        .symlink("l", "a.txt");
    std::fs::create_dir(repo.path("m")).unwrap();
    repo.git([
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,m",
    ]);
    repo.commit("all kinds");
    let clone = repo.clone_to("clone", &[]);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime(""), (EPOCH, 528_640_085), "the root");
    assert_eq!(
        clone.mtime("a"),
        (EPOCH, list_fingerprint(&list(&[("x", b'f')]))),
        "a"
    );
}

/// Only clean directories are stamped: one with an untracked or ignored entry, or missing a
/// tracked one, keeps its time; one whose file was only edited is still clean.
#[test]
fn unclean_directories_keep_their_times() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write(".gitignore", "*.o\n")
        .write("untracked/a", "1")
        .write("ignored/a", "1")
        .write("missing/a", "1")
        .write("missing/b", "1")
        .write("retyped/a", "1")
        .write("edited/a", "1")
        .write("clean/a", "1")
        .commit("start");
    let clone = repo.clone_to("clone", &[]);
    clone.write("untracked/new", "x");
    clone.write("ignored/x.o", "x");
    clone.remove("missing/b");
    clone.remove("retyped/a").symlink("retyped/a", "elsewhere");
    clone.write("edited/a", "2");
    let unclean = ["untracked", "ignored", "missing", "retyped"];
    for (n, dir) in unclean.iter().enumerate() {
        set_dir_mtime(&clone.path(dir), (EPOCH + 5_000 + n as i64, 7));
    }
    clone.sync(["-q"]);
    for (n, dir) in unclean.iter().enumerate() {
        assert_eq!(
            clone.mtime(dir),
            (EPOCH + 5_000 + n as i64, 7),
            "{dir} is not clean and must keep its time"
        );
    }
    for dir in ["edited", "clean"] {
        let expected = (EPOCH, list_fingerprint(&list(&[("a", b'f')])));
        assert_eq!(clone.mtime(dir), expected, "{dir} is clean");
    }
}

// --- Randomized histories --------------------------------------------------------------------

/// For each seed: a generated history, its fresh clone synced in both history modes, every
/// tracked directory and file compared with the oracle.
fn check_seeds(range: std::ops::Range<u64>) {
    let seeds = seeds(range);
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for &seed in &seeds {
        let generated = Generator::generate(seed);
        seen.extend(generated.seen.iter().cloned());
        let clone = generated.repo.clone_to("clone", &["--no-local"]);
        let history = GitHistory::read(&clone);
        history.coverage(&history.expected_dirs(DEFAULT), &mut seen);
        for mode in [DEFAULT, FIRST_PARENT] {
            failures.extend(sync_and_check(&clone, mode, &format!("seed {seed}")));
        }
    }
    assert_no_failures(&failures);
    assert_covered(&seen, &GENERATED, &seeds);
    assert_covered(&seen, &ANSWERED, &seeds);
}

#[test]
fn random_histories_seeds_0_to_9() {
    check_seeds(0..10);
}

#[test]
fn random_histories_seeds_10_to_19() {
    check_seeds(10..20);
}

#[test]
fn random_histories_seeds_20_to_29() {
    check_seeds(20..30);
}

/// A clone synced, then new commits (merges among them) pulled, then branch switches: each
/// sync, which reuses the answers of the ones before, must match the oracle, and a sync with
/// nothing new must change nothing.
#[test]
fn syncs_after_new_commits_and_branch_switches_match_the_oracle() {
    let seeds = seeds(100..104);
    let mut failures = Vec::new();
    let (mut merges_pulled, mut switches) = (0, 0);
    for &seed in &seeds {
        let mode = if seed % 2 == 0 { DEFAULT } else { FIRST_PARENT };
        let mut generated = Generator::generate(seed);
        let clone = generated.repo.clone_to("clone", &["--no-local"]);
        failures.extend(sync_and_check(&clone, mode, &format!("seed {seed} first")));
        assert!(
            std::fs::read_dir(clone.path(".git/mtimestamp")).is_ok_and(|mut d| d.next().is_some()),
            "the sync stored no answers for the next one to reuse"
        );
        for round in 0..2 {
            let commits = 5 + generated.rng.below(10);
            generated.grow(commits);
            generated.finish();
            clone.git(["fetch", "-q", "origin"]);
            let merges = clone.git(["rev-list", "--count", "--merges", "HEAD..origin/main"]);
            merges_pulled += merges.trim().parse::<usize>().unwrap();
            clone.git(["merge", "-q", "--ff-only", "origin/main"]);
            let label = format!("seed {seed} after pull {round}");
            failures.extend(sync_and_check(&clone, mode, &label));
            let before = all_mtimes(&clone);
            clone.sync(mode.args());
            if all_mtimes(&clone) != before {
                failures.push(format!("{label}: a sync with nothing new changed mtimes"));
            }
        }
        let branches: Vec<String> = generated
            .branch_names()
            .into_iter()
            .filter(|b| b != "main")
            .collect();
        for _ in 0..2.min(branches.len()) {
            let branch = generated.rng.pick(&branches).clone();
            let tree_before = clone.git(["rev-parse", "HEAD^{tree}"]);
            clone.git(["checkout", "-q", &branch]);
            if clone.git(["rev-parse", "HEAD^{tree}"]) != tree_before {
                switches += 1;
            }
            let label = format!("seed {seed} on {branch}");
            failures.extend(sync_and_check(&clone, mode, &label));
        }
        clone.git(["checkout", "-q", "main"]);
        let label = format!("seed {seed} back on main");
        failures.extend(sync_and_check(&clone, mode, &label));
        let other = if mode.first_parent {
            DEFAULT
        } else {
            FIRST_PARENT
        };
        let label = format!("seed {seed} in the other mode");
        failures.extend(sync_and_check(&clone, other, &label));
    }
    assert_no_failures(&failures);
    if seeds.len() > 1 {
        assert!(merges_pulled > 0, "no pull brought a merge");
        assert!(switches > 0, "no branch switch changed the tree");
    }
}

/// `--whole-seconds` stamps directories with nanoseconds 0; `--no-directories` leaves their
/// mtimes as they were and still stamps files.
#[test]
fn whole_seconds_and_no_directories() {
    let generated = Generator::generate(200);
    let clone = generated.repo.clone_to("clone", &["--no-local"]);
    for mode in [
        Mode {
            first_parent: false,
            whole_seconds: true,
        },
        Mode {
            first_parent: true,
            whole_seconds: true,
        },
    ] {
        let wrong = sync_and_check(&clone, mode, "seed 200");
        assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
        for dir in tracked_dirs(&clone) {
            assert_eq!(clone.mtime(&dir).1, 0, "{} has nanoseconds", show(&dir));
        }
    }

    let clone = generated
        .repo
        .clone_to("clone-no-directories", &["--no-local"]);
    let dirs = tracked_dirs(&clone);
    for (n, dir) in dirs.iter().enumerate() {
        set_dir_mtime(&clone.path(dir), (EPOCH - 10_000 + n as i64, 1 + n as u32));
    }
    let before: Vec<_> = dirs.iter().map(|d| (show(d), clone.mtime(d))).collect();
    clone.sync(["-q", "--no-directories"]);
    let after: Vec<_> = dirs.iter().map(|d| (show(d), clone.mtime(d))).collect();
    assert_eq!(before, after, "--no-directories changed directory mtimes");
    let wrong = wrong_files(&clone, DEFAULT);
    assert!(wrong.is_empty(), "--no-directories: {}", wrong.join("\n"));
    // Without it, the next sync stamps them.
    let wrong = sync_and_check(&clone, DEFAULT, "seed 200 after --no-directories");
    assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
}

/// Two clones of one commit, made at different times with different mtimes, get the same
/// mtime for every tracked file and directory.
#[test]
fn clones_made_at_different_times_get_the_same_mtimes() {
    let generated = Generator::generate(300);
    for mode in [DEFAULT, FIRST_PARENT] {
        let name = |n: usize| format!("clone-{n}-{}", mode.first_parent);
        let first = generated.repo.clone_to(&name(1), &["--no-local"]);
        std::thread::sleep(Duration::from_millis(1_100));
        let second = generated.repo.clone_to(&name(2), &[]);
        for dir in tracked_dirs(&second) {
            set_dir_mtime(&second.path(&dir), (EPOCH + 77_777, 5));
        }
        first.sync(mode.args());
        second.sync(mode.args());
        let (a, b) = (all_mtimes(&first), all_mtimes(&second));
        let differing: Vec<String> = a
            .iter()
            .filter(|(path, time)| b.get(*path) != Some(time))
            .map(|(path, time)| {
                format!(
                    "{}: {} in one clone, {} in the other",
                    show(path),
                    show_time(*time),
                    show_time(b.get(path).copied().flatten())
                )
            })
            .collect();
        assert!(
            differing.is_empty() && a.len() == b.len(),
            "seed 300 {:?}:\n{}",
            mode.args(),
            differing.join("\n")
        );
        let wrong = sync_and_check(&second, mode, "seed 300");
        assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
    }
}

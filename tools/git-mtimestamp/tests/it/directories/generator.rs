//! Random histories written with `git fast-import` from a model of the tree, so that every
//! commit's tree (merges included) is exactly what the generator chose.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::Stdio;

use crate::support::history::Rng;
use crate::support::repo::{EPOCH, Repo};

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
pub(super) struct Generator {
    pub(super) repo: Repo,
    pub(super) rng: Rng,
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
    pub(super) seen: BTreeSet<String>,
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
    pub(super) fn generate(seed: u64) -> Generator {
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
    pub(super) fn grow(&mut self, commits: usize) {
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
    pub(super) fn finish(&mut self) {
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
    pub(super) fn branch_names(&self) -> Vec<String> {
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
pub(super) const GENERATED: [&str; 17] = [
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

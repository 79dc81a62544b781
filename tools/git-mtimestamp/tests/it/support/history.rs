//! What git says about a repository's history, which is what the tool must answer (the
//! oracle), and random histories that look for the cases nobody thought of.

use std::collections::BTreeMap;
use std::ffi::OsString;

use super::repo::{EPOCH, Kind, Listing, Repo, assert_success};
use super::{fingerprint, mtime_of, os};

// --- The oracle: what git says about HEAD's history ------------------------------------------

impl Repo {
    /// The commit time of the commit that last changed `path`, as `git log` shows it.
    pub fn oracle_time(&self, path: impl AsRef<[u8]>) -> i64 {
        self.log_time(&[], path)
    }

    /// The same on the first-parent line: `git log --first-parent -1 -- PATH`.
    pub fn oracle_time_first_parent(&self, path: impl AsRef<[u8]>) -> i64 {
        self.log_time(&["--first-parent"], path)
    }

    fn log_time(&self, options: &[&str], path: impl AsRef<[u8]>) -> i64 {
        let mut command = self.git_command();
        command
            .env("GIT_LITERAL_PATHSPECS", "1")
            .args(["log", "-1", "--format=%ct"])
            .args(options)
            .arg("--")
            .arg(os(&path));
        let output = command.output().unwrap();
        assert_success(&output, "git log");
        let text = String::from_utf8(output.stdout).unwrap();
        text.trim().parse().unwrap_or_else(|_| {
            panic!(
                "git log printed no time for {}: {text:?}",
                String::from_utf8_lossy(path.as_ref())
            )
        })
    }

    /// The id of the blob HEAD holds at `path`, as `git rev-parse HEAD:PATH` prints it.
    pub fn blob_id(&self, path: impl AsRef<[u8]>) -> String {
        let mut spec = b"HEAD:".to_vec();
        spec.extend_from_slice(path.as_ref());
        self.git([OsString::from("rev-parse"), os(spec)])
            .trim()
            .to_owned()
    }

    /// The mtime a synced file must have: the oracle's seconds and the blob's fingerprint.
    pub fn expected_mtime(&self, path: impl AsRef<[u8]>) -> (i64, u32) {
        (self.oracle_time(&path), fingerprint(&self.blob_id(&path)))
    }

    /// Every file and symlink of HEAD's tree with its blob id (`git ls-tree -r HEAD`);
    /// submodules are left out.
    pub fn head_blobs(&self) -> BTreeMap<Vec<u8>, String> {
        let out = self.git_bytes(["ls-tree", "-r", "-z", "HEAD"]);
        out.split(|&b| b == 0)
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                let tab = line.iter().position(|&b| b == b'\t').unwrap();
                let meta: Vec<&str> = std::str::from_utf8(&line[..tab])
                    .unwrap()
                    .split(' ')
                    .collect();
                (meta[1] == "blob").then(|| (line[tab + 1..].to_vec(), meta[2].to_owned()))
            })
            .collect()
    }

    /// The mtime every file of HEAD must have after a sync: seconds from
    /// `git log [--first-parent] -1 -- PATH`, nanoseconds the fingerprint of `HEAD:PATH`.
    pub fn expected_mtimes(&self, first_parent: bool) -> BTreeMap<Vec<u8>, (i64, u32)> {
        self.head_blobs()
            .into_iter()
            .map(|(path, blob)| {
                let seconds = if first_parent {
                    self.oracle_time_first_parent(&path)
                } else {
                    self.oracle_time(&path)
                };
                (path, (seconds, fingerprint(&blob)))
            })
            .collect()
    }

    /// Every file whose mtime differs from `expected`, one line each.
    pub fn mtimes_differing_from(&self, expected: &BTreeMap<Vec<u8>, (i64, u32)>) -> Vec<String> {
        let mut wrong = Vec::new();
        for (path, &(seconds, nanos)) in expected {
            let actual = mtime_of(&self.path(path));
            if actual != Some((seconds, nanos)) {
                wrong.push(format!(
                    "{:?}: expected {seconds}.{nanos:09}, found {}",
                    String::from_utf8_lossy(path),
                    actual.map_or("nothing".to_owned(), |(s, n)| format!("{s}.{n:09}"))
                ));
            }
        }
        wrong
    }

    /// Every file of a clean checkout whose mtime is not what git says it should be.
    pub fn wrong_mtimes(&self, first_parent: bool) -> Vec<String> {
        self.mtimes_differing_from(&self.expected_mtimes(first_parent))
    }

    /// Asserts that every file has the time git says it should have.
    pub fn assert_synced(&self) {
        let wrong = self.wrong_mtimes(false);
        assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
    }

    /// Every directory of `commit`'s tree (the root as `.`), each with its entries and their
    /// kinds, from one `git ls-tree -r -t`. Submodules are entries, never directories here.
    pub fn tree_listings(&self, commit: &str) -> BTreeMap<Vec<u8>, Listing> {
        let out = self.git_bytes(["ls-tree", "-r", "-t", "-z", commit]);
        let mut listings: BTreeMap<Vec<u8>, Listing> = BTreeMap::new();
        listings.insert(b".".to_vec(), Vec::new());
        for line in out.split(|&b| b == 0).filter(|line| !line.is_empty()) {
            let tab = line.iter().position(|&b| b == b'\t').unwrap();
            let mode = std::str::from_utf8(&line[..tab])
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            let kind = Kind::of_mode(mode);
            let path = &line[tab + 1..];
            if mode == "040000" {
                listings.entry(path.to_vec()).or_default();
            }
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(slash) => (path[..slash].to_vec(), path[slash + 1..].to_vec()),
                None => (b".".to_vec(), path.to_vec()),
            };
            listings.entry(parent).or_default().push((name, kind));
        }
        for listing in listings.values_mut() {
            listing.sort();
        }
        listings
    }

    /// Every tracked directory of HEAD's tree, the root as `.`; submodules are not among them.
    pub fn head_dirs(&self) -> Vec<String> {
        self.tree_listings("HEAD")
            .into_keys()
            .map(|dir| String::from_utf8(dir).unwrap())
            .collect()
    }

    /// The time every tracked directory of HEAD must get, in whole seconds: the committer time
    /// of the last commit that changed the directory's list of entries (names and kinds, not
    /// contents), found by comparing each commit of HEAD's first-parent line with its first
    /// parent. On a linear history, which is what these tests build, that is the answer
    /// under any history simplification.
    pub fn expected_dir_seconds(&self) -> BTreeMap<String, i64> {
        let log = self.git(["log", "--first-parent", "--format=%H %ct"]);
        let commits: Vec<(String, i64)> = log
            .lines()
            .map(|line| {
                let (id, time) = line.split_once(' ').unwrap();
                (id.to_owned(), time.parse().unwrap())
            })
            .collect();
        let head = self.tree_listings("HEAD");
        let mut expected = BTreeMap::new();
        let mut newer = head.clone();
        for (i, (_, time)) in commits.iter().enumerate() {
            let older = match commits.get(i + 1) {
                Some((parent, _)) => self.tree_listings(parent),
                None => BTreeMap::new(),
            };
            for dir in head.keys() {
                if !expected.contains_key(dir) && newer.get(dir) != older.get(dir) {
                    expected.insert(dir.clone(), *time);
                }
            }
            if expected.len() == head.len() {
                break;
            }
            newer = older;
        }
        expected
            .into_iter()
            .map(|(dir, time)| (String::from_utf8(dir).unwrap(), time))
            .collect()
    }
}

// --- Random histories ------------------------------------------------------------------------

/// The random choices of a generated history, from a seeded generator (`fastrand`'s, which
/// the synthetic bench repositories and xtask's property tests use too), so that a history
/// replays from its seed.
pub struct Rng(fastrand::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        self.0.usize(..n)
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The places a random history puts its files: every name in every directory.
const DIRS: [&str; 7] = ["", "d0/", "d1/", "d0/e0/", "d0/e1/", "d1/e0/", "d2/e1/"];
const NAMES: [&str; 5] = ["f0.txt", "f1.txt", "f2", "with space.txt", "l0"];

/// Builds a random history from a seed: commits that add, modify, delete, re-add, rename,
/// chmod and symlink files in nested directories, with branches, merges (clean, conflicted,
/// evil, octopus), same-second commits and clock skew.
pub struct RandomHistory {
    /// The repository the history is written in, its objects loose.
    pub repo: Repo,
    rng: Rng,
    branches: Vec<String>,
    current: usize,
    time: i64,
    unique: usize,
}

impl RandomHistory {
    pub fn generate(seed: u64) -> RandomHistory {
        let mut history = RandomHistory {
            repo: Repo::new(),
            rng: Rng::new(seed),
            branches: vec!["main".to_owned()],
            current: 0,
            time: EPOCH,
            unique: 0,
        };
        for _ in 0..12 {
            history.add();
        }
        history.commit();
        let commits = 30 + history.rng.below(31);
        let mut made = 1;
        while made < commits {
            match history.rng.below(100) {
                0..=54 => {
                    for _ in 0..=history.rng.below(3) {
                        history.edit();
                    }
                    history.commit();
                    made += 1;
                }
                55..=64 => history.new_branch(),
                65..=76 => history.switch_branch(),
                77..=92 => made += history.merge_one() as usize,
                93..=96 => made += history.octopus() as usize,
                _ => history.sync_midway(),
            }
        }
        history.repo.checkout("main");
        history.current = 0;
        for name in history.branches.clone().into_iter().skip(1) {
            if history.rng.chance(50) {
                history.merge(&[name], "");
            }
        }
        history
    }

    fn live_paths(&self) -> Vec<String> {
        let mut live = Vec::new();
        for dir in DIRS {
            for name in NAMES {
                let path = format!("{dir}{name}");
                if std::fs::symlink_metadata(self.repo.path(&path)).is_ok() {
                    live.push(path);
                }
            }
        }
        live
    }

    fn free_paths(&self) -> Vec<String> {
        let live = self.live_paths();
        DIRS.iter()
            .flat_map(|dir| NAMES.iter().map(move |name| format!("{dir}{name}")))
            .filter(|p| !live.contains(p))
            .collect()
    }

    /// Content that often repeats earlier content, so reverts and identical blobs happen.
    fn content(&mut self) -> String {
        if self.rng.chance(40) {
            format!("shared {}\n", self.rng.below(4))
        } else {
            self.unique += 1;
            format!("unique {}\n{}", self.unique, "x".repeat(self.rng.below(40)))
        }
    }

    fn add(&mut self) {
        let free = self.free_paths();
        if !free.is_empty() {
            let path = self.rng.pick(&free).clone();
            let content = self.content();
            self.repo.write(&path, content);
        }
    }

    fn edit(&mut self) {
        let live = self.live_paths();
        if live.len() < 4 {
            return self.add();
        }
        let path = self.rng.pick(&live).clone();
        match self.rng.below(10) {
            0..=3 => {
                let content = self.content();
                self.repo.write(&path, content);
            }
            4 => self.add(),
            5 => {
                self.repo.remove(&path);
            }
            6 if !self.free_paths().is_empty() => {
                let free = self.free_paths();
                let to = self.repo.path(self.rng.pick(&free));
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::rename(self.repo.path(&path), to).unwrap();
            }
            7 if !self.repo.path(&path).is_symlink() => {
                let executable = std::fs::metadata(self.repo.path(&path)).unwrap();
                let mode = std::os::unix::fs::PermissionsExt::mode(&executable.permissions());
                self.repo
                    .chmod(&path, if mode & 0o100 == 0 { 0o755 } else { 0o644 });
            }
            _ => {
                let targets = ["f0.txt", "../f1.txt", "nowhere", "d0/e0", "/tmp"];
                let target = *self.rng.pick(&targets);
                let free = self.free_paths();
                let at = if free.is_empty() || self.rng.chance(50) {
                    path
                } else {
                    self.rng.pick(&free).clone()
                };
                self.repo.symlink(&at, target);
            }
        }
    }

    /// Picks the next commit time: mostly later, sometimes the same second, sometimes
    /// earlier (a committer whose clock is behind).
    fn next_time(&mut self) {
        self.time += match self.rng.below(10) {
            0 => 0,
            1 => -(1 + self.rng.below(600) as i64),
            _ => 1 + self.rng.below(3600) as i64,
        };
        self.repo.at(self.time);
    }

    fn commit(&mut self) {
        self.next_time();
        self.repo.commit("change");
    }

    fn new_branch(&mut self) {
        let name = format!("b{}", self.branches.len());
        self.repo.git(["checkout", "-q", "-b", &name]);
        self.branches.push(name);
        self.current = self.branches.len() - 1;
    }

    fn switch_branch(&mut self) {
        self.current = self.rng.below(self.branches.len());
        let name = self.branches[self.current].clone();
        self.repo.checkout(&name);
    }

    fn others(&self) -> Vec<String> {
        let mut others = self.branches.clone();
        others.remove(self.current);
        others
    }

    fn merge_one(&mut self) -> bool {
        let others = self.others();
        if others.is_empty() {
            return false;
        }
        let other = self.rng.pick(&others).clone();
        let flavor = *self.rng.pick(&["", "--no-ff", "evil", "evil"]);
        self.merge(&[other], flavor)
    }

    /// Forks two or three twigs from the current commit, each changing files no other twig
    /// touches (so that git's octopus strategy accepts them), and merges them all at once.
    fn octopus(&mut self) -> bool {
        let current = self.branches[self.current].clone();
        let mut paths = self.live_paths();
        paths.extend(self.free_paths());
        let mut twigs = Vec::new();
        for _ in 0..2 + self.rng.below(2) {
            let twig = format!("twig{}", self.unique);
            self.unique += 1;
            self.repo.git(["checkout", "-q", "-b", &twig, &current]);
            for _ in 0..1 + self.rng.below(2) {
                let path = paths.remove(self.rng.below(paths.len()));
                let content = self.content();
                self.repo.write(&path, content);
            }
            self.commit();
            twigs.push(twig);
        }
        self.repo.checkout(&current);
        self.merge(&twigs, "--no-ff")
    }

    /// Merges `others` into the current branch, resolving conflicts by taking one side, new
    /// content or a deletion per path. Returns whether a commit may have been made.
    fn merge(&mut self, others: &[String], flavor: &str) -> bool {
        self.next_time();
        let mut args = vec!["merge", "-q", "--no-edit"];
        match flavor {
            "evil" => args.extend(["--no-ff", "--no-commit"]),
            "" => {}
            other => args.push(other),
        }
        args.extend(others.iter().map(String::as_str));
        let merged = self.repo.git_output(&args).status.success();
        let in_merge = self.repo.root().join(".git/MERGE_HEAD").exists();
        if !merged && others.len() > 1 {
            // An octopus refuses conflicts; forget it.
            let _ = self.repo.git_output(["merge", "--abort"]);
            self.repo.git(["reset", "-q", "--hard"]);
            self.repo.git(["clean", "-fdq"]);
            return false;
        }
        if !merged {
            self.resolve_conflicts();
            self.repo.commit("merge with conflicts");
        } else if in_merge {
            self.edit();
            self.repo.commit("evil merge");
        }
        true
    }

    fn resolve_conflicts(&mut self) {
        let unmerged = self
            .repo
            .git(["diff", "--name-only", "--diff-filter=U", "-z"]);
        for path in unmerged.split('\0').filter(|p| !p.is_empty()) {
            let choice = self.rng.below(4);
            let sides = match choice {
                0 => ["--ours", "--theirs"],
                _ => ["--theirs", "--ours"],
            };
            let taken = choice < 2
                && sides.iter().any(|side| {
                    self.repo
                        .git_output(["checkout", side, "--", path])
                        .status
                        .success()
                });
            if taken {
                continue;
            }
            if choice == 3 {
                self.repo
                    .git(["rm", "-q", "-f", "--ignore-unmatch", "--", path]);
            } else {
                let content = self.content();
                self.repo.write(path, content);
            }
        }
    }

    /// A sync in the middle of the history leaves answers for later syncs to reuse.
    fn sync_midway(&mut self) {
        let mode = if self.rng.chance(50) {
            "--first-parent"
        } else {
            "--whole-seconds"
        };
        self.repo.sync(["-q", mode]);
    }
}

/// What a history (as seen from HEAD) contains, so that a change to the generator cannot
/// quietly stop covering a case.
pub fn kinds_of_history(repo: &Repo) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    let log = repo.git(["log", "--format=%ct %P%x09%s"]);
    let mut times = Vec::new();
    for line in log.lines() {
        let (meta, subject) = line.split_once('\t').unwrap();
        let fields: Vec<&str> = meta.split(' ').collect();
        times.push(fields[0].parse::<i64>().unwrap());
        match fields.len() - 1 {
            2 => kinds.push("merge"),
            n if n > 2 => kinds.push("octopus"),
            _ => {}
        }
        if subject.contains("conflicts") {
            kinds.push("conflict");
        }
        if subject.contains("evil") {
            kinds.push("evil");
        }
    }
    if times.windows(2).any(|w| w[0] < w[1]) {
        kinds.push("skew");
    }
    let tree = repo.git(["ls-tree", "-r", "HEAD"]);
    if tree.lines().any(|l| l.starts_with("120000")) {
        kinds.push("symlink");
    }
    if tree.lines().any(|l| l.starts_with("100755")) {
        kinds.push("executable");
    }
    kinds
}

//! History as `git log` reads it: objects that replace refs replace (`git replace`), commits
//! that `info/grafts` grafts, and opening a repository whose grafts file libgit2 refuses.
//! They live with the object database because they change what an object reads as: git
//! too keeps the replacements in its object store, and applies them as it reads an object.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{Oid, Repository};
use memmap2::Mmap;
use rustc_hash::FxHashMap;

use crate::error::Error;

/// What git reads in place of what is stored, in every command that walks history (`git log`
/// among them): objects that a replace ref replaces (`git replace`, `git replace --graft`)
/// read as their replacements, commits and trees and blobs alike; and commits listed in
/// `info/grafts` get the parents listed there instead of their own. The walk reads history
/// through them, so that its answers are `git log`'s. Answers found under one set of
/// replacements are stored apart from those found under another (see [`Self::cache_key`]).
#[derive(Debug, Default)]
pub(crate) struct Replacements {
    /// Each replaced object, with the object that replaces it.
    objects: FxHashMap<Oid, Oid>,
    /// Each grafted commit, with the parents it is given.
    grafts: FxHashMap<Oid, Vec<Oid>>,
    /// What git too warns about while it reads them, and skips.
    warnings: Vec<String>,
}

/// git follows a replacement of a replacement, up to this many lookups (`MAXREPLACEDEPTH`).
const MAX_REPLACE_DEPTH: usize = 5;

impl Replacements {
    /// The replacements git honours in `repo`: the refs under `refs/replace/` (or
    /// `GIT_REPLACE_REF_BASE`), unless `GIT_NO_REPLACE_OBJECTS` is set or
    /// `core.useReplaceRefs` is false, and the grafts of `info/grafts` in the common git
    /// directory (or `GIT_GRAFT_FILE`). What git would warn about (a line of the grafts file
    /// it cannot read, a replace ref whose name is no object id) is skipped, as git skips it,
    /// and said on stderr.
    pub fn of(repo: &Repository) -> Result<Replacements, Error> {
        let mut replacements = Replacements::default();
        replacements.read_replace_refs(repo)?;
        replacements.read_grafts(repo);
        for warning in &replacements.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(replacements)
    }

    fn read_replace_refs(&mut self, repo: &Repository) -> Result<(), Error> {
        if std::env::var_os("GIT_NO_REPLACE_OBJECTS").is_some() {
            return Ok(());
        }
        let config = repo
            .config()
            .map_err(Error::git("cannot read the repository's configuration"))?;
        if matches!(config.get_bool("core.useReplaceRefs"), Ok(false)) {
            return Ok(());
        }
        let base = std::env::var("GIT_REPLACE_REF_BASE").unwrap_or("refs/replace/".into());
        if !may_hold_refs_under(repo.commondir(), &base) {
            return Ok(());
        }
        let listing = || Error::git(format!("cannot list the replace refs ({base}*)"));
        let mut names: FxHashMap<Oid, String> = FxHashMap::default();
        for reference in repo
            .references_glob(&format!("{base}*"))
            .map_err(listing())?
        {
            let reference = reference.map_err(listing())?;
            let name = String::from_utf8_lossy(reference.name_bytes()).into_owned();
            let replacement = match reference.target() {
                Some(id) => id,
                None => {
                    let resolved = reference.resolve().map_err(listing())?;
                    resolved
                        .target()
                        .ok_or_else(|| listing()(git2::Error::from_str(&name)))?
                }
            };
            // As git reads the name: the last component, which starts with an object id.
            let last = name.get(base.len()..).unwrap_or(&name).rsplit('/').next();
            let hex = last.and_then(|last| last.get(..40));
            let Some(original) = hex
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|hex| Oid::from_str(hex).ok())
            else {
                self.warnings.push(format!(
                    "bad replace ref name: {name} (its last component is no object id), which git skips too"
                ));
                continue;
            };
            if let Some(first) = names.insert(original, name.clone()) {
                return Err(Error::Git {
                    context: format!(
                        "duplicate replace ref: {name} and {first} both replace {original}"
                    ),
                    cause: git2::Error::from_str(&format!(
                        "git refuses to read history with both too; delete one with `git update-ref -d {name}`"
                    )),
                });
            }
            self.objects.insert(original, replacement);
        }
        Ok(())
    }

    fn read_grafts(&mut self, repo: &Repository) {
        // Where git reads them: GIT_GRAFT_FILE, as given, or info/grafts in the common
        // git directory.
        let file = match std::env::var_os("GIT_GRAFT_FILE") {
            Some(file) => std::path::PathBuf::from(file),
            None => repo.commondir().join("info").join("grafts"),
        };
        let text = match std::fs::read(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.warnings.push(format!(
                    "cannot read the grafts file {}: {e}; git cannot read it either and ignores it, and so does this sync",
                    file.display()
                ));
                return;
            }
        };
        for (number, line) in text.split(|&b| b == b'\n').enumerate() {
            let at = || format!("{}:{}", file.display(), number + 1);
            match crate::objects::parse_graft_line(line) {
                Ok(None) => {}
                Ok(Some((commit, parents))) => match self.grafts.entry(commit) {
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        entry.insert(parents);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {
                        self.warnings.push(format!(
                            "{}: a second graft of commit {commit}, which git ignores too: the first one counts\n  remove one of the two lines",
                            at()
                        ));
                    }
                },
                Err(crate::objects::BadGraft) => self.warnings.push(format!(
                    "{}: bad graft data {:?}, which git skips too, and so does this sync\n  each line is a commit id and the ids of its parents, one space apart; fix or remove the line",
                    at(),
                    String::from_utf8_lossy(line).trim_end()
                )),
            }
        }
    }

    /// The object read in place of `id`: `id` itself, or its replacement (followed as git
    /// follows it, and refused as git refuses it when replacements nest too deep).
    pub fn object(&self, id: Oid) -> Result<Oid, git2::Error> {
        if self.objects.is_empty() {
            return Ok(id);
        }
        let mut current = id;
        for _ in 0..MAX_REPLACE_DEPTH {
            match self.objects.get(&current) {
                Some(&replacement) => current = replacement,
                None => return Ok(current),
            }
        }
        Err(git2::Error::from_str(&format!(
            "replace depth too high for object {id}: its replace refs replace each other {MAX_REPLACE_DEPTH} times or more, which git refuses too (`git replace -l` lists them)"
        )))
    }

    /// The parents a graft gives `commit`, if one does.
    pub fn parents(&self, commit: Oid) -> Option<&[Oid]> {
        if self.grafts.is_empty() {
            return None;
        }
        self.grafts.get(&commit).map(Vec::as_slice)
    }

    /// A short name for this set of replacements, which the answer cache adds to its file
    /// names: answers found under one set of replacements are never used under another.
    /// None when nothing is replaced, so that the usual answers keep their usual names.
    pub fn cache_key(&self) -> Option<String> {
        if self.objects.is_empty() && self.grafts.is_empty() {
            return None;
        }
        let mut lines: Vec<String> = self
            .objects
            .iter()
            .map(|(original, replacement)| format!("replace {original} {replacement}\n"))
            .collect();
        for (commit, parents) in &self.grafts {
            let parents: Vec<String> = parents.iter().map(Oid::to_string).collect();
            lines.push(format!("graft {commit} {}\n", parents.join(" ")));
        }
        lines.sort_unstable();
        let mut hasher = <sha1::Sha1 as sha1::Digest>::new();
        for line in &lines {
            sha1::Digest::update(&mut hasher, line.as_bytes());
        }
        let digest = sha1::Digest::finalize(hasher);
        Some(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// What was skipped while they were read.
    #[cfg(test)]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// libgit2 (1.9) reads `info/grafts` whenever it opens a repository, and refuses to open it
/// when a line is not exactly ids separated by single spaces: a comment, a blank line, a CRLF
/// ending, or a line git itself skips with an error message. git opens such a repository and
/// honours the lines it can read, and so does the sync: the repository is then opened as
/// libgit2 opens a bare one, which reads no grafts (the walk reads them itself, through
/// [`Replacements`]), with the work tree that git names. Any other error is returned as it
/// was. git is asked where the repository of `dir` is as `environment` says: as the git
/// command line there would find it, or from `dir` alone, whatever `GIT_DIR` and the other
/// variables that name a repository say (as `Repository::discover` finds it).
pub(crate) fn open_despite_grafts(
    error: git2::Error,
    dir: &Path,
    environment: Environment,
) -> Result<Repository, git2::Error> {
    if !refuses_grafts(&error) {
        return Err(error);
    }
    let mut locate = std::process::Command::new("git");
    if environment == Environment::Ignored {
        // The variables git itself clears to run in another repository, as far as they
        // decide which one (`local_repo_env`), and those that bound its search.
        for name in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_COMMON_DIR",
            "GIT_IMPLICIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_PREFIX",
            "GIT_CEILING_DIRECTORIES",
            "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        ] {
            locate.env_remove(name);
        }
    }
    let located = locate
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--absolute-git-dir", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output();
    let Some(stdout) = located
        .ok()
        .filter(|o| o.status.success())
        .map(|o| o.stdout)
    else {
        return Err(error);
    };
    let mut lines = stdout.split(|&b| b == b'\n');
    let (Some(git_dir), Some(top)) = (lines.next(), lines.next()) else {
        return Err(error);
    };
    let path = |bytes: &[u8]| Path::new(std::ffi::OsStr::from_bytes(bytes)).to_path_buf();
    let repo = Repository::open_bare(path(git_dir))?;
    if !repo.commondir().join("info/grafts").exists() {
        return Err(error);
    }
    repo.set_workdir(&path(top), false)?;
    Ok(repo)
}

/// Whether the environment's `GIT_DIR` and the like name the repository to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Environment {
    /// As the git command line does (`WorkTree::open_from_env`).
    Honoured,
    /// As `Repository::discover` does: the path alone decides (`WorkTree::open`).
    Ignored,
}

/// Opens the git directory `git_dir` again, as [`Repository::open`] does, or as
/// [`open_despite_grafts`] does when libgit2 refuses its grafts file.
pub(crate) fn reopen_despite_grafts(git_dir: &Path) -> Result<Repository, git2::Error> {
    Repository::open(git_dir).or_else(|error| match refuses_grafts(&error) {
        true => Repository::open_bare(git_dir),
        false => Err(error),
    })
}

/// Whether the repository whose common git directory is `common_dir` may hold refs whose
/// names start with `base`: false only when it surely holds none, that is when `base` names
/// a directory of refs that is not there and no line of `packed-refs` names such a ref. Most
/// repositories have no replace refs, and listing refs through libgit2 parses the whole
/// `packed-refs` file, which for a repository with tens of thousands of tags cost more than a
/// warm sync itself.
fn may_hold_refs_under(common_dir: &Path, base: &str) -> bool {
    if !base.ends_with('/') || common_dir.join(base).exists() {
        return true;
    }
    let packed = match File::open(common_dir.join("packed-refs")) {
        Ok(file) => file,
        Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
    };
    // Mapped, not read: a search reads a few of its pages. SAFETY: git never changes
    // `packed-refs` in place; it renames a new file over it, which leaves this mapping intact.
    match unsafe { Mmap::map(&packed) } {
        Ok(packed) => packed_refs_hold(&packed, base.as_bytes()),
        Err(_) => true,
    }
}

/// Whether the `packed-refs` file `packed` names a ref that starts with `prefix`. Its records
/// are lines of `<id> <name>`, each followed by a line `^<id>` when it names a tag. git
/// writes them sorted by name and says so in its header (`# pack-refs with: ... sorted`),
/// and then, as git does, the records are searched by bisection, not read one by one.
fn packed_refs_hold(packed: &[u8], prefix: &[u8]) -> bool {
    let line_end = |at: usize| packed[at..].iter().position(|&b| b == b'\n');
    let next_line = |at: usize| line_end(at).map_or(packed.len(), |length| at + length + 1);
    let (sorted, start) = match packed.first() {
        Some(b'#') => {
            let header = &packed[..next_line(0)];
            let mut traits = header.trim_ascii_end().split(|&b| b == b' ');
            (traits.any(|t| t == b"sorted"), header.len())
        }
        _ => (false, 0),
    };
    let name_at = |at: usize| {
        let end = line_end(at).map_or(packed.len(), |length| at + length);
        packed.get(at + 41..end).unwrap_or_default()
    };
    if !sorted {
        let mut at = start;
        while at < packed.len() {
            if name_at(at).starts_with(prefix) {
                return true;
            }
            at = next_line(at);
        }
        return false;
    }
    // The start of the record that holds byte `at`, and the start of the record after it.
    let record_start = |mut at: usize| {
        while at > start && (packed[at - 1] != b'\n' || packed[at] == b'^') {
            at -= 1;
        }
        at
    };
    let next_record = |at: usize| {
        let mut next = next_line(at);
        while packed.get(next) == Some(&b'^') {
            next = next_line(next);
        }
        next
    };
    // The first record whose name does not sort before `prefix`.
    let (mut low, mut high) = (start, packed.len());
    while low < high {
        let middle = record_start(low + (high - low) / 2);
        if name_at(middle) < prefix {
            low = next_record(middle);
        } else {
            high = middle;
        }
    }
    low < packed.len() && name_at(low).starts_with(prefix)
}

/// libgit2's errors for a grafts file it cannot parse (of its class GIT_ERROR_GRAFTS, which
/// git2 does not name).
fn refuses_grafts(error: &git2::Error) -> bool {
    let message = error.message();
    error.class() == git2::ErrorClass::None
        && message.contains(" OID at line ")
        && (message.starts_with("invalid graft") || message.starts_with("invalid parent"))
}

#[cfg(test)]
mod tests {
    use super::super::ObjectReader;
    use super::super::fixtures::empty_repository;
    use super::*;
    use crate::test_git::git;

    /// A repository of `count` commits (each a commit of the same empty tree with another
    /// message) and their ids, oldest first.
    fn repository_of_commits(count: usize) -> (tempfile::TempDir, Vec<String>) {
        let dir = empty_repository();
        let root = dir.path();
        let tree = git(root, &["write-tree"]);
        let tree = String::from_utf8(tree).unwrap().trim().to_owned();
        let commits = (0..count)
            .map(|n| {
                let message = format!("commit {n}");
                let id = git(root, &["commit-tree", "-m", &message, &tree]);
                String::from_utf8(id).unwrap().trim().to_owned()
            })
            .collect();
        (dir, commits)
    }

    #[test]
    fn replaced_objects_read_as_their_replacements_up_to_gits_depth() {
        let (dir, commits) = repository_of_commits(7);
        let root = dir.path();
        let replace = |original: &str, replacement: &str| {
            let name = format!("refs/replace/{original}");
            git(root, &["update-ref", &name, replacement]);
        };
        // 0 by 1; 2 by 3, by 4, by 5, by 6: four replacements of replacements, as deep as
        // git follows them.
        replace(&commits[0], &commits[1]);
        for at in 2..6 {
            replace(&commits[at], &commits[at + 1]);
        }
        let repo = Repository::open(root).unwrap();
        let id = |at: usize| Oid::from_str(&commits[at]).unwrap();
        let replacements = Replacements::of(&repo).unwrap();
        assert!(replacements.warnings().is_empty());
        assert_eq!(replacements.object(id(0)).unwrap(), id(1));
        assert_eq!(replacements.object(id(2)).unwrap(), id(6));
        assert_eq!(replacements.object(id(6)).unwrap(), id(6));
        let mut reader = ObjectReader::new(&repo).unwrap();
        let stored = git(root, &["cat-file", "commit", &commits[1]]);
        assert_eq!(reader.read(id(0)).unwrap().data(), &stored[..]);
        let key = replacements.cache_key().expect("a key");
        assert_eq!(Replacements::default().cache_key(), None);

        // One more is too deep, for git and for the reader.
        let tree = format!("{}^{{tree}}", commits[0]);
        let too_deep = git(root, &["commit-tree", "-m", "deeper", &tree]);
        replace(&commits[6], String::from_utf8(too_deep).unwrap().trim());
        let replacements = Replacements::of(&repo).unwrap();
        let error = replacements.object(id(2)).unwrap_err();
        assert!(
            error.message().contains("replace depth too high"),
            "{error}"
        );
        assert_ne!(replacements.cache_key(), Some(key));

        // A ref whose name is no object id is skipped with a warning; two refs that replace
        // one object are refused, as git refuses them.
        git(root, &["update-ref", "refs/replace/not-an-id", &commits[1]]);
        let replacements = Replacements::of(&repo).unwrap();
        assert_eq!(replacements.warnings().len(), 1);
        assert!(replacements.warnings()[0].contains("refs/replace/not-an-id"));
        let twice = format!("refs/replace/more/{}", commits[0]);
        git(root, &["update-ref", &twice, &commits[3]]);
        let Err(error) = Replacements::of(&repo) else {
            panic!("two replacements of one object")
        };
        assert!(
            error.to_string().contains("duplicate replace ref"),
            "{error}"
        );
    }

    #[test]
    fn grafts_are_read_as_git_reads_them() {
        let (dir, commits) = repository_of_commits(3);
        let root = dir.path();
        let [a, b, c] = [0, 1, 2].map(|at| commits[at].as_str());
        let grafts = format!("{a} {b} {c}\n# comment\n\nbad\n{b}\n{a} {c}\n{c} {a}");
        std::fs::write(root.join(".git/info/grafts"), grafts).unwrap();
        // libgit2 refuses to open it (a comment, a bad line); git reads it.
        let refused = Repository::open(root).err().expect("refused by libgit2");
        assert!(refuses_grafts(&refused), "{refused}");
        let repo = open_despite_grafts(refused, root, Environment::Ignored).unwrap();
        assert_eq!(
            repo.workdir(),
            Some(root.canonicalize().unwrap().join("").as_path())
        );
        let replacements = Replacements::of(&repo).unwrap();
        let id = |hex: &str| Oid::from_str(hex).unwrap();
        assert_eq!(replacements.parents(id(a)), Some(&[id(b), id(c)][..]));
        assert_eq!(replacements.parents(id(b)), Some(&[][..]));
        assert_eq!(replacements.parents(id(c)), Some(&[id(a)][..]));
        let warnings = replacements.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("grafts:4: bad graft data \"bad\""));
        assert!(warnings[1].contains(&format!("grafts:6: a second graft of commit {a}")));
        assert!(replacements.cache_key().is_some());
        // The reader gives them to the walk.
        let reader = ObjectReader::new(&repo).unwrap();
        assert_eq!(reader.grafted_parents(id(b)), Some(&[][..]));
    }

    #[test]
    fn packed_refs_are_searched_as_git_searches_them() {
        let id = "1111111111111111111111111111111111111111";
        let names = [
            "refs/heads/main",
            "refs/remotes/origin/main",
            "refs/replace/2222222222222222222222222222222222222222",
            "refs/tags/v1",
            "refs/tags/v2",
        ];
        let records: String = names
            .iter()
            .map(|name| format!("{id} {name}\n^{id}\n"))
            .collect();
        for header in ["# pack-refs with: peeled fully-peeled sorted \n", ""] {
            let packed = format!("{header}{records}");
            for (prefix, expected) in [
                ("refs/replace/", true),
                ("refs/heads/", true),
                ("refs/tags/v2", true),
                ("refs/", true),
                ("refs/other/", false),
                ("refs/tags/v3", false),
                ("refs/a", false),
                ("refs/zzz", false),
            ] {
                let found = packed_refs_hold(packed.as_bytes(), prefix.as_bytes());
                assert_eq!(found, expected, "{prefix} in {header:?}");
            }
        }
        // Each of many names is found, and a name just after it is not.
        let many: Vec<String> = (0..500).map(|n| format!("refs/tags/t{n:05}")).collect();
        let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        for name in &many {
            packed.push_str(&format!("{id} {name}\n"));
        }
        for name in many.iter().step_by(37) {
            assert!(
                packed_refs_hold(packed.as_bytes(), name.as_bytes()),
                "{name}"
            );
            let after = format!("{name}x");
            assert!(!packed_refs_hold(packed.as_bytes(), after.as_bytes()));
        }
        assert!(!packed_refs_hold(b"", b"refs/replace/"));
        assert!(!packed_refs_hold(b"# pack-refs with: sorted \n", b"refs/"));
    }
}

//! Go's test cache across a fresh re-clone into the same path, with the real Go.
//!
//! `go test` caches a package's result under its test binary and everything the test looked
//! at: a file by size, mode and mtime (and never one modified in the last 2 s), a directory
//! it stat'ed by its own size, mode and mtime, one it opened by those plus every entry's, an
//! environment variable by value. A fresh clone gives every file and directory the current
//! time; the sync gives clean ones their commit's time, so the second clone's tests find the
//! first clone's results. Files and directories alike: most tests list `testdata/`.
//!
//! The environment is the harness's cleared one, plus: a GOCACHE of this module's own in
//! target/tmp (outside every clone, shared by both runs of a scenario, warm across runs of
//! `cargo test`), no GOFLAGS (a `-count=1` there would turn the cache off), no user go/env
//! file (GOENV=off; HOME is private anyway) and no network (GOPROXY=off). xtask sets
//! GOTOOLCHAIN=go<pin> itself; with the pinned Go installed that runs it without a download,
//! and with another one the runs fail saying the toolchain is not available.
//!
//! Go prints each package's line (`ok  \tPKG\t(cached)`) on stdout, which xtask passes through.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::harness::{Project, Run};

/// One package per common way of reading test data, and that way.
const WAYS: [(&str, &str); 6] = [
    (
        "example.com/app/readfile",
        "os.ReadFile(\"testdata/input.txt\")",
    ),
    ("example.com/app/glob", "filepath.Glob(\"testdata/*.txt\")"),
    ("example.com/app/readdir", "os.ReadDir(\"testdata\")"),
    (
        "example.com/app/walkdir",
        "fs.WalkDir(os.DirFS(\"testdata\"), ...) over nested directories",
    ),
    ("example.com/app/statdir", "os.Stat(\"testdata/fixtures\")"),
    ("example.com/app/tempdir", "t.TempDir() only"),
];

/// The packages that read the repository: without the sync a fresh clone misses their cache.
const READ_THE_REPOSITORY: [&str; 5] = [
    "example.com/app/readfile",
    "example.com/app/glob",
    "example.com/app/readdir",
    "example.com/app/walkdir",
    "example.com/app/statdir",
];

/// The packages of this project's own `app/`.
const PROJECT_PACKAGES: [&str; 2] = [
    "example.com/app/cmd/wordfreq",
    "example.com/app/internal/wordfreq",
];

/// The packages' commit, after the harness's fixture (2020), whose `app/greet` and `app/cmd`
/// it removes.
const PACKAGES_DATE: &str = "2021-03-04T05:06:07Z";

/// A later commit that adds a case to `readdir/testdata` (a directory whose entries changed)
/// and edits `readfile/testdata/input.txt` (a file whose directory did not change).
const LATER_DATE: &str = "2022-05-06T07:08:09Z";

const LATER: &[(&str, &str)] = &[
    ("app/readdir/testdata/2026.txt", "MMXXVI\n"),
    (
        "app/readfile/testdata/input.txt",
        "# the service's settings\nname = gopher\ncolor = blue\n\nport = 8080\n",
    ),
];

/// The packages of [`WAYS`]: a small library and a realistic test each, and their test data.
const PACKAGES: &[(&str, &str)] = &[
    (
        "app/readfile/settings.go",
        r##"// Package readfile parses "key = value" settings.
package readfile

import (
	"fmt"
	"strings"
)

// Parse reads "key = value" lines, skipping blank lines and # comments.
func Parse(text string) (map[string]string, error) {
	settings := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '=' in %q", i+1, line)
		}
		settings[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return settings, nil
}
"##,
    ),
    (
        "app/readfile/settings_test.go",
        r##"package readfile

import (
	"maps"
	"os"
	"testing"
)

// The way most tests read their data: one named file.
func TestParseInput(t *testing.T) {
	text, err := os.ReadFile("testdata/input.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "gopher", "color": "blue", "port": "8080"}
	if !maps.Equal(got, want) {
		t.Errorf("Parse = %v, want %v", got, want)
	}
}
"##,
    ),
    (
        "app/readfile/testdata/input.txt",
        "# a service\nname = gopher\ncolor = blue\n\nport = 8080\n",
    ),
    (
        "app/glob/slug.go",
        r##"// Package glob makes URL slugs of titles.
package glob

import (
	"strings"
	"unicode"
)

// Slug lowercases title and joins its words with hyphens.
func Slug(title string) string {
	words := strings.FieldsFunc(strings.ToLower(title), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	return strings.Join(words, "-")
}
"##,
    ),
    (
        "app/glob/slug_test.go",
        r##"package glob

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden files: every testdata/*.txt title has its slug in the matching .golden file.
func TestSlugGolden(t *testing.T) {
	titles, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(titles) != 3 {
		t.Fatalf("found %d titles, want 3: %q", len(titles), titles)
	}
	for _, path := range titles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			title, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			if got := Slug(string(title)); got != strings.TrimSpace(string(want)) {
				t.Errorf("Slug(%q) = %q, want %q", title, got, want)
			}
		})
	}
}
"##,
    ),
    ("app/glob/testdata/caching.golden", "caching-why-how\n"),
    (
        "app/glob/testdata/caching.txt",
        "  Caching -- Why & How  \n",
    ),
    ("app/glob/testdata/hello.golden", "hello-world\n"),
    ("app/glob/testdata/hello.txt", "Hello, World!\n"),
    ("app/glob/testdata/notes.golden", "go-1-26-release-notes\n"),
    ("app/glob/testdata/notes.txt", "Go 1.26 Release Notes\n"),
    (
        "app/readdir/roman.go",
        r##"// Package readdir writes numbers in Roman numerals.
package readdir

import "strings"

var numerals = []struct {
	value  int
	symbol string
}{
	{1000, "M"}, {900, "CM"}, {500, "D"}, {400, "CD"}, {100, "C"}, {90, "XC"},
	{50, "L"}, {40, "XL"}, {10, "X"}, {9, "IX"}, {5, "V"}, {4, "IV"}, {1, "I"},
}

// Roman writes n, from 1 to 3999, in Roman numerals.
func Roman(n int) string {
	var b strings.Builder
	for _, numeral := range numerals {
		for n >= numeral.value {
			b.WriteString(numeral.symbol)
			n -= numeral.value
		}
	}
	return b.String()
}
"##,
    ),
    (
        "app/readdir/roman_test.go",
        r##"package readdir

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// One case per file: testdata/<number>.txt holds the number in Roman numerals.
func TestRomanCases(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 3 {
		t.Fatalf("only %d cases in testdata", len(entries))
	}
	for _, entry := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(entry.Name(), ".txt"))
		if err != nil {
			t.Fatalf("%s: %v", entry.Name(), err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if got := Roman(n); got != strings.TrimSpace(string(want)) {
			t.Errorf("Roman(%d) = %q, want %q", n, got, want)
		}
	}
}
"##,
    ),
    ("app/readdir/testdata/1994.txt", "MCMXCIV\n"),
    ("app/readdir/testdata/4.txt", "IV\n"),
    ("app/readdir/testdata/42.txt", "XLII\n"),
    (
        "app/walkdir/price.go",
        r##"// Package walkdir reads the prices of a produce catalog.
package walkdir

import (
	"fmt"
	"strconv"
	"strings"
)

// Price reads the "price: <cents>" line of an item's description.
func Price(description string) (int, error) {
	for _, line := range strings.Split(description, "\n") {
		if value, ok := strings.CutPrefix(line, "price:"); ok {
			return strconv.Atoi(strings.TrimSpace(value))
		}
	}
	return 0, fmt.Errorf("no price in %q", description)
}
"##,
    ),
    (
        "app/walkdir/price_test.go",
        r##"package walkdir

import (
	"io/fs"
	"maps"
	"os"
	"path"
	"testing"
)

// The catalog is a tree: testdata/<kind>/[<family>/]<item>.txt.
func TestEveryItemHasAPrice(t *testing.T) {
	catalog := os.DirFS("testdata")
	got := map[string]int{}
	err := fs.WalkDir(catalog, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(name) != ".txt" {
			return err
		}
		description, err := fs.ReadFile(catalog, name)
		if err != nil {
			return err
		}
		got[name], err = Price(string(description))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"fruit/apple.txt":           120,
		"fruit/citrus/lemon.txt":    45,
		"fruit/citrus/orange.txt":   80,
		"vegetable/leek.txt":        99,
		"vegetable/root/beet.txt":   60,
		"vegetable/root/carrot.txt": 30,
	}
	if !maps.Equal(got, want) {
		t.Errorf("prices = %v, want %v", got, want)
	}
}
"##,
    ),
    (
        "app/walkdir/testdata/fruit/apple.txt",
        "name: apple\nprice: 120\n",
    ),
    (
        "app/walkdir/testdata/fruit/citrus/lemon.txt",
        "name: lemon\nprice: 45\n",
    ),
    (
        "app/walkdir/testdata/fruit/citrus/orange.txt",
        "name: orange\nprice: 80\n",
    ),
    (
        "app/walkdir/testdata/vegetable/leek.txt",
        "name: leek\nprice: 99\n",
    ),
    (
        "app/walkdir/testdata/vegetable/root/beet.txt",
        "name: beet\nprice: 60\n",
    ),
    (
        "app/walkdir/testdata/vegetable/root/carrot.txt",
        "name: carrot\nprice: 30\n",
    ),
    (
        "app/statdir/users.go",
        r##"// Package statdir loads users from CSV.
package statdir

import (
	"encoding/csv"
	"os"
)

// User is one row of a users file.
type User struct {
	Name, Email string
}

// Load reads a CSV file of name,email rows under a header line.
func Load(file string) ([]User, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var users []User
	for _, row := range rows[1:] {
		users = append(users, User{Name: row[0], Email: row[1]})
	}
	return users, nil
}
"##,
    ),
    (
        "app/statdir/users_test.go",
        r##"package statdir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const fixtures = "testdata/fixtures"

// A setup check many suites have: the fixtures directory must be there.
func TestLoadFixtures(t *testing.T) {
	info, err := os.Stat(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	if !info.IsDir() {
		t.Fatalf("%s is not a directory", fixtures)
	}
	users, err := Load(filepath.Join(fixtures, "users.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []User{{"Ada", "ada@example.com"}, {"Grace", "grace@example.com"}}
	if !slices.Equal(users, want) {
		t.Errorf("users = %v, want %v", users, want)
	}
}
"##,
    ),
    (
        "app/statdir/testdata/fixtures/users.csv",
        "name,email\nAda,ada@example.com\nGrace,grace@example.com\n",
    ),
    (
        "app/tempdir/journal.go",
        r##"// Package tempdir keeps a journal: one entry a line, appended.
package tempdir

import (
	"os"
	"strings"
)

// Append adds entry as a line at the end of the journal file, creating it if needed.
func Append(file, entry string) error {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(entry + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Entries reads the journal's entries in order.
func Entries(file string) ([]string, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(text), "\n"), "\n"), nil
}
"##,
    ),
    (
        "app/tempdir/journal_test.go",
        r##"package tempdir

import (
	"path/filepath"
	"slices"
	"testing"
)

// No test data in the repository: the test writes its own files.
func TestAppendThenRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "journal.log")
	for _, entry := range []string{"started", "cache warm", "done"} {
		if err := Append(file, entry); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Entries(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"started", "cache warm", "done"}; !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}
"##,
    ),
];

/// What `go test` said about one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `ok  \tPKG\t0.003s`: the tests ran.
    Ran,
    /// `ok  \tPKG\t(cached)`.
    Cached,
    /// `FAIL\tPKG...`.
    Failed,
    /// `?   \tPKG\t[no test files]`.
    NoTests,
}

/// One `cargo xtask test --engine local` and what go test said about each package.
struct GoTest {
    run: Run,
    packages: BTreeMap<String, Outcome>,
}

impl GoTest {
    /// The packages with tests.
    fn tested(&self) -> Vec<&str> {
        self.packages
            .iter()
            .filter(|(_, outcome)| **outcome != Outcome::NoTests)
            .map(|(package, _)| package.as_str())
            .collect()
    }

    #[track_caller]
    fn outcome(&self, package: &str) -> Outcome {
        *self
            .packages
            .get(package)
            .unwrap_or_else(|| panic!("go test said nothing about {package}\n{}", self.run))
    }

    /// Those of `packages` that are not `(cached)`, with what go said about them.
    fn not_cached<'a>(&self, packages: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        packages
            .into_iter()
            .filter(|package| self.outcome(package) != Outcome::Cached)
            .map(|package| match how(package) {
                Some(how) => format!("{package}: {:?} (reads with {how})", self.outcome(package)),
                None => format!("{package}: {:?}", self.outcome(package)),
            })
            .collect()
    }
}

/// The package lines of go test's output.
fn outcomes(stdout: &str) -> BTreeMap<String, Outcome> {
    let mut packages = BTreeMap::new();
    for line in stdout.lines() {
        let mut fields = line.split('\t');
        let (Some(status), Some(package)) = (fields.next(), fields.next()) else {
            continue;
        };
        let rest = fields.next().unwrap_or("");
        let outcome = match status {
            "ok  " if rest.starts_with("(cached)") => Outcome::Cached,
            "ok  " => Outcome::Ran,
            "FAIL" => Outcome::Failed,
            "?   " if rest == "[no test files]" => Outcome::NoTests,
            _ => continue,
        };
        // `FAIL\tPKG [build failed]`.
        let package = package.split(' ').next().unwrap_or(package);
        packages.insert(package.to_owned(), outcome);
    }
    packages
}

/// A harness project whose xtask runs the real Go with a controlled cache and settings.
fn go_project() -> Project {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-test-cache");
    Project::new()
        .without_dagger()
        .env("GOCACHE", cache)
        .env("GOENV", "off")
        .env("GOPROXY", "off")
        .env_remove("GOFLAGS")
}

/// The harness's project with its `app/` replaced by one package per way of reading test
/// data, committed at [`PACKAGES_DATE`], then [`LATER`] committed at [`LATER_DATE`].
fn ways_project() -> Project {
    let project = go_project();
    project.git(&["rm", "-q", "-r", "app/greet", "app/cmd"]);
    for (path, contents) in PACKAGES {
        project.write(path, contents);
    }
    project.git_at(PACKAGES_DATE, &["add", "-A"]);
    project.git_at(
        PACKAGES_DATE,
        &[
            "commit",
            "-q",
            "-m",
            "One package per way of reading test data",
        ],
    );
    for (path, contents) in LATER {
        project.write(path, contents);
    }
    project.git_at(LATER_DATE, &["add", "-A"]);
    project.git_at(LATER_DATE, &["commit", "-q", "-m", "Another case"]);
    project
}

/// `git clone` of `source` into `dest`, after deleting `dest`: every file and directory gets
/// the current time, as on a new machine.
fn fresh_clone(project: &Project, source: &Path, dest: &Path) {
    let _ = std::fs::remove_dir_all(dest);
    assert!(!dest.exists());
    project.git(&[
        "clone",
        "-q",
        source.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
}

/// `cargo xtask test --engine local [flags]` in `clone`, which must succeed.
fn xtask_test(project: &Project, clone: &Path, flags: &[&str]) -> GoTest {
    let mut args = vec!["test", "--engine", "local"];
    args.extend(flags);
    let run = || project.run_at(clone, &args);
    // The first go test of the process fills a cold GOCACHE with the standard library; the
    // others wait for it rather than compile the same packages beside it.
    static FIRST: OnceLock<()> = OnceLock::new();
    let mut first = None;
    FIRST.get_or_init(|| first = Some(run()));
    let run = first.unwrap_or_else(run).success();
    // The sync's summary line, or none with --no-sync.
    assert_eq!(
        run.stderr.contains("timestamps:"),
        !flags.contains(&"--no-sync"),
        "{run}"
    );
    let packages = outcomes(&run.stdout);
    GoTest { run, packages }
}

#[track_caller]
fn assert_all_ran<'a>(test: &GoTest, packages: impl IntoIterator<Item = &'a str>) {
    for package in packages {
        assert_eq!(
            test.outcome(package),
            Outcome::Ran,
            "{package}: a first run in a new path cannot be cached\n{}",
            test.run
        );
    }
}

fn ways() -> impl Iterator<Item = &'static str> {
    WAYS.iter().map(|(package, _)| *package)
}

/// How `package`, one of [`WAYS`], reads its test data.
fn how(package: &str) -> Option<&'static str> {
    WAYS.iter()
        .find(|(name, _)| *name == package)
        .map(|(_, how)| *how)
}

/// Every way of reading test data keeps its cached result across a synced re-clone.
#[test]
fn synced_reclone_finds_every_package_cached() {
    let project = ways_project();
    let clone = project.home().join("clone");

    fresh_clone(&project, &project.root(), &clone);
    let first = xtask_test(&project, &clone, &[]);
    let mut expected: Vec<&str> = ways().collect();
    expected.sort_unstable();
    assert_eq!(first.tested(), expected, "{}", first.run);
    assert_all_ran(&first, ways());

    fresh_clone(&project, &project.root(), &clone);
    let second = xtask_test(&project, &clone, &[]);
    let missed = second.not_cached(ways());
    assert!(
        missed.is_empty(),
        "after a synced re-clone into the same path these packages were not (cached):\n  {}\n{}",
        missed.join("\n  "),
        second.run
    );
}

/// The control: the same re-clone without the sync on the second run misses the cache of
/// every package that reads the repository, while the one that reads only its own temporary
/// files still finds it (so the cache itself works, and the misses are the timestamps').
#[test]
fn unsynced_reclone_misses_the_cache_of_packages_reading_the_repository() {
    let project = ways_project();
    let clone = project.home().join("clone");

    fresh_clone(&project, &project.root(), &clone);
    let first = xtask_test(&project, &clone, &[]);
    assert_all_ran(&first, ways());

    fresh_clone(&project, &project.root(), &clone);
    let second = xtask_test(&project, &clone, &["--no-sync"]);
    for package in READ_THE_REPOSITORY {
        assert_eq!(
            second.outcome(package),
            Outcome::Ran,
            "{package} reads with {}: in a fresh clone without the sync that cannot be cached\n{}",
            how(package).unwrap(),
            second.run
        );
    }
    assert_eq!(
        second.outcome("example.com/app/tempdir"),
        Outcome::Cached,
        "{}",
        second.run
    );
}

/// This project's own `app/`, as committed: a clone of this repository, synced, re-cloned
/// into the same path, finds every package's result cached.
#[test]
fn synced_reclone_of_this_projects_app_finds_every_package_cached() {
    let project = go_project();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let clone = project.home().join("clone");

    fresh_clone(&project, source, &clone);
    let first = xtask_test(&project, &clone, &[]);
    let tested: Vec<String> = first.tested().into_iter().map(str::to_owned).collect();
    for package in PROJECT_PACKAGES {
        assert!(
            tested.iter().any(|name| name == package),
            "{package} has no test results\n{}",
            first.run
        );
    }
    assert_all_ran(&first, tested.iter().map(String::as_str));

    fresh_clone(&project, source, &clone);
    let second = xtask_test(&project, &clone, &[]);
    let missed = second.not_cached(tested.iter().map(String::as_str));
    assert!(
        missed.is_empty(),
        "after a synced re-clone of this project's app/ into the same path these packages were not (cached):\n  {}\n{}",
        missed.join("\n  "),
        second.run
    );
}

package wordfreq

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestCountSplitsAndJoinsWords(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]int
	}{
		{"", map[string]int{}},
		{"Hello, hello HELLO!", map[string]int{"hello": 3}},
		{"don't stop", map[string]int{"don't": 1, "stop": 1}},
		{"it’s it's", map[string]int{"it's": 2}},
		{"well-known -- a - b", map[string]int{"well-known": 1, "a": 1, "b": 1}},
		{"a--b", map[string]int{"a": 1, "b": 1}},
		{"the dogs' tails 'quoted'", map[string]int{"the": 1, "dogs": 1, "tails": 1, "quoted": 1}},
		{"Café CAFÉ straße", map[string]int{"café": 2, "straße": 1}},
		{"route 66, 66th", map[string]int{"route": 1, "66": 1, "66th": 1}},
		{"tab\tand\nnewline", map[string]int{"tab": 1, "and": 1, "newline": 1}},
		{"bad \xff byte", map[string]int{"bad": 1, "byte": 1}},
	}
	for _, tt := range tests {
		got, err := Count(strings.NewReader(tt.in), Options{}, nil)
		if err != nil {
			t.Fatalf("Count(%q): %v", tt.in, err)
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("Count(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCountAppliesOptions(t *testing.T) {
	opts := Options{MinLength: 3, Stop: map[string]bool{"the": true}}
	got, err := Count(strings.NewReader("The cat is on the mat, éé été"), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	// "éé" is four bytes long but only two runes, so it is too short.
	want := map[string]int{"cat": 1, "mat": 1, "été": 1}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCountAddsToExistingTable(t *testing.T) {
	counts, err := Count(strings.NewReader("a b"), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts, err = Count(strings.NewReader("b c"), Options{}, counts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 1, "b": 2, "c": 1}
	if !maps.Equal(counts, want) {
		t.Errorf("got %v, want %v", counts, want)
	}
}

func TestTopOrdersByCountThenWord(t *testing.T) {
	counts := map[string]int{"pear": 2, "apple": 2, "fig": 5, "kiwi": 1}
	want := []Entry{{"fig", 5}, {"apple", 2}, {"pear", 2}, {"kiwi", 1}}
	for _, n := range []int{0, -1, 4, 10} {
		if got := Top(counts, n); !slices.Equal(got, want) {
			t.Errorf("Top(n=%d) = %v, want %v", n, got, want)
		}
	}
	if got := Top(counts, 2); !slices.Equal(got, want[:2]) {
		t.Errorf("Top(n=2) = %v, want %v", got, want[:2])
	}
	if got := Top(nil, 3); len(got) != 0 {
		t.Errorf("Top(nil) = %v, want nothing", got)
	}
}

func TestParseStopWords(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "stopwords.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop, err := ParseStopWords(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "and", "at", "didn't", "in", "it", "its", "of", "on", "the"}
	if got := slices.Sorted(maps.Keys(stop)); !slices.Equal(got, want) {
		t.Errorf("stop words = %q, want %q", got, want)
	}
}

// TestGolden runs every testdata/*.txt text (except the stop-word list)
// through Count and Top with the stop words applied, and compares the table
// with the matching .golden file.
func TestGolden(t *testing.T) {
	stopFile, err := os.Open(filepath.Join("testdata", "stopwords.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer stopFile.Close()
	stop, err := ParseStopWords(stopFile)
	if err != nil {
		t.Fatal(err)
	}

	texts, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts = slices.DeleteFunc(texts, func(p string) bool { return filepath.Base(p) == "stopwords.txt" })
	if len(texts) == 0 {
		t.Fatal("no texts in testdata")
	}
	for _, text := range texts {
		t.Run(filepath.Base(text), func(t *testing.T) {
			input, err := os.ReadFile(text)
			if err != nil {
				t.Fatal(err)
			}
			counts, err := Count(strings.NewReader(string(input)), Options{Stop: stop}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, e := range Top(counts, 10) {
				fmt.Fprintf(&got, "%d\t%s\n", e.Count, e.Word)
			}

			golden := strings.TrimSuffix(text, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("frequency table differs from %s\ngot:\n%s\nwant:\n%s", golden, got.String(), want)
			}
		})
	}
}

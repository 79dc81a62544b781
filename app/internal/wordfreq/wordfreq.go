// Package wordfreq counts how often words occur in text.
//
// A word is a run of letters and digits. A single apostrophe or hyphen
// between two such runs joins them ("don't", "well-known"); anywhere else it
// separates words like any other punctuation. Words are compared in lower
// case, so "The" and "the" are the same word.
package wordfreq

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options select which words are counted. The zero value counts every word.
type Options struct {
	// MinLength skips words with fewer runes than this.
	MinLength int
	// Stop skips the listed words. Keys must be in lower case.
	Stop map[string]bool
}

// Entry is one line of a frequency table.
type Entry struct {
	Word  string
	Count int
}

// Count reads r to the end and adds the number of times each word occurs
// to counts, which it allocates when nil. Passing the previous result back
// in lets several inputs share one table.
func Count(r io.Reader, opts Options, counts map[string]int) (map[string]int, error) {
	if counts == nil {
		counts = make(map[string]int)
	}
	var word strings.Builder
	// joiner holds an apostrophe or hyphen that follows a word until the
	// next rune shows whether it is inside the word or ends it.
	var joiner rune
	flush := func() {
		if word.Len() > 0 {
			w := strings.ToLower(word.String())
			if utf8.RuneCountInString(w) >= opts.MinLength && !opts.Stop[w] {
				counts[w]++
			}
			word.Reset()
		}
		joiner = 0
	}

	br := bufio.NewReader(r)
	for {
		c, _, err := br.ReadRune()
		if err == io.EOF {
			break
		}
		if err != nil {
			return counts, err
		}
		switch {
		case unicode.IsLetter(c) || unicode.IsDigit(c):
			if joiner != 0 {
				word.WriteRune(joiner)
				joiner = 0
			}
			word.WriteRune(c)
		case isJoiner(c) && word.Len() > 0 && joiner == 0:
			joiner = normalizeJoiner(c)
		default:
			flush()
		}
	}
	flush()
	return counts, nil
}

func isJoiner(c rune) bool {
	return c == '\'' || c == '’' || c == '-'
}

// normalizeJoiner maps the typographic apostrophe to the ASCII one, so that
// "it’s" and "it's" count as the same word.
func normalizeJoiner(c rune) rune {
	if c == '’' {
		return '\''
	}
	return c
}

// Top returns the n most frequent words, most frequent first. Words with
// equal counts are ordered alphabetically so that the output is stable.
// A non-positive n returns every word.
func Top(counts map[string]int, n int) []Entry {
	entries := make([]Entry, 0, len(counts))
	for w, c := range counts {
		entries = append(entries, Entry{Word: w, Count: c})
	}
	slices.SortFunc(entries, func(a, b Entry) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Word, b.Word)
	})
	if n > 0 && n < len(entries) {
		entries = entries[:n]
	}
	return entries
}

// ParseStopWords reads a stop-word list: one word a line, blank lines and
// lines starting with '#' ignored. Words are normalized the way Count
// normalizes them: lower case, typographic apostrophes made ASCII.
func ParseStopWords(r io.Reader) (map[string]bool, error) {
	stop := make(map[string]bool)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		stop[strings.ToLower(strings.ReplaceAll(line, "’", "'"))] = true
	}
	return stop, sc.Err()
}

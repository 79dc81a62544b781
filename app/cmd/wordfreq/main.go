// Command wordfreq prints the most frequent words of its input.
//
// Usage:
//
//	wordfreq [-n N] [-min-len N] [-stop FILE] [FILE...]
//
// With no FILE, or when FILE is -, it reads standard input. Counts from all
// inputs are added up. Each output line is the count, a tab and the word.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"example.com/app/internal/wordfreq"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process around it, so tests can call it. It
// returns the exit status: 0 on success, 1 when an input fails, 2 on a usage
// error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wordfreq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10, "print the `N` most frequent words (0 for all)")
	minLen := fs.Int("min-len", 1, "skip words shorter than `N` letters")
	stopPath := fs.String("stop", "", "skip the words listed in `FILE`, one a line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *n < 0 || *minLen < 0 {
		fmt.Fprintln(stderr, "wordfreq: -n and -min-len must not be negative")
		return 2
	}

	opts := wordfreq.Options{MinLength: *minLen}
	if *stopPath != "" {
		stop, err := readStopWords(*stopPath)
		if err != nil {
			fmt.Fprintf(stderr, "wordfreq: %v\n", err)
			return 1
		}
		opts.Stop = stop
	}

	inputs := fs.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	var counts map[string]int
	for _, name := range inputs {
		var err error
		counts, err = countInput(name, stdin, opts, counts)
		if err != nil {
			fmt.Fprintf(stderr, "wordfreq: %v\n", err)
			return 1
		}
	}

	w := bufio.NewWriter(stdout)
	for _, e := range wordfreq.Top(counts, *n) {
		fmt.Fprintf(w, "%d\t%s\n", e.Count, e.Word)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "wordfreq: %v\n", err)
		return 1
	}
	return 0
}

func countInput(name string, stdin io.Reader, opts wordfreq.Options, counts map[string]int) (map[string]int, error) {
	if name == "-" {
		return wordfreq.Count(stdin, opts, counts)
	}
	f, err := os.Open(name)
	if err != nil {
		return counts, err
	}
	defer f.Close()
	counts, err = wordfreq.Count(f, opts, counts)
	if err != nil {
		return counts, fmt.Errorf("%s: %w", name, err)
	}
	return counts, nil
}

func readStopWords(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stop, err := wordfreq.ParseStopWords(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return stop, nil
}

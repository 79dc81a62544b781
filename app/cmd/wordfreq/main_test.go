package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunAddsUpInputsAndAppliesFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.txt")
	stop := filepath.Join(dir, "stop.txt")
	if err := os.WriteFile(file, []byte("the cat and the hat"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stop, []byte("# articles\nthe\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr strings.Builder
	stdin := strings.NewReader("a cat sat")
	code := run([]string{"-n", "2", "-min-len", "3", "-stop", stop, file, "-"}, stdin, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d, stderr: %s", code, stderr.String())
	}
	// "cat" appears in both inputs; "and", "hat" and "sat" tie at one and
	// sort alphabetically, so -n 2 keeps "and".
	if want := "2\tcat\n1\tand\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
}

func TestRunReportsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing input", []string{filepath.Join(t.TempDir(), "nope.txt")}, 1, "no such file"},
		{"missing stop list", []string{"-stop", filepath.Join(t.TempDir(), "nope.txt")}, 1, "no such file"},
		{"negative count", []string{"-n", "-1"}, 2, "must not be negative"},
		{"unknown flag", []string{"-x"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

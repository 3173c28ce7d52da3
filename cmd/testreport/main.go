// Command testreport reads `go test -json` on standard input and writes a short report: one
// line a package, every failing test's output in full, every skipped test with its reason,
// then the closing line "N passed, N failed, N skipped". It exits non-zero when a test or a
// package failed, when no test ran, and, under CI=true, when any test was skipped: CI must
// never pass by skipping what it should test.
package main

import (
	"fmt"
	"os"
)

func main() {
	r, err := Read(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	r.Write(os.Stdout)
	if msg := r.Verdict(os.Getenv("CI") == "true"); msg != "" {
		fmt.Fprintln(os.Stdout, "testreport:", msg)
		os.Exit(1)
	}
}

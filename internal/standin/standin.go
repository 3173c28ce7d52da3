// Package standin decides what a test does when a stand-in it needs (moto_server, the SAM
// translator, a browser) is missing from the machine: elsewhere it skips with a message saying
// how to get it; under CI=true it fails, so that CI never passes by skipping what it should test.
package standin

import (
	"os"
	"testing"
)

// Missing stops the test because what is absent; how says how to install or start it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing, and CI must run this test: %s", what, how)
		return
	}
	t.Skipf("%s is missing on this machine (CI fails here instead of skipping): %s", what, how)
}

// InCI reports whether the suite runs under CI (CI=true), where no stand-in may be missing.
func InCI() bool { return os.Getenv("CI") == "true" }

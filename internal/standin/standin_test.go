package standin

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that records how the test ended instead of ending it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = f }
func (r *recorder) Skipf(f string, args ...any)  { r.skip = f }

func TestMissingFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	cases := []struct {
		name, ci            string
		wantFatal, wantSkip bool
	}{
		{"CI", "true", true, false},
		{"local", "", false, true},
		{"CI set to something else", "1", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Missing(r, "moto_server", "it ships with the machine image")
			if (r.fatal != "") != tc.wantFatal || (r.skip != "") != tc.wantSkip {
				t.Errorf("CI=%q: fatal %q skip %q; want fatal %v skip %v", tc.ci, r.fatal, r.skip, tc.wantFatal, tc.wantSkip)
			}
			if msg := r.fatal + r.skip; !strings.Contains(msg, "%s is missing") {
				t.Errorf("message %q does not say what is missing", msg)
			}
		})
	}
}

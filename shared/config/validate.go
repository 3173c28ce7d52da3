package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ValidationError lists every problem found in a configuration, one per key.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

type validator struct {
	problems []string
	warnings []string
}

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, key+": "+fmt.Sprintf(format, args...))
}

func (v *validator) warn(key, msg string) { v.warnings = append(v.warnings, key+": "+msg) }

func (v *validator) required(key, val string) {
	if strings.TrimSpace(val) == "" {
		v.add(key, "is required")
	}
}

func (v *validator) positive(key string, n int) {
	if n <= 0 {
		v.add(key, "must be positive, got %d", n)
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		var shown []string
		for _, a := range allowed {
			if a != "" {
				shown = append(shown, a)
			}
		}
		v.add(key, "%q is not one of %s", val, strings.Join(shown, ", "))
	}
}

func (v *validator) regexp(key, val string) {
	if _, err := regexp.Compile(val); err != nil {
		v.add(key, "is not a valid regular expression: %v", err)
	}
}

// tokenHash checks a hex SHA-256 digest, optionally prefixed "sha256:".
func (v *validator) tokenHash(key, h string) {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) != 64 || strings.Trim(strings.ToLower(h), "0123456789abcdef") != "" {
		v.add(key, "must be a hex SHA-256 digest (64 hex digits)")
	}
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

func def(s *string, d string) {
	if *s == "" {
		*s = d
	}
}

func defInt(n *int, d int) {
	if *n == 0 {
		*n = d
	}
}

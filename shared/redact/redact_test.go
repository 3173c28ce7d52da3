package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerMasksSecretsEverywhere(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	x := New([]string{"db-pass-123", "AKIAEXAMPLEKEY", "ab"})
	log := slog.New(x.Handler(slog.NewJSONHandler(&buf, nil))).With("dsn", "app:db-pass-123@tcp(db)/x")
	log.Info("connecting with db-pass-123",
		"err", errors.New("auth failed for key AKIAEXAMPLEKEY"),
		slog.Group("req", "body", `{"key":"AKIAEXAMPLEKEY"}`),
		"count", 3, "short", "ab")
	out := buf.String()
	for _, s := range []string{"db-pass-123", "AKIAEXAMPLEKEY"} {
		if strings.Contains(out, s) {
			t.Fatalf("secret %q in log line: %s", s, out)
		}
	}
	if strings.Count(out, Mask) != 4 || !strings.Contains(out, `"count":3`) || !strings.Contains(out, `"short":"ab"`) {
		t.Fatalf("log line = %s", out)
	}
}

package setup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/logwise/controlplane/shared/redact"
)

// fakeSecrets is Secrets Manager holding some secrets; it counts reads.
type fakeSecrets struct {
	values map[string]string
	reads  map[string]int
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	id := aws.ToString(in.SecretId)
	f.reads[id]++
	v, ok := f.values[id]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: no such secret")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

// TestSecretsAreReadOnceAndMaskedFromTheMomentTheyAreRead: a logger built at start masks a
// secret first read later (the credential fields of a JSON secret, not its username or
// host); each secret is read once; a failed read is retried.
func TestSecretsAreReadOnceAndMaskedFromTheMomentTheyAreRead(t *testing.T) {
	fs := &fakeSecrets{reads: map[string]int{}, values: map[string]string{
		"db":     `{"username":"logwise","password":"db-pass-123","host":"db.internal","port":3306}`,
		"tokens": `{"tokens":["  tok-abcdef  "]}`,
		"plain":  "plain-secret-value",
	}}
	r := redact.New(nil)
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil))) // built before any secret is read
	s := NewSecrets(fs, r)
	ctx := context.Background()
	for range 2 {
		for _, id := range []string{"db", "tokens", "plain"} {
			if _, err := s.Get(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range []string{"db", "tokens", "plain"} {
		if fs.reads[id] != 1 {
			t.Errorf("secret %s read %d times, want once", id, fs.reads[id])
		}
	}
	if _, err := s.Get(ctx, "missing"); err == nil {
		t.Fatal("a missing secret was returned")
	}
	if _, err := s.Get(ctx, "missing"); err == nil || fs.reads["missing"] != 2 {
		t.Fatalf("a failed read was cached: %d reads", fs.reads["missing"])
	}
	log.Info("connecting", "dsn", "logwise:db-pass-123@tcp(db.internal:3306)/x", "token", "tok-abcdef", "other", "plain-secret-value")
	out := buf.String()
	for _, secret := range []string{"db-pass-123", "tok-abcdef", "plain-secret-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line carries %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "logwise:") || !strings.Contains(out, "db.internal") {
		t.Errorf("the username and host were masked too: %s", out)
	}
}

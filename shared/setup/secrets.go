package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/logwise/controlplane/shared/redact"
)

// secretGetter is the part of the Secrets Manager client the cache uses.
type secretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secrets reads Secrets Manager secrets on first use and keeps them for the life of the
// execution environment. Each value is taught to the redactor the moment it is read, so
// every log line after that masks it, whatever function read it and whenever. Nothing is
// read at start except what the function itself asks for.
type Secrets struct {
	client   secretGetter
	redactor *redact.Redactor
	mu       sync.Mutex
	values   map[string]string
}

// NewSecrets returns an empty cache over client.
func NewSecrets(client secretGetter, r *redact.Redactor) *Secrets {
	return &Secrets{client: client, redactor: r, values: map[string]string{}}
}

// Get returns the secret's string value. A failed read is not cached (the next call retries).
func (s *Secrets) Get(ctx context.Context, arn string) (string, error) {
	s.mu.Lock()
	v, ok := s.values[arn]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", arn, err)
	}
	v = aws.ToString(out.SecretString)
	s.redactor.Add(secretValues(v)...)
	s.mu.Lock()
	s.values[arn] = v
	s.mu.Unlock()
	return v, nil
}

// secretValues are the parts of a secret the redactor must mask: the whole value, and in a
// JSON object every string (or list of strings) under a key that names a credential
// (password, secret, token, key), such as RDS's {"username","password",...} or
// {"tokens":[...]}. Usernames, hosts and ports stay readable.
func secretValues(v string) []string {
	out := []string{v}
	var obj map[string]any
	if json.Unmarshal([]byte(v), &obj) != nil {
		return out
	}
	for k, val := range obj {
		k = strings.ToLower(k)
		if !strings.Contains(k, "pass") && !strings.Contains(k, "secret") && !strings.Contains(k, "token") && !strings.Contains(k, "key") {
			continue
		}
		switch x := val.(type) {
		case string:
			out = append(out, x, strings.TrimSpace(x))
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					out = append(out, s, strings.TrimSpace(s))
				}
			}
		}
	}
	return out
}

package leastprivilege

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// moto is the AWS emulator as one identity sees it. IAM and SQS have no SDK module in this
// project, so their few calls are signed Query requests.
type moto struct {
	url   string
	creds aws.Credentials
}

// query sends a signed Query API call (form-encoded Action) and returns the XML answer.
func (m moto) query(ctx context.Context, service string, form url.Values) ([]byte, error) {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, m.creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", service, form.Get("Action"), resp.StatusCode, b)
	}
	return b, nil
}

func (m moto) iam(t *testing.T, action string, kv ...string) []byte {
	t.Helper()
	form := url.Values{"Action": {action}, "Version": {"2010-05-08"}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	b, err := m.query(t.Context(), "iam", form)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newUser creates an IAM user with an access key and returns the user's view of moto.
func (m moto) newUser(t *testing.T, name string) moto {
	t.Helper()
	m.iam(t, "CreateUser", "UserName", name)
	return m.accessKey(t, name)
}

// accessKey creates an access key of an existing user and returns the user's view of moto.
func (m moto) accessKey(t *testing.T, name string) moto {
	t.Helper()
	var out struct {
		Key struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
		} `xml:"CreateAccessKeyResult>AccessKey"`
	}
	if err := xml.Unmarshal(m.iam(t, "CreateAccessKey", "UserName", name), &out); err != nil || out.Key.AccessKeyID == "" {
		t.Fatalf("create access key of %s: %v", name, err)
	}
	return moto{url: m.url, creds: aws.Credentials{AccessKeyID: out.Key.AccessKeyID, SecretAccessKey: out.Key.SecretAccessKey, Source: "moto IAM user " + name}}
}

// setPolicy makes stmts the user's only permissions.
func (m moto) setPolicy(t *testing.T, user string, stmts []map[string]any) {
	t.Helper()
	_, _ = m.query(t.Context(), "iam", url.Values{"Action": {"DeleteUserPolicy"}, "Version": {"2010-05-08"}, "UserName": {user}, "PolicyName": {"role"}})
	if len(stmts) == 0 {
		return
	}
	doc, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		t.Fatal(err)
	}
	m.iam(t, "PutUserPolicy", "UserName", user, "PolicyName", "role", "PolicyDocument", string(doc))
}

func (m moto) config() aws.Config {
	return aws.Config{Region: region, BaseEndpoint: aws.String(m.url), Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return m.creds, nil })}
}

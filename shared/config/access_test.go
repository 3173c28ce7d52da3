package config

import (
	"strings"
	"testing"
)

// tenantYAML is one tenant entry, for configurations with several.
func tenantYAML(name, extra string) string {
	return `
  - name: ` + name + `
    objectStore: {aws: {bucket: logs}}
    vector: {host: vector}
    kafka: {kafkaBrokersHost: kafka}
    spark: {sparkMasterHost: spark, sparkJarPath: j` + extra + `}
`
}

func TestAccessRulesAtLoad(t *testing.T) {
	t.Parallel()
	const base = "deployment: {partition: p}\n"
	const open = base + "api: {authDisabled: true}\ntenants:"
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr []string // "" entries: must load
	}{
		{"names differing only in case", open + tenantYAML("abc", "") + tenantYAML("ABC", ""), nil,
			[]string{`tenants[1].name: tenant "abc" and tenant "ABC" differ only in case`}},
		{"authDisabled in Lambda", open + tenantYAML("ABC", ""), map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "api"},
			[]string{"api.authDisabled: is refused in Lambda (function api)"}},
		{"authDisabled for the local runner", open + tenantYAML("ABC", ""), nil, nil},
		{"S3A keys to a plain-HTTP REST port", open + tenantYAML("ABC", ", s3aCredentialsSecretArn: arn:s3a"), nil,
			[]string{"tenants[0].spark.s3aCredentialsSecretArn: static S3A keys would be sent over plain HTTP"}},
		{"S3A keys to an http restUrl", open + tenantYAML("ABC", ", s3aCredentialsSecretArn: arn:s3a, restUrl: \"http://m:6066\""), nil,
			[]string{"tenants[0].spark.s3aCredentialsSecretArn: static S3A keys would be sent over plain HTTP"}},
		{"S3A keys to an https restUrl", open + tenantYAML("ABC", ", s3aCredentialsSecretArn: arn:s3a, restUrl: \"https://m:6066\""), nil, nil},
		{"S3A keys on a trusted network", open + tenantYAML("ABC", ", s3aCredentialsSecretArn: arn:s3a, restNetworkTrusted: true"), nil, nil},
		{"named tokens", base + `api:
  tokens:
    - {name: alice, secret: alice-secret, tenant: ABC}
    - {name: ops, hash: "sha256:` + HashToken("ops-secret") + `", role: admin}
tenants:` + tenantYAML("ABC", ""), nil, nil},
		{"bad named tokens", base + `api:
  tokens:
    - {name: alice, secret: s1, tenant: abc}
    - {name: alice, secret: s2, hash: "` + HashToken("x") + `", tenant: ABC}
    - {name: "", hash: nothex, role: root}
    - {name: ops, secret: s3, role: admin, tenant: ABC}
tenants:` + tenantYAML("ABC", ""), nil, []string{
			`api.tokens[0].tenant: "abc" is not a configured tenant`,
			`api.tokens[1].name: duplicate token name "alice"`,
			"api.tokens[1]: set exactly one of secret and hash",
			"api.tokens[2].name: is required",
			"api.tokens[2].hash: must be a hex SHA-256 digest",
			`api.tokens[2].role: must be tenant or admin, got "root"`,
			"api.tokens[3].tenant: an admin token acts on every tenant",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(tt.env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want errors %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestPrincipalsNameEveryToken(t *testing.T) {
	t.Parallel()
	yaml := `deployment: {partition: p}
api:
  adminTokens: [legacy-admin]
  tokens:
    - {name: alice, secret: alice-secret, tenant: ABC}
    - {name: ops, hash: "sha256:` + strings.ToUpper(HashToken("ops-secret")) + `", role: admin}
tenants:` + tenantYAML("ABC", "") + "    auth: {tokens: [legacy-abc]}\n"
	c, err := Parse([]byte(yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Principal{}
	for _, p := range c.Principals() {
		got[p.Hash] = p
	}
	want := []Principal{
		{Name: "alice", Tenant: "ABC", Hash: HashToken("alice-secret")},
		{Name: "ops", Admin: true, Hash: HashToken("ops-secret")},
		{Name: "admin/token-" + HashToken("legacy-admin")[:8], Admin: true, Hash: HashToken("legacy-admin")},
		{Name: "ABC/token-" + HashToken("legacy-abc")[:8], Tenant: "ABC", Hash: HashToken("legacy-abc")},
	}
	for _, w := range want {
		if got[w.Hash] != w {
			t.Errorf("principal of hash %s = %+v, want %+v", w.Hash[:8], got[w.Hash], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d principals, want %d: %+v", len(got), len(want), got)
	}
	for _, tok := range c.API.Tokens {
		if tok.Secret != "" {
			t.Errorf("token %s kept its plaintext secret", tok.Name)
		}
	}
	if s := strings.Join(c.Secrets(), "|"); !strings.Contains(s, "alice-secret") {
		t.Errorf("Secrets() lacks a named token's secret: %q", s)
	}
	if c.Tenants[0].Discovery.RemoveAfterAbsentMinutes != 60 {
		t.Errorf("discovery.removeAfterAbsentMinutes default = %d, want 60", c.Tenants[0].Discovery.RemoveAfterAbsentMinutes)
	}
}

func TestValidTenantName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"ABC": true, "a": true, "9lives": true, "team_a.prod-1": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "_abc": false, ".abc": false, "-abc": false,
		"a b": false, "a/b": false, "tenänt": false, "a*": false,
	} {
		if got := validTenantName(name); got != want {
			t.Errorf("validTenantName(%q) = %v, want %v", name, got, want)
		}
	}
}

package config

import "testing"

// FuzzParse feeds arbitrary documents to the configuration loader. Invariants: no panic, and
// either an error or a configuration that passes Validate (Parse never hands out a
// configuration it would itself refuse). Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("deployment: {partition: p}\napi: {authDisabled: true}\ntenants: [{name: a, objectStore: {aws: {bucket: b}}, vector: {host: v}}]\n"))
	vars := env(map[string]string{"PARTITION": "us-east-1", "REGION": "us-east-1", "DB_PASSWORD": "s3cr3t"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, vars)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned both a configuration and the error %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration that Validate refuses: %v\n%s", err, data)
		}
	})
}

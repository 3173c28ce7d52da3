package config

import (
	"strings"
	"testing"
)

// TestWarningsAreKeptForTheCallerToLog: a configuration that loads but has a setting that
// is ignored returns the warning, naming its key, so that the function logs it at start.
func TestWarningsAreKeptForTheCallerToLog(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "sparkJarPath: s3://jars/app.jar", "sparkJarPath: s3://jars/app.jar, s3aAccessKey: AKIAEXAMPLE", 1)), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "tenants[0].spark.s3aAccessKey") || strings.Contains(w[0], "AKIAEXAMPLE") {
		t.Errorf("warnings %q; want one naming tenants[0].spark.s3aAccessKey, without its value", w)
	}
	c, err = Parse([]byte(minimal), env(nil))
	if err != nil || len(c.Warnings()) != 0 {
		t.Errorf("a clean configuration warns %q (%v)", c.Warnings(), err)
	}
}

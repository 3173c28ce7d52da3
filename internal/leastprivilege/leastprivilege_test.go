// Package leastprivilege proves, without an AWS account, that each function's role in
// template.yaml grants what the function's code calls and nothing more: the template is
// translated with aws-sam-translator, each function's role statements are given to an IAM user
// in moto_server with IAM enforcement on, and each built bootstrap is started through the fake
// Lambda Runtime API with that user's keys against a configuration that uses every feature.
// Every function must start and handle its events with no request refused; removing any one
// statement must get a request refused, which the failure names.
package leastprivilege

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
	"github.com/logwise/controlplane/internal/mototest"
)

// The functions of the template and the package each is built from.
var packages = map[string]string{
	"ApiFunction": "api", "SparkMonitorFunction": "sparkmonitor", "ScalerFunction": "scaler",
	"DiscoveryFunction": "discovery", "PeeringFunction": "peering", "MigrateFunction": "migrate",
}

// unexercised are the statements (function/Sid, or */Sid for every function) this test cannot
// exercise, with the reason. They are checked to exist, so the list stays true, but are not
// removed one by one.
var unexercised = map[string]string{
	"*/DecryptSecretsAndConfiguration": "kms:Decrypt through Secrets Manager and SSM: moto decrypts SecureStrings and secrets without calling KMS on the caller's behalf",
	"ApiFunction/ReadMskCluster":       "kafka-cluster:* is MSK IAM authentication; the Kafka stand-in (kfake) speaks SASL PLAIN, not AWS_MSK_IAM",
	"ScalerFunction/ScaleMskTopics":    "as ReadMskCluster",
}

// why says why a statement of fn is not exercised, or "".
func why(fn, sid string) string {
	if w, ok := unexercised[fn+"/"+sid]; ok {
		return w
	}
	return unexercised["*/"+sid]
}

// need fails under CI and skips elsewhere when a stand-in is missing.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", what, err)
	}
	t.Skipf("%s is not available on this machine: %v", what, err)
}

func TestEachFunctionHasExactlyThePermissionsItsCodeUses(t *testing.T) {
	py, err := samPython()
	need(t, "aws-sam-translator", err)
	_, err = exec.LookPath("moto_server")
	need(t, "moto_server", err)

	start := time.Now()
	bins := buildAll(t)
	t.Logf("built the bootstraps in %v", time.Since(start).Round(time.Millisecond))
	// The first three calls (create the admin, its policy and its key) are free; every later
	// request must be signed by a user whose policy allows it.
	endpoint := mototest.StartWith(t, "INITIAL_NO_AUTH_ACTION_COUNT=3")
	root := moto{url: endpoint}
	root.creds.AccessKeyID, root.creds.SecretAccessKey = "AKIAROOTBOOTSTRAP000", "bootstrap"
	root.iam(t, "CreateUser", "UserName", "admin")
	root.iam(t, "PutUserPolicy", "UserName", "admin", "PolicyName", "all",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	admin := root.accessKey(t, "admin")

	t.Logf("moto up in %v", time.Since(start).Round(time.Millisecond))
	w := newWorld(t, admin)
	t.Logf("world up in %v", time.Since(start).Round(time.Millisecond))
	stack := newStack(translate(t, py, "../../template.yaml", w.params), w.params)
	fns := stack.functions(t)
	for id := range packages {
		if _, ok := fns[id]; !ok {
			t.Fatalf("the template has no function %s", id)
		}
	}
	t.Logf("template translated in %v", time.Since(start).Round(time.Millisecond))
	rec := newRecorder(endpoint, w.s3, w.eks)
	t.Cleanup(rec.srv.Close)

	seen := map[string]bool{}
	for id, fn := range fns {
		for _, st := range fn.Statements {
			seen[id+"/"+st.ID], seen["*/"+st.ID] = true, true
		}
	}
	for key := range unexercised {
		if !seen[key] {
			t.Errorf("unexercised names %s, which no function's role has", key)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(packages)) {
		fn := fns[id]
		user := admin.newUser(t, id)
		r := &runner{t: t, w: w, fn: fn, bin: bins[packages[id]], user: user, admin: admin, rec: rec}
		t.Run(id, func(t *testing.T) {
			r.t = t
			if denied := r.run(fn.Statements); len(denied) > 0 {
				t.Fatalf("%s with its own role was refused:\n%s", id, strings.Join(denied, "\n"))
			}
			if id == "ScalerFunction" && w.eks.patched.Load() == 0 {
				t.Fatalf("the scaler did not scale the EKS tenant's Deployment")
			}
			for i, st := range fn.Statements {
				if reason := why(id, st.ID); reason != "" {
					t.Logf("not removed: %s: %s", st, reason)
					continue
				}
				without := slices.Delete(slices.Clone(fn.Statements), i, i+1)
				if denied := r.run(without); len(denied) == 0 {
					t.Errorf("%s runs without statement %s: the statement grants nothing the code uses", id, st)
				} else {
					t.Logf("without %s: %s", st.ID, denied[0])
				}
			}
		})
	}
}

// runner starts one function with a given set of statements and plays its events.
type runner struct {
	t     *testing.T
	w     *world
	fn    function
	bin   string
	user  moto
	admin moto
	rec   *recorder
}

// run gives the function's user exactly stmts, starts the bootstrap, plays the function's
// events and returns every refusal: a request moto refused, a request whose resource no
// statement allows (moto checks most services by action only), a failed start or event.
func (r *runner) run(stmts []statement) []string {
	t := r.t
	t.Helper()
	r.w.reset(t, r.fn.LogicalID)
	r.admin.setPolicy(t, r.fn.LogicalID, motoStatements(stmts))
	r.rec.allowOnly(stmts)
	r.rec.take()
	var problems []string
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + r.fn.LogicalID,
		"AWS_ACCESS_KEY_ID=" + r.user.creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + r.user.creds.SecretAccessKey,
		"AWS_ENDPOINT_URL=" + r.rec.srv.URL, "AWS_REGION=" + region,
	}
	for k, v := range r.fn.Env {
		env = append(env, k+"="+v)
	}
	p, err := lambdarun.Start(r.bin, env)
	if err != nil {
		t.Fatal(err)
	}
	p.Runtime.Timeout = 8 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.WaitReady(ctx); err != nil {
		problems = append(problems, "start: "+lastLines(err.Error(), 6))
	} else {
		for _, ev := range r.w.events(r.fn.LogicalID) {
			if msg := ev.play(ctx, r.w, p); msg != "" {
				problems = append(problems, ev.name+": "+msg)
			}
		}
		if len(stmts) == len(r.fn.Statements) {
			t.Logf("%s with its own role:\n%s", r.fn.LogicalID, lastLines(p.Output.String(), 12))
		}
	}
	p.Stop()
	for _, c := range r.rec.take() {
		switch {
		case strings.Contains(c.Action, ":?") || strings.HasPrefix(c.Action, "unsigned:"):
			problems = append(problems, "a request the test cannot judge: "+c.Action)
		case c.Refused:
			problems = append(problems, fmt.Sprintf("no statement allows %s on %s", c.Action, strings.Join(c.Resources, ", ")))
		case c.Denied:
			problems = append(problems, fmt.Sprintf("moto refused %s on %s", c.Action, strings.Join(c.Resources, ", ")))
		}
	}
	return problems
}

// motoStatements is what moto can enforce of stmts: moto matches resources only for S3 and
// SQS and evaluates no condition keys, so other resources become "*" (the recorder checks
// them instead) and conditions are dropped; and moto names Lambda's invoke "lambda:Invoke" and
// SQS's batch send "sqs:SendMessageBatch".
func motoStatements(stmts []statement) []map[string]any {
	var out []map[string]any
	for _, st := range stmts {
		actions := slices.Clone(st.Actions)
		resources := []string{"*"}
		for _, a := range st.Actions {
			if a == "lambda:InvokeFunction" {
				actions = append(actions, "lambda:Invoke")
			}
			if a == "sqs:SendMessage" {
				actions = append(actions, "sqs:SendMessageBatch") // moto names the batch by its operation
			}
		}
		if slices.ContainsFunc(st.Actions, func(a string) bool { return strings.HasPrefix(a, "s3:") || strings.HasPrefix(a, "sqs:") }) {
			resources = st.Resources
		}
		out = append(out, map[string]any{"Sid": strings.NewReplacer("#", "", "-", "", "_", "").Replace(st.ID), "Effect": "Allow", "Action": actions, "Resource": resources})
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// buildAll builds every function's bootstrap once, as the Makefile does (for this machine's
// architecture), with the flags of the functions package's tests so that the build cache
// serves both.
func buildAll(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", dir + "/"}
	for _, pkg := range packages {
		args = append(args, "../../functions/"+pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstraps: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, pkg := range packages {
		bins[pkg] = filepath.Join(dir, pkg)
	}
	return bins
}

// newCFNReceiver stands in for the pre-signed S3 URL CloudFormation gives a custom resource.
func newCFNReceiver(out chan<- []byte) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		out <- b
	}))
}

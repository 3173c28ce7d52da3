package leastprivilege

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The pseudo parameters the test deploys into.
const (
	region    = "us-east-1"
	accountID = "123456789012"
)

// translateScript turns template.yaml into the CloudFormation that `sam deploy` would create,
// with SAM's policy templates expanded into statements. CodeUri must be an S3 URI for the
// translator; the code itself does not matter here.
const translateScript = `
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
t = yaml_parse(open(sys.argv[1]).read())
t.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/key"
for r in t.get("Resources", {}).values():
    if r.get("Type") == "AWS::Serverless::Function" and "CodeUri" in r.get("Properties", {}):
        r["Properties"]["CodeUri"] = "s3://bucket/key"
class NoManagedPolicies:
    def load(self):
        return {}
print(json.dumps(transform(t, json.loads(sys.argv[2]), NoManagedPolicies())))
`

// samPython finds a Python interpreter with aws-sam-translator: the one cfn-lint runs on
// (the translator is installed beside it), else python3 on PATH.
func samPython() (string, error) {
	var candidates []string
	if lint, err := exec.LookPath("cfn-lint"); err == nil {
		// A pyenv shim is a shell script; pyenv names the real script.
		if out, err := exec.Command("pyenv", "which", "cfn-lint").Output(); err == nil {
			lint = strings.TrimSpace(string(out))
		}
		if f, err := os.Open(lint); err == nil {
			line, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if interp, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok && !strings.Contains(interp, " ") {
				candidates = append(candidates, interp)
			}
		}
	}
	if py, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, py)
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import samtranslator").Run() == nil {
			return py, nil
		}
	}
	return "", fmt.Errorf("no Python with aws-sam-translator (tried cfn-lint's interpreter and python3: %v)", candidates)
}

// translate runs aws-sam-translator on the template with the parameter values.
func translate(t *testing.T, py, templatePath string, params map[string]string) map[string]any {
	t.Helper()
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", translateScript, templatePath, string(p))
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION="+region)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("aws-sam-translator: %v\n%s", err, stderr)
	}
	var cfn map[string]any
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatalf("translated template is not JSON: %v", err)
	}
	return cfn
}

// stack resolves the intrinsic functions of a translated template for given parameter values,
// as CloudFormation would at deploy time.
type stack struct {
	params     map[string]any // string, or []any for a CommaDelimitedList
	conditions map[string]any
	resources  map[string]map[string]any
	condCache  map[string]bool
}

func newStack(cfn map[string]any, values map[string]string) *stack {
	s := &stack{params: map[string]any{}, conditions: asMap(cfn["Conditions"]), resources: map[string]map[string]any{}, condCache: map[string]bool{}}
	for name, p := range asMap(cfn["Parameters"]) {
		v, ok := values[name]
		if !ok {
			v = fmt.Sprint(asMap(p)["Default"])
		}
		typ := fmt.Sprint(asMap(p)["Type"])
		if strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
			var list []any
			for _, e := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(e))
			}
			s.params[name] = list
		} else {
			s.params[name] = v
		}
	}
	for name, r := range asMap(cfn["Resources"]) {
		s.resources[name] = asMap(r)
	}
	return s
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// functionName is the name the test gives each function: its logical ID.
func functionARN(name string) string {
	return "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name
}

// queueURL is the URL of the queue the world creates for the template's queue id.
func queueURL(id string) string {
	return "https://sqs." + region + ".amazonaws.com/" + accountID + "/" + id
}

// resolve evaluates v; absent is true for AWS::NoValue (the key or element is dropped).
func (s *stack) resolve(v any) (out any, absent bool) {
	switch v := v.(type) {
	case []any:
		var list []any
		for _, e := range v {
			if r, gone := s.resolve(e); !gone {
				list = append(list, r)
			}
		}
		return list, false
	case map[string]any:
		if len(v) == 1 {
			for fn, arg := range v {
				if r, gone, ok := s.intrinsic(fn, arg); ok {
					return r, gone
				}
			}
		}
		m := map[string]any{}
		for k, e := range v {
			if r, gone := s.resolve(e); !gone {
				m[k] = r
			}
		}
		return m, false
	}
	return v, false
}

func (s *stack) str(v any) string {
	r, _ := s.resolve(v)
	return fmt.Sprint(r)
}

func (s *stack) intrinsic(fn string, arg any) (any, bool, bool) {
	switch fn {
	case "Ref":
		name := fmt.Sprint(arg)
		switch name {
		case "AWS::NoValue":
			return nil, true, true
		case "AWS::Region":
			return region, false, true
		case "AWS::AccountId":
			return accountID, false, true
		case "AWS::Partition":
			return "aws", false, true
		case "AWS::URLSuffix":
			return "amazonaws.com", false, true
		case "AWS::StackName":
			return "leastprivilege", false, true
		}
		if p, ok := s.params[name]; ok {
			return p, false, true
		}
		if fmt.Sprint(s.resources[name]["Type"]) == "AWS::SQS::Queue" {
			return queueURL(name), false, true // the world creates the queue under its logical ID
		}
		return name, false, true // a resource: its logical ID stands for its name
	case "Fn::GetAtt":
		parts, _ := arg.([]any)
		if len(parts) != 2 {
			parts = []any{}
			for _, p := range strings.SplitN(fmt.Sprint(arg), ".", 2) {
				parts = append(parts, p)
			}
		}
		res, attr := fmt.Sprint(parts[0]), fmt.Sprint(parts[1])
		if fmt.Sprint(s.resources[res]["Type"]) == "AWS::Lambda::Function" && attr == "Arn" {
			return functionARN(res), false, true
		}
		if fmt.Sprint(s.resources[res]["Type"]) == "AWS::SQS::Queue" {
			switch attr {
			case "Arn":
				return "arn:aws:sqs:" + region + ":" + accountID + ":" + res, false, true
			case "QueueName":
				return res, false, true
			}
		}
		return "arn:aws:test:" + region + ":" + accountID + ":" + res + "/" + attr, false, true
	case "Fn::Sub":
		tmpl, vars := arg, map[string]any{}
		if l, ok := arg.([]any); ok && len(l) == 2 {
			tmpl, vars = l[0], asMap(l[1])
		}
		out := fmt.Sprint(tmpl)
		for {
			i := strings.Index(out, "${")
			if i < 0 {
				break
			}
			j := strings.Index(out[i:], "}")
			name := out[i+2 : i+j]
			var val string
			if v, ok := vars[name]; ok {
				val = s.str(v)
			} else if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
				val = s.str(map[string]any{"Fn::GetAtt": []any{res, attr}})
			} else {
				val = s.str(map[string]any{"Ref": name})
			}
			out = out[:i] + val + out[i+j+1:]
		}
		return out, false, true
	case "Fn::If":
		l, _ := arg.([]any)
		branch := l[2]
		if s.condition(fmt.Sprint(l[0])) {
			branch = l[1]
		}
		r, gone := s.resolve(branch)
		return r, gone, true
	case "Fn::Join":
		l, _ := arg.([]any)
		items, _ := s.resolve(l[1])
		var parts []string
		for _, e := range flatten(items) {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, fmt.Sprint(l[0])), false, true
	case "Fn::Split":
		l, _ := arg.([]any)
		var out []any
		for _, p := range strings.Split(s.str(l[1]), fmt.Sprint(l[0])) {
			out = append(out, p)
		}
		return out, false, true
	case "Fn::Select":
		l, _ := arg.([]any)
		i, _ := strconv.Atoi(s.str(l[0]))
		items, _ := s.resolve(l[1])
		return flatten(items)[i], false, true
	}
	return nil, false, false
}

// condition evaluates a named condition of the template.
func (s *stack) condition(name string) bool {
	if v, ok := s.condCache[name]; ok {
		return v
	}
	v := s.cond(s.conditions[name])
	s.condCache[name] = v
	return v
}

func (s *stack) cond(v any) bool {
	for fn, arg := range asMap(v) {
		l, _ := arg.([]any)
		switch fn {
		case "Fn::Equals":
			return s.str(l[0]) == s.str(l[1])
		case "Fn::Not":
			return !s.cond(l[0])
		case "Fn::And":
			for _, c := range l {
				if !s.cond(c) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, c := range l {
				if s.cond(c) {
					return true
				}
			}
			return false
		case "Condition":
			return s.condition(fmt.Sprint(arg))
		}
	}
	panic(fmt.Sprintf("condition %v is not understood", v))
}

func flatten(v any) []any {
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, e := range l {
		out = append(out, flatten(e)...)
	}
	return out
}

// statement is one Allow statement of a function's role.
type statement struct {
	ID        string // the Sid, or the policy name and index
	Actions   []string
	Resources []string
	Condition map[string]any
}

func (st statement) String() string {
	return fmt.Sprintf("%s (%s on %s)", st.ID, strings.Join(st.Actions, ", "), strings.Join(st.Resources, ", "))
}

// function is a deployed function as the test sees it: what the template gives it.
type function struct {
	LogicalID  string
	Env        map[string]string
	Statements []statement
	Managed    []string // AWS-managed policy ARNs (the Lambda service's own needs: logs, X-Ray, ENIs, SQS polling)
}

// functions returns every Lambda function of the stack with its role's statements: inline
// policies and the template's own managed policies.
func (s *stack) functions(t *testing.T) map[string]function {
	t.Helper()
	out := map[string]function{}
	for id, r := range s.resources {
		if r["Type"] != "AWS::Lambda::Function" {
			continue
		}
		props := asMap(r["Properties"])
		fn := function{LogicalID: id, Env: map[string]string{}}
		env, _ := s.resolve(asMap(asMap(props["Environment"])["Variables"]))
		for k, v := range asMap(env) {
			fn.Env[k] = fmt.Sprint(v)
		}
		roleRef, _ := props["Role"].(map[string]any)["Fn::GetAtt"].([]any)
		role := asMap(s.resources[fmt.Sprint(roleRef[0])]["Properties"])
		policies, _ := s.resolve(role["Policies"])
		for _, p := range flatten(policies) {
			p := asMap(p)
			fn.Statements = append(fn.Statements, s.statements(t, fmt.Sprint(p["PolicyName"]), p["PolicyDocument"])...)
		}
		arns, _ := s.resolve(role["ManagedPolicyArns"])
		for _, a := range flatten(arns) {
			name := fmt.Sprint(a)
			if mp := s.resources[name]; mp != nil && mp["Type"] == "AWS::IAM::ManagedPolicy" {
				fn.Statements = append(fn.Statements, s.statements(t, name, asMap(mp["Properties"])["PolicyDocument"])...)
			} else {
				fn.Managed = append(fn.Managed, name)
			}
		}
		out[id] = fn
	}
	return out
}

func (s *stack) statements(t *testing.T, policy string, doc any) []statement {
	t.Helper()
	d, _ := s.resolve(doc)
	var out []statement
	for i, raw := range flatten(asMap(d)["Statement"]) {
		m := asMap(raw)
		if m["Effect"] != "Allow" {
			t.Fatalf("policy %s has a %v statement; the test models Allow only", policy, m["Effect"])
		}
		st := statement{ID: fmt.Sprintf("%s#%d", policy, i), Condition: asMap(m["Condition"])}
		if sid, ok := m["Sid"].(string); ok {
			st.ID = sid
		}
		for _, a := range flatten(m["Action"]) {
			st.Actions = append(st.Actions, fmt.Sprint(a))
		}
		for _, r := range flatten(m["Resource"]) {
			st.Resources = append(st.Resources, fmt.Sprint(r))
		}
		out = append(out, st)
	}
	return out
}

// allows reports whether some statement allows action on resource (IAM's wildcards: * and ?,
// actions case-insensitive). Conditions are not evaluated: the test names the statements
// that have one.
func allows(stmts []statement, action, resource string) bool {
	for _, st := range stmts {
		if slices.ContainsFunc(st.Actions, func(a string) bool { return match(strings.ToLower(a), strings.ToLower(action)) }) &&
			slices.ContainsFunc(st.Resources, func(r string) bool { return match(r, resource) }) {
			return true
		}
	}
	return false
}

// match is IAM's wildcard match: * matches any run of characters, / included.
func match(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	star := strings.Index(pattern, "*")
	if star < 0 {
		return len(pattern) == len(s) && matchQ(pattern, s)
	}
	prefix, rest := pattern[:star], pattern[star+1:]
	if len(s) < len(prefix) || !matchQ(prefix, s[:len(prefix)]) {
		return false
	}
	for i := len(prefix); i <= len(s); i++ {
		if match(rest, s[i:]) {
			return true
		}
	}
	return false
}

// matchQ compares equal-length strings where ? in the pattern matches any one character.
func matchQ(pattern, s string) bool {
	for i := range len(pattern) {
		if pattern[i] != '?' && pattern[i] != s[i] {
			return false
		}
	}
	return true
}

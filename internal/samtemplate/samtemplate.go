package samtemplate

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Template is a parsed SAM template, read for what local tools need from it: each function's
// timeout (make invoke) and the dashboard's body (the local runner's /dashboard).
type Template struct {
	root map[string]*yaml.Node
}

// Load parses the template at path (CloudFormation's short tags such as !Sub are kept as
// tagged nodes).
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SAM template: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil || len(root.Content) == 0 {
		return nil, fmt.Errorf("parse SAM template %s: %v", path, err)
	}
	return &Template{root: mapping(root.Content[0])}, nil
}

// FunctionTimeout is the Timeout of function logicalID, or the Globals' when it sets none.
func (t *Template) FunctionTimeout(logicalID string) (time.Duration, error) {
	n, err := t.functionProperty(logicalID, "Timeout")
	if err != nil {
		return 0, err
	}
	if n == nil {
		return 3 * time.Second, nil // Lambda's default
	}
	s, err := strconv.Atoi(n.Value)
	if err != nil || s <= 0 {
		return 0, fmt.Errorf("SAM template: %s Timeout %q is not a positive number of seconds", logicalID, n.Value)
	}
	return time.Duration(s) * time.Second, nil
}

// FunctionMemorySize is the MemorySize (MB) of function logicalID, or the Globals' when it
// sets none.
func (t *Template) FunctionMemorySize(logicalID string) (int, error) {
	n, err := t.functionProperty(logicalID, "MemorySize")
	if err != nil {
		return 0, err
	}
	if n == nil {
		return 128, nil // Lambda's default
	}
	mb, err := strconv.Atoi(n.Value)
	if err != nil || mb <= 0 {
		return 0, fmt.Errorf("SAM template: %s MemorySize %q is not a positive number of MB", logicalID, n.Value)
	}
	return mb, nil
}

// functionProperty is property key of function logicalID, or the Globals' when it sets none
// (nil when neither does).
func (t *Template) functionProperty(logicalID, key string) (*yaml.Node, error) {
	fn := get(t.root["Resources"], logicalID)
	if fn == nil {
		return nil, fmt.Errorf("SAM template has no resource %s", logicalID)
	}
	if n := get(fn, "Properties", key); n != nil {
		return n, nil
	}
	return get(t.root["Globals"], "Function", key), nil
}

// FunctionVariable is the literal value of environment variable name in function logicalID's
// Environment (false when it is not set there, or set with an intrinsic function).
func (t *Template) FunctionVariable(logicalID, name string) (string, bool) {
	n := get(t.root["Resources"], logicalID, "Properties", "Environment", "Variables", name)
	if n == nil || n.Kind != yaml.ScalarNode || strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return "", false
	}
	return n.Value, true
}

// DashboardBody is the DashboardBody of the AWS::CloudWatch::Dashboard resource named
// logicalID, as written (a !Sub string keeps its ${...} references).
func (t *Template) DashboardBody(logicalID string) (string, error) {
	n := get(t.root["Resources"], logicalID, "Properties", "DashboardBody")
	if n == nil {
		return "", fmt.Errorf("SAM template has no dashboard body at %s", logicalID)
	}
	if n.Kind == yaml.SequenceNode && len(n.Content) > 0 { // !Sub [body, {vars}]
		n = n.Content[0]
	}
	return n.Value, nil
}

func mapping(n *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n == nil || n.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = n.Content[i+1]
	}
	return out
}

func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		n = mapping(n)[p]
		if n == nil {
			return nil
		}
	}
	return n
}

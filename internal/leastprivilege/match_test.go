package leastprivilege

import "testing"

// TestAllowsFollowsIAMWildcards: the recorder's judgement must be IAM's, or a missing
// statement could pass unnoticed.
func TestAllowsFollowsIAMWildcards(t *testing.T) {
	stmts := []statement{
		{ID: "Secrets", Actions: []string{"secretsmanager:GetSecretValue"}, Resources: []string{"arn:aws:secretsmanager:us-east-1:1:secret:lp/kafka-??????"}},
		{ID: "Buckets", Actions: []string{"s3:ListBucket"}, Resources: []string{"arn:aws:s3:::logwise-*"}},
		{ID: "Objects", Actions: []string{"s3:Delete*"}, Resources: []string{"arn:aws:s3:::logwise-*/*"}},
	}
	tests := []struct {
		action, resource string
		want             bool
	}{
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:lp/kafka-AbCdEf", true},
		{"SecretsManager:getsecretvalue", "arn:aws:secretsmanager:us-east-1:1:secret:lp/kafka-AbCdEf", true},
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:lp/kafka-AbCdE", false},
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:lp/peer-AbCdEf", false},
		{"s3:ListBucket", "arn:aws:s3:::logwise-lp-logs", true},
		{"s3:ListBucket", "arn:aws:s3:::other-logs", false},
		{"s3:DeleteObject", "arn:aws:s3:::logwise-lp-logs/checkpoint/offsets/1", true},
		{"s3:DeleteObject", "arn:aws:s3:::logwise-lp-logs", false},
		{"s3:GetObject", "arn:aws:s3:::logwise-lp-logs/a", false},
	}
	for _, tt := range tests {
		if got := allows(stmts, tt.action, tt.resource); got != tt.want {
			t.Errorf("allows(%s, %s) = %v, want %v", tt.action, tt.resource, got, tt.want)
		}
	}
}

// TestStackResolvesTheTemplatesIntrinsics covers the functions the template uses.
func TestStackResolvesTheTemplatesIntrinsics(t *testing.T) {
	cfn := map[string]any{
		"Parameters": map[string]any{
			"Name":    map[string]any{"Type": "String", "Default": "/logwise/config"},
			"Secrets": map[string]any{"Type": "CommaDelimitedList", "Default": ""},
			"Key":     map[string]any{"Type": "String", "Default": ""},
		},
		"Conditions": map[string]any{
			"HasSecrets": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Fn::Join": []any{"", map[string]any{"Ref": "Secrets"}}}, ""}}}},
			"HasKey":     map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Key"}, ""}}}},
			"Both":       map[string]any{"Fn::And": []any{map[string]any{"Condition": "HasSecrets"}, map[string]any{"Condition": "HasKey"}}},
		},
		"Resources": map[string]any{"Fn": map[string]any{"Type": "AWS::Lambda::Function"}},
	}
	s := newStack(cfn, map[string]string{"Secrets": "a,b"})
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"sub", map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Name}"}, "arn:aws:ssm:us-east-1:123456789012:parameter/logwise/config"},
		{"getatt", map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}, "arn:aws:lambda:us-east-1:123456789012:function:Fn"},
		{"list", map[string]any{"Ref": "Secrets"}, "[a b]"},
		{"if true", map[string]any{"Fn::If": []any{"HasSecrets", "yes", "no"}}, "yes"},
		{"if and", map[string]any{"Fn::If": []any{"Both", "yes", "no"}}, "no"},
		{"novalue dropped", []any{"x", map[string]any{"Fn::If": []any{"HasKey", "y", map[string]any{"Ref": "AWS::NoValue"}}}}, "[x]"},
		{"select split", map[string]any{"Fn::Select": []any{"1", map[string]any{"Fn::Split": []any{",", "p,q"}}}}, "q"},
	}
	for _, tt := range tests {
		if got := s.str(tt.in); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

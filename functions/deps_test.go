package functions_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists, per function, the packages its bootstrap must not link: a function links
// only what it uses, so that it reads no other function's secret, opens no other client and
// stays small. A prefix ending in "/" forbids a whole module.
var forbidden = map[string][]string{
	"sparkmonitor": {"github.com/twmb/franz-go/", "shared/kafka", "shared/scaling", "shared/peering", "shared/interlink", "shared/discovery", "shared/httpapi"},
	"scaler":       {"shared/peering", "shared/interlink", "shared/supervisor", "shared/discovery", "shared/httpapi", "aws-sdk-go-v2/service/lambda"},
	"discovery":    {"github.com/twmb/franz-go/", "shared/kafka", "shared/scaling", "shared/peering", "shared/interlink", "shared/spark", "shared/supervisor", "shared/httpapi"},
	"peering":      {"github.com/twmb/franz-go/", "shared/kafka", "shared/scaling", "shared/spark", "shared/supervisor", "shared/discovery", "shared/httpapi", "aws-sdk-go-v2/service/s3"},
	"api":          {"shared/peering", "shared/scaling/actuators", "aws-sdk-go-v2/service/autoscaling", "aws-sdk-go-v2/service/ec2", "aws-sdk-go-v2/service/eks"},
	"migrate":      {"github.com/twmb/franz-go/", "shared/kafka", "shared/scaling", "shared/spark", "shared/supervisor", "shared/discovery", "shared/peering", "shared/interlink", "shared/httpapi"},
}

// forbiddenEverywhere is linked by no function. The AWS SDK for Go v1 (out of support; its
// endpoints table alone took 8 to 15 ms of every cold start), gRPC and protobuf came with
// aws-xray-sdk-go; text/template (through gRPC's x/net/trace) makes the linker keep every
// exported method of any type held in an interface, which made the bootstraps 35 to 61 MB.
// The SDK's config module brings the STS, SSO, SSO OIDC and sign-in clients and a shared-file
// parser for credential sources Lambda never uses (0.75 ms of package init): setup reads the
// AWS environment itself.
var forbiddenEverywhere = []string{"github.com/aws/aws-sdk-go/", "github.com/aws/aws-xray-sdk-go/", "google.golang.org/", "text/template", "html/template",
	"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/service/sso/", "github.com/aws/aws-sdk-go-v2/service/ssooidc/", "github.com/aws/aws-sdk-go-v2/service/signin/"}

// No function links an AWS SDK generated schemas package: the service clients the code
// calls are pinned at their last release without one (go.mod says which): SSM's took 6 to
// 14 ms of every cold start, Lambda's 3 to 9 ms of the API's, EKS's 2 to 4 ms of the
// scaler's, Secrets Manager's and SQS's about 1 ms each, for the one or two operations each
// function calls.

func TestEachFunctionLinksOnlyWhatItUses(t *testing.T) {
	t.Parallel()
	for name, bad := range forbidden {
		bad = append(bad[:len(bad):len(bad)], forbiddenEverywhere...)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./"+name)
			cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v", name, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list -deps ./%s listed %d packages: %v", name, len(deps), deps)
			}
			for _, dep := range deps {
				if strings.HasPrefix(dep, "github.com/aws/aws-sdk-go-v2/service/") && strings.HasSuffix(dep, "/schemas") {
					t.Errorf("%s links %s: pin its module at the last release without it (go.mod)", name, dep)
				}
				for _, b := range bad {
					full := b
					if strings.HasPrefix(b, "shared/") {
						full = "github.com/logwise/controlplane/" + b
					} else if strings.HasPrefix(b, "aws-sdk-go-v2/") {
						full = "github.com/aws/" + b
					}
					if dep == full || strings.HasSuffix(b, "/") && strings.HasPrefix(dep, full) {
						t.Errorf("%s links %s (forbidden: %s)", name, dep, b)
					}
				}
			}
		})
	}
}

// sizeBudget is the most a bootstrap may weigh (arm64, stripped, tracing included). The
// bootstraps the tests build use sam build's flags for this machine's architecture; arm64's,
// measured by make bench, are smaller still.
const sizeBudget = 30 << 20

func TestBootstrapsStayWithinTheSizeBudget(t *testing.T) {
	t.Parallel()
	for _, name := range functionNames {
		st, err := os.Stat(build(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > sizeBudget {
			t.Errorf("%s's bootstrap is %.1f MB; the budget is %d MB", name, float64(st.Size())/(1<<20), sizeBudget>>20)
		}
	}
}

package actuators

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// eksTokenPrefix starts every EKS bearer token (aws-iam-authenticator's format).
const eksTokenPrefix = "k8s-aws-v1."

// EKSToken mints EKS bearer tokens from STS: a presigned GetCallerIdentity URL whose signed
// headers include x-k8s-aws-id (the cluster name), with X-Amz-Expires=60, encoded as
// "k8s-aws-v1." + base64url (no padding). A token is reused until 14 minutes after minting.
type EKSToken struct {
	cluster string
	presign *sts.PresignClient
	now     func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewEKSToken returns a token source for an EKS cluster, signing with cfg's credentials.
func NewEKSToken(cfg aws.Config, cluster string, optFns ...func(*sts.Options)) *EKSToken {
	return &EKSToken{cluster: cluster, presign: sts.NewPresignClient(sts.NewFromConfig(cfg, optFns...)), now: time.Now}
}

// Token implements tokenSource.
func (e *EKSToken) Token(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" && e.now().Before(e.expires) {
		return e.token, nil
	}
	req, err := e.presign.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(po *sts.PresignOptions) {
		po.Presigner = clockPresigner{signer: v4.NewSigner(), now: e.now}
		po.ClientOptions = append(po.ClientOptions, func(o *sts.Options) {
			o.APIOptions = append(o.APIOptions,
				smithyhttp.AddHeaderValue("x-k8s-aws-id", e.cluster),
				smithyhttp.AddHeaderValue("X-Amz-Expires", "60"))
		})
	})
	if err != nil {
		return "", fmt.Errorf("mint EKS token for cluster %s: %w", e.cluster, err)
	}
	e.token = eksTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL))
	e.expires = e.now().Add(14 * time.Minute)
	return e.token, nil
}

// clockPresigner signs at the token source's clock, not the wall clock: the token's
// X-Amz-Date and credential scope agree with the clock that decides when it is re-minted.
type clockPresigner struct {
	signer *v4.Signer
	now    func() time.Time
}

func (p clockPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request,
	payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions),
) (string, http.Header, error) {
	return p.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.now(), optFns...)
}

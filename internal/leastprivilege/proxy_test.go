package leastprivilege

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// call is one AWS request a function made, as IAM sees it.
type call struct {
	Action    string   // service:Operation in IAM's names
	Resources []string // the ARNs IAM would check
	Status    int      // moto's answer
	Denied    bool     // moto refused it for lack of permission
	Refused   bool     // the recorder refused it: no statement allows the action on the resource
}

// recorder sits between the functions and moto: it forwards every request unchanged (they
// are signed) and records what each one asks of IAM and whether moto refused it, so the test
// can check resources too (moto checks most services by action only).
type recorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []call
	allow []statement  // the statements of the function now running
	s3    http.Handler // where S3 requests go (see newRecorder)
	eks   http.Handler // where allowed EKS requests go (moto's clusters are not on loopback)
}

// The recorder also refuses, as AWS would, every request whose action and resource no
// statement allows: moto matches resources only for S3 and SQS. And S3 requests go to s3,
// an in-process S3, not to moto: moto's S3 signature check fails for any query value holding
// an encoded "/" (every ListObjectsV2 prefix of the pipeline's layout), so S3 is judged here
// only. Allowed EKS requests go to eks, which names an API server on loopback.
func newRecorder(target string, s3, eks http.Handler) *recorder {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	r := &recorder{s3: s3, eks: eks}
	// Rewrite, unlike Director, adds no X-Forwarded-For: moto checks S3 signatures over every
	// header, so the request must reach it exactly as signed, Host included.
	// The transport must not add Accept-Encoding either.
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}, Transport: &http.Transport{DisableCompression: true}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := describe(req, body)
		r.mu.Lock()
		allowed := true
		for _, res := range c.Resources {
			allowed = allowed && allows(r.allow, c.Action, res)
		}
		r.mu.Unlock()
		rec := &statusWriter{ResponseWriter: w}
		switch {
		case !allowed:
			refuse(rec, req, c)
		case strings.HasPrefix(c.Action, "s3:"):
			r.s3.ServeHTTP(rec, req)
		case strings.HasPrefix(c.Action, "eks:"):
			r.eks.ServeHTTP(rec, req)
		default:
			rp.ServeHTTP(rec, req)
		}
		c.Status = rec.status
		c.Refused = !allowed
		c.Denied = allowed && (rec.status == http.StatusForbidden || denialRE.Match(rec.body.Bytes()))
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
	}))
	return r
}

var denialRE = regexp.MustCompile(`AccessDenied|is not authorized to perform|UnauthorizedOperation`)

// refuse answers AccessDenied in the request's protocol.
func refuse(w http.ResponseWriter, req *http.Request, c call) {
	msg := "not authorized to perform: " + c.Action + " on resource: " + strings.Join(c.Resources, ", ")
	if req.Header.Get("X-Amz-Target") != "" || strings.Contains(req.Header.Get("Content-Type"), "json") || strings.HasPrefix(c.Action, "eks:") {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "AccessDeniedException", "message": msg})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>"+msg+"</Message></Error></ErrorResponse>")
}

// allowOnly makes stmts the permissions of the calls that follow.
func (r *recorder) allowOnly(stmts []statement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.allow = stmts
}

// take returns the calls recorded since the last take.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len() < 4096 {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([^/]+)/([^/]+)/`)

// describe names the IAM action and resources of a signed AWS request. An operation it does
// not know is recorded as "service:?" so that the test notices a new kind of call.
func describe(req *http.Request, body []byte) call {
	m := scopeRE.FindStringSubmatch(req.Header.Get("Authorization"))
	if m == nil {
		return call{Action: "unsigned:" + req.Method + " " + req.URL.Path}
	}
	reg, service := m[1], m[2]
	arn := func(svc, rest string) string { return "arn:aws:" + svc + ":" + reg + ":" + accountID + ":" + rest }
	var jsonBody map[string]any
	_ = json.Unmarshal(body, &jsonBody)
	field := func(k string) string { s, _ := jsonBody[k].(string); return s }
	op := ""
	if target := req.Header.Get("X-Amz-Target"); target != "" {
		op = target[strings.LastIndex(target, ".")+1:]
	} else if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
		op = form.Get("Action")
		jsonBody = map[string]any{}
		for k, v := range form {
			jsonBody[k] = v[0]
		}
	} else if a := req.URL.Query().Get("Action"); a != "" {
		op = a
	}
	switch service {
	case "secretsmanager":
		return call{Action: "secretsmanager:" + op, Resources: []string{field("SecretId")}}
	case "ssm":
		name := field("Name")
		if !strings.HasPrefix(name, "/") {
			name = "/" + name
		}
		return call{Action: "ssm:" + op, Resources: []string{arn("ssm", "parameter"+name)}}
	case "sns":
		return call{Action: "sns:" + op, Resources: []string{field("TopicArn")}}
	case "sqs":
		q := field("QueueUrl")
		// A batch operation is authorised as its single-message action (SendMessageBatch is
		// sqs:SendMessage).
		return call{Action: "sqs:" + strings.TrimSuffix(op, "Batch"), Resources: []string{arn("sqs", q[strings.LastIndex(q, "/")+1:])}}
	case "kms", "autoscaling", "ec2", "sts":
		return call{Action: service + ":" + op, Resources: []string{"*"}}
	case "lambda":
		if m := regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/invocations$`).FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodPost {
			name, _ := url.PathUnescape(m[1])
			if !strings.HasPrefix(name, "arn:") {
				name = functionARN(name)
			}
			return call{Action: "lambda:InvokeFunction", Resources: []string{name}}
		}
	case "eks":
		if m := regexp.MustCompile(`^/clusters/([^/]+)$`).FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodGet {
			return call{Action: "eks:DescribeCluster", Resources: []string{arn("eks", "cluster/"+m[1])}}
		}
	case "s3":
		return describeS3(req, body)
	}
	return call{Action: service + ":?" + req.Method + " " + req.URL.Path + " " + op}
}

// describeS3 maps the path-style S3 operations the code uses to IAM's actions.
func describeS3(req *http.Request, body []byte) call {
	p := strings.TrimPrefix(req.URL.EscapedPath(), "/")
	bucket, key, _ := strings.Cut(p, "/")
	key, _ = url.PathUnescape(key)
	q := req.URL.Query()
	bucketARN := "arn:aws:s3:::" + bucket
	switch {
	case key == "" && (req.Method == http.MethodGet || req.Method == http.MethodHead) && !q.Has("location"):
		return call{Action: "s3:ListBucket", Resources: []string{bucketARN}}
	case key == "" && req.Method == http.MethodPost && q.Has("delete"):
		var del struct {
			Objects []struct{ Key string } `xml:"Object"`
		}
		_ = xml.Unmarshal(body, &del)
		c := call{Action: "s3:DeleteObject"}
		for _, o := range del.Objects {
			c.Resources = append(c.Resources, bucketARN+"/"+o.Key)
		}
		return c
	case key != "" && req.Method == http.MethodGet:
		return call{Action: "s3:GetObject", Resources: []string{bucketARN + "/" + key}}
	case key != "" && req.Method == http.MethodPut:
		return call{Action: "s3:PutObject", Resources: []string{bucketARN + "/" + key}}
	case key != "" && req.Method == http.MethodDelete:
		return call{Action: "s3:DeleteObject", Resources: []string{bucketARN + "/" + key}}
	}
	return call{Action: "s3:?" + req.Method + " " + req.URL.String()}
}

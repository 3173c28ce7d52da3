// Package lambdarun runs a built Lambda bootstrap binary against a fake Lambda Runtime API on
// loopback, as `sam local invoke` would with the runtime interface emulator (neither the SAM
// CLI nor the emulator is available here). It speaks the runtime API the aws-lambda-go
// runtime client uses: GET .../invocation/next with the request-id, deadline, function ARN
// and trace headers, then POST .../invocation/{id}/response or .../error.
package lambdarun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/logwise/controlplane/internal/syncbuf"
)

// Result is the answer to one invocation.
type Result struct {
	RequestID string
	Body      []byte // the response payload, or the error payload when Error is true
	Error     bool
}

// Runtime is a fake Runtime API serving one function process.
type Runtime struct {
	srv      *http.Server
	addr     string
	next     chan invocation
	mu       sync.Mutex
	pending  map[string]chan Result
	initErr  chan []byte
	firstGet chan struct{}
	once     sync.Once
	seq      int
	Timeout  time.Duration // per-invocation deadline given to the function (default 30 s)
	// TraceHeader is each invocation's Lambda-Runtime-Trace-Id (default: a trace not sampled).
	// Set it before Invoke.
	TraceHeader string
}

type invocation struct {
	id      string
	payload []byte
}

// NewRuntime starts a fake Runtime API on a free loopback port.
func NewRuntime() (*Runtime, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Runtime{addr: ln.Addr().String(), next: make(chan invocation, 16), pending: map[string]chan Result{},
		initErr: make(chan []byte, 1), firstGet: make(chan struct{}), Timeout: 30 * time.Second,
		TraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", r.serveResult(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", r.serveResult(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		select {
		case r.initErr <- b:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	r.srv = &http.Server{Handler: mux}
	go r.srv.Serve(ln)
	return r, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API.
func (r *Runtime) Addr() string { return r.addr }

// Close stops the server.
func (r *Runtime) Close() error { return r.srv.Close() }

// Ready is closed when the function first asks for an invocation (its init is done).
func (r *Runtime) Ready() <-chan struct{} { return r.firstGet }

func (r *Runtime) serveNext(w http.ResponseWriter, req *http.Request) {
	r.once.Do(func() { close(r.firstGet) })
	select {
	case inv := <-r.next:
		deadline := time.Now().Add(r.Timeout)
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:local")
		w.Header().Set("Lambda-Runtime-Trace-Id", r.TraceHeader)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-req.Context().Done():
	}
}

func (r *Runtime) serveResult(isErr bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		ch := r.pending[id]
		delete(r.pending, id)
		r.mu.Unlock()
		if ch != nil {
			ch <- Result{RequestID: id, Body: b, Error: isErr}
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// Invoke sends payload to the function and waits for its answer.
func (r *Runtime) Invoke(ctx context.Context, payload []byte) (Result, error) {
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("req-%04d", r.seq)
	ch := make(chan Result, 1)
	r.pending[id] = ch
	r.mu.Unlock()
	r.next <- invocation{id: id, payload: payload}
	select {
	case res := <-ch:
		return res, nil
	case b := <-r.initErr:
		return Result{}, fmt.Errorf("function init failed: %s", b)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invocation %s: %w", id, ctx.Err())
	}
}

// Process is a running bootstrap.
type Process struct {
	Runtime *Runtime
	Cmd     *exec.Cmd
	Output  *SyncBuffer
	Started time.Time
	done    chan struct{} // closed when the process exits
}

// Start runs the bootstrap at path with env (added to a minimal Lambda-like environment)
// against a new fake Runtime API.
func Start(path string, env []string) (*Process, error) {
	rt, err := NewRuntime()
	if err != nil {
		return nil, err
	}
	out := &SyncBuffer{}
	cmd := exec.Command(path)
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + rt.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=local", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=INFO", // as the template's LoggingConfig sets them
		"AWS_XRAY_SDK_DISABLED=true", "AWS_EC2_METADATA_DISABLED=true",
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
	}, env...)
	cmd.Stdout, cmd.Stderr = out, out
	p := &Process{Runtime: rt, Cmd: cmd, Output: out, Started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		rt.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// WaitReady waits until the function's init is done (its first GET .../next) or it exits.
func (p *Process) WaitReady(ctx context.Context) (time.Duration, error) {
	select {
	case <-p.Runtime.Ready():
		return time.Since(p.Started), nil
	case b := <-p.Runtime.initErr:
		return 0, fmt.Errorf("init error: %s; output:\n%s", b, p.Output.String())
	case <-p.done:
		return 0, fmt.Errorf("exited during init; output:\n%s", p.Output.String())
	case <-ctx.Done():
		return 0, fmt.Errorf("not ready: %w; output:\n%s", ctx.Err(), p.Output.String())
	}
}

// Stop kills the process and the runtime.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Kill()
	<-p.done
	p.Runtime.Close()
}

// InvokeJSON invokes with v marshalled (or raw bytes) and decodes a JSON answer into out.
func (p *Process) InvokeJSON(ctx context.Context, payload []byte, out any) (Result, error) {
	res, err := p.Runtime.Invoke(ctx, payload)
	if err != nil {
		return res, fmt.Errorf("%w; output:\n%s", err, p.Output.String())
	}
	if out != nil && !res.Error {
		if err := json.Unmarshal(res.Body, out); err != nil {
			return res, fmt.Errorf("decode answer %q: %w", res.Body, err)
		}
	}
	return res, nil
}

// SyncBuffer is a goroutine-safe buffer for a process's output.
type SyncBuffer = syncbuf.Buffer

package spark_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
)

func minimalRequest() *spark.CreateRequest {
	return &spark.CreateRequest{Action: "CreateSubmissionRequest", AppResource: "s3a://b/app.jar", ClientSparkVersion: "3.5.1",
		MainClass: "com.example.Job", AppArgs: []string{}, EnvironmentVariables: map[string]string{},
		SparkProperties: map[string]any{"spark.app.name": "job", "spark.driver.supervise": true}}
}

func client(ms ...*sparktest.Master) *spark.Client {
	var c spark.Config
	for _, m := range ms {
		c.Masters = append(c.Masters, m.Endpoint())
	}
	c.Timeout = 2 * time.Second
	return spark.New(c)
}

func TestSubmitStatusKillLifecycle(t *testing.T) {
	t.Parallel()
	m := sparktest.NewMaster(sparktest.Options{})
	defer m.Close()
	c := client(m)
	ctx := context.Background()
	sub, err := c.Submit(ctx, minimalRequest())
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		act  func()
		want spark.DriverState
	}{
		{"after create", func() {}, spark.Submitted},
		{"after a scheduling step", m.Step, spark.Running},
		{"kill is asynchronous", func() {
			if err := c.Kill(ctx, sub.ID); err != nil {
				t.Fatal(err)
			}
		}, spark.Running},
		{"worker reports KILLED", m.Step, spark.Killed},
	}
	for _, s := range steps {
		s.act()
		st, err := c.Status(ctx, sub.ID)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !st.Found || st.State != s.want {
			t.Errorf("%s: got found=%v state %s, want %s", s.name, st.Found, st.State, s.want)
		}
	}
	st, _ := c.Status(ctx, sub.ID)
	if st.WorkerHostPort == "" || st.WorkerID == "" {
		t.Errorf("terminal status lost its worker fields: %+v", st)
	}
	err = c.Kill(ctx, sub.ID)
	if !errors.Is(err, spark.ErrAlreadyFinished) || fault.KindOf(err) != fault.NotFound {
		t.Errorf("kill of a finished driver: got %v (kind %v), want ErrAlreadyFinished/NOT_FOUND", err, fault.KindOf(err))
	}
	unknown, err := c.Status(ctx, "driver-does-not-exist")
	if err != nil || unknown.Found {
		t.Errorf("unknown ID: got %+v, %v; want Found=false and no error", unknown, err)
	}
}

func TestRESTDisabledSaysSo(t *testing.T) {
	t.Parallel()
	m := sparktest.NewMaster(sparktest.Options{})
	defer m.Close()
	m.DisableREST()
	_, err := client(m).Submit(context.Background(), minimalRequest())
	if !errors.Is(err, spark.ErrRESTDisabled) {
		t.Fatalf("got %v, want ErrRESTDisabled", err)
	}
	if !strings.Contains(err.Error(), "spark.master.rest.enabled") || fault.KindOf(err) != fault.Unavailable {
		t.Errorf("error should name spark.master.rest.enabled and be UNAVAILABLE: %v (kind %v)", err, fault.KindOf(err))
	}
	if len(m.Submissions()) != 0 {
		t.Errorf("a disabled REST server received %d bodies", len(m.Submissions()))
	}
}

func TestStandbyMasterIsSkippedForTheNextOne(t *testing.T) {
	t.Parallel()
	standby := sparktest.NewMaster(sparktest.Options{Standby: true})
	defer standby.Close()
	alive := sparktest.NewMaster(sparktest.Options{})
	defer alive.Close()
	c := client(standby, alive)
	ctx := context.Background()
	sub, err := c.Submit(ctx, minimalRequest())
	if err != nil {
		t.Fatal(err)
	}
	if sub.Master != alive.RestURL() {
		t.Errorf("submitted to %s, want the alive master %s", sub.Master, alive.RestURL())
	}
	ms, err := c.Master(ctx)
	if err != nil || ms.Status != spark.Alive || len(ms.ActiveDrivers) != 1 {
		t.Errorf("Master(): got status %s, %d drivers, err %v; want the alive master's document", ms.Status, len(ms.ActiveDrivers), err)
	}
	if st, err := c.Status(ctx, sub.ID); err != nil || st.State != spark.Submitted {
		t.Errorf("status through a standby first: got %+v, %v", st, err)
	}
	if err := c.Kill(ctx, sub.ID); err != nil {
		t.Errorf("kill through a standby first: %v", err)
	}
}

func TestOnlyStandbyMastersGiveErrStandby(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"3.5.1", "4.0.0"} {
		t.Run(version, func(t *testing.T) {
			m := sparktest.NewMaster(sparktest.Options{Standby: true, Version: version})
			defer m.Close()
			c := client(m)
			ctx := context.Background()
			checks := map[string]error{}
			_, checks["create"] = c.Submit(ctx, minimalRequest())
			checks["kill"] = c.Kill(ctx, "driver-x")
			_, checks["status"] = c.Status(ctx, "driver-x")
			_, checks["readyz"] = c.Ready(ctx)
			ms, jsonErr := c.Master(ctx)
			checks["json"] = jsonErr
			for name, err := range checks {
				if !errors.Is(err, spark.ErrStandby) || fault.KindOf(err) != fault.Unavailable {
					t.Errorf("%s: got %v (kind %v), want ErrStandby/UNAVAILABLE", name, err, fault.KindOf(err))
				}
			}
			if ms.Status != spark.Standby {
				t.Errorf("Master() with only standbys should still return the document, got status %q", ms.Status)
			}
		})
	}
}

func TestRejectionsCarrySparksMessage(t *testing.T) {
	t.Parallel()
	m := sparktest.NewMaster(sparktest.Options{Version: "3.5.1"})
	defer m.Close()
	req := minimalRequest()
	delete(req.SparkProperties, "spark.app.name") // required before 4.0
	_, err := client(m).Submit(context.Background(), req)
	var rej *spark.RejectedError
	if !errors.As(err, &rej) || rej.HTTPStatus != 400 || !strings.Contains(rej.Message, "Validation of message CreateSubmissionRequest failed!") {
		t.Fatalf("got %v, want a 400 RejectedError with Spark's validation message", err)
	}
	if strings.Contains(rej.Message, "\tat ") {
		t.Errorf("message keeps the Java stack: %q", rej.Message)
	}
	if fault.KindOf(err) != fault.Invalid {
		t.Errorf("kind %v, want INVALID_REQUEST", fault.KindOf(err))
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault sparktest.Fault
		check func(error) bool
	}{
		{"500 non-JSON", sparktest.ServerError, func(err error) bool { return fault.KindOf(err) == fault.Upstream }},
		{"403 auth filter", sparktest.Forbidden, func(err error) bool { return errors.Is(err, spark.ErrForbidden) }},
		{"hang after the POST was sent", sparktest.Hang, func(err error) bool { return errors.Is(err, spark.ErrOutcomeUnknown) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := sparktest.NewMaster(sparktest.Options{})
			defer m.Close()
			second := sparktest.NewMaster(sparktest.Options{})
			defer second.Close()
			m.SetFault(c.fault)
			cl := spark.New(spark.Config{Masters: []spark.Endpoint{m.Endpoint(), second.Endpoint()}, Timeout: 200 * time.Millisecond})
			_, err := cl.Submit(context.Background(), minimalRequest())
			if !c.check(err) {
				t.Errorf("got %v (kind %v)", err, fault.KindOf(err))
			}
			if n := len(second.Submissions()); n != 0 {
				t.Errorf("the second master received %d submissions; a sent POST must never be retried elsewhere", n)
			}
		})
	}
}

func TestEveryCallHonoursCtx(t *testing.T) {
	t.Parallel()
	m := sparktest.NewMaster(sparktest.Options{})
	defer m.Close()
	m.SetFault(sparktest.Hang)
	m.SetWebFault(sparktest.Hang)
	c := spark.New(spark.Config{Masters: []spark.Endpoint{m.Endpoint()}, Timeout: time.Minute})
	calls := map[string]func(context.Context) error{
		"create": func(ctx context.Context) error { _, err := c.Submit(ctx, minimalRequest()); return err },
		"status": func(ctx context.Context) error { _, err := c.Status(ctx, "d"); return err },
		"kill":   func(ctx context.Context) error { return c.Kill(ctx, "d") },
		"readyz": func(ctx context.Context) error { _, err := c.Ready(ctx); return err },
		"json":   func(ctx context.Context) error { _, err := c.Master(ctx); return err },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if err == nil || fault.KindOf(err) != fault.Timeout || time.Since(start) > 5*time.Second {
			t.Errorf("%s: got %v (kind %v) after %v; want TIMEOUT soon after ctx expires", name, err, fault.KindOf(err), time.Since(start))
		}
	}
}

func TestReadyOnSpark3FallsBackToStatus(t *testing.T) {
	t.Parallel()
	m3 := sparktest.NewMaster(sparktest.Options{Version: "3.5.1"})
	defer m3.Close()
	m4 := sparktest.NewMaster(sparktest.Options{Version: "4.0.0"})
	defer m4.Close()
	for _, m := range []*sparktest.Master{m3, m4} {
		got, err := client(m).Ready(context.Background())
		if err != nil || got != m.RestURL() {
			t.Errorf("Ready: got %q, %v; want %s", got, err, m.RestURL())
		}
	}
	standby3 := sparktest.NewMaster(sparktest.Options{Version: "3.5.1", Standby: true})
	defer standby3.Close()
	if got, err := client(standby3, m3).Ready(context.Background()); err != nil || got != m3.RestURL() {
		t.Errorf("Ready with a 3.x standby first: got %q, %v; want the second master %s", got, err, m3.RestURL())
	}
}

func TestUnreachableWebUIIsNotCalledRESTDisabled(t *testing.T) {
	t.Parallel()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c := spark.New(spark.Config{Masters: []spark.Endpoint{{RestURL: "http://" + addr, WebURL: "http://" + addr}}})
	_, err := c.Master(context.Background())
	if !errors.Is(err, spark.ErrUnreachable) || errors.Is(err, spark.ErrRESTDisabled) {
		t.Errorf("got %v, want ErrUnreachable", err)
	}
}

// Package mototest starts moto_server (an AWS API emulator) on a loopback port for tests of
// code that talks to SNS, SQS, Auto Scaling, EC2 and other AWS APIs.
package mototest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Start runs moto_server for the test and returns its endpoint URL. The test is skipped, with
// a message saying so, only when moto_server is not installed.
func Start(t testing.TB) string {
	t.Helper()
	return StartWith(t)
}

// StartWith is Start with extra environment for moto_server, such as
// INITIAL_NO_AUTH_ACTION_COUNT=N (IAM enforcement after N calls).
func StartWith(t testing.TB, env ...string) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed on this machine; this test needs it (it ships with the machine image)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the pyenv shim forks: stop the whole group
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 30 s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Config is an AWS configuration for clients of the emulator at url.
func Config(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(url),
	}
}

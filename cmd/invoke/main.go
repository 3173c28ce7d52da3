// Command invoke runs a built Lambda bootstrap on one event through a fake Lambda Runtime
// API and prints the answer, like `sam local invoke -e EVENT` (no SAM CLI or Docker needed).
// The function's configuration comes from the environment (CONFIG_FILE, CONFIG_YAML, ...).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "path of the built bootstrap")
	eventFile := flag.String("event", "", "path of the event JSON")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait for the answer")
	flag.Parse()
	if *bootstrap == "" || *eventFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	ev, err := os.ReadFile(*eventFile)
	if err != nil {
		fail(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CONFIG_") || strings.HasPrefix(kv, "DB_") || strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	p, err := lambdarun.Start(*bootstrap, env)
	if err != nil {
		fail(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if _, err := p.WaitReady(ctx); err != nil {
		fail(err)
	}
	res, err := p.Runtime.Invoke(ctx, ev)
	if err != nil {
		fail(err)
	}
	fmt.Fprint(os.Stderr, p.Output.String())
	fmt.Println(string(res.Body))
	if res.Error {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "invoke:", err)
	os.Exit(1)
}

// Command invoke runs a built Lambda bootstrap on one event through a fake Lambda Runtime
// API and prints the answer, like `sam local invoke -e EVENT` (no SAM CLI or Docker needed).
// The invocation's deadline is the function's Timeout in template.yaml. The configuration
// comes from the environment (CONFIG_FILE, CONFIG_YAML, CONFIG_SSM_PARAMETER); when none is
// set, the shipped events/local.yaml is used and the embedded defaults it points at are
// started for the invocation.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	fn := flag.String("fn", "", "the function: api, sparkmonitor, scaler, discovery, peering or migrate (its Timeout comes from the template)")
	bootstrap := flag.String("bootstrap", "", "path of the built bootstrap")
	eventFile := flag.String("event", "", "path of the event JSON")
	template := flag.String("template", "template.yaml", "the SAM template")
	flag.Parse()
	if *fn == "" || *bootstrap == "" || *eventFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	ev, err := os.ReadFile(*eventFile)
	if err != nil {
		fail(err)
	}
	out, err := invoke(context.Background(), request{fn: *fn, bootstrap: *bootstrap, template: *template, event: ev,
		localConfig: "events/local.yaml", environ: os.Environ()})
	fmt.Fprint(os.Stderr, out.logs)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out.body))
	if out.functionError {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "invoke:", err)
	os.Exit(1)
}

// grace is how long past the function's deadline invoke waits for its answer.
const grace = 10 * time.Second

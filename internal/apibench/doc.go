// Package apibench holds the in-process API latency benchmark: the wired API (apiwire.New
// over a real MariaDB database) behind httpapi.LambdaHandler, fed recorded HTTP API (payload
// 2.0) events, beside a bare net/http handler behind the same adapter. It has no code of its
// own; scripts/bench.sh reports its figures in BENCHMARKS.md.
package apibench

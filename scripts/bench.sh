#!/usr/bin/env bash
# Runs every Go benchmark of the module and regenerates BENCHMARKS.md (cmd/benchreport): the
# machine and date, Lambda start-up, API latency, supervision, the capability figures and
# every benchmark with all its metrics. Needs MariaDB on 127.0.0.1:3306 (make bench starts
# it). BENCHTIME (default 1s) is go test -benchtime for benchmarks without their own;
# PEERING_BENCH_1M=1 (the default here) includes the 1M-execution peering pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERING_BENCH_1M="${PEERING_BENCH_1M:-1}"
export AWS_XRAY_SDK_DISABLED="${AWS_XRAY_SDK_DISABLED:-true}"
exec go run ./cmd/benchreport -out "${BENCH_OUT:-BENCHMARKS.md}" -benchtime "${BENCHTIME:-1s}" "$@"

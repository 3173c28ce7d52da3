# Logwise control plane. `sam build` calls the build-<LogicalId> targets with ARTIFACTS_DIR set
# (BuildMethod: makefile); `make build` builds every bootstrap into bin/<function>/.

GO        ?= go
GOARCH    ?= arm64
GOFLAGS_BUILD := -tags lambda.norpc -trimpath -ldflags '-s -w -buildid='
GOBUILD   = CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build $(GOFLAGS_BUILD)
FUNCTIONS = api sparkmonitor scaler discovery peering migrate
export GOPROXY ?= https://proxy.golang.org
export GOFLAGS ?= -mod=readonly
export AWS_XRAY_SDK_DISABLED ?= true

.PHONY: all build test test-short run bench lint fmt vet invoke clean mariadb \
	build-ApiFunction build-SparkMonitorFunction build-ScalerFunction build-DiscoveryFunction build-PeeringFunction \
	build-MigrateFunction

all: lint test

build-ApiFunction:          ; $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/api
build-SparkMonitorFunction: ; $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/sparkmonitor
build-ScalerFunction:       ; $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/scaler
build-DiscoveryFunction:    ; $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/discovery
build-PeeringFunction:      ; $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/peering
build-MigrateFunction:      ; $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/migrate

## build: every function's bootstrap for Lambda (linux/$(GOARCH)) under bin/<function>/
build:
	@for f in $(FUNCTIONS); do echo "build $$f"; $(GOBUILD) -o bin/$$f/bootstrap ./functions/$$f || exit 1; done

## test: the whole suite against MariaDB on 127.0.0.1:3306 (scripts/mariadb.sh starts one)
test:
	scripts/mariadb.sh
	$(GO) test -count=1 -timeout 20m ./...

## run: the whole system locally on embedded defaults (API on 127.0.0.1:8080)
run:
	$(GO) run ./cmd/local

## bench: Go benchmarks and the BENCHMARKS.md report
bench:
	scripts/mariadb.sh
	PEERING_BENCH_1M=1 scripts/bench.sh

## lint: formatting, vet and the SAM template check
lint:
	@f=$$(gofmt -l .); if [ -n "$$f" ]; then echo "gofmt: these files need formatting:"; echo "$$f"; exit 1; fi
	$(GO) vet ./...
	cfn-lint template.yaml

fmt:
	gofmt -w .

## invoke: run a built bootstrap on an event, like `sam local invoke` (FN=api EVENT=events/api-healthcheck-httpapi.json)
invoke:
	@test -n "$(FN)" -a -n "$(EVENT)" || (echo "usage: make invoke FN=<function> EVENT=<file>" && exit 2)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/local/$(FN)/bootstrap ./functions/$(FN)
	$(GO) run ./cmd/invoke -bootstrap bin/local/$(FN)/bootstrap -event $(EVENT)

clean:
	rm -rf bin .aws-sam

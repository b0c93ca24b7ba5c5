# Strata's two commands are `make run` and `make test`; everything they need is
# built or installed here the first time.

GO          ?= go
TOOLS       := $(CURDIR)/.tools
MINIO_VER   := v0.0.0-20260212201848-7aac2a2c5b7c
TERRAFORM_VER := v1.5.7
TFLINT_VER  := v0.64.0
STATICCHECK_VER := v0.8.2
BIN         := $(CURDIR)/bin
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)

.PHONY: all help build run check test test-cluster soak tools debs bench bench-latency bench-loadgen tfdocs clean

all: build

## help: this list of targets
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); print; next } /^## / { sub(/^## /, "    "); print }' $(MAKEFILE_LIST)

## build: the strata binary in bin/
build: $(BIN)/strata

$(BIN)/strata: $(shell find . -name '*.go' -not -path './.tools/*') go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/strata

## run: a single-node broker on 127.0.0.1:9092 (embedded etcd, filesystem object store)
run: build
	$(BIN)/strata serve

## tools: real etcd and MinIO servers, terraform (v1.5.7, the last MPL release) and tflint,
## all built from pinned Go module versions
tools: $(TOOLS)/etcd $(TOOLS)/minio $(TOOLS)/terraform $(TOOLS)/tflint

$(TOOLS)/etcd: go.mod go.sum tools/etcd/main.go
	CGO_ENABLED=0 $(GO) build -o $@ ./tools/etcd

$(TOOLS)/minio:
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/minio/minio@$(MINIO_VER)

$(TOOLS)/terraform:
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/hashicorp/terraform@$(TERRAFORM_VER)

$(TOOLS)/tflint:
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/terraform-linters/tflint@$(TFLINT_VER)

## tfdocs: regenerate the input/output tables of the Terraform modules' READMEs
tfdocs:
	$(GO) run ./tools/tfdocs terraform/modules/* terraform/examples/*

## debs: librdkafka clients from Debian's packages (kcat, confluent-kafka-python)
debs:
	@if command -v kcat >/dev/null && /usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null; then :; else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq kcat python3-confluent-kafka; fi

## check: the fast lane, no MinIO, etcd server, terraform or apt: vet, staticcheck, go.mod tidy,
## and the tests of every package but e2e, deploy and terraform (in-process etcd where they need one)
check: $(TOOLS)/staticcheck
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	$(GO) mod tidy -diff
	$(GO) test -count=1 -short $$($(GO) list ./... | grep -v -e /e2e -e /deploy -e /terraform)

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VER)

## test: everything, with real etcd, MinIO, terraform and the librdkafka clients (installed first)
test: tools debs
	$(GO) vet ./...
	$(GO) mod tidy -diff
	CI=$${CI:-true} $(GO) test -count=1 -timeout 25m ./...

## test-cluster: three brokers on a 3-member etcd and MinIO through every fault, checked after each
test-cluster: tools
	CI=true $(GO) test -count=1 -timeout 15m -run '^TestCluster$$' -v ./e2e/

## soak: test-cluster's faults over and over for 10 minutes (STRATA_SOAK)
soak: tools
	CI=true STRATA_SOAK=10m $(GO) test -count=1 -timeout 30m -run '^TestCluster$$' -v ./e2e/

## clean: remove bin/
clean:
	rm -rf $(BIN)

## bench: produce throughput of one broker and of three on MinIO, as ratios to franz-go's kfake,
## failover: SIGKILL of a leader to the first produce on a moved partition, against the session TTL,
## offset commits through the group coordinator against sequential etcd transactions,
## transactional produce (records/s, commits/s) against idempotent produce and against kfake's transactions,
## and at --max-put-rate 50 against the default budget,
## a cold replay from MinIO against raw ranged GETs (STRATA_BENCH_COLD_BYTES, default 1GiB),
## objects, etcd keys and bytes per GiB before and after compaction (STRATA_BENCH_COMPACT_BYTES, default 256MiB),
## 10,000 partitions on one broker and 100,000 on three (BenchmarkManyPartitions),
## a 10-member group settling after a member joins, KIP-848 against classic, share-group
## throughput against a consumer group's, `strata mirror` against a plain consume+produce,
## latency at a fixed rate and PUT budget (bench-latency) and the standard loadgen workloads
## (bench-loadgen), which rewrite their parts of docs/benchmarks.md; go test's "ok … Ns" line
## after each part is how long it took
bench: tools
	{ CI=true $(GO) test -run '^$$' -bench '^BenchmarkProduce$$' -benchtime 200000x -count 1 -timeout 20m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkFailover$$' -benchtime 10x -count 1 -timeout 15m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkGroupCommit$$' -benchtime 20000x -count 1 -timeout 10m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkTransactions$$' -benchtime 100000x -count 1 -timeout 15m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkColdReplay$$' -benchtime 1x -count 1 -timeout 30m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkCompaction$$' -benchtime 1x -count 1 -timeout 30m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkManyPartitions$$' -benchtime 1x -count 1 -timeout 90m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkGroupRebalance848$$' -benchtime 3x -count 1 -timeout 15m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkShareGroupThroughput$$' -benchtime 1x -count 1 -timeout 15m ./e2e/; \
	  CI=true $(GO) test -run '^$$' -bench '^BenchmarkMirror$$' -benchtime 100000x -count 1 -timeout 15m ./e2e/; } \
	| $(GO) run ./tools/benchratio
	$(MAKE) bench-latency
	$(MAKE) bench-loadgen

LATENCY_OUT := $(BIN)/bench-latency

## bench-latency: the pubsub workloads at 5,000 records/s against kfake and one broker on MinIO at
## --max-put-rate 5 (the default) and 50, and sequential acks=all produces at 50: latencies as ratios
## to raw PUTs of the same MinIO and to kfake, PUTs and etcd transactions per second, issue 21's
## targets met or not; writes the latency section of docs/benchmarks.md and its charts in docs/img/latency
bench-latency: tools
	rm -rf $(LATENCY_OUT)
	CI=true STRATA_BENCH_LATENCY_OUT=$(LATENCY_OUT) $(GO) test -run '^$$' -bench '^BenchmarkLatency$$' -benchtime 1x -count 1 -timeout 30m ./e2e/ \
	| $(GO) run ./tools/benchratio
	$(GO) run ./tools/benchdoc -latency $(LATENCY_OUT) -doc docs/benchmarks.md -latency-img docs/img/latency

LOADGEN_OUT := $(BIN)/bench-loadgen

## bench-loadgen: the standard workloads of loadgen/workloads with `strata loadgen` against one
## broker on MinIO and against kfake, and the machine's raw ceilings (fsync'd writes, 8 MiB PUTs,
## ranged GETs); writes the loadgen section of docs/benchmarks.md and its charts in docs/img/loadgen
bench-loadgen: tools
	rm -rf $(LOADGEN_OUT)
	CI=true STRATA_BENCH_LOADGEN_OUT=$(LOADGEN_OUT) $(GO) test -run '^$$' -bench '^BenchmarkLoadgen$$' -benchtime 1x -count 1 -timeout 40m ./e2e/ \
	| $(GO) run ./tools/benchratio
	$(GO) run ./tools/benchdoc -in $(LOADGEN_OUT) -doc docs/benchmarks.md -img docs/img/loadgen

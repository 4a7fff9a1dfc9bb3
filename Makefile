# raftsentinel — every target installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
GO ?= go
BIN := bin/raftsentinel
# What the demo needs, and what the tests and benchmarks need besides
# (redis-sentinel as the oracle, redis-py, promtool/prometheus, systemd-analyze).
DEMO_PKGS := redis-server redis-tools
TEST_PKGS := $(DEMO_PKGS) redis-sentinel python3-redis prometheus systemd

.PHONY: all build demo test fuzz deps demo-deps lint bench-failover bench-protocol bench-safety bench-scale bench-probecost clean

all: build

# deps / demo-deps install the Debian packages below when missing (apt-get,
# or a clear message when not root).
deps:
	@bash scripts/ensure-deps.sh $(TEST_PKGS)

demo-deps:
	@bash scripts/ensure-deps.sh $(DEMO_PKGS)

build:
	$(GO) build -o $(BIN) ./cmd/raftsentinel

# The main job: a failover drill on loopback with a printed timeline.
demo: demo-deps build
	./$(BIN) demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags integration ./...

# Everything CI runs.
test: deps lint
	# One package at a time: the integration tests time real processes on 2 cores.
	# The integration suites (real redis-server, redis-sentinel, clients) are
	# behind the "integration" build tag; plain `go test ./...` is the fast
	# unit pass.
	$(GO) test -race -count=1 -p 1 -timeout 30m -tags integration ./...
	@$(MAKE) --no-print-directory fuzz

# Each fuzz target for a number of executions (package:Target:count), about
# five seconds' worth each on a loaded 2-core machine. Counts, not durations:
# a duration -fuzztime can fail spuriously with "context deadline exceeded"
# at its end under CPU contention (golang/go#75804, fixed in Go 1.27), a
# count cannot. FUZZTIME=30s (say) overrides every target's budget. The seed
# corpora (and every crasher found so far) also run in plain `go test`; a new
# crasher is written to the package's testdata/fuzz/<Target>/ and fails the run.
FUZZTIME ?=
FUZZ_TARGETS := config:FuzzImportSentinelConf:30000x config:FuzzLoad:500x \
	quorum:FuzzFSMApply:20000x quorum:FuzzFSMRestore:6000x \
	sentinel:FuzzSentinelCommand:5000x sentinel:FuzzACLCommand:5000x acl:FuzzParse:100000x \
	sentinelconf:FuzzQuoteRoundTrip:30000x \
	resp:FuzzReadCommand:50000x resp:FuzzMatch:60000x resp:FuzzParseCommand:50000x
fuzz:
	@listed="$(sort $(foreach t,$(FUZZ_TARGETS),$(word 2,$(subst :, ,$(t)))))"; \
	  found="$$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/^func //' | LC_ALL=C sort -u | tr '\n' ' ')"; \
	  if [ "$$(echo $$listed)" != "$$(echo $$found)" ]; then \
	    echo "FUZZ_TARGETS lists $$listed but the fuzz functions are $$found"; exit 1; fi
	@set -e; for t in $(FUZZ_TARGETS); do \
	  IFS=: read -r pkg fn budget <<< "$$t"; \
	  if [ -n "$(FUZZTIME)" ]; then budget="$(FUZZTIME)"; fi; \
	  echo "fuzz $$pkg $$fn ($$budget)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime "$$budget" ./$$pkg/; \
	done

# Failover drill against raftsentinel and real Redis Sentinel, same run.
bench-failover: deps build
	$(GO) run ./internal/bench/failover $(BENCH_ARGS)

clean:
	rm -rf bin

# redis-benchmark against raftsentinel and Redis Sentinel, same run.
bench-protocol: deps build
	$(GO) run ./internal/bench/protocol $(BENCH_ARGS)

# What probing costs per node: this build's prober or redis-sentinel, fake nodes.
bench-probecost: deps
	$(GO) run ./internal/bench/probecost $(BENCH_ARGS)

# Lost-writes drill (WAIT 1 and none) against raftsentinel and Redis Sentinel, same run.
bench-safety: deps build
	$(GO) run ./internal/bench/safety $(BENCH_ARGS)

# Many masters: CPU, RSS, discovery and failovers of raftsentinel and Redis
# Sentinel on the same redis-server fleet, per size, same run
# (BENCH_ARGS="-sizes 1,10,100,300 -kill 10", say).
bench-scale: deps build
	$(GO) run ./internal/bench/scale $(BENCH_ARGS)

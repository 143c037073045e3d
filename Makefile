SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# Go from PATH, else where its tarball installs it (a fresh machine's PATH may lack it).
GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT    ?= $(shell command -v gofmt 2>/dev/null || echo /usr/local/go/bin/gofmt)
export PATH := $(PATH):$(patsubst %/,%,$(dir $(GO))) # tests build cmd/slotgate with `go build`
FUZZTIME ?= 60s
FUZZMINIMIZE ?= 5s # per new input (Go's default, 60s, can eat a short run)
PKGS     ?= ./...

.PHONY: build run test need-redis lint generate check-generate fuzz clean bench bench-quick bench-go bench-failover bench-floor soak docker-images

build:
	$(GO) build -o bin/slotgate ./cmd/slotgate

# A local 3+3 cluster on 7000..7005 (reused if already running; data in
# .devcluster, AOF on, maxmemory 2gb allkeys-lru) and the proxy in the
# foreground. Ctrl-C stops both.
run: build need-redis
	$(GO) run ./internal/cmd/devcluster -- bin/slotgate -cluster 127.0.0.1:7000 -backend-password 'A12345!'

# The race run also runs every Fuzz* target's seed corpus (go test does that
# for fuzz targets without -fuzz). Allocation tests are skipped under -race,
# so they get a second, non-race run.
test: lint need-redis
	$(GO) test -race -shuffle=on -timeout 15m $(PKGS)
	$(GO) test -run 'Alloc' -count=1 $(PKGS)
	# gnet's other epoll poller (poll_opt) stores a pointer as event data: clients paused at their
	# limits must not make slotgate rewrite it (it crashed before readgate_other.go).
	$(GO) test -tags poll_opt -run 'TestE2EPausedListBounded' -count=1 ./server

# A fresh machine has no redis-server: as root on Debian it is installed, otherwise the command
# to run is printed and make stops.
need-redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
			echo "redis-server is missing: installing it (apt-get install -y redis-server redis-tools)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update </dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools </dev/null; \
		else \
			echo "redis-server is missing: run  sudo apt-get install -y redis-server redis-tools  (Debian/Ubuntu), then make $(MAKECMDGOALS) again" >&2; \
			exit 1; \
		fi; \
	fi

lint:
	@files="$$($(GOFMT) -l . 2>&1)"; \
	if [[ -n "$$files" ]]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags poll_opt ./server # readgate_other.go: gnet's other epoll poller

generate:
	$(GO) generate $(PKGS)

check-generate: generate
	git diff --exit-code

# Each Fuzz* target of every package for FUZZTIME, one at a time (targets found in the
# *_test.go sources, so listing them builds nothing and starts no cluster).
fuzz:
	@found=0; \
	for dir in $$($(GO) list -f '{{.Dir}}' $(PKGS)); do \
		targets="$$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go 2>/dev/null | sort -u || true)"; \
		for t in $$targets; do \
			found=1; \
			echo "== $${dir#$$PWD/} $$t ($(FUZZTIME))"; \
			(cd $$dir && $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) .); \
		done; \
	done; \
	if [[ $$found == 0 ]]; then echo "no fuzz targets"; fi

# slotbench (bench/): the same workloads against the cluster directly, the floor proxy
# (internal/cmd/floorproxy, so every full table shows slotgate beside it), slotgate -loops 1 and
# -loops 2 (started on a fresh 3+3 cluster), and any BENCHFLAGS='-target NAME=HOST:PORT';
# redis-benchmark and slotbench's own generator, 3 interleaved rounds with new proxy processes
# each round (-fresh: processes of one binary differ), about 20 minutes.
# Markdown tables on stdout; JSON and a latency chart under bench/out/. Fails on request errors
# or allocations per proxied request above -max-allocs (0.05), never on timings.
BENCHFLAGS ?=
BENCHOUT   ?= bench/out

bench: build
	$(GO) build -o bin/slotbench ./bench
	$(GO) build -o bin/floorproxy ./internal/cmd/floorproxy
	bin/slotbench -floor -fresh $(BENCHFLAGS) -json $(BENCHOUT)/bench-result.json -plot $(BENCHOUT)/bench-latency.png

# About a minute: GET/SET 16 B at c=50 P=1 and P=16, MGET at c=50 P=1, one round (CI runs it).
bench-quick: build
	$(GO) build -o bin/slotbench ./bench
	bin/slotbench -quick $(BENCHFLAGS) -json $(BENCHOUT)/bench-quick.json -plot $(BENCHOUT)/bench-quick-latency.png

# The failover window: 3 masters killed (SIGKILL) in turn under SET load through one slotgate
# seeded with the first victim, on a fresh cluster with cluster-node-timeout 1s; kill→promotion,
# promotion→first success via slotgate and kill→first success per kill, then every acknowledged
# write read back. About 20 seconds. Table on stdout, JSON under bench/out/.
bench-failover: build
	$(GO) build -o bin/slotbench ./bench
	bin/slotbench -failover 3 $(BENCHFLAGS) -json $(BENCHOUT)/bench-failover.json

# The soak (not in CI): SOAKTIME (10m) of mixed load through one slotgate on a fresh 3+3 cluster
# (GET/SET/MGET/MSET/DEL/INCR, pipelines, values up to 1 MiB, clients connecting and leaving),
# the master of one shard SIGKILLed half-way; slotgate's RSS over time, goroutines and fds
# before and after, every acknowledged write read back. Report on stdout; JSON and slotgate's
# log under bench/out/. Fails on a lost write Redis's replication does not explain, a goroutine
# or fd left behind, or RSS that keeps growing.
SOAKTIME ?= 10m

soak: build
	$(GO) build -o bin/slotbench ./bench
	bin/slotbench -soak $(SOAKTIME) $(BENCHFLAGS) -json $(BENCHOUT)/soak.json

# The cells the speed goals name (redis-benchmark GET/SET 16 B, c=50, P=1 and 16; 5 interleaved
# rounds, about 10 minutes) against direct access, slotgate -loops 1 and floorproxy
# (internal/cmd/floorproxy: the least a gnet cluster proxy can do per request), so that one run
# on this machine shows how much of the gap to direct access is the extra hop itself. A second
# floorproxy (-floor-aa) is measured too: how far it lands from the first is the run's own
# resolution (on a 2-core machine three rounds could not resolve 5 %). Every proxy is a new
# process each round (-fresh): two processes of one binary can differ by 15 % in CPU per request.
bench-floor: build
	$(GO) build -o bin/slotbench ./bench
	$(GO) build -o bin/floorproxy ./internal/cmd/floorproxy
	bin/slotbench -floor -floor-aa -fresh -rounds 5 -gen redis-benchmark -loops 1 -only 'redis-benchmark (SET|GET) 16B c=50 P=(1|16)$$' $(BENCHFLAGS) -json $(BENCHOUT)/bench-floor.json

# The Go benchmarks (*_timing_test.go): codec, slot computation, an in-process proxied round
# trip; -count 6 for benchstat.
bench-go:
	mkdir -p $(BENCHOUT)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./codec ./router/... ./server | tee $(BENCHOUT)/go-bench.txt

# docker/: the images docker/docker-compose.yml runs, built here with no registry: slotgate:local
# (FROM scratch, the static binary built by go on this host) and redis:7.0 (this host's
# redis-server and redis-cli, through docker import). SLOTGATE_IMAGE / REDIS_IMAGE rename them.
docker-images:
	GO=$(GO) docker/build-images.sh slotgate redis

clean:
	rm -rf bin docker/build
	$(GO) clean -testcache

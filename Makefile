SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
FUZZTIME ?= 60s
PKGS     ?= ./...

.PHONY: build run test lint generate check-generate fuzz clean

build:
	$(GO) build -o bin/slotgate ./cmd/slotgate

# A local 3+3 cluster on 7000..7005 (reused if already running; data in
# .devcluster, AOF on, maxmemory 2gb allkeys-lru) and the proxy in the
# foreground. Ctrl-C stops both.
run: build
	$(GO) run ./internal/cmd/devcluster -- bin/slotgate -cluster 127.0.0.1:7000 -backend-password 'A12345!'

# The race run also runs every Fuzz* target's seed corpus (go test does that
# for fuzz targets without -fuzz). Allocation tests are skipped under -race,
# so they get a second, non-race run.
test: lint
	$(GO) test -race -shuffle=on -timeout 15m $(PKGS)
	$(GO) test -run 'Alloc' -count=1 $(PKGS)

lint:
	@files="$$(gofmt -l . 2>&1)"; \
	if [[ -n "$$files" ]]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet $(PKGS)

generate:
	$(GO) generate $(PKGS)

check-generate: generate
	git diff --exit-code

# Each Fuzz* target in ./codec for FUZZTIME, one at a time.
fuzz:
	@list="$$($(GO) test -list 'Fuzz.*' ./codec)"; \
	targets="$$(grep '^Fuzz' <<<"$$list" || true)"; \
	if [[ -z "$$targets" ]]; then echo "no fuzz targets in ./codec"; exit 0; fi; \
	for t in $$targets; do \
		echo "== $$t ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./codec; \
	done

clean:
	rm -rf bin
	$(GO) clean -testcache

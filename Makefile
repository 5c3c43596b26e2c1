# invokego — the two commands: `make run` (build everything, serve on http://127.0.0.1:9090) and `make test`.
GO       ?= go
BIN      := bin/invokego
# The semantic version lives in internal/version; the build records the source revision beside it.
COMMIT   ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS  := -s -w -X github.com/invokego/invokego/internal/version.Commit=$(COMMIT)
# The WebP encoder would otherwise look for a system libwebp through purego, which makes the binary dynamic;
# with this tag it always uses its own pure-Go build and the binary stays static.
export GOFLAGS := $(strip $(GOFLAGS) -tags=nodynamic)
ARGS     ?=
# Fuzz time per target for `make fuzz`.
FUZZTIME ?= 60s

.PHONY: all run build web test test-go test-web lint bench fuzz clean

all: build

## run: build the UI and the binary, then serve (pass flags with ARGS="--multiuser --root /path").
run: build
	./$(BIN) serve $(ARGS)

## build: the single static binary, with the web UI embedded when web/ has one.
build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/invokego

## web: build the React UI into web/dist (skipped until web/package.json exists). npm ci runs only when
## node_modules is missing or older than package-lock.json.
web:
	@if [ -f web/package.json ]; then \
		cd web && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
			npm ci --no-audit --no-fund || npm install --no-audit --no-fund || exit 1; \
		fi && npm run build; \
	fi

## test: vet, staticcheck, the UI's component tests (Vitest) and every Go test with the race detector,
## including the browser tests in internal/e2e (INVOKEGO_E2E=1: they need Chromium and the built UI).
test: lint test-web test-go

test-web: web
	@if [ -f web/package.json ]; then cd web && npm test; fi

test-go: web
	CGO_ENABLED=1 INVOKEGO_E2E=$${INVOKEGO_E2E-1} $(GO) test -race -count=1 -timeout 30m ./...

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: invokego vs PyTorch at SD-1.5 size (bench/run.sh: installs Debian's python3-torch if
## missing, checks the peer against the fixture goldens, times both, writes bench/results.md),
## then every Go benchmark, each reporting its own figures (see README "Benchmarks").
## BENCH_RUNS timed runs per workload (median reported); BENCH_SKIP_GO=1 skips the go test part.
BENCH_RUNS ?= 3
bench:
	RUNS=$(BENCH_RUNS) bench/run.sh
	bench/esrgan.sh
	bench/flux.sh
	@if [ -z "$(BENCH_SKIP_GO)" ]; then \
		$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 60m ./...; \
	fi

## fuzz: run each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin web/dist/assets web/dist/index.html web/e2e-artifacts

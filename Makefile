# invokego — the two commands: `make run` (build everything, serve on http://127.0.0.1:9090) and `make test`.
GO       ?= go
BIN      := bin/invokego
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
ARGS     ?=
# Fuzz time per target for `make fuzz`.
FUZZTIME ?= 60s

.PHONY: all run build web test test-go lint bench fuzz clean

all: build

## run: build the UI and the binary, then serve (pass flags with ARGS="--multiuser --root /path").
run: build
	./$(BIN) serve $(ARGS)

## build: the single static binary, with the web UI embedded when web/ has one.
build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/invokego

## web: build the React UI into web/dist (skipped until web/package.json exists).
web:
	@if [ -f web/package.json ]; then \
		cd web && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund) && npm run build; \
	fi

## test: vet, staticcheck and every test with the race detector (browser tests included once the UI exists).
test: lint test-go

test-go: web
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: every benchmark, each reporting its own figures (see README "Benchmarks").
bench:
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 60m ./...

## fuzz: run each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin web/dist/assets web/dist/index.html

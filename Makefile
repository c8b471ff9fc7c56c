# hpa-autoscaler: see README.md. `make run` and `make test` are the two
# set-up commands; both work on a fresh Debian machine with Go, as root.

GO        ?= go
BIN       := bin/hpa-autoscaler
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
GOPATH_BIN := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOPATH_BIN)/staticcheck
# Packages whose tests start goroutines and servers: run under -race too.
RACE_PKGS ?= ./scalers/... ./externalscaler/... ./internal/testenv/...
# Benchmarks: make bench BENCH=GetMetrics PKGS=./externalscaler/
BENCH     ?= .
PKGS      ?= ./...

.PHONY: all build run test test-deps lint fmt vet staticcheck tidy bench generate fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hpa-autoscaler

## run: build and start the server with embedded defaults
run: build
	./$(BIN) serve

## test: everything, including integration tests against real servers
test: test-deps tidy
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

test-deps:
	./hack/test-deps.sh

lint: fmt vet staticcheck tidy

## tidy: go.mod and go.sum are what `go mod tidy` would write
tidy:
	$(GO) mod tidy -diff

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

bench: test-deps
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

## generate: regenerate checked-in generated code. There is none yet: the
## CRD types (deepcopy, CRD YAML) and the AgentService protobuf will add
## their generators here, each with a test that fails when its output is
## stale. Until then this runs go generate, which finds no directives.
generate:
	$(GO) generate ./...

## fuzz: run every fuzz target briefly (FUZZTIME=30s)
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin

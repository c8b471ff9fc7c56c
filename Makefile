# hpa-autoscaler: see README.md. `make run` and `make test` are the two
# set-up commands; both work on a fresh Debian machine with Go, as root.

GO        ?= go
BIN       := bin/hpa-autoscaler
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
GOPATH_BIN := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOPATH_BIN)/staticcheck
# Packages whose tests start goroutines and servers: run under -race too.
RACE_PKGS ?= ./scalers/... ./externalscaler/... ./internal/testenv/... ./controller/ ./controller/backendlink/ ./backend/...
# Benchmarks: make bench BENCH=GetMetrics PKGS=./externalscaler/
BENCH     ?= .
PKGS      ?= ./...

.PHONY: all build run test test-deps envtest lint fmt vet staticcheck tidy bench generate fuzz clean image

# The container image (make image): hack/image writes it to IMAGE_TAR as a
# docker-archive tarball tagged $(IMAGE):$(IMAGE_TAG), the repository and
# tag the chart's values name (image.repository, image.tag).
IMAGE     ?= ghcr.io/hpa-autoscaler/hpa-autoscaler
IMAGE_TAG ?= $(VERSION)
IMAGE_TAR ?= bin/hpa-autoscaler-image.tar

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hpa-autoscaler

## image: the container image without Docker (static binary, user 65532,
## empty base), for docker load, kind load image-archive or crane push
image:
	$(GO) run ./hack/image -version $(IMAGE_TAG) -repository $(IMAGE) -out $(IMAGE_TAR)

## run: build and start the server with embedded defaults
run: build
	./$(BIN) serve

## test: everything, including integration tests against real servers
test: export KUBEBUILDER_ASSETS := $(CURDIR)/bin/envtest
test: test-deps envtest tidy
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

test-deps:
	./hack/test-deps.sh

## envtest: kube-apiserver and etcd for the Kubernetes tests, in bin/envtest
envtest:
	./hack/envtest/build.sh

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

## generate: regenerate the checked-in generated code with pinned tools:
## the deepcopy code of api/v1 and the CRD YAML under config/crd/
## (controller-gen), and the agent's RBAC under config/rbac/ from the
## kubebuilder markers of controller/; the chart's copies of both
## (charts/hpa-autoscaler/files/) and its values.schema.json (from
## values.yaml, hack/valuesschema). api/v1's TestGeneratedFilesUpToDate
## and internal/charttest fail when they are stale.
CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN := bin/tools/controller-gen-$(CONTROLLER_GEN_VERSION)
$(CONTROLLER_GEN):
	mkdir -p bin/tools
	GOFLAGS= GOBIN=$(CURDIR)/bin/tools $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv bin/tools/controller-gen $(CONTROLLER_GEN)

generate: $(CONTROLLER_GEN)
	./hack/protogen.sh
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=config/crd
	@if [ -d controller ]; then $(CONTROLLER_GEN) rbac:roleName=hpa-autoscaler-agent paths=./controller/... output:rbac:artifacts:config=config/rbac; fi
	rm -rf charts/hpa-autoscaler/files/crds && mkdir -p charts/hpa-autoscaler/files/crds charts/hpa-autoscaler/files/rbac
	cp config/crd/*.yaml charts/hpa-autoscaler/files/crds/
	cp config/rbac/role.yaml charts/hpa-autoscaler/files/rbac/
	$(GO) run ./hack/valuesschema charts/hpa-autoscaler
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

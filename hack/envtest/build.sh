#!/usr/bin/env bash
# Builds the kube-apiserver and etcd that the tests run under
# controller-runtime's envtest (internal/testenv.StartKube) into bin/envtest/
# (KUBEBUILDER_ASSETS), from the Go module proxy: envtest's usual binary
# download is not reachable here. Each binary comes from its own small module
# under hack/envtest/ (with a checked-in go.sum), not from the project's
# go.mod.
#
# Idempotent: a binary that already reports the wanted version is not
# rebuilt. The first build on a cold Go build cache takes minutes (see the
# README); a rebuild with a warm cache takes seconds.
#
#   hack/envtest/build.sh            # into <repo>/bin/envtest
#   ENVTEST_BIN=/some/dir hack/envtest/build.sh
set -euo pipefail

KUBE_VERSION=v1.36.3 # k8s.io/kubernetes in kube-apiserver/go.mod
KUBE_MINOR=36
ETCD_VERSION=3.6.16 # go.etcd.io/etcd/server/v3 in etcd/go.mod

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${ENVTEST_BIN:-$root/bin/envtest}
go=${GO:-go}

# The wrapper modules build the same whatever the caller's environment says:
# no workspace, the checked-in go.sum as is (readonly: a missing sum is an
# error, not a silent edit), no VCS stamp (the binaries carry their version
# in ldflags), and no C toolchain needed.
export GOWORK=off
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

mkdir -p "$out"
# Two `make test` at once would build twice into the same files: the second
# waits here for the first, then finds the binaries current.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$out/.build.lock"
  flock 9
fi

have() { # have <binary> <expected substring of its --version>
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qF "$2"
}

build() { # build <name> <module dir> <package> [go build flags...]
  local name=$1 dir=$2 pkg=$3
  shift 3
  local start=$SECONDS
  echo "envtest: building $name in $dir (the first build takes minutes)"
  # Build next to the target and rename, so an interrupted build never
  # leaves a binary that half exists.
  (cd "$dir" && "$go" build "$@" -o "$out/.$name.tmp" "$pkg")
  mv -f "$out/.$name.tmp" "$out/$name"
  echo "envtest: built $out/$name in $((SECONDS - start)) s"
}

total=$SECONDS
did=0

if have "$out/kube-apiserver" "Kubernetes $KUBE_VERSION"; then
  echo "envtest: $out/kube-apiserver is $KUBE_VERSION: skipped"
else
  build kube-apiserver "$here/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
    -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$KUBE_MINOR"
  have "$out/kube-apiserver" "Kubernetes $KUBE_VERSION" || {
    echo "envtest: $out/kube-apiserver --version does not say Kubernetes $KUBE_VERSION" >&2
    exit 1
  }
  did=1
fi

if have "$out/etcd" "etcd Version: $ETCD_VERSION"; then
  echo "envtest: $out/etcd is $ETCD_VERSION: skipped"
else
  build etcd "$here/etcd" . -trimpath -ldflags "-s -w"
  have "$out/etcd" "etcd Version: $ETCD_VERSION" || {
    echo "envtest: $out/etcd --version does not say etcd Version: $ETCD_VERSION" >&2
    exit 1
  }
  did=1
fi

if [ "$did" -eq 1 ]; then
  echo "envtest: done in $((SECONDS - total)) s; KUBEBUILDER_ASSETS=$out"
fi

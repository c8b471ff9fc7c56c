#!/usr/bin/env bash
# Generates the Go code of proto/ (the AgentService) with protoc and the
# pinned plugins: protoc-gen-go of the google.golang.org/protobuf version in
# go.mod, protoc-gen-go-grpc v1.6.0 (installed into bin/tools at those
# versions when missing). protoc comes from Debian's protobuf-compiler
# (installed when missing, as hack/test-deps.sh does).
#
#   hack/protogen.sh [OUTDIR]   (default: the repository, in place)
#
# proto/agent/v1's staleness test runs it into a temporary OUTDIR and
# compares.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
GO=${GO:-go}
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0
protobuf_version=$(cd "$root" && $GO list -m -f '{{.Version}}' google.golang.org/protobuf)
tools=$root/bin/tools
mkdir -p "$tools"

install_tool() { # name module version
  local stamp=$tools/.$1-$3
  if [ ! -x "$tools/$1" ] || [ ! -e "$stamp" ]; then
    (cd "$tools" && GOFLAGS=-mod=mod GOBIN=$tools $GO install "$2@$3")
    rm -f "$tools/.$1-"*
    touch "$stamp"
  fi
}
install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$protobuf_version"
install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

# protoc, and the well-known types agent.proto imports (libprotobuf-dev:
# /usr/include/google/protobuf/*.proto, only a recommendation of
# protobuf-compiler).
pkgs=()
command -v protoc >/dev/null 2>&1 || pkgs+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/timestamp.proto ] || pkgs+=(libprotobuf-dev)
if [ "${#pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

cd "$root/proto"
mkdir -p "$out/proto"
PATH=$tools:$PATH protoc -I . \
  --go_out="$out/proto" --go_opt=paths=source_relative \
  --go-grpc_out="$out/proto" --go-grpc_opt=paths=source_relative \
  $(find . -name '*.proto' | sort)

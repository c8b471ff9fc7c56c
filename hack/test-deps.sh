#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, idempotently: the
# servers the integration tests start their own instances of. Safe to run
# again and again; it does nothing when all is present. (The Go tool of
# `make lint`, staticcheck, is installed at its pinned version by `make
# lint` itself, into $(go env GOPATH)/bin; `make test` does not need it.)
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# PostgreSQL: Debian keeps initdb and postgres under
# /usr/lib/postgresql/<version>/bin, off PATH (internal/testenv/postgres.go
# looks there); the package also creates the postgres user the server runs
# as when the tests run as root.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# MariaDB for the mysql scaler's tests (internal/testenv/mariadb.go): the
# package has mariadb-install-db and mariadbd, and creates the mysql user.
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
# nats-server for the nats-jetstream scaler's tests (internal/testenv/nats.go
# runs nats-server -js with a monitoring port; Debian installs it in /usr/sbin).
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
# beanstalkd for the beanstalkd scaler's tests (internal/testenv/beanstalkd.go
# runs beanstalkd -l 127.0.0.1 -p PORT on a free port).
command -v beanstalkd >/dev/null 2>&1 || [ -x /usr/bin/beanstalkd ] || need+=(beanstalkd)
# protoc for proto/agent/v1's staleness test (hack/protogen.sh regenerates
# the checked-in code and the test compares it).
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
# The well-known types agent.proto imports (google/protobuf/timestamp.proto,
# duration.proto) are in libprotobuf-dev, only a recommendation of
# protobuf-compiler, which --no-install-recommends leaves out.
[ -f /usr/include/google/protobuf/timestamp.proto ] || need+=(libprotobuf-dev)

if [ "${#need[@]}" -gt 0 ]; then
  echo "test-deps: installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Debian starts packaged services on install; the tests start their own
  # instances on free ports, so a running system copy does no harm.
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

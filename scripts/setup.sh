#!/usr/bin/env bash
# Installs the Debian 12 packages ztrace needs to build, run and test, only
# those that are missing. Used by the README's commands and by .ci/run.
# `setup.sh --bench` also installs what `make bench` drives (bench/README.md).
set -euo pipefail

PKGS=(
	# build
	make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
	libsqlite3-dev libjansson-dev libcmocka-dev libclang-rt-14-dev
	# tests: real servers and clients
	nginx-light wrk curl iproute2 python3 sqlite3 procps python3-flask python3-requests
	# protocol parsers: each protocol's real server and clients (tests/e2e/proto_*)
	mariadb-server mariadb-client python3-pymysql
	postgresql postgresql-client python3-psycopg2
	redis-server redis-tools memcached python3-pymemcache
	mosquitto mosquitto-clients rabbitmq-server python3-pika
	kcat python3-kafka dnsmasq-base bind9-dnsutils python3-pymongo
	# the pcap source (ztrace replay --pcap)
	libpcap-dev tcpdump
	# HTTP/2, gRPC, TLS (tests/e2e/h2_*, tls_*): h2 clients, grpcio, Go for the
	# Go TLS test program, openssl for the test certificates
	nghttp2-client python3-grpcio python3-grpc-tools golang-go openssl libssl-dev
	# Go TLS probes: the return instructions of crypto/tls functions
	libcapstone-dev
	# the server: agent protocol, HTTP API, Prometheus scrape test
	libmicrohttpd-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
	libzstd-dev prometheus
	# the ClickHouse store
	libcurl4-openssl-dev clickhouse-server clickhouse-client
)
if [ "${1:-}" = --bench ]; then
	# load generators, servers and the baseline parser the benches compare with
	PKGS+=(hey postgresql-contrib libhttp-parser-dev linux-perf)
	command -v node >/dev/null && command -v npm >/dev/null || PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages: ${missing[*]}; run as root (sudo $0)" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# policy-rc.d keeps Debian from starting nginx, redis, postgresql,
	# mariadb, rabbitmq... as system services: the tests and benches start
	# their own servers.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Tracepoints are attached through tracefs.
if [ ! -d /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "setup: warning: /sys/kernel/btf/vmlinux is missing: ztrace needs a kernel with BTF (5.8+)" >&2
fi
exit 0

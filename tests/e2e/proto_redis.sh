#!/usr/bin/env bash
# End-to-end Redis tracing: redis-server, redis-cli, redis-benchmark (root).
exec /usr/bin/python3 "$(dirname "$0")/proto_redis.py"

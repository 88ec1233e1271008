#!/usr/bin/env bash
# End-to-end Redis tracing: redis-server, redis-cli, redis-benchmark (root), once per kernel
# capture path; every check name says which path it ran on ("ok [compat] ...").
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/proto_redis.py" || rc=1
done
exit $rc

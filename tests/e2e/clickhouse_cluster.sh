#!/usr/bin/env bash
# Two ClickHouse shards, two writers, the two ends of every exchange on
# different writers: traces still come out whole (clickhouse_cluster.py).
exec /usr/bin/python3 "$(dirname "$0")/clickhouse_cluster.py"

#!/usr/bin/env bash
# Scale-out with real servers (issue 12): two ClickHouse shards, two
# `ztrace server`s (one per shard), two agents in two network namespaces
# whose exchanges cross the servers; then ClickHouse is stopped 10 s under
# load. See servers_ch.py.
exec /usr/bin/python3 "$(dirname "$0")/servers_ch.py"

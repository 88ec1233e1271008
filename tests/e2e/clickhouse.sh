#!/usr/bin/env bash
# The ClickHouse backend end to end (clickhouse_e2e.py): the same traces from
# SQLite and ClickHouse, ClickHouse stopped for 10 s under load, clear errors.
exec /usr/bin/python3 "$(dirname "$0")/clickhouse_e2e.py"

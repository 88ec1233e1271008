#!/usr/bin/env bash
# End-to-end PostgreSQL tracing (root): see proto_postgresql.py.
exec /usr/bin/python3 "$(dirname "$0")/proto_postgresql.py"

#!/usr/bin/env bash
# End-to-end MongoDB tracing: pymongo against a server stub (root).
exec /usr/bin/python3 "$(dirname "$0")/proto_mongodb.py"

#!/usr/bin/env bash
# End-to-end Kafka tracing: kcat against a broker stub (root).
exec /usr/bin/python3 "$(dirname "$0")/proto_kafka.py"

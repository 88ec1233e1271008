#!/usr/bin/env bash
# OTLP interop (root): OpenTelemetry's Node SDK exporting to ztrace's
# /v1/traces joins ztrace's eBPF spans in one trace; ztrace's OTLP export
# read back with Debian's protoc --decode. See otlp_e2e.py.
exec /usr/bin/python3 "$(dirname "$0")/otlp_e2e.py"

#!/usr/bin/env bash
# The kernel programs' records checked field by field against what the test
# process did, on both capture paths (root).
exec /usr/bin/python3 "$(dirname "$0")/bpf_events.py"

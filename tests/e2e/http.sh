#!/usr/bin/env bash
# End-to-end HTTP/1 tracing against nginx and python3 http.server (root).
exec /usr/bin/python3 "$(dirname "$0")/http_e2e.py"

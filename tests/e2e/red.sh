#!/usr/bin/env bash
# RED metrics and the service map end to end (root): driver -> nginx -> Flask
# front -> Flask back with a known number of requests and errors; `ztrace map
# --json`, `ztrace top --once`, /api/v1/map, /api/v1/metrics/red, and Debian's
# prometheus scraping ztrace's /metrics (checked with promtool too).
exec /usr/bin/python3 "$(dirname "$0")/red.py"

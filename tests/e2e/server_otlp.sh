#!/usr/bin/env bash
# OTLP/HTTP ingest on `ztrace server` (root not needed): an OTLP/JSON
# request POSTed to the server's /v1/traces is stored as tap_side app spans
# of one trace, read back from the server's store. See server_otlp.py.
exec /usr/bin/python3 "$(dirname "$0")/server_otlp.py"

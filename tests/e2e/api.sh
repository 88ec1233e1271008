#!/usr/bin/env bash
# The HTTP API of `ztrace up` (root): /api/v1 against the CLI on the same
# store, paging, bad input, the token on a non-loopback (veth) address, the
# CLI's --server, and the Jaeger API's shape. See tests/e2e/api.py.
exec /usr/bin/python3 "$(dirname "$0")/api.py"

#!/usr/bin/env bash
# End-to-end: what ztrace stores is private, recordings never overwrite or
# follow a link, one `ztrace up` per data dir (root).
exec /usr/bin/python3 "$(dirname "$0")/safety_e2e.py"

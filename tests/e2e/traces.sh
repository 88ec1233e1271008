#!/usr/bin/env bash
# Trace assembly correctness (root): precision and recall of the parent links
# ztrace makes, on Flask/nginx/asyncio topologies whose programs log the truth.
exec /usr/bin/python3 "$(dirname "$0")/traces_e2e.py"

#!/usr/bin/env bash
# Three `ztrace agent`s in three network namespaces -> one `ztrace server`;
# the server and then one agent are killed with SIGKILL mid-ingest and
# restarted: the store must hold exactly the spans the agents spooled (root).
exec /usr/bin/python3 "$(dirname "$0")/agents.py"

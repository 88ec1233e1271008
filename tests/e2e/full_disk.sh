#!/usr/bin/env bash
# A full disk under load (issue 13): ztrace up keeps tracing, counts what it
# cannot store, says so once, stores again when there is room, and stops on
# SIGTERM within 2 s (root: mounts a 2 MB tmpfs as the data dir); retention.
exec /usr/bin/python3 "$(dirname "$0")/full_disk_e2e.py"

#!/usr/bin/env bash
# End-to-end HTTP/1 tracing against nginx and python3 http.server (root),
# once per kernel capture path; every check name says which path it ran on
# ("ok [compat] ..."). Both runs always run; any failure fails the script.
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/http_e2e.py" || rc=1
done
exit $rc

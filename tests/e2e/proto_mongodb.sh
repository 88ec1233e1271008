#!/usr/bin/env bash
# End-to-end MongoDB tracing: pymongo against a server stub (root),
# once per kernel capture path; check names say which ("ok [compat] ...").
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/proto_mongodb.py" || rc=1
done
exit $rc

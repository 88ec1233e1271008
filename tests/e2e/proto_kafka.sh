#!/usr/bin/env bash
# End-to-end Kafka tracing: kcat and python3-kafka against a broker stub (root),
# once per kernel capture path; check names say which ("ok [compat] ...").
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/proto_kafka.py" || rc=1
done
exit $rc

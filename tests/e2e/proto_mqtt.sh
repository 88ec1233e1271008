#!/usr/bin/env bash
# End-to-end MQTT tracing: mosquitto + mosquitto_pub/mosquitto_sub (see
# proto_mqtt.py), once per kernel capture path (~7 s each); both always run.
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/proto_mqtt.py" || rc=1
done
exit $rc

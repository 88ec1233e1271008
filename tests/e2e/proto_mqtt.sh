#!/usr/bin/env bash
# End-to-end MQTT tracing: mosquitto + mosquitto_pub/mosquitto_sub (see proto_mqtt.py).
exec /usr/bin/python3 "$(dirname "$0")/proto_mqtt.py"

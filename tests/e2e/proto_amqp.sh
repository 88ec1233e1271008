#!/usr/bin/env bash
# End-to-end AMQP tracing: rabbitmq-server + python3-pika (see proto_amqp.py).
exec /usr/bin/python3 "$(dirname "$0")/proto_amqp.py"

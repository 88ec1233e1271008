#!/usr/bin/env bash
# End-to-end AMQP tracing: rabbitmq-server + python3-pika (see proto_amqp.py).
# One run on the default capture path: the broker alone takes 15-30 s to
# start (ZT_CAPTURE_PATH=compat selects the other path by hand).
exec /usr/bin/python3 "$(dirname "$0")/proto_amqp.py"

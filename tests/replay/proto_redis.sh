#!/usr/bin/env bash
# Golden replays of the Redis fixtures (tests/data/proto/redis).
exec /usr/bin/python3 "$(dirname "$0")/proto_redis.py"

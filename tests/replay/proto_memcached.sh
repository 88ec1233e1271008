#!/usr/bin/env bash
# Golden replays of the Memcached fixtures (tests/data/proto/memcached).
exec /usr/bin/python3 "$(dirname "$0")/proto_memcached.py"

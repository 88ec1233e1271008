#!/usr/bin/env bash
# Golden replays of the HTTP/2 and gRPC fixtures (tests/data/proto/h2).
exec /usr/bin/python3 "$(dirname "$0")/proto_h2.py"

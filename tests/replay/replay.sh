#!/usr/bin/env bash
# Golden replays: recorded kernel event streams through the whole pipeline.
exec /usr/bin/python3 "$(dirname "$0")/replay_test.py"

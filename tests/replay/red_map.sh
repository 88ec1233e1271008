#!/usr/bin/env bash
# RED rollups and the service map from the recorded fixtures (deterministic).
exec /usr/bin/python3 "$(dirname "$0")/red_map.py"

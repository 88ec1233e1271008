#!/usr/bin/env bash
# End to end: a tcpdump capture of curl -> python3 http.server replayed with
# `ztrace replay --pcap` agrees with `ztrace up` on the same traffic (root).
exec /usr/bin/python3 "$(dirname "$0")/pcap_e2e.py"

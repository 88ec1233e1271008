#!/usr/bin/env bash
# Every DeepFlow capture through `ztrace replay --pcap` (ASan+UBSan build): no
# crash, no sanitizer report, spans cross-checked where a parser exists.
exec /usr/bin/python3 "$(dirname "$0")/pcap_captures.py"

#!/usr/bin/env bash
# Runs the benches (all, or those named) one after another, then writes
# bench/RESULTS.md. A bench that fails is reported and the others still run.
# Each bench is bench/NAME.py (Debian's python3, root) writing build/bench/NAME.json.
set -uo pipefail
cd "$(dirname "$0")"
export ZT_BUILD=${ZT_BUILD:-$(cd .. && pwd)/build}
ALL=(syscall nginx redis postgres pipeline parser proto store traces ingest node tls gotls api red otlp)
benches=("$@")
((${#benches[@]})) || benches=("${ALL[@]}")
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the benches load BPF programs)" >&2; exit 1; }
failed=()
for b in "${benches[@]}"; do
	[ -f "$b.py" ] || { echo "bench: no bench named '$b' (have: ${ALL[*]})" >&2; failed+=("$b"); continue; }
	echo "== bench $b"
	t0=$(date +%s)
	if ! /usr/bin/python3 "$b.py"; then failed+=("$b"); fi
	echo "== bench $b: $(($(date +%s) - t0)) s"
done
/usr/bin/python3 report.py
if ((${#failed[@]})); then echo "bench: failed: ${failed[*]}" >&2; exit 1; fi

#!/usr/bin/env bash
# Runs the whole test suite and ends with one summary line CI reads:
#   "N passed, N failed"
# Layers: cmocka unit tests (plain and ASan+UBSan builds), replay golden
# tests, short libFuzzer runs, and end-to-end tests with the real BPF
# programs (need root). FUZZ_SECONDS sets each fuzzer's time (default 12: 26 targets, ~5 min).
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
LOG=build/test-logs
mkdir -p "$LOG"

# Counts a cmocka binary's results from its summary lines.
run_cmocka() {
	local bin=$1 tag=$2 log out p f
	log="$LOG/$(basename "$bin")$tag.log"
	"$bin" >"$log" 2>&1
	local rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi # crashed before its summary
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" != 0 ]; then
		failures+=("$(basename "$bin")$tag")
		cat "$log"
	fi
	echo "unit $(basename "$bin")$tag: $p passed, $f failed"
}

# Counts "ok NAME" / "not ok NAME" lines of a shell test (TAP-like).
run_script() {
	local script=$1 log p f
	log="$LOG/$(basename "$script").log"
	bash "$script" >"$log" 2>&1
	local rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" != 0 ]; then
		failures+=("$(basename "$script")")
		tail -60 "$log"
	fi
	echo "script $(basename "$script"): $p passed, $f failed"
}

echo "== build"
make -s -j2 all unit-tests || { echo "0 passed, 1 failed"; exit 1; }

echo "== unit tests"
for t in build/tests/test_*; do run_cmocka "$t" ""; done

echo "== unit tests under ASan+UBSan"
if make -s -j2 asan >"$LOG/asan-build.log" 2>&1; then
	for t in build-asan/tests/test_*; do
		ASAN_OPTIONS=detect_leaks=1 run_cmocka "$t" " (asan)"
	done
else
	cat "$LOG/asan-build.log"
	failed=$((failed + 1))
	failures+=("asan build")
fi

echo "== replay tests"
for t in tests/replay/*.sh; do run_script "$t"; done

echo "== fuzz (short runs)"
if make -s -j2 fuzz >"$LOG/fuzz-build.log" 2>&1; then
	for fz in build/fuzz/fuzz_*; do
		name=$(basename "$fz")
		corpus="tests/data/fuzz/${name#fuzz_}"
		work=$(mktemp -d)
		[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
		if "$fz" -max_total_time="${FUZZ_SECONDS:-12}" -print_final_stats=0 "$work" >"$LOG/$name.log" 2>&1; then
			passed=$((passed + 1))
			echo "fuzz $name: ok"
		else
			failed=$((failed + 1))
			failures+=("$name")
			tail -40 "$LOG/$name.log"
		fi
		rm -rf "$work"
	done
else
	cat "$LOG/fuzz-build.log"
	failed=$((failed + 1))
	failures+=("fuzz build")
fi

echo "== end-to-end tests (real BPF, real servers)"
if [ "$(id -u)" = 0 ]; then
	for t in tests/e2e/*.sh; do run_script "$t"; done
else
	echo "end-to-end tests need root: skipped" >&2
	failed=$((failed + 1))
	failures+=("e2e (not root)")
fi

if ((${#failures[@]})); then echo "failed: ${failures[*]}"; fi
echo "${passed} passed, ${failed} failed"
[ "$failed" = 0 ]

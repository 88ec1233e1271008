#!/usr/bin/env bash
# `ztrace trace` and `ztrace traces` end to end: a store made by `ztrace
# replay` of a recording, its spans copied into a file of the row layout
# (schema 4, which readers take as it is) where the trace facts are set by
# hand with sqlite3 (so the test does not depend on what the trace joiner
# assigns), read back through the CLI: the waterfall, JSON, every filter,
# and the errors. Then the file is converted to span blocks (schema 5: a
# writer's open) and the same checks run again.
# Prints "ok NAME" / "not ok NAME: why" lines (scripts/run-tests.sh counts them).
set -uo pipefail
cd "$(dirname "$0")/../.."
ZT=${ZTRACE:-$PWD/build/ztrace} # ZTRACE: another build (e.g. build-asan/ztrace)
REC=tests/data/replay/python_http_server.zrec
fails=0

ok() { echo "ok $1"; }
nok() {
	echo "not ok $1: $2"
	fails=$((fails + 1))
}
# check NAME WHY COMMAND...: ok when the command succeeds
check() {
	local name=$1 why=$2
	shift 2
	if "$@"; then ok "$name"; else nok "$name" "$why"; fi
}

if ! command -v sqlite3 >/dev/null; then
	nok "sqlite3 installed" "the sqlite3 CLI is missing (scripts/setup.sh installs it)"
	exit 1
fi
TMP=$(mktemp -d /tmp/zt-trace-cli-XXXXXX)
trap "${KEEP:+:} rm -rf $TMP" EXIT
D=$TMP/data

# The recording: curl -> python3 http.server, three exchanges, each seen on
# both sides (a client and a server span): GET /index.html (200), GET /nope
# (404), GET / (200). Trace facts:
#   aaaa..: /index.html, the server span a child of the client span (tcp_seq)
#   bbbb..: /nope, no parent stored: a late link (span_links) makes the server
#           span the client's child
#   cccc.. and dddd..: GET /, the server span in cccc, the client span in dddd;
#           an alias merges cccc into dddd, a late link joins the two spans; the
#           client's own parent was never captured (an absent uid): a root anyway
A=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
B=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
C=cccccccccccccccccccccccccccccccc
DD=dddddddddddddddddddddddddddddddd
if ! "$ZT" replay "$REC" --data "$TMP/blocks" --quiet >"$TMP/replay.log" 2>&1; then
	nok "replay builds a store" "$(cat "$TMP/replay.log")"
	exit 1
fi
# the spans as rows of a schema 4 file (a column per field, typed as SQLite
# stored them: enums as names, flags and booleans as integers)
mkdir -p "$D"
if ! "$ZT" spans --data "$TMP/blocks" --json --limit 0 >"$TMP/spans.json" 2>"$TMP/spans.err" ||
	! /usr/bin/python3 - "$TMP/spans.json" "$D/ztrace.db" <<'PY' 2>"$TMP/rows.err"; then
import json, sqlite3, sys
FLAGS = {"truncated": 2, "lost_sync": 4, "no_response": 8, "one_way": 32, "ambiguous_thread": 64,
         "early_response": 128}
spans = [json.loads(l) for l in open(sys.argv[1])]
cols = list(spans[0])
def typ(c):
    return "TEXT" if isinstance(spans[0][c], str) and c not in ("syscall_trace_id_req", "syscall_trace_id_resp") \
        or c in ("attributes", "response_exception", "x_request_id", "x_request_id_resp", "span_id",
                 "parent_span_id", "parent_uid", "link_kind", "trace_id", "version") else "INTEGER"
def val(c, v):
    if v is None:
        return None
    if c == "flags":
        return sum(FLAGS[f] for f in v)
    if isinstance(v, bool):
        return int(v)
    if c == "attributes":
        return json.dumps(v, separators=(",", ":"))
    if c in ("syscall_trace_id_req", "syscall_trace_id_resp"):
        v = int(v)
        return v - (1 << 64) if v >= 1 << 63 else v
    return v
db = sqlite3.connect(sys.argv[2])
db.executescript("CREATE TABLE spans (%s);" % ", ".join("%s %s" % (c, typ(c)) for c in cols) +
                 "CREATE UNIQUE INDEX spans_start_uid ON spans(start_ns, span_uid);"
                 "CREATE INDEX spans_trace ON spans(trace_id, start_ns);"
                 "CREATE TABLE span_links (child_uid TEXT NOT NULL PRIMARY KEY, parent_uid TEXT NOT NULL,"
                 " link_kind TEXT) WITHOUT ROWID;"
                 "CREATE TABLE trace_alias (alias TEXT NOT NULL PRIMARY KEY, trace_id TEXT NOT NULL) WITHOUT ROWID;"
                 "CREATE INDEX trace_alias_target ON trace_alias(trace_id);"
                 "PRAGMA user_version = 4;")
db.executemany("INSERT INTO spans VALUES (%s)" % ",".join("?" * len(cols)),
               [[val(c, s[c]) for c in cols] for s in spans])
db.commit()
assert len(spans) == 6, len(spans)
PY
	nok "the spans copied into a schema 4 file" "$(cat "$TMP/spans.err" "$TMP/rows.err")"
	exit 1
fi
cp "$D/ztrace.db" "$TMP/rows.db" # the rows before any fact was set
uid_of() { # ENDPOINT SIDE
	sqlite3 "$D/ztrace.db" "SELECT span_uid FROM spans WHERE endpoint = '$1' AND tap_side = '$2'"
}
A_CLI=$(uid_of "GET /index.html" client-process)
A_SRV=$(uid_of "GET /index.html" server-process)
B_CLI=$(uid_of "GET /nope" client-process)
B_SRV=$(uid_of "GET /nope" server-process)
C_CLI=$(uid_of "GET /" client-process)
C_SRV=$(uid_of "GET /" server-process)
if ! sqlite3 "$D/ztrace.db" >"$TMP/sql.log" 2>&1 <<SQL; then
UPDATE spans SET trace_id = NULL, parent_uid = NULL, link_kind = NULL;
UPDATE spans SET trace_id = '$A' WHERE endpoint = 'GET /index.html';
UPDATE spans SET parent_uid = '$A_CLI', link_kind = 'tcp_seq' WHERE span_uid = '$A_SRV';
UPDATE spans SET trace_id = '$B' WHERE endpoint = 'GET /nope';
UPDATE spans SET trace_id = '$C' WHERE span_uid = '$C_SRV';
UPDATE spans SET trace_id = '$DD', parent_uid = '0123456789abcdef', link_kind = 'thread' WHERE span_uid = '$C_CLI';
DELETE FROM span_links; DELETE FROM trace_alias;
INSERT INTO span_links VALUES ('$B_SRV', '$B_CLI', 'tcp_seq'), ('$C_SRV', '$C_CLI', 'tcp_seq');
INSERT INTO trace_alias VALUES ('$C', '$DD');
SQL
	nok "trace facts set with sqlite3" "$(cat "$TMP/sql.log")"
	exit 1
fi
check "six spans with uids" "uids: $A_CLI $A_SRV $B_CLI $B_SRV $C_CLI $C_SRV" \
	test "$(printf '%s\n' "$A_CLI" "$A_SRV" "$B_CLI" "$B_SRV" "$C_CLI" "$C_SRV" | grep -c '^[0-9a-f]\{16\}$')" = 6

# run NAME ARGS...: runs ztrace, keeps stdout/stderr/exit code in $OUT $ERR $RC
run() {
	"$ZT" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# ---- ztrace traces ----------------------------------------------------------
run traces --data "$D" --json
check "traces --json: exit 0, three traces (the alias merged)" "rc $RC, $OUT $ERR" \
	test "$RC" = 0 -a "$(echo "$OUT" | wc -l)" = 3
check "traces --json: exact keys and values" "$OUT" python3 - "$OUT" "$A" "$B" "$DD" "$A_CLI" "$B_CLI" "$C_CLI" <<'PY'
import json, sys
out, a, b, d, a_cli, b_cli, c_cli = sys.argv[1:]
rows = [json.loads(l) for l in out.splitlines()]
keys = ["trace_id", "root_uid", "root_process", "root_endpoint", "start_ns", "duration_ns", "spans", "errors"]
assert all(list(r) == keys for r in rows), rows
by = {r["trace_id"]: r for r in rows}
assert sorted(by) == sorted([a, b, d]), by.keys()
assert [r["trace_id"] for r in rows] == [d, b, a], "most recent first"
assert by[a]["spans"] == 2 and by[a]["errors"] == 0 and by[a]["root_uid"] == a_cli
assert by[b]["spans"] == 2 and by[b]["errors"] == 2 and by[b]["root_uid"] == b_cli
assert by[d]["spans"] == 2 and by[d]["root_uid"] == c_cli, by[d]
assert all(r["root_process"] == "curl" for r in rows)
assert by[b]["root_endpoint"] == "GET /nope"
assert all(r["duration_ns"] > 0 and r["start_ns"] > 1700000000 * 10**9 for r in rows)
PY
run traces --data "$D"
check "traces: a table, header and three rows" "$OUT" \
	test "$RC" = 0 -a "$(echo "$OUT" | head -1 | awk '{print $1}')" = TRACE_ID -a "$(echo "$OUT" | wc -l)" = 4
check "traces: row of the error trace" "$OUT" grep -qE "^$B .* 2 +2 +curl +GET /nope$" <<<"$OUT"
n_of() { # ARGS...: how many JSON lines traces prints
	"$ZT" traces --data "$D" --json "$@" 2>/dev/null | wc -l
}
check "traces --errors" "$(n_of --errors)" test "$(n_of --errors)" = 1
check "traces --service: case-insensitive prefix of the root process" "$(n_of --service CU)" test "$(n_of --service CU)" = 3
check "traces --service: no match" "$(n_of --service python)" test "$(n_of --service python)" = 0
check "traces --endpoint: substring of the root endpoint" "$(n_of --endpoint /no)" test "$(n_of --endpoint /no)" = 1
check "traces --min-duration" "$(n_of --min-duration 1h)" test "$(n_of --min-duration 1h)" = 0
check "traces --since: the recording is older than an hour" "$(n_of --since 1h)" test "$(n_of --since 1h)" = 0
check "traces --since: long enough for all" "$(n_of --since 100000d)" test "$(n_of --since 100000d)" = 3
check "traces --limit" "$(n_of --limit 2)" test "$(n_of --limit 2)" = 2
LONGEST=$("$ZT" traces --data "$D" --json | python3 -c '
import json, sys
print(max((json.loads(l) for l in sys.stdin), key=lambda r: r["duration_ns"])["trace_id"])')
check "traces --sort duration: longest first" "$LONGEST" \
	test "$("$ZT" traces --data "$D" --json --sort duration --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["trace_id"])')" = "$LONGEST"
run traces --data "$D" --service nobody
check "traces: nothing found says so, exit 0" "rc $RC: $ERR" test "$RC" = 0 -a "$ERR" = "no traces found" -a -z "$OUT"

# ---- ztrace trace -----------------------------------------------------------
run trace "$A" --data "$D"
check "trace: exit 0 with a summary line" "rc $RC: $OUT $ERR" grep -q "^trace $A: 2 spans, .*, 0 errors, started " <<<"$OUT"
check "trace: header" "$OUT" grep -qE "^OFFSET +DURATION +WATERFALL +SIDE +PROCESS\(PID\) +PROTO +ENDPOINT +CODE$" <<<"$OUT"
# rows: the client span at offset 0 (root, not indented), the server indented under it
ROW1=$(echo "$OUT" | sed -n 3p)
ROW2=$(echo "$OUT" | sed -n 4p)
check "trace: root row" "$ROW1" grep -qE '^\+0ns +[0-9.]+(us|ms) +\|=+ *\| client curl\([0-9]+\) +HTTP +GET /index.html +200$' <<<"$ROW1"
check "trace: child row indented under its parent" "$ROW2" \
	grep -qE '^\+[0-9.]+(ns|us|ms) +[0-9.]+(us|ms) +\| *=+ *\| server   python3\([0-9]+\) +HTTP +GET /index.html +200$' <<<"$ROW2"
check "trace: the full bar is the root's" "$ROW1" grep -q "|==============================|" <<<"$ROW1"

run trace "$B_SRV" --data "$D"
check "trace by span_uid: the span's trace, the late link applied" "$OUT $ERR" \
	grep -q "^trace $B: 2 spans, .*, 2 errors" <<<"$OUT"
check "trace: error status shown" "$OUT" grep -qE 'server   python3\([0-9]+\) +HTTP +GET /nope +404 client_error$' <<<"$OUT"

run trace "$C" --data "$D" --json
check "trace --json by alias: one object under the final id" "rc $RC: $OUT $ERR" python3 - "$OUT" "$DD" "$C_CLI" "$C_SRV" <<'PY'
import json, sys
out, d, cli, srv = sys.argv[1:]
assert len(out.splitlines()) == 1
o = json.loads(out)
assert list(o) == ["trace_id", "spans"], list(o)
assert o["trace_id"] == d
s = o["spans"]
assert [x["span_uid"] for x in s] == [cli, srv], s
assert all(x["trace_id"] == d for x in s)
assert s[1]["parent_uid"] == cli and s[1]["link_kind"] == "tcp_seq"
assert s[0]["parent_uid"] == "0123456789abcdef"
assert "request_resource" in s[0] and s[0]["process"] == "curl"
PY
run trace "$DD" --data "$D"
check "trace: a span whose parent is absent is a root, its child under it" "$OUT" \
	test "$(echo "$OUT" | sed -n 3p | grep -c '| client curl(')" = 1 -a "$(echo "$OUT" | sed -n 4p | grep -c '| server   python3(')" = 1

# ---- one trace of all six spans: sibling order, depth, bars ------------------
#   A_CLI (root) -> A_SRV, B_CLI, C_CLI (children, in start order); B_CLI -> B_SRV;
#   C_CLI -> C_SRV. Drawn depth first, children in start order.
D3=$TMP/one
E=eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
if mkdir -p "$D3" && cp "$TMP/rows.db" "$D3/ztrace.db" && sqlite3 "$D3/ztrace.db" "
UPDATE spans SET trace_id = '$E', parent_uid = NULL, link_kind = NULL;
UPDATE spans SET parent_uid = '$A_CLI', link_kind = 'thread' WHERE span_uid IN ('$A_SRV', '$B_CLI', '$C_CLI');
UPDATE spans SET parent_uid = '$B_CLI', link_kind = 'tcp_seq' WHERE span_uid = '$B_SRV';
UPDATE spans SET parent_uid = '$C_CLI', link_kind = 'tcp_seq' WHERE span_uid = '$C_SRV';
DELETE FROM span_links; DELETE FROM trace_alias;"; then
	run trace "$E" --data "$D3"
	ROWS=$(echo "$OUT" | sed -n '3,$p' | sed -E 's/^[^|]*\|[^|]*\| //; s/\([0-9]+\)//; s/ +HTTP +/ /; s/ +[0-9]{3}( client_error)?$//')
	WANT=$(printf '%s\n' "client curl GET /index.html" "server   python3 GET /index.html" "client   curl GET /nope" \
		"server     python3 GET /nope" "client   curl GET /" "server     python3 GET /")
	check "trace: depth first, children in start order, indented by depth" "$(printf 'got:\n%s\nwant:\n%s' "$ROWS" "$WANT")" \
		test "$ROWS" = "$WANT"
	BARS=$(echo "$OUT" | sed -n '3,$p' | cut -d'|' -f2)
	check "trace: the root's bar starts at the left and is short" "$BARS" grep -qE '^={1,10} +$' <<<"$(echo "$BARS" | head -1)"
	check "trace: the last span's bar ends at the right" "$BARS" grep -qE '^ +=+$' <<<"$(echo "$BARS" | tail -1)"
	check "trace: every bar has 30 columns" "$BARS" test "$(echo "$BARS" | awk '{ if (length($0) != 30) bad++ } END { print bad + 0 }')" = 0
else
	nok "one trace: store" "copy or sqlite3 failed"
fi

# ---- spans stored without trace ids (files before trace assembly) ------------
D2=$TMP/old
if mkdir -p "$D2" && cp "$TMP/rows.db" "$D2/ztrace.db" &&
	sqlite3 "$D2/ztrace.db" "UPDATE spans SET trace_id = NULL, parent_uid = NULL, link_kind = NULL; DELETE FROM span_links; DELETE FROM trace_alias;"; then
	check "no trace ids: each span its own trace" "" test "$("$ZT" traces --data "$D2" --json --limit 0 | wc -l)" = 6
	run trace "$A_SRV" --data "$D2" --json
	check "no trace ids: trace by span_uid is that span" "rc $RC: $OUT $ERR" python3 -c '
import json, sys
o = json.loads(sys.argv[1]); assert o["trace_id"] == sys.argv[2] and len(o["spans"]) == 1, o' "$OUT" "$A_SRV"
else
	nok "no trace ids: store" "copy or sqlite3 failed"
fi

# ---- the same facts after conversion to span blocks ---------------------------
# A writer's open converts the file (schema 4 -> 5); replaying the recording
# again adds nothing (every span is already stored).
"$ZT" traces --data "$D" --json >"$TMP/v4.traces" 2>&1
"$ZT" trace "$C" --data "$D" --json >"$TMP/v4.trace" 2>&1
if "$ZT" replay "$REC" --data "$D" --quiet >"$TMP/conv.log" 2>&1; then
	check "converted: schema 5" "$(sqlite3 "$D/ztrace.db" 'PRAGMA user_version')" \
		test "$(sqlite3 "$D/ztrace.db" 'PRAGMA user_version')" = 5
	check "converted: still six spans" "" test "$("$ZT" spans --data "$D" --json --limit 0 | wc -l)" = 6
	run traces --data "$D" --json
	check "converted: traces --json as before" "$(diff <(echo "$OUT") "$TMP/v4.traces")" test "$OUT" = "$(cat "$TMP/v4.traces")"
	run trace "$C" --data "$D" --json
	check "converted: trace (alias, late link) as before" "$(diff <(echo "$OUT") "$TMP/v4.trace")" \
		test "$OUT" = "$(cat "$TMP/v4.trace")"
else
	nok "converted" "$(cat "$TMP/conv.log")"
fi

# ---- errors -------------------------------------------------------------------
run trace ffffffffffffffffffffffffffffffff --data "$D"
check "trace: unknown id: message and exit 1" "rc $RC: $ERR" test "$RC" = 1 -a "$ERR" = "no trace ffffffffffffffffffffffffffffffff in $D"
run trace 0123456789abcdef --data "$D"
check "trace: unknown span_uid: exit 1" "rc $RC: $ERR" test "$RC" = 1 -a "$ERR" = "no trace 0123456789abcdef in $D"
run trace --data "$D"
check "trace: no id: exit 2" "rc $RC: $ERR" test "$RC" = 2 -a -n "$ERR"
run trace "$A" "$B" --data "$D"
check "trace: two ids: exit 2" "rc $RC: $ERR" grep -q "unexpected argument" <<<"$ERR"
run trace "$A" --bogus --data "$D"
check "trace: unknown option: exit 2" "rc $RC: $ERR" test "$RC" = 2 -a "$ERR" = "ztrace trace: unknown option '--bogus' (see ztrace trace --help)"
run trace 0123456789012345678901234567890123 --data "$D"
check "trace: id too long: exit 2" "rc $RC: $ERR" test "$RC" = 2
run trace "$A" --data "$TMP/none"
check "trace: no store: exit 1 with the store's message" "rc $RC: $ERR" grep -q "^ztrace trace: no ztrace data in $TMP/none" <<<"$ERR"
run trace --help
check "trace --help" "rc $RC" grep -q "^usage: ztrace trace ID" <<<"$OUT"
for bad in "--sort size" "--limit x" "--since 5parsecs" "--min-duration -1s" "--service=" "--frobnicate" "extra"; do
	# shellcheck disable=SC2086
	run traces --data "$D" $bad
	check "traces $bad: exit 2 with a message" "rc $RC: $ERR" test "$RC" = 2 -a -n "$ERR" -a -z "$OUT"
done
run traces --data "$D" --limit
check "traces: option without value: exit 2" "rc $RC: $ERR" grep -q "option '--limit' needs a value" <<<"$ERR"
run traces --data "$TMP/none"
check "traces: no store: exit 1" "rc $RC: $ERR" test "$RC" = 1
run traces --help
check "traces --help" "rc $RC" grep -q "^usage: ztrace traces" <<<"$OUT"
run --help
check "ztrace --help lists both commands" "$OUT" test "$(grep -cE '^  (trace|traces) ' <<<"$OUT")" = 2

[ "$fails" = 0 ]

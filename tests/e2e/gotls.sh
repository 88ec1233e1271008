#!/usr/bin/env bash
# End-to-end Go crypto/tls plaintext (root): a Go HTTPS server and client the
# test builds (once, for both runs), once per kernel capture path
# ("ok [compat] ...").
GOTLS_BUILD_DIR=$(mktemp -d /tmp/zt-gotls-build-XXXXXX)
export GOTLS_BUILD_DIR
trap 'rm -rf "$GOTLS_BUILD_DIR"' EXIT
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/gotls.py" || rc=1
done
exit $rc

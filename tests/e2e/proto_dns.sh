#!/usr/bin/env bash
# End-to-end DNS tracing (root): dnsmasq, dig, glibc getent in a network
# namespace, python and a C sendmmsg/recvmmsg peer; see proto_dns.py. Once
# per kernel capture path; both always run, any failure fails the script.
rc=0
for path in fast compat; do
	ZT_CAPTURE_PATH=$path /usr/bin/python3 "$(dirname "$0")/proto_dns.py" || rc=1
done
exit $rc

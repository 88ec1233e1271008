#!/usr/bin/env bash
# End-to-end TLS plaintext (OpenSSL and Node uprobes): nginx https (h1 and
# h2), curl, python, Node server and client, a process started after ztrace
# with its own libssl file, and --no-tls. See tls.py.
exec /usr/bin/python3 "$(dirname "$0")/tls.py"

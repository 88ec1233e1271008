#!/usr/bin/env bash
# End-to-end Memcached tracing: memcached, pymemcache, a binary client (root).
exec /usr/bin/python3 "$(dirname "$0")/proto_memcached.py"

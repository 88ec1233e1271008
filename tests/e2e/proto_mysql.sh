#!/usr/bin/env bash
# End-to-end MySQL tracing against Debian's MariaDB (root): see proto_mysql.py.
exec /usr/bin/python3 "$(dirname "$0")/proto_mysql.py"

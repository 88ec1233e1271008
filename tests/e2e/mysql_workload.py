"""What the MySQL tests make real clients do (e2e and fixture recording),
written down so the tests can assert it independently of ztrace.

pymysql has no server-side prepared statements, so binary_protocol() speaks
COM_STMT_PREPARE / EXECUTE / CLOSE through pymysql's own packet layer: the
command bytes are built here, every response byte comes from the server."""
import struct
import subprocess

import pymysql

from mariadb_lib import DB, USER

PREP_SQL = "SELECT name, price FROM items WHERE id = ?"
BIG_ROWS = 60  # rows of ~40 bytes each: a result set well past the 1 KiB capture


def connect(port, password, db=DB, client_flag=0):
    return pymysql.connect(host="127.0.0.1", port=port, user=USER, password=password, database=db,
                           autocommit=True, client_flag=client_flag)


def pymysql_session(port, password):
    """One connection: 6 COM_QUERY (1 error), 1 COM_PING, 1 COM_INIT_DB."""
    c = connect(port, password)
    cur = c.cursor()
    cur.execute("DELETE FROM items")
    cur.execute("INSERT INTO items VALUES (1, 'apple', 1.50), (2, 'pear', 2.25), (3, 'plum', 9.99)")
    cur.execute("SELECT id, name FROM items WHERE price > %s AND name <> %s", (2, "kiwi"))
    assert len(cur.fetchall()) == 2
    try:
        cur.execute("SELECT * FROM no_such_table")
        raise AssertionError("no error")
    except pymysql.err.ProgrammingError as e:
        assert e.args[0] == 1146, e
    c.ping(reconnect=False)
    c.select_db(DB)
    cur.execute("UPDATE items SET price = 3.5 WHERE id = 2")
    cur.execute("SELECT COUNT(*) FROM items")
    c.close()


def big_results(port, password):
    """One connection: a 60-row result and a ~3 KiB statement (both past
    the capture), then a small query that must still pair correctly."""
    c = connect(port, password)
    cur = c.cursor()
    cur.execute("SELECT seq, REPEAT('x', 40) FROM seq_1_to_%d" % BIG_ROWS)
    assert len(cur.fetchall()) == BIG_ROWS
    long_in = ", ".join(str(i) for i in range(1000, 1700))
    cur.execute("SELECT id FROM items WHERE id IN (" + long_in + ")")
    cur.execute("SELECT 42")
    c.close()


def _read_until_eof(c):
    while True:
        p = c._read_packet()
        if p.is_eof_packet():
            return


def binary_protocol(port, password):
    """One connection: COM_STMT_PREPARE, 2 COM_STMT_EXECUTE (2 and 1 rows...),
    1 COM_STMT_EXECUTE of an unknown statement id (ERR 1243), COM_STMT_CLOSE,
    then SQL-level PREPARE/EXECUTE/DEALLOCATE (3 COM_QUERY)."""
    c = connect(port, password)
    c._execute_command(0x16, PREP_SQL)  # COM_STMT_PREPARE
    ok = c._read_packet().get_all_data()
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
    assert (ncols, nparams) == (2, 1), (ncols, nparams)
    for _ in range(nparams):
        c._read_packet()
    _read_until_eof(c)
    for _ in range(ncols):
        c._read_packet()
    _read_until_eof(c)
    rows = []
    for key in (1, 3):
        # stmt id, flags, iteration count, NULL bitmap, new-params-bound,
        # type LONGLONG, value
        c._execute_command(0x17, struct.pack("<IBIBBHq", stmt_id, 0, 1, 0, 1, 8, key))
        n = c._read_packet().get_all_data()[0]
        for _ in range(n):
            c._read_packet()
        _read_until_eof(c)  # no DEPRECATE_EOF in pymysql: EOF after the definitions
        got = 0
        while not c._read_packet().is_eof_packet():
            got += 1
        rows.append(got)
    assert rows == [1, 1], rows
    try:
        c._execute_command(0x17, struct.pack("<IBI", stmt_id + 1000, 0, 1))
        c._read_packet()
        raise AssertionError("no error")
    except pymysql.err.MySQLError as e:
        assert e.args[0] == 1243, e
    c._execute_command(0x19, struct.pack("<I", stmt_id))  # COM_STMT_CLOSE: no answer
    cur = c.cursor()
    cur.execute("PREPARE s1 FROM 'SELECT name FROM items WHERE id = ?'")
    cur.execute("EXECUTE s1 USING 2")
    cur.execute("DEALLOCATE PREPARE s1")
    c.close()
    return stmt_id


def _raw_rows(c, deprecate_eof):
    """Reads a result set after a raw command: count, definitions, (EOF),
    rows until EOF / OK. Returns the row count."""
    n = c._read_packet().get_all_data()[0]
    for _ in range(n):
        c._read_packet()
    if not deprecate_eof:
        _read_until_eof(c)
    got = 0
    while not c._read_packet().is_eof_packet():  # OK with 0xfe is "eof" to pymysql too
        got += 1
    return got


def deprecate_eof(port, password):
    """One connection with CLIENT_DEPRECATE_EOF (MariaDB supports it, pymysql
    does not ask for it by itself): COM_QUERY of 3 rows, COM_STMT_PREPARE
    (no EOF after the definitions), COM_STMT_EXECUTE (1 row, OK-terminated),
    COM_STMT_CLOSE; every result is read by hand."""
    from pymysql.constants import CLIENT
    c = connect(port, password, client_flag=CLIENT.DEPRECATE_EOF)
    c._execute_command(0x03, "SELECT id, name FROM items ORDER BY id")
    assert _raw_rows(c, True) == 3
    c._execute_command(0x16, PREP_SQL)
    ok = c._read_packet().get_all_data()
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
    for _ in range(ncols + nparams):
        c._read_packet()
    c._execute_command(0x17, struct.pack("<IBIBBHq", stmt_id, 0, 1, 0, 1, 8, 2))
    assert _raw_rows(c, True) == 1
    c._execute_command(0x19, struct.pack("<I", stmt_id))
    c.close()


def cursor_fetch(port, password):
    """One connection: COM_STMT_PREPARE of a 3-row SELECT, COM_STMT_EXECUTE
    with a read-only cursor (the answer: definitions and an EOF flagged
    SERVER_STATUS_CURSOR_EXISTS, no rows), then two COM_STMT_FETCH of 2
    rows each (2 rows + EOF, then 1 row + EOF flagged LAST_ROW_SENT)."""
    c = connect(port, password)
    c._execute_command(0x16, "SELECT id, name FROM items ORDER BY id")
    ok = c._read_packet().get_all_data()
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
    for _ in range(ncols):
        c._read_packet()
    _read_until_eof(c)
    c._execute_command(0x17, struct.pack("<IBI", stmt_id, 1, 1))  # CURSOR_TYPE_READ_ONLY
    n = c._read_packet().get_all_data()[0]
    for _ in range(n):
        c._read_packet()
    eof = c._read_packet().get_all_data()
    assert eof[0] == 0xfe and struct.unpack_from("<H", eof, 3)[0] & 0x40, eof
    got = []
    for _ in range(2):
        c._execute_command(0x1c, struct.pack("<II", stmt_id, 2))  # COM_STMT_FETCH 2 rows
        k = 0
        while not c._read_packet().is_eof_packet():
            k += 1
        got.append(k)
    assert got == [2, 1], got
    c.close()


def local_infile(port, password):
    """One connection: LOAD DATA LOCAL INFILE of a 2-line file (the server
    asks for the file with 0xfb, the client sends it and an empty packet,
    the server answers OK with 2 affected rows), then DELETE of those rows."""
    import os
    import tempfile
    fd, path = tempfile.mkstemp(prefix="zt-infile-", suffix=".csv")
    try:
        os.write(fd, b"101,fig,4.00\n102,lime,0.50\n")
        os.close(fd)
        c = pymysql.connect(host="127.0.0.1", port=port, user=USER, password=password, database=DB,
                            autocommit=True, local_infile=True)
        cur = c.cursor()
        cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE items FIELDS TERMINATED BY ','")
        assert cur.rowcount == 2, cur.rowcount
        cur.execute("DELETE FROM items WHERE id > 100")
        c.close()
    finally:
        os.unlink(path)


def bad_login(port):
    """A wrong password: ERR 1045 during the handshake."""
    try:
        connect(port, "wrong-password")
        raise AssertionError("no error")
    except pymysql.err.OperationalError as e:
        assert e.args[0] == 1045, e


def cli_clear_password(srv):
    """The mariadb CLI sending the password in clear (mysql_clear_password
    in the HandshakeResponse); the server switches it to
    mysql_native_password (AuthSwitchRequest, a scramble back), then OK."""
    r = srv.cli("SELECT 1", extra=["--default-auth=mysql_clear_password"])
    assert r.returncode == 0, r.stderr


def cli_session(srv):
    """The mariadb CLI: three statements, one of them an error (1146)."""
    r = srv.cli("SELECT name FROM items WHERE id = 1; SELECT 'it''s', 7; SELECT * FROM nope_cli")
    assert "1146" in r.stderr, r.stderr

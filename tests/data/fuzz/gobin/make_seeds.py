#!/usr/bin/env python3
"""Writes small synthetic Go-like ELF files (x86-64) next to this script:
the seeds of tests/fuzz/fuzz_gobin.c, and fixtures of tests/unit/test_gobin.c
for formats the installed Go (1.19) does not produce.

  go119.elf           .go.buildinfo 1.18+ (inline strings), .gopclntab
                      magic 0xfffffff0, .symtab with the three functions
  go119-stripped.elf  the same without .symtab/.strtab (pclntab only)
  go119-pie-stripped.elf  as go119-stripped.elf, ET_DYN with the table named
                      .data.rel.ro.gopclntab (what -buildmode=pie writes)
  go117.elf           .go.buildinfo before 1.18 (pointers to string
                      headers), .gopclntab magic 0xfffffffa (1.16/1.17
                      layout: absolute entries), no .symtab
  go116.elf           as go117.elf, version go1.16.15 (register ABI absent)

Functions (.text at file offset 0x1000, 0x401000): crypto/tls.(*Conn).Write
(returns at +6 and +10), crypto/tls.(*Conn).Read at +0x20 (returns at +2,
+6, +10), crypto/tls.(*halfConn).decrypt at +0x40, each 32 bytes with INT3
padding.
Run: python3 make_seeds.py (deterministic output)."""
import os
import struct

BASE = 0x400000
TEXT_OFF = 0x1000
FUNCS = [
    ("crypto/tls.(*Conn).Write", b"\x49\x3b\x66\x10\x31\xc0\xc3\x48\x89\xc3\xc3"),
    ("crypto/tls.(*Conn).Read", b"\x31\xc0\xc3\x48\x89\xc3\xc3\x48\x89\xd8\xc3"),
    ("crypto/tls.(*halfConn).decrypt", b"\x48\x89\xc3\xc3"),
]
FSIZE = 32


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def build(version, new_buildinfo, new_pcln, symtab, pie=False):
    text = b"".join(code.ljust(FSIZE, b"\xcc") for _, code in FUNCS)
    text_va = BASE + TEXT_OFF
    blobs = []  # (name, bytes) placed after .text, 16-aligned
    # .go.buildinfo (its address is needed for old-style pointers: placed first)
    bi_off = TEXT_OFF + len(text)
    bi_off = (bi_off + 15) & ~15
    if new_buildinfo:
        bi = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16 + uvarint(len(version)) + version.encode() + uvarint(0)
    else:
        hdr_va = BASE + bi_off + 32
        str_va = hdr_va + 32
        bi = (b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", hdr_va, hdr_va + 16) +
              struct.pack("<QQQQ", str_va, len(version), str_va, 0) + version.encode())
    # .gopclntab
    names = b""
    nameoffs = []
    for n, _ in FUNCS:
        nameoffs.append(len(names))
        names += n.encode() + b"\0"
    nf = len(FUNCS)
    if new_pcln:
        hdr_len = 8 + 8 * 8
        fname_off = hdr_len
        pcln_off = (fname_off + len(names) + 7) & ~7
        functab = b""
        funcs = b""
        fbase = (nf + 1) * 8
        for i in range(nf):
            functab += struct.pack("<II", i * FSIZE, fbase + len(funcs))
            funcs += struct.pack("<Ii", i * FSIZE, nameoffs[i]).ljust(16, b"\0")
        functab += struct.pack("<II", nf * FSIZE, 0)
        hdr = struct.pack("<IBBBBQQQQQQQQ", 0xFFFFFFF0, 0, 0, 1, 8, nf, 0, text_va, fname_off, 0, 0, 0, pcln_off)
    else:
        hdr_len = 8 + 7 * 8
        fname_off = hdr_len
        pcln_off = (fname_off + len(names) + 7) & ~7
        functab = b""
        funcs = b""
        fbase = (nf + 1) * 16
        for i in range(nf):
            functab += struct.pack("<QQ", text_va + i * FSIZE, fbase + len(funcs))
            funcs += struct.pack("<Qi", text_va + i * FSIZE, nameoffs[i]).ljust(16, b"\0")
        functab += struct.pack("<QQ", text_va + nf * FSIZE, 0)
        hdr = struct.pack("<IBBBBQQQQQQQ", 0xFFFFFFFA, 0, 0, 1, 8, nf, 0, fname_off, 0, 0, 0, pcln_off)
    pcln = (hdr + names).ljust(pcln_off, b"\0") + functab + funcs
    blobs.append((".go.buildinfo", bi))
    blobs.append((".data.rel.ro.gopclntab" if pie else ".gopclntab", pcln))
    strtab = b"\0"
    syms = b"\0" * 24
    if symtab:
        for i, (n, _) in enumerate(FUNCS):
            syms += struct.pack("<IBBHQQ", len(strtab), 0x12, 0, 1, text_va + i * FSIZE, len(FUNCS[i][1]))
            strtab += n.encode() + b"\0"
        blobs.append((".symtab", syms))
        blobs.append((".strtab", strtab))
    shnames = b"\0"
    sections = []  # (name_off, type, flags, addr, off, size, link, entsize)
    body = bytearray(b"\0" * TEXT_OFF) + text
    shnames_text = len(shnames)
    shnames += b".text\0"
    sections.append((shnames_text, 1, 6, text_va, TEXT_OFF, len(text), 0, 0))
    for name, data in blobs:
        off = (len(body) + 15) & ~15
        body += b"\0" * (off - len(body)) + data
        no = len(shnames)
        shnames += name.encode() + b"\0"
        typ = {".symtab": 2, ".strtab": 3}.get(name, 1)
        link = len(sections) + 2 if name == ".symtab" else 0  # .strtab follows (index: +1 for the null section)
        sections.append((no, typ, 2 if typ == 1 else 0, BASE + off if typ == 1 else 0, off, len(data), link,
                         24 if typ == 2 else 0))
    shstr_no = len(shnames)
    shnames += b".shstrtab\0"
    off = len(body)
    body += shnames
    sections.append((shstr_no, 3, 0, 0, off, len(shnames), 0, 0))
    shoff = (len(body) + 7) & ~7
    body += b"\0" * (shoff - len(body))
    body += b"\0" * 64  # null section
    for (no, typ, fl, addr, o, size, link, es) in sections:
        body += struct.pack("<IIQQQQIIQQ", no, typ, fl, addr, o, size, link, 0, 8, es)
    loadsz = len(body)
    eh = (b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8 +
          struct.pack("<HHIQQQIHHHHHH", 3 if pie else 2, 62, 1, text_va, 64, shoff, 0, 64, 56, 1, 64, len(sections) + 1,
                      len(sections)))
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, BASE, BASE, loadsz, loadsz, 0x1000)
    body[0:64 + 56] = eh + ph
    return bytes(body)


here = os.path.dirname(os.path.abspath(__file__))
for name, args in [("go119.elf", ("go1.19.8", True, True, True)),
                   ("go119-stripped.elf", ("go1.19.8", True, True, False)),
                   ("go119-pie-stripped.elf", ("go1.19.8", True, True, False, True)),
                   ("go117.elf", ("go1.17.13", False, False, False)),
                   ("go116.elf", ("go1.16.15", False, False, False))]:
    with open(os.path.join(here, name), "wb") as f:
        f.write(build(*args))

/* SPDX-License-Identifier: MIT */
/*
 * hpack_tables.c - the constant tables of RFC 7541: the static table
 * (Appendix A) and the Huffman code (Appendix B), transcribed from the RFC.
 * The decoder builds its decoding automaton from hpack_huff_code[] at first
 * use (hpack.c), so the code is written down once.
 */
#include <stddef.h>

#include "proto/hpack.h"

/* Appendix B: code (right-aligned, sent MSB first) and bit length of
 * symbols 0..255; symbol 256 is EOS (30 ones). */
const struct hpack_huff_sym hpack_huff_code[HPACK_HUFF_SYMS] = {
	{0x1ff8, 13},
	{0x7fffd8, 23},
	{0xfffffe2, 28},
	{0xfffffe3, 28},
	{0xfffffe4, 28},
	{0xfffffe5, 28},
	{0xfffffe6, 28},
	{0xfffffe7, 28},
	{0xfffffe8, 28},
	{0xffffea, 24},
	{0x3ffffffc, 30},
	{0xfffffe9, 28},
	{0xfffffea, 28},
	{0x3ffffffd, 30},
	{0xfffffeb, 28},
	{0xfffffec, 28},
	{0xfffffed, 28},
	{0xfffffee, 28},
	{0xfffffef, 28},
	{0xffffff0, 28},
	{0xffffff1, 28},
	{0xffffff2, 28},
	{0x3ffffffe, 30},
	{0xffffff3, 28},
	{0xffffff4, 28},
	{0xffffff5, 28},
	{0xffffff6, 28},
	{0xffffff7, 28},
	{0xffffff8, 28},
	{0xffffff9, 28},
	{0xffffffa, 28},
	{0xffffffb, 28},
	{0x14, 6},
	{0x3f8, 10}, /* '!' */
	{0x3f9, 10}, /* '"' */
	{0xffa, 12}, /* '#' */
	{0x1ff9, 13}, /* '$' */
	{0x15, 6}, /* '%' */
	{0xf8, 8}, /* '&' */
	{0x7fa, 11}, /* ''' */
	{0x3fa, 10}, /* '(' */
	{0x3fb, 10}, /* ')' */
	{0xf9, 8},
	{0x7fb, 11}, /* '+' */
	{0xfa, 8}, /* ',' */
	{0x16, 6}, /* '-' */
	{0x17, 6}, /* '.' */
	{0x18, 6},
	{0x0, 5}, /* '0' */
	{0x1, 5}, /* '1' */
	{0x2, 5}, /* '2' */
	{0x19, 6}, /* '3' */
	{0x1a, 6}, /* '4' */
	{0x1b, 6}, /* '5' */
	{0x1c, 6}, /* '6' */
	{0x1d, 6}, /* '7' */
	{0x1e, 6}, /* '8' */
	{0x1f, 6}, /* '9' */
	{0x5c, 7}, /* ':' */
	{0xfb, 8}, /* ';' */
	{0x7ffc, 15}, /* '<' */
	{0x20, 6}, /* '=' */
	{0xffb, 12}, /* '>' */
	{0x3fc, 10}, /* '?' */
	{0x1ffa, 13}, /* '@' */
	{0x21, 6}, /* 'A' */
	{0x5d, 7}, /* 'B' */
	{0x5e, 7}, /* 'C' */
	{0x5f, 7}, /* 'D' */
	{0x60, 7}, /* 'E' */
	{0x61, 7}, /* 'F' */
	{0x62, 7}, /* 'G' */
	{0x63, 7}, /* 'H' */
	{0x64, 7}, /* 'I' */
	{0x65, 7}, /* 'J' */
	{0x66, 7}, /* 'K' */
	{0x67, 7}, /* 'L' */
	{0x68, 7}, /* 'M' */
	{0x69, 7}, /* 'N' */
	{0x6a, 7}, /* 'O' */
	{0x6b, 7}, /* 'P' */
	{0x6c, 7}, /* 'Q' */
	{0x6d, 7}, /* 'R' */
	{0x6e, 7}, /* 'S' */
	{0x6f, 7}, /* 'T' */
	{0x70, 7}, /* 'U' */
	{0x71, 7}, /* 'V' */
	{0x72, 7}, /* 'W' */
	{0xfc, 8}, /* 'X' */
	{0x73, 7}, /* 'Y' */
	{0xfd, 8}, /* 'Z' */
	{0x1ffb, 13}, /* '[' */
	{0x7fff0, 19},
	{0x1ffc, 13}, /* ']' */
	{0x3ffc, 14}, /* '^' */
	{0x22, 6}, /* '_' */
	{0x7ffd, 15}, /* '`' */
	{0x3, 5}, /* 'a' */
	{0x23, 6}, /* 'b' */
	{0x4, 5}, /* 'c' */
	{0x24, 6}, /* 'd' */
	{0x5, 5}, /* 'e' */
	{0x25, 6}, /* 'f' */
	{0x26, 6}, /* 'g' */
	{0x27, 6}, /* 'h' */
	{0x6, 5}, /* 'i' */
	{0x74, 7}, /* 'j' */
	{0x75, 7}, /* 'k' */
	{0x28, 6}, /* 'l' */
	{0x29, 6}, /* 'm' */
	{0x2a, 6}, /* 'n' */
	{0x7, 5}, /* 'o' */
	{0x2b, 6}, /* 'p' */
	{0x76, 7}, /* 'q' */
	{0x2c, 6}, /* 'r' */
	{0x8, 5}, /* 's' */
	{0x9, 5}, /* 't' */
	{0x2d, 6}, /* 'u' */
	{0x77, 7}, /* 'v' */
	{0x78, 7}, /* 'w' */
	{0x79, 7}, /* 'x' */
	{0x7a, 7}, /* 'y' */
	{0x7b, 7}, /* 'z' */
	{0x7ffe, 15}, /* '{' */
	{0x7fc, 11}, /* '|' */
	{0x3ffd, 14}, /* '}' */
	{0x1ffd, 13}, /* '~' */
	{0xffffffc, 28},
	{0xfffe6, 20},
	{0x3fffd2, 22},
	{0xfffe7, 20},
	{0xfffe8, 20},
	{0x3fffd3, 22},
	{0x3fffd4, 22},
	{0x3fffd5, 22},
	{0x7fffd9, 23},
	{0x3fffd6, 22},
	{0x7fffda, 23},
	{0x7fffdb, 23},
	{0x7fffdc, 23},
	{0x7fffdd, 23},
	{0x7fffde, 23},
	{0xffffeb, 24},
	{0x7fffdf, 23},
	{0xffffec, 24},
	{0xffffed, 24},
	{0x3fffd7, 22},
	{0x7fffe0, 23},
	{0xffffee, 24},
	{0x7fffe1, 23},
	{0x7fffe2, 23},
	{0x7fffe3, 23},
	{0x7fffe4, 23},
	{0x1fffdc, 21},
	{0x3fffd8, 22},
	{0x7fffe5, 23},
	{0x3fffd9, 22},
	{0x7fffe6, 23},
	{0x7fffe7, 23},
	{0xffffef, 24},
	{0x3fffda, 22},
	{0x1fffdd, 21},
	{0xfffe9, 20},
	{0x3fffdb, 22},
	{0x3fffdc, 22},
	{0x7fffe8, 23},
	{0x7fffe9, 23},
	{0x1fffde, 21},
	{0x7fffea, 23},
	{0x3fffdd, 22},
	{0x3fffde, 22},
	{0xfffff0, 24},
	{0x1fffdf, 21},
	{0x3fffdf, 22},
	{0x7fffeb, 23},
	{0x7fffec, 23},
	{0x1fffe0, 21},
	{0x1fffe1, 21},
	{0x3fffe0, 22},
	{0x1fffe2, 21},
	{0x7fffed, 23},
	{0x3fffe1, 22},
	{0x7fffee, 23},
	{0x7fffef, 23},
	{0xfffea, 20},
	{0x3fffe2, 22},
	{0x3fffe3, 22},
	{0x3fffe4, 22},
	{0x7ffff0, 23},
	{0x3fffe5, 22},
	{0x3fffe6, 22},
	{0x7ffff1, 23},
	{0x3ffffe0, 26},
	{0x3ffffe1, 26},
	{0xfffeb, 20},
	{0x7fff1, 19},
	{0x3fffe7, 22},
	{0x7ffff2, 23},
	{0x3fffe8, 22},
	{0x1ffffec, 25},
	{0x3ffffe2, 26},
	{0x3ffffe3, 26},
	{0x3ffffe4, 26},
	{0x7ffffde, 27},
	{0x7ffffdf, 27},
	{0x3ffffe5, 26},
	{0xfffff1, 24},
	{0x1ffffed, 25},
	{0x7fff2, 19},
	{0x1fffe3, 21},
	{0x3ffffe6, 26},
	{0x7ffffe0, 27},
	{0x7ffffe1, 27},
	{0x3ffffe7, 26},
	{0x7ffffe2, 27},
	{0xfffff2, 24},
	{0x1fffe4, 21},
	{0x1fffe5, 21},
	{0x3ffffe8, 26},
	{0x3ffffe9, 26},
	{0xffffffd, 28},
	{0x7ffffe3, 27},
	{0x7ffffe4, 27},
	{0x7ffffe5, 27},
	{0xfffec, 20},
	{0xfffff3, 24},
	{0xfffed, 20},
	{0x1fffe6, 21},
	{0x3fffe9, 22},
	{0x1fffe7, 21},
	{0x1fffe8, 21},
	{0x7ffff3, 23},
	{0x3fffea, 22},
	{0x3fffeb, 22},
	{0x1ffffee, 25},
	{0x1ffffef, 25},
	{0xfffff4, 24},
	{0xfffff5, 24},
	{0x3ffffea, 26},
	{0x7ffff4, 23},
	{0x3ffffeb, 26},
	{0x7ffffe6, 27},
	{0x3ffffec, 26},
	{0x3ffffed, 26},
	{0x7ffffe7, 27},
	{0x7ffffe8, 27},
	{0x7ffffe9, 27},
	{0x7ffffea, 27},
	{0x7ffffeb, 27},
	{0xffffffe, 28},
	{0x7ffffec, 27},
	{0x7ffffed, 27},
	{0x7ffffee, 27},
	{0x7ffffef, 27},
	{0x7fffff0, 27},
	{0x3ffffee, 26},
	{0x3fffffff, 30}, /* EOS */
};

/* Appendix A: index 1..61 (entry 0 unused). */
const struct hpack_static_entry hpack_static[HPACK_STATIC_N + 1] = {
	{"", "", 0, 0},
	{":authority", "", 10, 0},
	{":method", "GET", 7, 3},
	{":method", "POST", 7, 4},
	{":path", "/", 5, 1},
	{":path", "/index.html", 5, 11},
	{":scheme", "http", 7, 4},
	{":scheme", "https", 7, 5},
	{":status", "200", 7, 3},
	{":status", "204", 7, 3},
	{":status", "206", 7, 3},
	{":status", "304", 7, 3},
	{":status", "400", 7, 3},
	{":status", "404", 7, 3},
	{":status", "500", 7, 3},
	{"accept-charset", "", 14, 0},
	{"accept-encoding", "gzip, deflate", 15, 13},
	{"accept-language", "", 15, 0},
	{"accept-ranges", "", 13, 0},
	{"accept", "", 6, 0},
	{"access-control-allow-origin", "", 27, 0},
	{"age", "", 3, 0},
	{"allow", "", 5, 0},
	{"authorization", "", 13, 0},
	{"cache-control", "", 13, 0},
	{"content-disposition", "", 19, 0},
	{"content-encoding", "", 16, 0},
	{"content-language", "", 16, 0},
	{"content-length", "", 14, 0},
	{"content-location", "", 16, 0},
	{"content-range", "", 13, 0},
	{"content-type", "", 12, 0},
	{"cookie", "", 6, 0},
	{"date", "", 4, 0},
	{"etag", "", 4, 0},
	{"expect", "", 6, 0},
	{"expires", "", 7, 0},
	{"from", "", 4, 0},
	{"host", "", 4, 0},
	{"if-match", "", 8, 0},
	{"if-modified-since", "", 17, 0},
	{"if-none-match", "", 13, 0},
	{"if-range", "", 8, 0},
	{"if-unmodified-since", "", 19, 0},
	{"last-modified", "", 13, 0},
	{"link", "", 4, 0},
	{"location", "", 8, 0},
	{"max-forwards", "", 12, 0},
	{"proxy-authenticate", "", 18, 0},
	{"proxy-authorization", "", 19, 0},
	{"range", "", 5, 0},
	{"referer", "", 7, 0},
	{"refresh", "", 7, 0},
	{"retry-after", "", 11, 0},
	{"server", "", 6, 0},
	{"set-cookie", "", 10, 0},
	{"strict-transport-security", "", 25, 0},
	{"transfer-encoding", "", 17, 0},
	{"user-agent", "", 10, 0},
	{"vary", "", 4, 0},
	{"via", "", 3, 0},
	{"www-authenticate", "", 16, 0},
};

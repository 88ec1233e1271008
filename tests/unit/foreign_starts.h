/* SPDX-License-Identifier: MIT */
/* foreign_starts.h - first bytes of other protocols' streams, written from
 * their specifications: the Kafka and MongoDB parsers must not claim them
 * (test_kafka.c, test_mongodb.c). */
#ifndef ZT_FOREIGN_STARTS_H
#define ZT_FOREIGN_STARTS_H

#include <stddef.h>
#include <stdint.h>

static const struct {
	const char *name;
	const uint8_t *p;
	size_t n;
} foreign_starts[] = {
#define F(name, lit) {name, (const uint8_t *)(lit), sizeof(lit) - 1}
    F("http request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    F("http response", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    F("redis", "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"),
    F("memcached text", "get foo\r\n"),
    F("memcached binary get", "\x80\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x07"
			      "\x00\x00\x00\x00\x00\x00\x00\x00foo"),
    F("mysql greeting", "\x4a\x00\x00\x00\x0a" "8.0.36\x00\x08\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08"
			"\x00\xff\xf7\x08\x02\x00\xff\xdf\x15\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
    F("mysql query", "\x15\x00\x00\x00\x03SELECT 1 FROM dual"),
    F("postgres startup", "\x00\x00\x00\x25\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00"),
    F("postgres ssl", "\x00\x00\x00\x08\x04\xd2\x16\x2f"),
    F("postgres query", "Q\x00\x00\x00\x0dSELECT 1\x00"),
    F("mqtt connect", "\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04\x61\x62\x63\x64"),
    F("amqp header", "AMQP\x00\x00\x09\x01"),
    F("dns over tcp", "\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07" "example\x03" "com\x00"
		      "\x00\x01\x00\x01"),
    F("tls client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x11\x22\x33\x44\x55\x66\x77\x88\x99"),
    F("http2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
#undef F
};

#endif /* ZT_FOREIGN_STARTS_H */

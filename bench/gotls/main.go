// Go crypto/tls round trips over loopback, for bench/gotls.py: a TLS echo
// server and a client in one process (standard library only; the
// certificate is made in memory). The client writes -size bytes and reads
// them back, -n times, on one connection, after -wait (ztrace probes a
// program once it has seen it exec). Prints one JSON line: iterations, the
// (*tls.Conn).Read/Write calls both sides made, and the elapsed time.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"io"
	"log"
	"math/big"
	"os"
	"sync/atomic"
	"time"
)

var calls int64

type counted struct{ *tls.Conn }

func (c counted) Read(b []byte) (int, error)  { atomic.AddInt64(&calls, 1); return c.Conn.Read(b) }
func (c counted) Write(b []byte) (int, error) { atomic.AddInt64(&calls, 1); return c.Conn.Write(b) }

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func main() {
	n := flag.Int("n", 20000, "round trips")
	size := flag.Int("size", 64, "bytes per write")
	wait := flag.Duration("wait", 0, "sleep before measuring")
	flag.Parse()

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned()}})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		s := counted{c.(*tls.Conn)}
		buf := make([]byte, 64<<10)
		for {
			k, err := s.Read(buf)
			if err != nil {
				return
			}
			if _, err := s.Write(buf[:k]); err != nil {
				return
			}
		}
	}()
	time.Sleep(*wait)
	raw, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		log.Fatal(err)
	}
	c := counted{raw}
	msg := make([]byte, *size)
	back := make([]byte, *size)
	for i := 0; i < 200; i++ { // warm up: handshake done, buffers grown
		c.Write(msg)
		io.ReadFull(c, back)
	}
	atomic.StoreInt64(&calls, 0)
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		if _, err := c.Write(msg); err != nil {
			log.Fatal(err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			log.Fatal(err)
		}
	}
	el := time.Since(t0)
	json.NewEncoder(os.Stdout).Encode(map[string]int64{"iterations": int64(*n), "calls": atomic.LoadInt64(&calls),
		"elapsed_ns": el.Nanoseconds()})
}

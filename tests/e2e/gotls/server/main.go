// HTTPS server for the Go crypto/tls e2e test (tests/e2e/gotls.sh):
// standard library only, built by the test with `go build`.
//
//	GET  /hello         200 "hello"
//	GET  /status/NNN    NNN
//	POST /echo          200, the body back
//
// -h2=false serves HTTP/1.1 only (TLSNextProto set to an empty map), so
// the h1 path is tested independently of the HTTP/2 parser.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:20200", "listen address")
	cert := flag.String("cert", "", "PEM certificate")
	key := flag.String("key", "", "PEM private key")
	h2 := flag.Bool("h2", false, "offer HTTP/2 by ALPN")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil || code < 100 || code > 599 {
			code = 400
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	if !*h2 {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	fmt.Fprintf(os.Stderr, "gotls server on %s pid %d\n", *addr, os.Getpid())
	if err := srv.ListenAndServeTLS(*cert, *key); err != nil {
		log.Fatal(err)
	}
}

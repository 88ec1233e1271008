// HTTPS client for the Go crypto/tls e2e test (tests/e2e/gotls.sh):
// standard library only. Makes -n requests per path in -paths against
// -url, on one keep-alive connection or (-new) a new connection each, and
// prints one line per request: "METHOD PATH STATUS PROTO".
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	base := flag.String("url", "https://127.0.0.1:20200", "server base URL")
	n := flag.Int("n", 3, "requests per path")
	paths := flag.String("paths", "/hello", "comma-separated paths; POST for /echo")
	newConn := flag.Bool("new", false, "a new TCP+TLS connection per request")
	h2 := flag.Bool("h2", false, "allow HTTP/2 by ALPN")
	wait := flag.Duration("wait", 0, "sleep this long before the first request")
	flag.Parse()
	// ztrace places its probes once it has seen this process exec (its
	// ring buffer is drained every 50 ms): a client that starts talking
	// at once can finish before that
	time.Sleep(*wait)

	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: *newConn,
		ForceAttemptHTTP2: *h2,
	}
	if !*h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	cl := &http.Client{Transport: tr}
	fails := 0
	for i := 0; i < *n; i++ {
		for _, p := range strings.Split(*paths, ",") {
			var resp *http.Response
			var err error
			if p == "/echo" {
				resp, err = cl.Post(*base+p, "text/plain", strings.NewReader(fmt.Sprintf("ping %d", i)))
			} else {
				resp, err = cl.Get(*base + p)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "request failed:", err)
				fails++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fmt.Printf("%s %s %d %s\n", resp.Request.Method, p, resp.StatusCode, resp.Proto)
		}
	}
	if fails > 0 {
		os.Exit(1)
	}
}

// Prints "GOVERSION off_in off_rawInput": offsetof(crypto/tls.Conn, in)
// and (.., rawInput) for the Go toolchain that builds it, measured by
// reflect. tests/unit/test_gobin.c builds and runs it, and compares with
// the table in src/agent/gotls.c (the Read probe's TCP seq depends on it).
package main

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"runtime"
)

func main() {
	t := reflect.TypeOf(tls.Conn{})
	in, _ := t.FieldByName("in")
	raw, _ := t.FieldByName("rawInput")
	fmt.Printf("%s %d %d\n", runtime.Version(), in.Offset, raw.Offset)
}

// SPDX-License-Identifier: MIT
// bench/http/go_http.go: the Go peer of the HTTP benchmark (bench/http_bench.py), a keep-alive
// "hello world" server on net/http (Debian golang-go 1.19), run with GOMAXPROCS=1.  net/http
// serves each connection on its own goroutine in blocking style, as libgreen's server does.
//
//	go_http PORT     serve on 127.0.0.1:PORT; prints "version goX.Y.Z" first
//
// Built by meson (bench/meson.build) with `go build` on this one file, offline.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s PORT\n", os.Args[0])
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_http:", err)
		os.Exit(1)
	}
	hello := []byte("hello world\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write(hello) })
	fmt.Printf("version %s\n", runtime.Version())
	os.Stdout.Sync()
	err = http.Serve(listener, nil)
	fmt.Fprintln(os.Stderr, "go_http:", err)
	os.Exit(1)
}

# SPDX-License-Identifier: MIT
"""bench/http/gevent_http.py: the gevent peer of the HTTP benchmark (bench/http_bench.py), a
keep-alive "hello world" server on gevent's StreamServer (Debian python3-gevent 22.10), one
greenlet per connection written in blocking style, as libgreen's server is.  Run by
/usr/bin/python3 (the interpreter python3-gevent is installed for):

    gevent_http.py PORT     serve on 127.0.0.1:PORT; prints "version gevent-X.Y.Z" first

Each request ends at its blank line (the benchmark's clients send GETs without bodies); every
complete request gets the same fixed response, those completed by one recv in one sendall.
"""
import sys

import gevent
from gevent.server import StreamServer

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
            b"Content-Type: text/plain\r\n\r\nhello world\n")
BLANK_LINE = b"\r\n\r\n"


def serve(sock, _address):
    unparsed = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return
        unparsed += data
        complete = unparsed.count(BLANK_LINE)
        if complete:
            unparsed = unparsed[unparsed.rfind(BLANK_LINE) + len(BLANK_LINE):]
            sock.sendall(RESPONSE * complete)


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PORT")
    server = StreamServer(("127.0.0.1", int(sys.argv[1])), serve, backlog=1024)
    server.init_socket()
    print(f"version gevent-{gevent.__version__}", flush=True)
    server.serve_forever()


main()

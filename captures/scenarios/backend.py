#!/usr/bin/env python3
"""Keep-alive capable HTTP backend for the finscope sample captures.

A plain http.server.ThreadingHTTPServer, so the TCP behaviour is that of a real
server and not a script:
  * protocol_version HTTP/1.1: keeps the connection open after an HTTP/1.1
    request, closes it (server active close) after an HTTP/1.0 request without
    "Connection: keep-alive" or after a request with "Connection: close";
  * an idle timeout of IDLE_TIMEOUT seconds (default 2): an idle keep-alive
    connection is closed by the server, like Spring Boot's 60 s, scaled down;
  * every response carries Content-Length, except /chunked which answers with
    Transfer-Encoding: chunked; /slow waits 0.3 s before answering.

Usage: backend.py ADDR PORT
"""
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDLE_TIMEOUT = float(os.environ.get("IDLE_TIMEOUT", "2"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT  # socket timeout while waiting for the next request
    server_version = "finscope-backend/1"
    sys_version = ""

    def _body(self):
        return ("hello from backend %s\n" % self.path).encode()

    def _simple(self, with_body):
        if self.path.startswith("/slow"):
            time.sleep(0.3)
        if self.path.startswith("/chunked"):
            self._chunked(with_body)
            return
        body = self._body()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _chunked(self, with_body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not with_body:
            return
        for i in range(3):
            piece = ("chunk %d of 3\n" % (i + 1)).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        self._simple(True)

    def do_HEAD(self):
        self._simple(False)

    def log_message(self, fmt, *args):
        sys.stderr.write("%.3f %s %s\n" % (time.time(), self.client_address[0], fmt % args))


class Server(ThreadingHTTPServer):
    request_queue_size = 128
    allow_reuse_address = True


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    srv = Server((addr, port), Handler)
    sys.stderr.write("listening on %s:%d idle_timeout=%.1fs\n" % (addr, port, IDLE_TIMEOUT))
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Trivial stand-in gateway for testing run.sh: answers 404 (empty body) to every request.

    python3 stub_gateway.py [PORT]     (default 0 = pick a free port; prints the URL)
Listens on 127.0.0.1 only.
"""
import http.server
import sys


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _nf(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _nf

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), H)
print(f"http://127.0.0.1:{srv.server_address[1]}", flush=True)
srv.serve_forever()

#!/usr/bin/env python3
"""A test app: answers every request after DELAY_MS (default 50) on $PORT,
many at once (a thread per request, a deep listen backlog), so that the
requests in flight at the proxy follow the load the test sends. Used by
the autoscaler's tests; not part of devcloud."""
import http.server
import os
import socketserver
import time

DELAY = int(os.environ.get("DELAY_MS", "50")) / 1000.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(DELAY)
        body = b"slow\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


Server(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()

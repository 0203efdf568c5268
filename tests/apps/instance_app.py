#!/usr/bin/env python3
"""A test app that says which instance answered: an HTTP/1.1 keep-alive
server on $PORT (threads, so it serves many at once) whose answer to
any GET is its own port. Each answer appends that port as one line to
HITS (a file shared by every instance; small O_APPEND writes do not
interleave), so a test can count how requests were spread. If the file
DELAY.PORT exists, every answer waits that many milliseconds first: one
instance can be made slow while the others are not.

    instance_app.py HITS DELAY [serial]

With "serial" it answers one request at a time (no threads): an
instance that saturates, for the autoscaler's benchmark.

Used by tests/integration/instances.sh and bench/scale; not part of
devcloud.
"""
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
HITS, DELAY = sys.argv[1], sys.argv[2]
SERIAL = len(sys.argv) > 3 and sys.argv[3] == "serial"
hits = os.open(HITS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
body = b"%d\n" % PORT


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        try:
            with open("%s.%d" % (DELAY, PORT)) as f:
                time.sleep(int(f.read().strip() or 0) / 1000)
        except (OSError, ValueError):
            pass
        os.write(hits, body)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class SerialServer(HTTPServer):
    request_queue_size = 128


if SERIAL:
    # one connection at a time: kept alive, it would shut out the rest
    Handler.protocol_version = "HTTP/1.0"
(SerialServer if SERIAL else Server)(("127.0.0.1", PORT), Handler).serve_forever()

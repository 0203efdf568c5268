#!/usr/bin/env python3
"""A small, real HTTP/1.1 upstream for the proxy's integration tests.

    proxy_backend.py PORT [HOST]

HOST is the address to listen on: 127.0.0.1 unless given (::1 for IPv6).

Keep-alive, chunked and close-delimited bodies, streaming in and out, and
a few misbehaviours on request:

    GET  /ping              "pong"
    ANY  /echo              JSON: method, path, version, headers, body
                            length and sha256 (body read streaming, chunked
                            or not), the port of the connection (so a test
                            can tell whether the proxy reused it) and the
                            port this backend listens on
    GET  /bytes/N           N bytes, Content-Length, written in 1 MiB pieces
    GET  /chunked/N         N bytes, chunked, 4 KiB chunks, a trailer
    GET  /close/N           N bytes, no length: ends when the server closes
    GET  /slow/MS           waits MS ms, then answers
    GET  /status/CODE       answers CODE (no body for 204 and 304)
    POST /early             413 at once, without reading the body
    GET  /garbage           answers bytes that are not HTTP
"""
import hashlib
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECE = 1 << 20


def pattern(n):
    """n bytes of a repeating, position-dependent pattern."""
    block = bytes(range(256)) * (PIECE // 256)
    while n > 0:
        take = min(n, len(block))
        yield block[:take]
        n -= take


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_into(self, h, left):
        """Reads the next LEFT bytes of the body into the hash H."""
        while left > 0:
            data = self.rfile.read(min(left, PIECE))
            if not data:
                raise ConnectionError("body cut short")
            h.update(data)
            left -= len(data)

    def read_body(self):
        """Reads the request body; returns (length, sha256 hex)."""
        h = hashlib.sha256()
        total = 0
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower().endswith("chunked"):
            while True:
                line = self.rfile.readline(1024).strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b""):
                        pass
                    break
                self.read_into(h, size)
                total += size
                self.rfile.readline(16)
        else:
            total = int(self.headers.get("Content-Length", "0"))
            self.read_into(h, total)
        return total, h.hexdigest()

    def reply(self, code, body=b"", ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        what = parts[0]
        arg = parts[1] if len(parts) > 1 else "0"
        if what == "ping":
            self.reply(200, b"pong")
        elif what == "echo":
            n, digest = self.read_body()
            out = {
                "method": self.command,
                "path": self.path,
                "version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": n,
                "body_sha256": digest,
                "peer_port": self.client_address[1],
                "server_port": self.server.server_address[1],
            }
            self.reply(200, json.dumps(out).encode(), "application/json")
        elif what == "bytes":
            n = int(arg)
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                for piece in pattern(n):
                    self.wfile.write(piece)
        elif what == "chunked":
            n = int(arg)
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Sum")
            self.end_headers()
            for piece in pattern(n):
                for i in range(0, len(piece), 4096):
                    c = piece[i:i + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            self.wfile.write(b"0\r\nX-Sum: done\r\n\r\n")
        elif what == "close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for piece in pattern(int(arg)):
                self.wfile.write(piece)
            self.close_connection = True
        elif what == "slow":
            time.sleep(int(arg) / 1000)
            self.reply(200, b"slow")
        elif what == "status":
            code = int(arg)
            self.send_response(code)
            if code in (204, 304):
                self.end_headers()
            else:
                body = b"status %d" % code
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        elif what == "early":
            self.send_response(413)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
        elif what == "garbage":
            self.wfile.write(b"SPAM SPAM SPAM\r\n\r\n")
            self.close_connection = True
        else:
            self.reply(404, b"no such endpoint")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


if __name__ == "__main__":
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if ":" in host:
        Server.address_family = socket.AF_INET6
    Server((host, int(sys.argv[1])), Handler).serve_forever()

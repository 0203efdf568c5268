#!/usr/bin/env python3
"""A stand-in online IDE, for `make up`'s demo pool and the pool tests: an HTTP
server that becomes ready only after READY_DELAY_MS (as a real IDE takes
seconds to load), and lets a test act as a developer would:

  GET  /whoami           this member: its pid, host name and start time
  GET  /ws/PATH          a file of the workspace ($DEVCLOUD_WORKSPACE)
  PUT  /ws/PATH          writes one (directories made as needed)
  GET  /ls               every file of the workspace, "PATH SIZE" lines
  PUT  /tmp/NAME         writes $TMPDIR/NAME (what a developer leaves in
                         /tmp)
  GET  /tmp              the names in $TMPDIR
  POST /spawn            starts a background process (sleep), prints its
                         pid
  GET  /procs            pids of the processes this member started
  GET  /ready            200 once ready
  GET  /sleep/SECONDS    answers after SECONDS (a long exchange, as an
                         IDE's WebSocket is)

Listens on 0.0.0.0:$PORT (or argv[1]). Before READY_DELAY_MS has passed
it does not listen at all, like an IDE still loading.
"""
import http.server
import os
import socket
import subprocess
import sys
import time

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ["PORT"])
WS = os.path.abspath(os.environ.get("DEVCLOUD_WORKSPACE", "workspace"))
TMP = os.environ.get("TMPDIR", "/tmp")
STARTED = time.time()
CHILDREN = []

time.sleep(int(os.environ.get("READY_DELAY_MS", "0")) / 1000.0)


def inside(base, rel):
    p = os.path.abspath(os.path.join(base, rel))
    return p if p == base or p.startswith(base + os.sep) else None


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        p = self.path.split("?", 1)[0]
        if p == "/whoami":
            return self.send(200, "%d %s %.3f\n" % (os.getpid(),
                             socket.gethostname(), STARTED))
        if p in ("/", "/ready"):
            return self.send(200, "ready\n")
        if p == "/ls":
            out = []
            for root, _, files in os.walk(WS):
                for f in files:
                    fp = os.path.join(root, f)
                    out.append("%s %d" % (os.path.relpath(fp, WS),
                                          os.path.getsize(fp)))
            return self.send(200, "".join(x + "\n" for x in sorted(out)))
        if p == "/tmp":
            names = sorted(n for n in os.listdir(TMP) if n.startswith("dev-"))
            return self.send(200, "".join(n + "\n" for n in names))
        if p.startswith("/sleep/"):
            time.sleep(min(float(p[7:] or 0), 60))
            return self.send(200, "slept\n")
        if p == "/procs":
            alive = [c.pid for c in CHILDREN if c.poll() is None]
            return self.send(200, "".join("%d\n" % x for x in alive))
        if p.startswith("/ws/"):
            f = inside(WS, p[4:])
            if f is None or not os.path.isfile(f):
                return self.send(404, "no such file\n")
            with open(f, "rb") as fh:
                return self.send(200, fh.read(), "application/octet-stream")
        return self.send(404, "not found\n")

    def do_PUT(self):
        p = self.path.split("?", 1)[0]
        data = self.body()
        if p.startswith("/ws/"):
            f = inside(WS, p[4:])
        elif p.startswith("/tmp/") and "/" not in p[5:]:
            f = os.path.join(TMP, p[5:])
        else:
            f = None
        if f is None:
            return self.send(400, "bad path\n")
        os.makedirs(os.path.dirname(f), exist_ok=True)
        with open(f, "wb") as fh:
            fh.write(data)
        return self.send(201, "written\n")

    def do_POST(self):
        self.body()
        if self.path == "/spawn":
            c = subprocess.Popen(["sleep", "3600"])
            CHILDREN.append(c)
            return self.send(200, "%d\n" % c.pid)
        return self.send(404, "not found\n")


class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


S(("0.0.0.0", PORT), H).serve_forever()

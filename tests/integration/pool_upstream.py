#!/usr/bin/env python3
"""An upstream that closes keep-alive connections on its own, and keeps a
record of every request it sees, for testing the proxy's upstream pool.

    pool_upstream.py PORT RECORD

Connections are numbered 1, 2, ... in the order they are accepted. Each
request is appended to RECORD as one line as soon as its head arrives,
before its body is read:

    CONN N METHOD PATH BODY_LEN WHAT

N is the request's number on its connection; BODY_LEN its Content-Length
(bodies are read by Content-Length only); WHAT "answered" or "dropped"
(the connection is closed instead of answering, once the body is read).

    /ok/NAME        200, keep-alive, body "NAME conn=CONN"
    /stale/fin      200, keep-alive; the connection's next request is
                    read whole and the connection closed without an
                    answer (FIN): our keep-alive timer fired as it came
    /stale/rst      200, keep-alive; the connection's next request is
                    not read: the connection is reset (RST) as soon as it
                    arrives, as a socket closed before it came would be
    /stale/HOW/MS   either of these, answered after MS ms
    /idle-close/MS  200, keep-alive; closes the connection when it has
                    been idle MS ms, the way servers expire idle ones
    /drop/NAME      closes the connection without answering, on any
                    connection
    anything else   404, keep-alive
"""
import socket
import struct
import sys
import threading
import time

port, record = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
nconn = 0


def note(conn, n, method, path, blen, what):
    with lock, open(record, "a") as f:
        f.write("%d %d %s %s %s %s\n" % (conn, n, method, path, blen, what))


def parse(head):
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    blen = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            blen = int(v.strip())
    return method, path, blen


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def serve(s, conn):
    buf = b""
    n = 0
    expire = None           # what the next request on this connection meets
    idle = None             # seconds of idleness this connection may have
    try:
        while True:
            s.settimeout(idle)
            while b"\r\n\r\n" not in buf:
                if expire == "rst":
                    # look at the request without taking it off the socket,
                    # so closing it resets the connection
                    data = s.recv(65536, socket.MSG_PEEK)
                    if not data:
                        return
                    if b"\r\n\r\n" in data:
                        method, path, blen = parse(data.split(b"\r\n\r\n")[0])
                        note(conn, n + 1, method, path, blen, "dropped")
                        reset(s)
                        return
                    time.sleep(0.01)    # the rest of the head is on its way
                    continue
                data = s.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            n += 1
            method, path, blen = parse(head)
            drop = expire == "fin" or path.startswith("/drop/")
            note(conn, n, method, path, blen,
                 "dropped" if drop else "answered")
            while len(buf) < blen:
                data = s.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[blen:]
            if drop:
                s.shutdown(socket.SHUT_RDWR)
                return
            code, body = 200, b""
            if path.startswith("/ok/"):
                body = b"%s conn=%d" % (path[4:].encode(), conn)
            elif path.split("/")[1] == "stale":
                expire = path.split("/")[2]
                if path.count("/") > 2:
                    time.sleep(int(path.split("/")[3]) / 1000.0)
                body = b"stale"
            elif path.startswith("/idle-close/"):
                idle = int(path[12:]) / 1000.0
                body = b"idle-close"
            else:
                code, body = 404, b"no such endpoint"
            reason = b"OK" if code == 200 else b"Not Found"
            s.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n%s" %
                      (code, reason, len(body), body))
    except socket.timeout:
        pass                # idle too long: close it
    except OSError:
        pass
    finally:
        s.close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(128)
while True:
    s, _ = ls.accept()
    nconn += 1
    threading.Thread(target=serve, args=(s, nconn), daemon=True).start()

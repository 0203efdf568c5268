#!/usr/bin/env python3
"""A stand-in for the few Kubernetes API endpoints the kubernetes driver
calls. It is not Kubernetes: no API server can run on the machines that
test devcloud, so this answers the documented requests with the
documented shapes, and nothing more.

  GET   /apis/apps/v1/namespaces/NS/deployments/NAME        a Deployment
  GET   /apis/apps/v1/namespaces/NS/deployments/NAME/scale  a Scale
                                                            (autoscaling/v1)
  PATCH the same, Content-Type application/merge-patch+json or
        application/strategic-merge-patch+json, {"spec":{"replicas":N}}
  PUT   the same, a whole Scale (metadata.resourceVersion checked: 409)

Errors are Status objects (kind Status, status Failure, reason, message,
code), as the API returns them: 401 without the bearer token, 404 for a
deployment it does not have, 415 for another patch type.

Each deployment is NS/NAME=PORT[@HOST]: while its spec.replicas is above
0 the stand-in runs one real backend (python3 -m http.server on
HOST:PORT, 127.0.0.1 by default, serving a page that names the
deployment), started after --pod-delay-ms
as a pod would be scheduled; status.readyReplicas is spec.replicas once
that backend accepts connections and is left out while it is 0, as the
API leaves out zero counts. status.observedGeneration lags
metadata.generation by --controller-lag-ms after each change.

For the test, not part of any API: POST /standin/fault with
{"deployment": "NS/NAME", "methods": ["PATCH"], "status": 403,
"delay_ms": 0} makes those requests fail (or hang); DELETE /standin/fault
clears them. Every API request is logged to --log as one JSON line.
"""
import argparse
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/apis/apps/v1/namespaces/"
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
           404: "NotFound", 409: "Conflict", 415: "UnsupportedMediaType",
           500: "InternalError", 503: "ServiceUnavailable"}
PATCH_TYPES = ("application/merge-patch+json",
               "application/strategic-merge-patch+json")

lock = threading.Lock()
faults = {}          # "NS/NAME" -> {"methods": [...], "status", "delay_ms"}
deps = {}            # "NS/NAME" -> dict


def now_ms():
    return int(time.monotonic() * 1000)


def status_obj(code, message, name=None, kind="deployments"):
    o = {"kind": "Status", "apiVersion": "v1", "metadata": {},
         "status": "Failure", "message": message,
         "reason": REASONS.get(code, "Unknown"), "code": code}
    if name is not None:
        o["details"] = {"name": name, "group": "apps", "kind": kind}
    return o


def listening(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def reconcile(d):
    """What the deployment controller and the kubelet would do by now."""
    t = now_ms()
    if d["spec_replicas"] > 0 and d["proc"] is None and \
            t >= d["changed"] + ARGS.pod_delay_ms:
        d["proc"] = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(d["port"]),
             "--bind", d["host"], "--directory", d["www"]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if d["spec_replicas"] == 0 and d["proc"] is not None:
        d["proc"].terminate()
        d["proc"].wait()
        d["proc"] = None
    if t >= d["changed"] + ARGS.controller_lag_ms:
        d["observed"] = d["generation"]
    d["ready"] = d["spec_replicas"] if d["proc"] is not None and \
        listening(d["host"], d["port"]) else 0


def deployment_obj(d):
    status = {"observedGeneration": d["observed"],
              "replicas": d["spec_replicas"] if d["proc"] else 0}
    if d["ready"]:
        status.update(readyReplicas=d["ready"], availableReplicas=d["ready"],
                      updatedReplicas=d["ready"])
    cond = {"type": "Available", "status": "True" if d["ready"] else "False",
            "reason": "MinimumReplicasAvailable" if d["ready"]
            else "MinimumReplicasUnavailable"}
    status["conditions"] = [cond]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": d["name"], "namespace": d["ns"],
                         "generation": d["generation"],
                         "resourceVersion": str(d["rv"])},
            "spec": {"replicas": d["spec_replicas"],
                     "selector": {"matchLabels": {"app": d["name"]}}},
            "status": status}


def scale_obj(d):
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": d["name"], "namespace": d["ns"],
                         "resourceVersion": str(d["rv"])},
            "spec": {"replicas": d["spec_replicas"]},
            "status": {"replicas": d["spec_replicas"] if d["proc"] else 0,
                       "selector": "app=" + d["name"]}}


def set_replicas(d, n):
    if n != d["spec_replicas"]:
        d["spec_replicas"] = n
        d["generation"] += 1
        d["changed"] = now_ms()
    d["rv"] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass    # the client gave up (a timeout under test)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode() if n else ""

    def log_api(self, body, code):
        with open(ARGS.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "content_type":
                                self.headers.get("Content-Type", ""),
                                "body": body, "code": code}) + "\n")

    def control(self):
        if self.path != "/standin/fault":
            return self.reply(404, status_obj(404, "no such stand-in path"))
        with lock:
            if self.command == "DELETE":
                faults.clear()
            else:
                f = json.loads(self.body())
                faults[f["deployment"]] = f
        self.reply(200, {"faults": len(faults)})

    def api(self):
        body = self.body()
        want = "Bearer " + open(ARGS.token_file).read().strip() \
            if ARGS.token_file else None
        if want is not None and self.headers.get("Authorization") != want:
            self.log_api(body, 401)
            return self.reply(401, status_obj(401, "Unauthorized"))
        rest = self.path[len(PREFIX):].split("?")[0].split("/")
        if len(rest) not in (3, 4) or rest[1] != "deployments" or \
                (len(rest) == 4 and rest[3] != "scale"):
            self.log_api(body, 404)
            return self.reply(404, status_obj(404, "the server could not "
                                              "find the requested resource"))
        ns, name, scale = rest[0], rest[2], len(rest) == 4
        key = ns + "/" + name
        with lock:
            fault = faults.get(key)
        if fault and self.command in fault.get("methods", [self.command]):
            time.sleep(fault.get("delay_ms", 0) / 1000)
            code = fault.get("status", 0)
            if code:
                verb = {"GET": "get", "PATCH": "patch", "PUT": "update"}.get(
                    self.command, self.command.lower())
                res = "deployments/scale" if scale else "deployments"
                msg = (f'deployments.apps "{name}" is forbidden: User '
                       f'"system:serviceaccount:devcloud:devcloud-autostart" '
                       f'cannot {verb} resource "{res}" in API group "apps" '
                       f'in the namespace "{ns}"') if code == 403 else \
                    "Internal error occurred: etcdserver: request timed out"
                self.log_api(body, code)
                return self.reply(code, status_obj(code, msg, name))
        with lock:
            d = deps.get(key)
            if d is None:
                self.log_api(body, 404)
                return self.reply(404, status_obj(
                    404, f'deployments.apps "{name}" not found', name))
            code, obj = self.operate(d, scale, body)
        self.log_api(body, code)
        self.reply(code, obj)

    def operate(self, d, scale, body):
        if self.command == "GET":
            reconcile(d)
            return 200, scale_obj(d) if scale else deployment_obj(d)
        if not scale or self.command not in ("PATCH", "PUT"):
            return 405, status_obj(405, "the server does not allow this "
                                   "method on the requested resource")
        try:
            obj = json.loads(body)
            n = obj["spec"]["replicas"]
            if not isinstance(n, int) or n < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return 400, status_obj(400, "the body is not a Scale with "
                                   "spec.replicas", d["name"])
        if self.command == "PATCH":
            ctype = self.headers.get("Content-Type", "").split(";")[0]
            if ctype not in PATCH_TYPES:
                return 415, status_obj(415, f'the body of the request was '
                                       f'in an unknown format - accepted '
                                       f'media types include: '
                                       f'{", ".join(PATCH_TYPES)}')
        else:
            rv = obj.get("metadata", {}).get("resourceVersion")
            if rv is not None and rv != str(d["rv"]):
                return 409, status_obj(409, 'Operation cannot be fulfilled '
                                       f'on deployments.apps "{d["name"]}":'
                                       ' the object has been modified',
                                       d["name"])
        set_replicas(d, n)
        reconcile(d)
        return 200, scale_obj(d)

    def dispatch(self):
        if self.path.startswith("/standin/"):
            return self.control()
        if self.path.startswith(PREFIX):
            return self.api()
        self.reply(404, status_obj(404, "the server could not find the "
                                   "requested resource"))

    do_GET = do_PATCH = do_PUT = do_POST = do_DELETE = dispatch


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token-file")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--dir", required=True, help="the pages' directory")
    p.add_argument("--log", required=True)
    p.add_argument("--pod-delay-ms", type=int, default=300)
    p.add_argument("--controller-lag-ms", type=int, default=100)
    p.add_argument("deployment", nargs="*", help="NS/NAME=PORT[@HOST]")
    ARGS = p.parse_args()
    for spec in ARGS.deployment:
        key, port = spec.split("=")
        port, _, host = port.partition("@")
        ns, name = key.split("/")
        www = os.path.join(ARGS.dir, ns, name)
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write(f"<h1>deployment {key} served by its pod</h1>\n")
        deps[key] = {"ns": ns, "name": name, "port": int(port), "www": www,
                     "host": host or "127.0.0.1",
                     "spec_replicas": 0, "generation": 1, "observed": 1,
                     "rv": 1, "changed": 0, "proc": None, "ready": 0}
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def stop(*_):
        for d in deps.values():
            if d["proc"] is not None:
                d["proc"].terminate()
                d["proc"].wait()
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Offline checks of deploy/kubernetes/ (no API server can run here).

usage: k8s_manifests.py DIR BIN VERSION CONF_OUT_DIR

Reads every document of DIR/*.yaml and prints one TAP line per check:
the kinds and API versions are the GA ones, each daemon has its own
Deployment with a replica count, selectors match their pod templates,
every container names its image at VERSION, has resource requests and
readiness and liveness probes on /healthz at a port it declares, which
is the daemon's admin port in the ConfigMap's devcloud.conf; Services
and the PodDisruptionBudget select pods that exist and name ports those
pods declare; Redis is a StatefulSet with AOF on a claim mounted at its
--dir; the autostart pods run as the service account the Role binding
gives get on deployments and patch on deployments/scale. Last, each
daemon checks devcloud.conf with the environment its Deployment gives it
(BIN/devcloud-NAME -t): what the pod would read, it accepts.

What this cannot check: that a cluster accepts the objects (its schemas,
admission, storage classes) and runs them. That needs a cluster.
"""
import os
import subprocess
import sys

import yaml

DIR, BIN, VERSION, OUT = sys.argv[1:5]
DAEMONS = ["bus", "proxy", "autostart", "regulator", "idepool", "deployer"]
GA = {"Namespace": "v1", "ConfigMap": "v1", "Service": "v1",
      "ServiceAccount": "v1", "PersistentVolumeClaim": "v1",
      "Deployment": "apps/v1", "StatefulSet": "apps/v1",
      "PodDisruptionBudget": "policy/v1",
      "Role": "rbac.authorization.k8s.io/v1",
      "RoleBinding": "rbac.authorization.k8s.io/v1"}
fails = 0


def check(name, ok, why=""):
    global fails
    if ok:
        print(f"ok - k8s_manifests: {name}")
    else:
        fails += 1
        print(f"not ok - k8s_manifests: {name}" + (f" ({why})" if why else ""))


docs = []
for f in sorted(os.listdir(DIR)):
    if f.endswith(".yaml"):
        with open(os.path.join(DIR, f)) as fh:
            try:
                docs += [(f, d) for d in yaml.safe_load_all(fh) if d]
            except yaml.YAMLError as e:
                check(f"{f} is YAML", False, str(e).replace("\n", " "))
                sys.exit(1)
objs = {}
for f, d in docs:
    objs.setdefault(d.get("kind"), []).append(d)

bad = [f"{f}: {d.get('kind')} {d.get('apiVersion')}" for f, d in docs
       if GA.get(d.get("kind")) != d.get("apiVersion")]
check("every object is of a known kind at its GA apiVersion", not bad,
      "; ".join(bad))
bad = [f"{f}: {d['kind']}/{d['metadata'].get('name')}" for f, d in docs
       if d["kind"] != "Namespace" and
       d["metadata"].get("namespace") != "devcloud"]
check("every object is in the namespace devcloud", not bad, "; ".join(bad))


def by_name(kind, name):
    return next((o for o in objs.get(kind, [])
                 if o["metadata"]["name"] == name), None)


def selects(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


workloads = objs.get("Deployment", []) + objs.get("StatefulSet", [])
pods = [(w, w["spec"]["template"]) for w in workloads]

# The ConfigMap's devcloud.conf, for the admin ports and the -t checks.
cm = by_name("ConfigMap", "devcloud-config")
conf = cm and cm.get("data", {}).get("devcloud.conf")
check("the ConfigMap devcloud-config holds devcloud.conf", bool(conf))
os.makedirs(OUT, exist_ok=True)
conf_path = os.path.join(OUT, "devcloud.conf")
with open(conf_path, "w") as fh:
    fh.write(conf or "")


def admin_port(daemon):
    """The port of DAEMON's admin = "HOST:PORT"; in devcloud.conf."""
    section = None
    for line in (conf or "").splitlines():
        s = line.strip()
        if s.endswith("= {"):
            section = s.split()[0]
        elif section == daemon and s.startswith("admin"):
            return int(s.split('"')[1].rsplit(":", 1)[1])
    return None


for daemon in DAEMONS:
    d = by_name("Deployment", "devcloud-" + daemon)
    check(f"{daemon}: a Deployment of its own with a replica count",
          d is not None and isinstance(d["spec"].get("replicas"), int))
    if d is None:
        continue
    spec = d["spec"]["template"]["spec"]
    c = spec["containers"][0]
    check(f"{daemon}: it runs devcloud-{daemon}",
          c.get("command") == [f"devcloud-{daemon}"])
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    want = admin_port(daemon)
    for kind in ("readinessProbe", "livenessProbe"):
        p = c.get(kind, {}).get("httpGet", {})
        port = ports.get(p.get("port"), p.get("port"))
        check(f"{daemon}: {kind} GET /healthz on its admin port {want}",
              p.get("path") == "/healthz" and port == want and want,
              f"path {p.get('path')} port {port}")
    if daemon == "autostart":
        sa = spec.get("serviceAccountName")
    # -t with the environment the pod gets: the config it would read
    env = dict(os.environ)
    env = {k: v for k, v in env.items() if not k.startswith("DEVCLOUD_")}
    for e in c.get("env", []):
        env[e["name"]] = e["value"]
    env["DEVCLOUD_CONFIG"] = conf_path
    r = subprocess.run([os.path.join(BIN, f"devcloud-{daemon}"), "-t",
                        "-c", conf_path], env=env, capture_output=True,
                       text=True)
    check(f"{daemon}: devcloud-{daemon} -t accepts the ConfigMap's config "
          "with the pod's environment", r.returncode == 0,
          (r.stdout + r.stderr).strip().replace("\n", " ")[:300])

for w, t in pods:
    n = f"{w['kind']} {w['metadata']['name']}"
    check(f"{n}: its selector matches its pod template",
          selects(w["spec"]["selector"].get("matchLabels"),
                  t["metadata"].get("labels", {})))
    for c in t["spec"].get("initContainers", []) + t["spec"]["containers"]:
        img = c.get("image", "")
        check(f"{n}: container {c['name']} runs an image of {VERSION}",
              img.startswith("devcloud") and img.endswith(":" + VERSION),
              img)
        req = c.get("resources", {}).get("requests", {})
        check(f"{n}: container {c['name']} requests cpu and memory",
              "cpu" in req and "memory" in req)
    mounts = {m["name"] for c in t["spec"]["containers"]
              for m in c.get("volumeMounts", [])}
    vols = {v["name"] for v in t["spec"].get("volumes", [])} | \
        {v["metadata"]["name"] for v in w["spec"].get("volumeClaimTemplates",
                                                      [])}
    check(f"{n}: every volume it mounts is defined", mounts <= vols,
          ", ".join(sorted(mounts - vols)))
    for v in t["spec"].get("volumes", []):
        if "configMap" in v:
            check(f"{n}: its ConfigMap {v['configMap']['name']} exists",
                  by_name("ConfigMap", v["configMap"]["name"]) is not None)
        if "persistentVolumeClaim" in v:
            cn = v["persistentVolumeClaim"]["claimName"]
            check(f"{n}: its claim {cn} exists",
                  by_name("PersistentVolumeClaim", cn) is not None)

for s in objs.get("Service", []):
    n = f"Service {s['metadata']['name']}"
    sel = s["spec"].get("selector")
    matched = [t for w, t in pods if selects(sel, t["metadata"]["labels"])]
    check(f"{n}: selects pods of a workload", bool(matched))
    names = {p["name"] for t in matched for c in t["spec"]["containers"]
             for p in c.get("ports", [])}
    bad = [str(p.get("targetPort")) for p in s["spec"]["ports"]
           if p.get("targetPort") not in names]
    check(f"{n}: its target ports are ports those pods declare", not bad,
          ", ".join(bad))
for need in ("bus", "proxy", "redis"):
    check(f"a Service {need}", by_name("Service", need) is not None)

# The addresses the ConfigMap dials are Services of this namespace.
for addr in ("redis:6379", "tcp://bus:7400", "tcp://bus:7401",
             "tcp://proxy-control:7410", "tcp://autostart:7411",
             "tcp://regulator:7412", "tcp://idepool:7413",
             "tcp://deployer:7414"):
    host, port = addr.split("//")[-1].split(":")
    s = by_name("Service", host)
    check(f"devcloud.conf's {addr} is a Service port",
          f'"{addr}"' in (conf or "") and s is not None and
          int(port) in [p["port"] for p in s["spec"]["ports"]])

pdb = by_name("PodDisruptionBudget", "devcloud-proxy")
proxy = by_name("Deployment", "devcloud-proxy")
check("a PodDisruptionBudget for the proxy selects the proxy's pods and "
      "leaves room for a disruption",
      pdb is not None and proxy is not None and
      selects(pdb["spec"]["selector"]["matchLabels"],
              proxy["spec"]["template"]["metadata"]["labels"]) and
      pdb["spec"].get("minAvailable", 0) < proxy["spec"]["replicas"])
check("the proxy's rolling update never goes below its replicas",
      proxy is not None and proxy["spec"].get("strategy", {}).get(
          "rollingUpdate", {}).get("maxUnavailable") == 0)

rs = by_name("StatefulSet", "redis")
args = " ".join(rs["spec"]["template"]["spec"]["containers"][0].get(
    "args", [])) if rs else ""
check("redis: a StatefulSet with AOF on (appendonly yes, appendfsync "
      "everysec)", "--appendonly yes" in args and
      "--appendfsync everysec" in args)
vct = rs["spec"].get("volumeClaimTemplates", []) if rs else []
mounted = [m for m in rs["spec"]["template"]["spec"]["containers"][0].get(
    "volumeMounts", []) if m["name"] in [v["metadata"]["name"]
                                        for v in vct]] if rs else []
check("redis: its --dir is on a PersistentVolumeClaim",
      bool(mounted) and f"--dir {mounted[0]['mountPath']}" in args)

auto = by_name("Deployment", "devcloud-autostart")
sa = auto and auto["spec"]["template"]["spec"].get("serviceAccountName")
check("autostart runs as a service account of its own",
      sa and by_name("ServiceAccount", sa) is not None)
granted = set()
for rb in objs.get("RoleBinding", []):
    if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa
               for s in rb.get("subjects", [])):
        continue
    role = by_name("Role", rb["roleRef"]["name"])
    for rule in (role or {}).get("rules", []):
        if "apps" in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    granted.add((res, verb))
for res, verb in (("deployments", "get"), ("deployments/scale", "get"),
                  ("deployments/scale", "patch")):
    check(f"autostart's service account may {verb} {res}",
          (res, verb) in granted)
check("and nothing that creates or deletes",
      not [g for g in granted if g[1] in ("create", "delete", "*")])
sys.exit(1 if fails else 0)

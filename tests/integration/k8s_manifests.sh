#!/bin/bash
# deploy/kubernetes/ checked offline: no API server runs here, and
# kubectl's client-side dry run (apply or create --dry-run=client) asks
# one for its API groups, so it cannot run without a cluster.
#
#   kubectl label --local -f deploy/kubernetes/ -o name
#       kubectl (Debian's kubernetes-client) reads every file and makes
#       each document an object without a server: YAML that parses, an
#       apiVersion, a kind and a name in each; the list of objects is
#       the one expected.
#   k8s_manifests.py
#       the structure the suite relies on (selectors, ports, probes,
#       images, requests, AOF on a claim, the RBAC of the kubernetes
#       driver), and devcloud.conf of the ConfigMap checked by each
#       daemon's -t with its pod's environment.
#
# Not checked: a cluster's schemas and admission, storage classes, the
# pods running. README.md ("Kubernetes") says the same.
. "$(dirname "$0")/lib.sh"

DIR=$ROOT/deploy/kubernetes
if ! command -v kubectl >/dev/null 2>&1; then
	not_ok "kubectl is installed (Debian package kubernetes-client; make deps)"
	finish
fi
# No kubeconfig of the user's: an empty one of ours, naming no cluster,
# so nothing may reach one (and kubectl 1.20, Debian's, has no missing
# file to warn about).
export KUBECONFIG=$T/empty-kubeconfig HOME=$T
printf 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n' \
	>"$KUBECONFIG"
kubectl label --local -f "$DIR" devcloud.test/checked=1 -o name \
	>"$T/objects" 2>"$T/kubectl.err"
check "kubectl reads every manifest offline (label --local)" \
	[ $? -eq 0 -a ! -s "$T/kubectl.err" ]
sed 's/^/#   /' "$T/kubectl.err"
sort "$T/objects" >"$T/objects.sorted"
sort >"$T/expected" <<'LIST'
configmap/devcloud-config
deployment.apps/devcloud-autostart
deployment.apps/devcloud-bus
deployment.apps/devcloud-deployer
deployment.apps/devcloud-idepool
deployment.apps/devcloud-proxy
deployment.apps/devcloud-regulator
namespace/devcloud
persistentvolumeclaim/devcloud-releases
poddisruptionbudget.policy/devcloud-proxy
role.rbac.authorization.k8s.io/devcloud-app-scaler
rolebinding.rbac.authorization.k8s.io/devcloud-autostart-app-scaler
service/autostart
service/bus
service/deployer
service/idepool
service/proxy
service/proxy-control
service/redis
service/regulator
serviceaccount/devcloud-autostart
statefulset.apps/redis
LIST
check "kubectl sees exactly the expected objects" \
	diff -u "$T/expected" "$T/objects.sorted"

# Debian's python3-yaml is for Debian's python3, which may not be the
# first python3 on the PATH (a pyenv one, say)
PY=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import yaml' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
	not_ok "python3-yaml is installed (make deps)"
	finish
fi
"$PY" "$(dirname "$0")/k8s_manifests.py" "$DIR" "$BIN" \
	"$(cat "$ROOT/VERSION")" "$T/conf" || FAILS=$((FAILS + 1))
finish

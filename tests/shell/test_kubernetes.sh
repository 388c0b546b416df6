#!/usr/bin/env bash
# deploy/kubernetes: the manifests validate offline against the Kubernetes API schemas
# (kubernetes-validate, PyPI, schemas bundled), the kustomization lists every manifest, the security
# invariants hold (deploy/kubernetes/check_security.py) and removing any one protection fails that
# check, and the netinit egress rules are what docs/kubernetes.md says. Tools that are absent are
# skipped outside CI and a failure in CI (.ci/run installs them).
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K8S=$REPO/deploy/kubernetes
cd "$K8S" || exit 1
missing() {
	if [ "${CI:-}" = true ]; then fail "$1 is missing in CI (.ci/run installs it)"; else skip "$1 not installed"; fi
}
manifests=()
for f in *.yaml; do [ "$f" = kustomization.yaml ] || manifests+=("$f"); done

# 1. Schemas, offline (no network namespace when unshare works), for the oldest Kubernetes with
# native sidecars (1.29) and the newest the validator bundles.
if command -v kubernetes-validate >/dev/null 2>&1; then
	offline=()
	unshare -rn true 2>/dev/null && offline=(unshare -rn)
	for v in 1.29.0 ""; do
		args=(--strict --quiet)
		[ -z "$v" ] || args+=(-k "$v")
		if out=$("${offline[@]}" kubernetes-validate "${args[@]}" "${manifests[@]}" 2>&1); then
			pass "kubernetes-validate --strict ${v:-latest}${offline:+ (offline)}: ${manifests[*]}"
		else
			fail "kubernetes-validate ${v:-latest}" "$out"
		fi
	done
	# The validator really rejects a misspelled field (it is not a no-op).
	sed 's/readOnlyRootFilesystem:/readOnlyRootFilesystm:/' job.yaml >"$TMP_ROOT/typo.yaml"
	if ! kubernetes-validate --strict --quiet "$TMP_ROOT/typo.yaml" >/dev/null 2>&1; then
		pass "kubernetes-validate rejects a misspelled field"
	else
		fail "kubernetes-validate accepted readOnlyRootFilesystm"
	fi
else
	missing "kubernetes-validate (pip install kubernetes-validate)"
fi

# 2. The kustomization names every manifest (examples excepted) and every file exists.
if python3 -c 'import yaml' 2>/dev/null; then
	if out=$(python3 - <<'PY' 2>&1
import glob, os, yaml
k = yaml.safe_load(open("kustomization.yaml"))
listed = set(k.get("resources") or [])
files = [f for g in k.get("configMapGenerator") or [] for f in g.get("files") or []]
problems = [f"missing: {p}" for p in sorted(listed) + files if not os.path.exists(p)]
for f in glob.glob("*.yaml"):
    if f != "kustomization.yaml" and not f.endswith(".example.yaml") and f not in listed:
        problems.append(f"not in kustomization.yaml resources: {f}")
print("\n".join(problems))
raise SystemExit(1 if problems else 0)
PY
	); then
		pass "kustomization.yaml lists every manifest and every generator file exists"
	else
		fail "kustomization.yaml" "$out"
	fi

	# 3. The security invariants hold on the shipped manifests...
	if out=$(python3 check_security.py "${manifests[@]}" 2>&1); then
		pass "security invariants: $out"
	else
		fail "security invariants" "$out"
	fi
	# ...and each protection removed is caught, naming it.
	cat >"$TMP_ROOT/mutate.py" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
pod = doc["spec"]["template"]["spec"]
def c(name):
    return next(x for x in pod.get("initContainers", []) + pod["containers"] if x["name"] == name)
def env(name, var):
    return next(e for e in c(name)["env"] if e["name"] == var)
exec(sys.argv[2])
yaml.safe_dump(doc, sys.stdout)
PY
	mutate() { # NAME EXPECTED PYTHON (on `pod`, with c(name) = that container)
		local name=$1 want=$2 code=$3 out
		python3 "$TMP_ROOT/mutate.py" job.yaml "$code" >"$TMP_ROOT/job.yaml" || {
			fail "mutation $name: could not apply"
			return
		}
		if out=$(python3 check_security.py "$TMP_ROOT/job.yaml" networkpolicy.yaml 2>&1); then
			fail "mutation $name: the check passed" "$code"
		elif printf '%s\n' "$out" | grep -qF -- "$want"; then
			pass "mutation caught: $name"
		else
			fail "mutation $name: wrong message (wanted '$want')" "$out"
		fi
	}
	mutate "claude runAsNonRoot removed" "container 'claude': runAsNonRoot must be true" \
		'del c("claude")["securityContext"]["runAsNonRoot"]'
	mutate "agent runs as root" "container 'agent': runAsUser must be set" \
		'c("agent")["securityContext"]["runAsUser"] = 0'
	mutate "agent root FS writable" "container 'agent': readOnlyRootFilesystem must be true" \
		'c("agent")["securityContext"]["readOnlyRootFilesystem"] = False'
	mutate "egress root FS writable" "container 'egress': readOnlyRootFilesystem must be true" \
		'del c("egress")["securityContext"]["readOnlyRootFilesystem"]'
	mutate "claude keeps its capabilities" "container 'claude': capabilities.drop must include ALL" \
		'c("claude")["securityContext"]["capabilities"]["drop"] = []'
	mutate "agent gets NET_ADMIN" "container 'agent': capabilities.add must be ['IPC_LOCK']" \
		'c("agent")["securityContext"]["capabilities"]["add"].append("NET_ADMIN")'
	mutate "claude gets IPC_LOCK" "container 'claude': capabilities.add must be empty" \
		'c("claude")["securityContext"]["capabilities"]["add"] = ["IPC_LOCK"]'
	mutate "privilege escalation" "container 'claude': allowPrivilegeEscalation must be false" \
		'c("claude")["securityContext"]["allowPrivilegeEscalation"] = True'
	mutate "seccomp unconfined" "container 'agent': seccompProfile must be RuntimeDefault" \
		'c("agent")["securityContext"]["seccompProfile"]["type"] = "Unconfined"'
	mutate "token Secret in claude" "container 'claude' mounts the GitHub credentials" \
		'c("claude")["volumeMounts"].append({"name": "github-token", "mountPath": "/run/secrets/gitgate"})'
	mutate "token Secret in claude env" "container 'claude' takes the GitHub credentials" \
		'c("claude")["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "gitgate-token", "key": "token"}}})'
	mutate "socket dir on disk" "must be an emptyDir with medium: Memory" \
		'next(v for v in pod["volumes"] if v["name"] == "sockets")["emptyDir"].pop("medium")'
	mutate "readiness only checks the file" "readinessProbe must exec gitgate-agent --probe" \
		'c("agent")["readinessProbe"]["exec"]["command"] = ["test", "-S", "/run/gitgate/agent.sock"]'
	mutate "no liveness probe" "livenessProbe must exec gitgate-agent --probe" \
		'del c("agent")["livenessProbe"]'
	mutate "ALLOWED_UIDS without claude" "ALLOWED_UIDS must list claude's runAsUser" \
		'env("agent", "ALLOWED_UIDS")["value"] = "[10001]"'
	mutate "ALLOWED_UIDS with a stranger" "ALLOWED_UIDS may list only" \
		'env("agent", "ALLOWED_UIDS")["value"] = "[1000, 10001, 0]"'
	mutate "claude uid changed alone" "AI_UID=1000 must be the runAsUser" \
		'c("claude")["securityContext"]["runAsUser"] = 1001; env("agent", "ALLOWED_UIDS")["value"] = "[1001, 10001]"'
	mutate "service account token" "automountServiceAccountToken must be false" \
		'del pod["automountServiceAccountToken"]'
	mutate "shared PID namespace" "shareProcessNamespace must not be true" \
		'pod["shareProcessNamespace"] = True'
	mutate "netinit as a sidecar" "must be the first plain init container" \
		'c("netinit")["restartPolicy"] = "Always"'
	mutate "no limits" "container 'agent': resources.limits.memory must be set" \
		'del c("agent")["resources"]["limits"]'
	mutate "audit to a file" "AUDIT_LOG must be '-'" \
		'env("agent", "AUDIT_LOG")["value"] = "/tmp/audit.jsonl"'
	mutate "pod labels no longer selected by the NetworkPolicy" "no NetworkPolicy with policyTypes [Ingress, Egress] and no ingress rule selects" \
		'doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "other"'
	mutate "agent state shared with claude" "volume 'state' is shared read-write" \
		'c("claude")["volumeMounts"].append({"name": "state", "mountPath": "/var/lib/gitgate"})'
	mutate "workspace in the agent" "container 'agent' must not mount the workspace" \
		'c("agent")["volumeMounts"].append({"name": "workspace", "mountPath": "/workspace", "readOnly": True})'
	mutate "workspace in the agent elsewhere" "container 'agent' must not mount the workspace" \
		'c("agent")["volumeMounts"].append({"name": "workspace", "mountPath": "/srv/ws", "readOnly": True})'
	if out=$(python3 check_security.py job.yaml 2>&1); then
		fail "without networkpolicy.yaml the check passed"
	elif printf '%s\n' "$out" | grep -q "no NetworkPolicy"; then
		pass "mutation caught: no NetworkPolicy"
	else
		fail "no NetworkPolicy: wrong message" "$out"
	fi
else
	missing "PyYAML (python3-yaml)"
fi

# 4. The egress rules (dry run: the commands netinit.sh would run).
resolv=$TMP_ROOT/resolv.conf
printf 'search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n' >"$resolv"
rules=$(env AI_UID=1000 AGENT_UID=10001 PROXY_UID=13 PROXY_PORT=3128 RESOLV_CONF="$resolv" \
	AGENT_ALLOW_HOSTS="github.com api.github.com" AGENT_ALLOW_CIDRS="140.82.112.0/20" \
	NETINIT_DRY_RUN=1 NETINIT_FAKE_ADDRS=192.0.2.10 sh netinit/netinit.sh 2>&1)
expect_rule() {
	if printf '%s\n' "$rules" | grep -qxF -- "$2"; then pass "netinit: $1"; else fail "netinit: $1" "missing: $2" "$rules"; fi
}
expect_rule "AI uid reaches the proxy" "iptables -w 5 -A GITGATE-OUT -o lo -d 127.0.0.1 -p tcp --dport 3128 -m owner --uid-owner 1000 -j ACCEPT"
expect_rule "agent uid reaches GitHub (resolved)" "iptables -w 5 -A GITGATE-OUT -d 192.0.2.10 -p tcp --dport 443 -m owner --uid-owner 10001 -j ACCEPT"
expect_rule "agent uid reaches GitHub (ranges)" "iptables -w 5 -A GITGATE-OUT -d 140.82.112.0/20 -p tcp --dport 443 -m owner --uid-owner 10001 -j ACCEPT"
expect_rule "agent uid resolves names" "iptables -w 5 -A GITGATE-OUT -d 10.96.0.10 -p udp --dport 53 -m owner --uid-owner 10001 -j ACCEPT"
expect_rule "proxy uid reaches 80/443" "iptables -w 5 -A GITGATE-OUT ! -o lo -p tcp -m multiport --dports 80,443 -m owner --uid-owner 13 -j ACCEPT"
expect_rule "everything else refused" "iptables -w 5 -A GITGATE-OUT -j REJECT --reject-with icmp-port-unreachable"
expect_rule "the chain is in OUTPUT" "iptables -w 5 -A OUTPUT -j GITGATE-OUT"
expect_rule "the IPv6 chain is in OUTPUT" "ip6tables -w 5 -A OUTPUT -j GITGATE-OUT"
expect_rule "IPv6: nothing but the proxy" "ip6tables -w 5 -A GITGATE-OUT -j REJECT"
# The AI's uid gets exactly one ACCEPT (the proxy): no DNS, no GitHub, no other port.
n=$(printf '%s\n' "$rules" | grep -c -- '--uid-owner 1000 -j ACCEPT')
if [ "$n" = 2 ]; then # one IPv4, one IPv6 (both loopback port 3128)
	pass "netinit: the AI uid has no rule but the proxy's"
else
	fail "netinit: the AI uid has $n ACCEPT rules (want 2: the proxy, v4 and v6)" "$rules"
fi
# The final REJECTs come after every ACCEPT.
v4rules=$(printf '%s\n' "$rules" | grep '^iptables ')
last_accept=$(printf '%s\n' "$v4rules" | grep -n 'GITGATE-OUT.*-j ACCEPT' | tail -n 1 | cut -d: -f1)
first_reject=$(printf '%s\n' "$v4rules" | grep -n 'GITGATE-OUT.*-j REJECT' | head -n 1 | cut -d: -f1)
if [ -n "$last_accept" ] && [ -n "$first_reject" ] && [ "$last_accept" -lt "$first_reject" ]; then
	pass "netinit: REJECT after every ACCEPT"
else
	fail "netinit: rule order" "$rules"
fi
if out=$(env AI_UID=1000x AGENT_UID=10001 PROXY_UID=13 RESOLV_CONF="$resolv" NETINIT_DRY_RUN=1 sh netinit/netinit.sh 2>&1); then
	fail "netinit accepted AI_UID=1000x"
elif printf '%s\n' "$out" | grep -q "'1000x' is not a number (AI_UID"; then
	pass "netinit: a bad uid is refused, naming the setting"
else
	fail "netinit: bad uid message" "$out"
fi
if command -v shellcheck >/dev/null 2>&1; then
	if out=$(shellcheck --shell=sh netinit/netinit.sh 2>&1); then pass "shellcheck --shell=sh netinit.sh"; else fail "shellcheck netinit.sh" "$out"; fi
fi

# 4b. The same rules for real, in a private network namespace (loopback only): which uid reaches
# which listener. Needs root, unshare -n, iptables and setpriv; skipped otherwise.
netns_test() {
	local dir=$TMP_ROOT/netns
	mkdir -p "$dir"
	printf 'nameserver 127.0.0.53\n' >"$dir/resolv.conf"
	cat >"$dir/listen.py" <<'PY'
import socket, sys, threading
socks = []
for host, port in (("127.0.0.1", 3128), ("127.0.0.1", 4444), ("127.0.0.2", 443)):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(64); socks.append(s)
    threading.Thread(target=lambda s=s: [s.accept()[0].close() for _ in iter(int, 1)], daemon=True).start()
open(sys.argv[1], "w").write("ready\n")
threading.Event().wait(60)
PY
	cat >"$dir/inside.sh" <<'SH'
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
ip link set lo up
AI_UID=1000 AGENT_UID=10001 PROXY_UID=13 PROXY_PORT=3128 RESOLV_CONF=$1/resolv.conf \
	AGENT_ALLOW_HOSTS= AGENT_ALLOW_CIDRS=127.0.0.2 sh "$2" >/dev/null
python3 "$1/listen.py" "$1/ready" &
for _ in $(seq 100); do [ -f "$1/ready" ] && break; sleep 0.05; done
for case in 1000:127.0.0.1:3128 1000:127.0.0.1:4444 1000:127.0.0.2:443 \
	10001:127.0.0.2:443 10001:127.0.0.1:3128 10001:127.0.0.1:4444 13:127.0.0.1:4444 0:127.0.0.1:4444; do
	uid=${case%%:*} dest=${case#*:}
	r=$(setpriv --reuid "$uid" --regid "$uid" --clear-groups python3 -c '
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
try:
    socket.create_connection((h, int(p)), timeout=3).close(); print("open")
except OSError as e:
    print(type(e).__name__)
' "$dest")
	echo "$uid $dest $r"
done
kill %1 2>/dev/null || true
SH
	unshare -n bash "$dir/inside.sh" "$dir" "$K8S/netinit/netinit.sh" 2>&1
}
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/iptables ] && command -v setpriv >/dev/null 2>&1 &&
	unshare -n true 2>/dev/null; then
	got=$(netns_test)
	want="1000 127.0.0.1:3128 open
1000 127.0.0.1:4444 ConnectionRefusedError
1000 127.0.0.2:443 ConnectionRefusedError
10001 127.0.0.2:443 open
10001 127.0.0.1:3128 open
10001 127.0.0.1:4444 ConnectionRefusedError
13 127.0.0.1:4444 ConnectionRefusedError
0 127.0.0.1:4444 ConnectionRefusedError"
	if [ "$got" = "$want" ]; then
		pass "netinit rules applied in a network namespace: AI uid reaches only the proxy, agent uid GitHub and the proxy, others nothing"
	else
		fail "netinit rules in a network namespace" "want:" "$want" "got:" "$got"
	fi
else
	skip "netinit rules for real: needs root, unshare -n, /usr/sbin/iptables and setpriv"
fi

# 5. The egress proxy's configuration is the one containers/egress/squid-conf.sh renders for the
# default allowlist (on loopback), and it parses.
conf_body=$(grep -v '^#' egress/squid.conf | sed '/./,$!d')
if rendered=$(bash "$REPO/containers/egress/squid-conf.sh" --listen 127.0.0.1:3128 \
	'["api.anthropic.com","statsig.anthropic.com","statsig.com","sentry.io"]' 2>&1) &&
	[ "$conf_body" = "$(printf '%s\n' "$rendered" | grep -v '^#' | sed '/./,$!d')" ]; then
	pass "egress/squid.conf is squid-conf.sh's rendering of the default ALLOWED_EGRESS"
else
	fail "egress/squid.conf differs from squid-conf.sh's rendering (re-render it: see its header)"
fi
if command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ]; then
	sq=$(command -v squid || echo /usr/sbin/squid)
	if out=$("$sq" -k parse -f egress/squid.conf 2>&1) && ! printf '%s\n' "$out" | grep -qi 'fatal\|bungled'; then
		pass "squid -k parse egress/squid.conf"
	else
		fail "squid -k parse egress/squid.conf" "$out"
	fi
else
	missing "squid"
fi

finish

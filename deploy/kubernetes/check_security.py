#!/usr/bin/env python3
"""Check the security invariants of gitgate's Kubernetes manifests (docs/kubernetes.md).

    python3 deploy/kubernetes/check_security.py deploy/kubernetes/*.yaml
    kubectl kustomize my-overlay | python3 deploy/kubernetes/check_security.py -

Exit 0 when every pod template (Job, StatefulSet, Deployment, Pod) that runs gitgate-agent keeps
every protection; otherwise 1 with one line per violation. Needs PyYAML. tests/shell/
test_kubernetes.sh runs it on the shipped manifests and on copies with one protection removed.
"""
import json
import sys

import yaml

AGENT, AI, PROXY, NETINIT = "agent", "claude", "egress", "netinit"
# Secrets that hold GitHub credentials: mounted in the agent container only.
GITHUB_SECRETS = {"gitgate-token", "gitgate-app-key"}
SOCKET_DIR = "/run/gitgate"
SOCKET = SOCKET_DIR + "/agent.sock"
CAPS_ADDED = {AGENT: ["IPC_LOCK"], NETINIT: ["NET_ADMIN"], AI: [], PROXY: []}


def pod_specs(doc):
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in ("Job", "StatefulSet", "Deployment", "DaemonSet", "ReplicaSet"):
        return [((spec.get("template") or {}).get("spec")) or {}]
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [((job.get("template") or {}).get("spec")) or {}]
    return []


def env_value(c, name):
    for e in c.get("env") or []:
        if e.get("name") == name:
            return e
    return None


def check_pod(where, pod, problems):
    def bad(msg):
        problems.append(f"{where}: {msg}")

    inits = pod.get("initContainers") or []
    mains = pod.get("containers") or []
    by_name = {c.get("name"): c for c in inits + mains}
    for name in (AGENT, AI):
        if name not in by_name:
            bad(f"no container named '{name}'")
    if problems:
        return
    agent, ai = by_name[AGENT], by_name[AI]

    if pod.get("automountServiceAccountToken") is not False:
        bad("automountServiceAccountToken must be false")
    for k in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
        if pod.get(k):
            bad(f"{k} must not be true")
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        bad("pod securityContext.runAsNonRoot must be true")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        bad("pod securityContext.seccompProfile must be RuntimeDefault")

    for c in inits + mains:
        n = c.get("name")
        sc = c.get("securityContext") or {}
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad(f"container '{n}': capabilities.drop must include ALL")
        want = CAPS_ADDED.get(n, [])
        if sorted(caps.get("add") or []) != sorted(want):
            bad(f"container '{n}': capabilities.add must be {want or 'empty'}, is {caps.get('add') or []}")
        if sc.get("privileged"):
            bad(f"container '{n}': privileged must not be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad(f"container '{n}': allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad(f"container '{n}': readOnlyRootFilesystem must be true")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            bad(f"container '{n}': seccompProfile must be RuntimeDefault")
        if n == NETINIT:
            if c not in inits or c.get("restartPolicy") == "Always" or inits.index(c) != 0:
                bad(f"container '{n}' (root, NET_ADMIN) must be the first plain init container")
        else:
            if sc.get("runAsNonRoot") is not True:
                bad(f"container '{n}': runAsNonRoot must be true")
            if sc.get("runAsUser") in (None, 0):
                bad(f"container '{n}': runAsUser must be set to a non-zero uid")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    bad(f"container '{n}': resources.{kind}.{r} must be set")

    # GitHub credentials: in the agent container only.
    vols = {v.get("name"): v for v in pod.get("volumes") or []}

    def secret_names(v):
        names = set()
        if "secret" in v:
            names.add((v["secret"] or {}).get("secretName"))
        for src in ((v.get("projected") or {}).get("sources")) or []:
            if "secret" in src:
                names.add((src["secret"] or {}).get("name"))
        return names

    for c in inits + mains:
        n = c.get("name")
        for m in c.get("volumeMounts") or []:
            v = vols.get(m.get("name")) or {}
            if n != AGENT and secret_names(v) & GITHUB_SECRETS:
                bad(f"container '{n}' mounts the GitHub credentials (volume '{m.get('name')}'): agent only")
            if n == AI and secret_names(v):
                bad(f"container '{n}' mounts a Secret volume '{m.get('name')}'")
        refs = [((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") for e in c.get("env") or []]
        refs += [((e.get("secretRef") or {}).get("name")) for e in c.get("envFrom") or []]
        if n != AGENT and set(refs) & GITHUB_SECRETS:
            bad(f"container '{n}' takes the GitHub credentials from a Secret in its env: agent only")
        for e in c.get("env") or []:
            if n != AGENT and e.get("name") in ("GITHUB_TOKEN", "GITHUB_TOKEN_FILE", "GITHUB_APP_PRIVATE_KEY_FILE"):
                bad(f"container '{n}' sets {e.get('name')}: agent only")
    gh = env_value(ai, "GH_TOKEN")
    if gh is not None and gh.get("value") != "gitgate-placeholder-not-a-token":
        bad("container 'claude': GH_TOKEN must be the placeholder")
    if not any(secret_names(vols.get(m.get("name")) or {}) & GITHUB_SECRETS for m in agent.get("volumeMounts") or []):
        if env_value(agent, "GITHUB_TOKEN_FILE") is not None:
            bad("container 'agent': GITHUB_TOKEN_FILE is set but no GitHub Secret is mounted")

    # The sockets: one in-memory emptyDir, shared by the agent and the AI container.
    def mount_of(c, path):
        return next((m for m in c.get("volumeMounts") or [] if m.get("mountPath") == path), None)

    am, cm = mount_of(agent, SOCKET_DIR), mount_of(ai, SOCKET_DIR)
    if not am or not cm or am.get("name") != cm.get("name"):
        bad(f"the agent and claude must share one volume at {SOCKET_DIR}")
    else:
        v = vols.get(am.get("name")) or {}
        if (v.get("emptyDir") or {}).get("medium") != "Memory":
            bad(f"volume '{am.get('name')}' ({SOCKET_DIR}) must be an emptyDir with medium: Memory")
    for c in (agent, ai):
        e = env_value(c, "GITGATE_SOCKET")
        if not e or e.get("value") != SOCKET:
            bad(f"container '{c.get('name')}': GITGATE_SOCKET must be {SOCKET}")
    # Design v3: the agent never reads the workspace, and nothing but the sockets is shared; anything
    # else the two share is at least read-only on one side.
    ai_by_vol = {m.get("name"): m for m in ai.get("volumeMounts") or []}
    for m in agent.get("volumeMounts") or []:
        if m.get("mountPath") == "/workspace" or (
            m.get("name") in ai_by_vol and ai_by_vol[m.get("name")].get("mountPath") == "/workspace"
        ):
            bad("container 'agent' must not mount the workspace (the agent never reads it)")
    am_by_vol = {m.get("name"): m for m in agent.get("volumeMounts") or []}
    for m in ai.get("volumeMounts") or []:
        other = am_by_vol.get(m.get("name"))
        if other and m.get("mountPath") != SOCKET_DIR and not (m.get("readOnly") or other.get("readOnly")):
            bad(f"volume '{m.get('name')}' is shared read-write by the agent and claude")

    # The peer check admits the AI's uid.
    ai_uid = (ai.get("securityContext") or {}).get("runAsUser")
    agent_uid = (agent.get("securityContext") or {}).get("runAsUser")
    e = env_value(agent, "ALLOWED_UIDS")
    try:
        uids = json.loads(e.get("value")) if e else None
    except (ValueError, TypeError):
        uids = None
    if not isinstance(uids, list) or ai_uid not in uids:
        bad(f"container 'agent': ALLOWED_UIDS must list claude's runAsUser ({ai_uid})")
    elif set(uids) - {ai_uid, agent_uid}:
        bad(f"container 'agent': ALLOWED_UIDS may list only claude's uid and the agent's own, is {uids}")

    # Probes talk to the agent.
    for p in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = agent.get(p)
        if probe is None and p == "startupProbe":
            continue
        cmd = ((probe or {}).get("exec") or {}).get("command") or []
        if not cmd or not cmd[0].endswith("gitgate-agent") or "--probe" not in cmd:
            bad(f"container 'agent': {p} must exec gitgate-agent --probe")

    # Audit on stdout with the pod's name.
    if (env_value(agent, "AUDIT_LOG") or {}).get("value") != "-":
        bad("container 'agent': AUDIT_LOG must be '-' (stdout)")
    pod_name = (((env_value(agent, "POD_NAME") or {}).get("valueFrom") or {}).get("fieldRef") or {})
    if pod_name.get("fieldPath") != "metadata.name":
        bad("container 'agent': POD_NAME must come from the downward API (metadata.name)")

    # The egress rules match the uids that really run.
    if NETINIT in by_name:
        ni = by_name[NETINIT]
        for var, c in (("AI_UID", ai), ("AGENT_UID", agent), ("PROXY_UID", by_name.get(PROXY))):
            want = ((c or {}).get("securityContext") or {}).get("runAsUser")
            got = (env_value(ni, var) or {}).get("value")
            if want is None or got != str(want):
                bad(f"container 'netinit': {var}={got} must be the runAsUser of its container ({want})")
    else:
        bad("no 'netinit' init container: the AI's uid would reach the network directly")


def main(argv):
    paths = argv[1:] or ["-"]
    problems, pods, policies, pod_labels = [], 0, [], []
    for path in paths:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        for i, doc in enumerate(yaml.safe_load_all(text)):
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "NetworkPolicy":
                policies.append(doc)
            for spec in pod_specs(doc):
                names = [c.get("name") for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
                if AGENT in names or AI in names:
                    pods += 1
                    tmpl = (doc.get("spec") or {}).get("template") or {}
                    labels = ((tmpl.get("metadata") or {}).get("labels")) or ((doc.get("metadata") or {}).get("labels")) or {}
                    pod_labels.append(labels)
                    where = f"{path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
                    check_pod(where, spec, problems)
    if pods == 0:
        problems.append("no gitgate pod template found")
    def selects(p, labels):
        sel = ((p.get("spec") or {}).get("podSelector") or {})
        if sel.get("matchExpressions"):
            return False  # not evaluated here: be explicit with matchLabels
        return all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items())

    for labels in pod_labels:
        ok_policy = any(
            set((p.get("spec") or {}).get("policyTypes") or []) >= {"Ingress", "Egress"}
            and not (p.get("spec") or {}).get("ingress")
            and selects(p, labels)
            for p in policies
        )
        if not ok_policy:
            problems.append(
                f"no NetworkPolicy with policyTypes [Ingress, Egress] and no ingress rule selects the pod labels {labels}"
            )
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {pods} gitgate pod template(s), every protection in place")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

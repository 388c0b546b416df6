#!/usr/bin/env python3
"""Render deploy/kubernetes/ for `podman kube play` (the opt-in test tests/tests/kube_play.rs).

    python3 tests/kube-play/render.py DEPLOY_DIR PARAMS_JSON OUT_YAML

Reads DEPLOY_DIR/job.yaml and DEPLOY_DIR/policy.yaml as shipped and writes OUT_YAML: the ConfigMaps
and the Job's pod template as a Pod. Prints a JSON summary on stdout: the pod's name, and the
podman volumes and secrets `kube play` will create (the test removes them afterwards).

The rendering differs from the manifests ONLY in what podman 4.3.1 (Debian 12) cannot express or
what a test needs; every difference is listed here and in docs/kubernetes.md ("Tested with podman
kube play"). Security contexts, the Memory emptyDir for the sockets, the Secret mounted only in
the agent, the ConfigMap policy (envFrom) and the probes are kept as they are.

  1. kind Job -> kind Pod with the template's spec and labels (kube play 4.3.1 knows Pod,
     Deployment, PersistentVolumeClaim and ConfigMap only).
  2. The agent moves from initContainers (native sidecar, restartPolicy: Always) to the first of
     `containers` without restartPolicy: podman 4.3.1 runs every init container to completion
     before starting the others, so the sidecar would block the pod forever (observed: kube play
     hangs). Docs: "On an older cluster move agent and egress to containers:".
  3. netinit and egress are left out, with the volumes only they use (the two kustomize-generated
     ConfigMaps): with (4) netinit's iptables rules would be applied to the host's own network
     namespace. The egress rules are tested elsewhere (tests/shell/test_kubernetes.sh applies them
     in a private network namespace; test_egress_container.sh runs the proxy).
  4. hostNetwork: true (test endpoints): the loopback git server and fake GitHub API of the test
     listen on the host's 127.0.0.1, which the pod then shares. Nothing else listens for the pod.
  5. securityContext.supplementalGroups: [<fsGroup>] at pod level: podman 4.3.1 ignores fsGroup;
     the kubelet gives every container the fsGroup as a supplementary group, which is how the AI's
     uid reaches the agent's 0660 sockets. This is that effect, no more.
  6. The Secret volume gets `optional: false` (Kubernetes' default): podman 4.3.1 dereferences the
     unset field and panics.
  7. Images: the test's FROM scratch images, imagePullPolicy: Never (no registry).
  8. The policy ConfigMap gets the test endpoints (ALLOWED_HOSTS, ALLOWED_REPOS, GITHUB_API_URL,
     GITGATE_ALLOW_HTTP_LOOPBACK); everything else in it stays.
  9. claude runs the test's command (a bounded sleep; the test drives the session with
     `podman exec`) instead of `claude -p "$(TASK_PROMPT)"`; its image has no Claude Code.

What podman 4.3.1 accepts but does not do (nothing in the rendering can change that; the test
checks what it can instead): startupProbe and readinessProbe are ignored, and the livenessProbe
becomes a healthcheck that nothing runs without systemd (the test runs it: `podman healthcheck
run`); emptyDir `medium: Memory` becomes a volume on disk; fsGroup and the Secret's defaultMode are
ignored.
"""
import copy
import json
import sys

import yaml

AGENT, AI, DROPPED = "agent", "claude", ("netinit", "egress")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def render(deploy, params):
    job = next(d for d in load(f"{deploy}/job.yaml") if d.get("kind") == "Job")
    configmaps = [d for d in load(f"{deploy}/policy.yaml") if d.get("kind") == "ConfigMap"]
    tmpl = copy.deepcopy(job["spec"]["template"])
    spec = tmpl["spec"]

    # (2), (3)
    inits = spec.pop("initContainers", []) or []
    agent = next(c for c in inits if c["name"] == AGENT)
    agent.pop("restartPolicy", None)
    rest = [c for c in inits if c["name"] not in DROPPED + (AGENT,)]
    if rest:
        spec["initContainers"] = rest
    spec["containers"] = [agent] + spec["containers"]
    used = {m["name"] for c in spec["containers"] + rest for m in c.get("volumeMounts") or []}
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v["name"] in used]

    # (4), (5), (6)
    spec["hostNetwork"] = True
    psc = spec.setdefault("securityContext", {})
    if "fsGroup" in psc:
        psc["supplementalGroups"] = sorted(set(psc.get("supplementalGroups") or []) | {psc["fsGroup"]})
    for v in spec["volumes"]:
        if "secret" in v:
            v["secret"].setdefault("optional", False)

    # (7), (9)
    for c in spec["containers"]:
        name, _, _ = c["image"].partition(":")
        c["image"] = params["images"][name]
        c["imagePullPolicy"] = "Never"
        if c["name"] == AI:
            c["command"] = params["claude_command"]
            c.pop("args", None)

    # (8)
    for cm in configmaps:
        if cm["metadata"]["name"] == "gitgate-policy":
            cm["data"].update(params["policy"])

    # (1)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": params["pod"], "labels": tmpl.get("metadata", {}).get("labels", {})},
        "spec": spec,
    }
    volumes, secrets = [], []
    for v in spec["volumes"]:
        if "emptyDir" in v:
            volumes.append(v["name"])
        elif "configMap" in v:
            volumes.append(v["configMap"]["name"])
        elif "secret" in v:
            volumes.append(v["secret"]["secretName"])
            secrets.append(v["secret"]["secretName"])
    return configmaps + [pod], {"pod": params["pod"], "volumes": volumes, "secrets": secrets}


def main(argv):
    if len(argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    deploy, params, out = argv[1], json.loads(argv[2]), argv[3]
    docs, summary = render(deploy, params)
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

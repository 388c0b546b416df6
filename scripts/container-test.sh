#!/usr/bin/env bash
# Opt-in podman tests (issues 5, 10 and 14), both skipped unless GITGATE_CONTAINER_TEST=1 (this
# script sets it):
#   container  the agent in a podman container (read-only root FS, cap_drop ALL + IPC_LOCK,
#              no-new-privileges, no workspace mount), the real git on the host with the shim as its
#              https/http remote helper, a loopback git server (tests/tests/container.rs)
#   kube_play  the deploy/kubernetes pod under `podman kube play` (a test rendering:
#              tests/kube-play/render.py), clone/push/refused push/gh inside the AI container and
#              the lockdown checked from inside (tests/tests/kube_play.rs)
#
#   scripts/container-test.sh [--install] [container|kube_play]
#
# --install first runs `apt-get install -y podman runc uidmap python3-yaml` (Debian/Ubuntu, as
# root; rootless podman also needs /etc/subuid entries). No image registry is needed: the tests
# build their images FROM scratch from host binaries (containers/Containerfile.agent-test,
# containers/Containerfile.ai-test) and use their own containers.conf unless CONTAINERS_CONF is
# set. The kube_play test needs /usr/bin/git, /usr/bin/gh, dash and python3 with PyYAML, and runs
# as root (podman mount). Without podman the tests print "skipped: ..." and pass. See
# docs/kubernetes.md ("Tested with podman kube play").
set -euo pipefail

cd "$(dirname "$0")/.."
tests=(container kube_play)
while [ $# -gt 0 ]; do
	case "$1" in
	--install)
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y podman runc uidmap python3-yaml
		;;
	container | kube_play) tests=("$1") ;;
	*) echo "usage: $0 [--install] [container|kube_play]" >&2; exit 2 ;;
	esac
	shift
done
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
# One test binary at a time: the two share the host's podman, and kube play's volume names.
GITGATE_CONTAINER_TEST=1 exec cargo test -p gitgate-e2e "${args[@]}" -- --nocapture --test-threads=1

#!/usr/bin/env bash
# Container end-to-end test (issue 5): the agent in a podman container (read-only root FS,
# cap_drop ALL + IPC_LOCK, no-new-privileges), the shim on the host, a loopback git server.
#
#   scripts/container-test.sh [--install]
#
# --install first runs `apt-get install -y podman runc uidmap` (Debian/Ubuntu, as root; rootless
# podman also needs /etc/subuid entries). No image registry is needed: the test builds its image
# FROM scratch (containers/Containerfile.agent-test) and uses its own containers.conf unless
# CONTAINERS_CONF is set. See the top of tests/tests/container.rs. Without podman the test prints
# "skipped: ..." and passes.
set -euo pipefail

cd "$(dirname "$0")/.."
case "${1:-}" in
'') ;;
--install)
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y podman runc uidmap
	;;
*) echo "usage: $0 [--install]" >&2; exit 2 ;;
esac
GITGATE_CONTAINER_TEST=1 exec cargo test -p gitgate-e2e --test container -- --nocapture

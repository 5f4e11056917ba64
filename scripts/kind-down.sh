#!/usr/bin/env bash
# Delete the kind cluster of a laptop stack and forget its Pulumi state.
#
#   scripts/kind-down.sh          # stack "kind" (or: STACK=kind scripts/kind-down.sh)
#
# Deleting the cluster removes everything the stack installed, so the stack's state is
# removed rather than destroyed resource by resource.
set -euo pipefail

STACK="${STACK:-kind}"
CLUSTER_NAME="${CLUSTER_NAME:-gigafactory}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${GIGAFACTORY_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/gigafactory/pulumi}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"

cd "$ROOT"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  kind delete cluster --name "$CLUSTER_NAME"
else
  echo "kind-down: no kind cluster $CLUSTER_NAME"
fi
if command -v pulumi >/dev/null 2>&1 && [[ -d "$STATE_DIR" ]]; then
  pulumi login "file://$STATE_DIR" >/dev/null
  pulumi stack rm "$STACK" --force --yes 2>/dev/null || echo "kind-down: no Pulumi stack $STACK in $STATE_DIR"
fi

#!/usr/bin/env bash
# Create the kind cluster of a laptop stack and install the platform with Pulumi.
#
#   scripts/kind-up.sh            # stack "kind" (or: STACK=kind scripts/kind-up.sh)
#
# Needs Docker, kind (v0.33.0), kubectl, the Pulumi CLI and the project's virtualenv
# (.venv with the `pulumi` extra). State lives in a local file backend, no Pulumi Cloud
# account: ${GIGAFACTORY_STATE_DIR:-~/.local/state/gigafactory/pulumi}. See docs/pulumi.md.
set -euo pipefail

STACK="${STACK:-kind}"
CLUSTER_NAME="${CLUSTER_NAME:-gigafactory}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
STATE_DIR="${GIGAFACTORY_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/gigafactory/pulumi}"
# Local stacks hold no secrets; an empty passphrase keeps `pulumi up` non-interactive.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"

for tool in docker kind kubectl pulumi; do
  command -v "$tool" >/dev/null 2>&1 || { echo "kind-up: '$tool' is not installed (see docs/pulumi.md)" >&2; exit 1; }
done
[[ -x "$VENV/bin/gigafactory" ]] || { echo "kind-up: no $VENV/bin/gigafactory; install the project first (docs/pulumi.md)" >&2; exit 1; }

cd "$ROOT"
config="$(mktemp)"
trap 'rm -f "$config"' EXIT
# Nodes labelled and tainted like the model's pools (fails here for a non-kind stack).
"$VENV/bin/gigafactory" kind-config --stack "$STACK" --name "$CLUSTER_NAME" >"$config"

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  echo "kind-up: cluster $CLUSTER_NAME exists, reusing it"
else
  kind create cluster --name "$CLUSTER_NAME" --config "$config" --wait 180s
fi
kubectl config use-context "kind-$CLUSTER_NAME" >/dev/null

mkdir -p "$STATE_DIR"
pulumi login "file://$STATE_DIR"
pulumi stack select "$STACK" --create
# The program runs in the project's virtualenv (Pulumi.yaml: runtime.options.virtualenv).
pulumi up --stack "$STACK" --yes --skip-preview
pulumi stack output --stack "$STACK"

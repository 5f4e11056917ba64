#!/usr/bin/env bash
# pulumi preview of one stack with the gigafactory policy pack, against a local file
# backend (no Pulumi Cloud account). Fails on a mandatory policy violation (pulumi's own
# exit code) and on any "can't run policy" message: the SDK turns a policy that reads a
# value unknown at preview into an advisory with that message, which would otherwise pass.
#
# Usage: policy/preview.sh STACK [extra pulumi preview args]
# Env:   PULUMI_BACKEND_URL    default a fresh file:// backend in a temporary folder,
#                              removed afterwards (the preview then shows every resource
#                              as a create, which is what a pull request adds up to)
#        PULUMI_CONFIG_PASSPHRASE  default empty (the stacks hold no secrets)
# Needs the Pulumi CLI on PATH and .venv with `pip install -e '.[pulumi]'` (Pulumi.yaml and
# policy/PulumiPolicy.yaml both use it). Without the CLI it says so and exits 3.
# The pack runs as the engine runs it (gigafactory/stack/engine.py): the executable analyzer
# policy/analyzer (the CLI starts a directory pack only through the Python language host),
# with the stack's config as PULUMI_CONFIG so the pack finds the site and cluster.
set -euo pipefail

stack=${1:?usage: policy/preview.sh STACK [pulumi preview args]}
shift
cd "$(dirname "$0")/.."

if ! command -v pulumi >/dev/null 2>&1; then
    echo "policy/preview.sh: no Pulumi CLI on PATH; run 'gigafactory check --stack $stack' for the offline check" >&2
    exit 3
fi

state=""
log=$(mktemp)
trap 'rm -rf "$log" ${state:+"$state"}' EXIT
if [[ -z ${PULUMI_BACKEND_URL:-} ]]; then
    state=$(mktemp -d)
    export PULUMI_BACKEND_URL="file://$state"
fi
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-}
export PULUMI_SKIP_UPDATE_CHECK=true

python=${GIGAFACTORY_PYTHON:-.venv/bin/python}
[[ -x $python ]] || python=python3
export GIGAFACTORY_PYTHON=$python
PULUMI_CONFIG=$("$python" -c '
import json, sys
from gigafactory.stack.config import load_stack_config
from gigafactory.stack.engine import pulumi_config
print(json.dumps(pulumi_config(load_stack_config(sys.argv[1]))))
' "$stack")
export PULUMI_CONFIG

# stackConfigDir: stacks, so the stack's config is stacks/Pulumi.<stack>.yaml.
pulumi stack select --create --non-interactive "$stack"

set +e
pulumi preview --stack "$stack" --non-interactive --diff \
    --policy-pack policy/analyzer --policy-pack-config policy/policy-config.json "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

if grep -q "can't run policy" "$log"; then
    echo "policy/preview.sh: a policy could not run during preview (see \"can't run policy\" above): failing" >&2
    exit 1
fi
exit "$rc"

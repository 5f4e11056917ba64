#!/bin/bash
# Runs one DCGM diagnostic suite on every GPU of this node and records the verdict in
# $RESULTS_DIR/dcgm.result ("pass" or "fail"). Always exits 0 so the NCCL test still
# runs and the report step sees both verdicts; the report step decides the exit code.
set -u
results="${RESULTS_DIR:-/results}"
level="${DCGM_LEVEL:?DCGM_LEVEL is required}"
echo "$level" > "$results/dcgm.level"

# dcgmi talks to a host engine; start a private one inside the pod (not hostNetwork,
# so it does not clash with the GPU Operator's DCGM on the node).
nv-hostengine -f "$results/nv-hostengine.log" || true
ready=no
for _ in $(seq 1 30); do
    if dcgmi discovery -l >/dev/null 2>&1; then ready=yes; break; fi
    sleep 1
done
if [ "$ready" != yes ]; then
    echo "dcgm-diag: host engine did not come up" >&2
    echo fail > "$results/dcgm.result"
    exit 0
fi

dcgmi discovery -l
echo "dcgm-diag: running dcgmi diag -r $level $*"
dcgmi diag -r "$level" "$@" 2>&1 | tee "$results/dcgm.log"
rc=${PIPESTATUS[0]}
# dcgmi exits non-zero when a test fails; the table is checked too, in case a
# failure is only reported there.
if [ "$rc" -eq 0 ] && ! grep -Eq '\|[[:space:]]*Fail' "$results/dcgm.log"; then
    echo pass > "$results/dcgm.result"
else
    echo "dcgm-diag: FAIL (exit code $rc)" >&2
    echo fail > "$results/dcgm.result"
fi
exit 0

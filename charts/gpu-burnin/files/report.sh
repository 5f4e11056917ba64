#!/bin/bash
# Combines this node's verdicts into one JSON line, written to the log and to the
# container's termination message (which the summary reads through the API).
# Exits 1 if any enabled test failed, so the node's Job index is marked failed.
set -u
results="${RESULTS_DIR:-/results}"
verdict() { cat "$results/$1.result" 2>/dev/null || echo fail; }

overall=pass
fields="\"node\":\"${NODE_NAME:-unknown}\",\"pod\":\"${POD_NAME:-unknown}\""
if [ "${DCGM_ENABLED:-false}" = true ]; then
    d="$(verdict dcgm)"
    fields="$fields,\"dcgm\":\"$d\",\"dcgm_level\":$(cat "$results/dcgm.level" 2>/dev/null || echo 0)"
    [ "$d" = pass ] || overall=fail
fi
if [ "${NVLINK_ENABLED:-false}" = true ]; then
    l="$(verdict nvlink)"
    fields="$fields,\"nvlink\":\"$l\""
    [ "$l" = pass ] || overall=fail
fi
if [ "${NCCL_ENABLED:-false}" = true ]; then
    n="$(verdict nccl)"
    fields="$fields,\"nccl\":\"$n\",\"nccl_busbw_gbps\":$(cat "$results/nccl.busbw" 2>/dev/null || echo 0)"
    [ "$n" = pass ] || overall=fail
fi
line="{$fields,\"result\":\"$overall\"}"
echo "$line"
echo "$line" > "${TERMINATION_LOG:-/dev/termination-log}"
[ "$overall" = pass ]

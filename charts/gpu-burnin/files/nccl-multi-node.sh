#!/bin/bash
# One node's share of a multi-node NCCL all-reduce: torchrun with a static rendezvous
# on pod 0 of the Indexed Job (reached through the headless Service). Every rank
# computes the same verdict; this pod writes it as its termination message.
set -u
results="${RESULTS_DIR:-/results}"
python3 -m torch.distributed.run \
    --nnodes="${NNODES:?}" --nproc-per-node="${GPUS:?}" \
    --node-rank="${JOB_COMPLETION_INDEX:?}" \
    --master-addr="${MASTER_ADDR:?}" --master-port="${MASTER_PORT:?}" \
    "${SCRIPTS_DIR:-/opt/burnin}/allreduce_check.py" \
    --max-mib "${MAX_MIB:-4096}" --iterations "${ITERATIONS:-20}" \
    --min-busbw-gbps "${MIN_BUSBW_GBPS:-0}" \
    --result-dir "$results" --name nccl
rc=$?
verdict=fail
[ -s "$results/nccl.result" ] && verdict="$(cat "$results/nccl.result")"
busbw="$(cat "$results/nccl.busbw" 2>/dev/null || echo 0)"
[ "$rc" -eq 0 ] || verdict=fail
line="{\"node\":\"${NODE_NAME:-unknown}\",\"rank\":${JOB_COMPLETION_INDEX},\"nodes\":${NNODES},\"nccl_multi_node\":\"$verdict\",\"nccl_busbw_gbps\":$busbw,\"result\":\"$verdict\"}"
echo "$line"
echo "$line" > "${TERMINATION_LOG:-/dev/termination-log}"
[ "$verdict" = pass ]

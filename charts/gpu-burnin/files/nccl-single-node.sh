#!/bin/bash
# Single-node NCCL all-reduce over all GPUs of this node (one process per GPU,
# torch.distributed with the NCCL backend). Records the verdict in
# $RESULTS_DIR/nccl.result; always exits 0 (the report step decides).
set -u
results="${RESULTS_DIR:-/results}"
gpus="${GPUS:?GPUS is required}"
python3 -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node="$gpus" \
    "${SCRIPTS_DIR:-/opt/burnin}/allreduce_check.py" \
    --max-mib "${MAX_MIB:-1024}" --iterations "${ITERATIONS:-20}" \
    --min-busbw-gbps "${MIN_BUSBW_GBPS:-0}" \
    --result-dir "$results" --name nccl
rc=$?
if [ ! -s "$results/nccl.result" ]; then
    echo "nccl-single-node: no result written (exit code $rc)" >&2
    echo fail > "$results/nccl.result"
fi
exit 0

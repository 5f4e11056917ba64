#!/bin/bash
# One node's share of a multi-node NCCL all-reduce: torchrun with a static rendezvous
# on pod 0 of the Indexed Job (reached through the headless Service). Every rank
# computes the same verdict; this pod writes it as its termination message.
# With REQUIRE_NET (e.g. IB) NCCL may not fall back to TCP sockets: NCCL_NET makes it fail
# instead, and the run fails if NCCL's log shows NET/Socket or lacks "Using network IB".
# With IB_ENABLED=true the verdict includes the ib-write-bw step's.
set -u
results="${RESULTS_DIR:-/results}"
export NCCL_DEBUG=INFO
export NCCL_DEBUG_SUBSYS="${NCCL_DEBUG_SUBSYS:-INIT,NET}"
[ -n "${REQUIRE_NET:-}" ] && export NCCL_NET="$REQUIRE_NET"
python3 -m torch.distributed.run \
    --nnodes="${NNODES:?}" --nproc-per-node="${GPUS:?}" \
    --node-rank="${JOB_COMPLETION_INDEX:?}" \
    --master-addr="${MASTER_ADDR:?}" --master-port="${MASTER_PORT:?}" \
    "${SCRIPTS_DIR:-/opt/burnin}/allreduce_check.py" \
    --max-mib "${MAX_MIB:-4096}" --iterations "${ITERATIONS:-20}" \
    --min-busbw-gbps "${MIN_BUSBW_GBPS:-0}" \
    --result-dir "$results" --name nccl 2>&1 | tee "$results/nccl.log"
rc=${PIPESTATUS[0]}
verdict=fail
[ -s "$results/nccl.result" ] && verdict="$(cat "$results/nccl.result")"
busbw="$(cat "$results/nccl.busbw" 2>/dev/null || echo 0)"
[ "$rc" -eq 0 ] || verdict=fail
transport=unchecked
if [ -n "${REQUIRE_NET:-}" ]; then
    if grep -Eq 'NET/Socket|Using network Socket' "$results/nccl.log"; then
        transport=socket; verdict=fail
        echo "nccl-multi-node: NCCL fell back to TCP sockets" >&2
    elif grep -q "Using network ${REQUIRE_NET}" "$results/nccl.log"; then
        transport="$REQUIRE_NET"
    else
        transport=unknown; verdict=fail
        echo "nccl-multi-node: NCCL's log does not show 'Using network ${REQUIRE_NET}'" >&2
    fi
fi
ib_fields=""
if [ "${IB_ENABLED:-false}" = true ]; then
    ib="$(cat "$results/ib.result" 2>/dev/null || echo fail)"
    ib_fields=",\"ib_write_bw\":\"$ib\",\"ib_gbps\":$(cat "$results/ib.gbps" 2>/dev/null || echo 0)"
    [ "$ib" = pass ] || verdict=fail
fi
line="{\"node\":\"${NODE_NAME:-unknown}\",\"rank\":${JOB_COMPLETION_INDEX},\"nodes\":${NNODES},\"nccl_multi_node\":\"$verdict\",\"nccl_busbw_gbps\":$busbw,\"nccl_transport\":\"$transport\"$ib_fields,\"result\":\"$verdict\"}"
echo "$line"
echo "$line" > "${TERMINATION_LOG:-/dev/termination-log}"
[ "$verdict" = pass ]

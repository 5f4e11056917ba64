#!/bin/bash
# InfiniBand bandwidth between this pod and its pair (index 0-1, 2-3, ...): the even index
# serves, the odd one runs ib_write_bw against it, once per device (device k on TCP port
# IB_PORT + k for the out-of-band exchange). Every device at or above IB_MIN_GBPS (Gb/s,
# the BW average column) passes. Writes $RESULTS_DIR/ib.result and ib.gbps (the lowest
# device). Always exits 0: the NCCL step still runs and reports both verdicts.
set -u
results="${RESULTS_DIR:-/results}"
index="${JOB_COMPLETION_INDEX:?}"
devices="${IB_DEVICES:?IB_DEVICES is required}"
min="${IB_MIN_GBPS:-0}"
duration="${IB_DURATION:-10}"
port="${IB_PORT:-18515}"
if [ $((index % 2)) -eq 0 ]; then
    role=server; peer=""
else
    role=client; peer="${JOB_NAME:?}-$((index - 1)).${SERVICE_NAME:?}"
fi
if ! command -v ib_write_bw >/dev/null 2>&1; then
    echo "ib-write-bw: ib_write_bw (perftest) is not in the image" >&2
    echo fail > "$results/ib.result"; echo 0 > "$results/ib.gbps"
    exit 0
fi
verdict=pass
lowest=""
k=0
for dev in $devices; do
    log="$results/ib-$dev.log"
    args=(-d "$dev" -p $((port + k)) -D "$duration" -F --report_gbits)
    rc=1
    for _ in $(seq 1 60); do  # the server pod may start later than its client
        if [ "$role" = server ]; then
            ib_write_bw "${args[@]}" > "$log" 2>&1; rc=$?; break
        fi
        ib_write_bw "${args[@]}" "$peer" > "$log" 2>&1 && { rc=0; break; }
        sleep 5
    done
    cat "$log"
    # The result row follows the "#bytes" header: bytes, iterations, BW peak, BW average, rate.
    gbps=$(awk '/#bytes/ { getline; print $4; exit }' "$log")
    if [ "$rc" -ne 0 ] || [ -z "$gbps" ]; then
        echo "ib-write-bw: $dev ($role) failed (exit code $rc)" >&2
        verdict=fail; gbps=0
    elif awk -v g="$gbps" -v m="$min" 'BEGIN { exit !(g < m) }'; then
        echo "ib-write-bw: $dev $gbps Gb/s is below the $min Gb/s floor" >&2
        verdict=fail
    fi
    if [ -z "$lowest" ] || awk -v g="$gbps" -v l="$lowest" 'BEGIN { exit !(g < l) }'; then lowest="$gbps"; fi
    k=$((k + 1))
done
echo "ib-write-bw: $verdict (lowest ${lowest:-0} Gb/s)"
echo "$verdict" > "$results/ib.result"
echo "${lowest:-0}" > "$results/ib.gbps"
exit 0

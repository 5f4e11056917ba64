#!/bin/bash
# NVLink links of every GPU of this node: `nvidia-smi nvlink --status` must list at least
# $MIN_LINKS_PER_GPU active links per GPU and no inactive one. Records the verdict in
# $RESULTS_DIR/nvlink.result; always exits 0 (the report step decides).
set -u
results="${RESULTS_DIR:-/results}"
min="${MIN_LINKS_PER_GPU:?MIN_LINKS_PER_GPU is required}"
if ! nvidia-smi nvlink --status > "$results/nvlink.log" 2>&1; then
    echo "nvlink-check: nvidia-smi nvlink --status failed" >&2
    echo fail > "$results/nvlink.result"
    exit 0
fi
cat "$results/nvlink.log"
# Lines: "GPU 0: NVIDIA GB300 (UUID: ...)" then one "Link N: 50 GB/s" or "Link N: <inactive>" each.
verdict=$(awk -v min="$min" '
    /^GPU [0-9]+:/ { if (gpu != "") check(); gpu = $2; active = 0; next }
    /Link [0-9]+:/ { if ($0 ~ /inactive/) { bad = bad " " gpu "link" $2 } else { active++ } }
    function check() { gpus++; if (active < min) { short = short " " gpu active } }
    END {
        if (gpu != "") check()
        if (gpus == 0) { print "fail no GPU listed"; exit }
        if (bad != "") { print "fail inactive:" bad; exit }
        if (short != "") { print "fail too few active links:" short; exit }
        print "pass"
    }' "$results/nvlink.log")
echo "nvlink-check: $verdict"
echo "${verdict%% *}" > "$results/nvlink.result"
exit 0

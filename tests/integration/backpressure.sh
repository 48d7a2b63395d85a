#!/usr/bin/env bash
# A fast source and a slow sink: memory stays bounded by the network
# buffer budget, whatever the volume (2 GB of records here).
source "$(dirname "$0")/common.bash"

peak_rss_kb() { # runs cflink with the given args; prints peak RSS in kB
    "$CFLINK" "$@" >"$WORK/out" 2>"$WORK/err" &
    local pid=$! peak=0 rss
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.05
    done
    wait "$pid" || echo "exit $?" >>"$WORK/err"
    echo "$peak"
}

# Baseline: the same job with little data (same binary, same sanitizers).
base=$(peak_rss_kb run -t local "$PLUGINS/tp_slow.so" --records 1000 --every 0)
expect_eq "baseline output" "received 1000 bytes=1024000" "$(job_output "$WORK/out")"
# 2,000,000 records of 1 KiB; the sink sleeps 1 ms every 1000 records.
big=$(peak_rss_kb run -t local "$PLUGINS/tp_slow.so" --records 2000000 --every 1000)
expect_eq "big job output" "received 2000000 bytes=2048000000" "$(job_output "$WORK/out")"
echo "peak RSS: baseline ${base} kB, 2 GB job ${big} kB"
if [ "$big" -lt $((base + 65536)) ]; then
    ok "memory bounded (grew $(( (big - base) / 1024 )) MB for 2 GB of records)"
else
    fail "memory grew from ${base} kB to ${big} kB"
fi
finish

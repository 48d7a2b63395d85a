#!/usr/bin/env bash
# key_by, keyed state (value, list, map, reducing) and reduce: exact
# results against an oracle computed here from the same input.
source "$(dirname "$0")/common.bash"

N=20000
K=13
# Oracle for reduce: the final sum per key.
oracle_sum=$(awk -v n=$N -v k=$K 'BEGIN { for (v = 0; v < n; v++) s[v % k] += v;
    for (i = 0; i < k; i++) print i, s[i] }' | sort -n)
oracle_proc=$(awk -v n=$N -v k=$K 'BEGIN { for (v = 0; v < n; v++) {
    key = v % k; c[key]++; s[key] += v; if (v % 2) o[key]++; else e[key]++; m[key] = v }
    for (i = 0; i < k; i++)
        printf "%d count=%d sum=%d even=%d odd=%d max=%d\n", i, c[i], s[i], e[i] + 0, o[i] + 0, m[i] }' | sort -n)

for p in 1 2 4; do
    run_cf "$WORK/out" "$WORK/err" 120 run -t local -p "$p" \
        "$PLUGINS/tp_keyed.so" --mode reduce --n $N --keys $K
    expect_eq "reduce p=$p exit code" 0 "$RC"
    # Every update is printed; the last one per key is the final sum.
    got=$(job_output "$WORK/out" | strip_prefix | awk '{last[$1] = $2} END { for (k in last) print k, last[k] }' | sort -n)
    expect_eq "reduce p=$p final sums" "$oracle_sum" "$got"
    expect_eq "reduce p=$p update count" "$N" "$(job_output "$WORK/out" | wc -l | tr -d ' ')"
    # A key is handled by exactly one subtask.
    if [ "$p" -gt 1 ]; then
        spread=$(job_output "$WORK/out" | awk '{print $2}' | sort -u | wc -l)
        owners=$(job_output "$WORK/out" | awk '{print $2, $1}' | sort -u | wc -l)
        expect_eq "reduce p=$p one subtask per key" "$K" "$owners"
    fi

    run_cf "$WORK/out" "$WORK/err" 120 run -t local -p "$p" \
        "$PLUGINS/tp_keyed.so" --mode process --n $N --keys $K
    expect_eq "process p=$p exit code" 0 "$RC"
    got=$(job_output "$WORK/out" | strip_prefix | sort -n)
    expect_eq "process p=$p state summary" "$oracle_proc" "$got"
done
finish

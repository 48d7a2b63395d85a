#!/usr/bin/env bash
# Chained and non-chained pipelines at several parallelisms: exact output.
source "$(dirname "$0")/common.bash"

expected=$(seq 1 2000 | awk '{v = $1 * 2; if (v % 3 == 0) print v}' | sort -n)
for p in 1 2 4; do
    for flags in "" "--rebalance" "--nochain"; do
        run_cf "$WORK/out" "$WORK/err" 60 run -t local -p "$p" \
            "$PLUGINS/tp_pipeline.so" --n 2000 $flags
        expect_eq "p=$p $flags exit code" 0 "$RC"
        got=$(job_output "$WORK/out" | strip_prefix | sort -n)
        expect_eq "p=$p $flags output" "$expected" "$got"
        expect_contains "p=$p $flags finished" "$WORK/out" "Program execution finished"
    done
done
# p=1: print has no "N> " prefix; p=2 with rebalance: prefixes 1> and 2>.
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 1 "$PLUGINS/tp_pipeline.so"
expect_eq "no prefix at parallelism 1" "6" "$(job_output "$WORK/out" | head -1)"
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 2 "$PLUGINS/tp_pipeline.so" --n 2000 --rebalance
expect_eq "prefixes at parallelism 2" "1> 2> " \
    "$(job_output "$WORK/out" | grep -oE '^[0-9]+> ' | sort -u | tr -d '\n')"
finish

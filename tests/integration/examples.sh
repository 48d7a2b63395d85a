#!/usr/bin/env bash
# The keyed_state example: per-key results do not depend on the
# parallelism (keyed state follows its key to whichever subtask owns the
# key group), and every sensor reports its final statistics. Compared:
# the statistics of the process function (fed in order from the single
# source) and the final maxima; the intermediate maxima pass through a
# parallel map first, so which 50 readings come first legitimately varies.
source "$(dirname "$0")/common.bash"

ref=""
for p in 1 2 4; do
    run_cf "$WORK/out" "$WORK/err" 60 run -t local -p "$p" "$EXAMPLES/keyed_state.so"
    expect_eq "keyed_state p=$p exit code" 0 "$RC"
    got=$(job_output "$WORK/out" | strip_prefix | grep -E 'count=|readings=100$' | sort)
    if [ -z "$ref" ]; then
        ref=$got
        expect_eq "10 sensors report 100 readings" 10 \
            "$(grep -c 'count=100 ' <<<"$got")"
        expect_eq "10 sensors report their maximum" 10 \
            "$(grep -c 'readings=100$' <<<"$got")"
    else
        expect_eq "keyed_state p=$p equals p=1" "$ref" "$got"
    fi
done

# info on the examples: the plan parses and names the vertices.
run_cf "$WORK/out" "$WORK/err" 30 info "$EXAMPLES/wordcount.so"
expect_eq "info wordcount exit code" 0 "$RC"
expect_contains "wordcount plan has a HASH edge" "$WORK/out" '"ship_strategy": "HASH"'
finish

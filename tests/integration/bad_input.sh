#!/usr/bin/env bash
# Bad plugins, arguments and configuration: a one-line error naming the
# thing at fault, exit code 1, no crash.
source "$(dirname "$0")/common.bash"

one_line() { # name expected-line args...
    local name=$1 want=$2
    shift 2
    run_cf "$WORK/out" "$WORK/err" 30 "$@"
    expect_eq "$name: exit code" 1 "$RC"
    expect_eq "$name: message" "$want" "$(cat "$WORK/err")"
}

echo "not a library" > "$WORK/text.so"
one_line "not ELF" "cflink: $WORK/text.so: not a shared library (not an ELF file)" \
    run -t local "$WORK/text.so"
one_line "missing file" "cflink: $WORK/missing.so: No such file or directory" \
    run -t local "$WORK/missing.so"
one_line "a directory" "cflink: $WORK: not a regular file" run -t local "$WORK"
printf 'int f(void) { return 1; }\n' > "$WORK/plain.c"
cc -shared -fPIC -o "$WORK/plain.so" "$WORK/plain.c"
one_line "not a plugin" \
    "cflink: $WORK/plain.so: not a cflink plugin (no .cflink_abi section; declare it with CF_PLUGIN(...))" \
    run -t local "$WORK/plain.so"
one_line "an executable" "cflink: $CFLINK: an executable, not a shared library" \
    run -t local "$CFLINK"
# The bad-ABI plugin's constructor aborts: exit code 1 (not 134) proves
# that no plugin code ran.
one_line "other major ABI" \
    "cflink: $PLUGINS/tp_bad_abi.so: plugin built for cflink ABI 99.0, but this cflink supports ABI 1.0 to 1.2" \
    run -t local "$PLUGINS/tp_bad_abi.so"
one_line "newer minor ABI" \
    "cflink: $PLUGINS/tp_newer_minor.so: plugin built for cflink ABI 1.9, but this cflink supports ABI 1.0 to 1.2" \
    info "$PLUGINS/tp_newer_minor.so"

# Arguments.
run_cf "$WORK/out" "$WORK/err" 30 run -t local -p 0 "$PLUGINS/tp_pipeline.so"
expect_eq "-p 0: exit code" 1 "$RC"
expect_contains "-p 0: message" "$WORK/err" "The parallelism must be a positive number: 0"
run_cf "$WORK/out" "$WORK/err" 30 run -t local --bogus "$PLUGINS/tp_pipeline.so"
expect_eq "unknown option: exit code" 1 "$RC"
expect_contains "unknown option: message" "$WORK/err" "Unrecognized option: --bogus"
run_cf "$WORK/out" "$WORK/err" 30 run -t local
expect_contains "no plugin: message" "$WORK/err" "No plugin file specified."

# Configuration: -D and config.yaml errors name the key (and the line).
one_line "bad -D value" \
    "cflink: -D: invalid value 'many' for key 'parallelism.default': expected an integer" \
    run -t local -D parallelism.default=many "$PLUGINS/tp_pipeline.so"
run_cf "$WORK/out" "$WORK/err" 30 run -t local -D novalue "$PLUGINS/tp_pipeline.so"
expect_eq "malformed -D: exit code" 1 "$RC"
expect_contains "malformed -D: message" "$WORK/err" "novalue"
mkdir -p "$WORK/conf"
printf 'parallelism.default: 2\ntaskmanager:\n  numberOfTaskSlots: two\n' > "$WORK/conf/config.yaml"
CFLINK_CONF_DIR="$WORK/conf" run_cf "$WORK/out" "$WORK/err" 30 run -t local "$PLUGINS/tp_pipeline.so"
expect_eq "bad config value: exit code" 1 "$RC"
expect_contains "bad config value: names file, line and key" "$WORK/err" \
    "$WORK/conf/config.yaml:3"
expect_contains "bad config value: names the key" "$WORK/err" "taskmanager.numberOfTaskSlots"
printf 'parallelism.default: 2\n  bad: [indent\n' > "$WORK/conf/config.yaml"
CFLINK_CONF_DIR="$WORK/conf" run_cf "$WORK/out" "$WORK/err" 30 run -t local "$PLUGINS/tp_pipeline.so"
expect_eq "malformed YAML: exit code" 1 "$RC"
expect_contains "malformed YAML: names the file" "$WORK/err" "$WORK/conf/config.yaml:"
# Unknown keys are kept; a valid file sets the default parallelism.
printf 'parallelism.default: 3\nmy.job.setting: 42\n' > "$WORK/conf/config.yaml"
CFLINK_CONF_DIR="$WORK/conf" run_cf "$WORK/out" "$WORK/err" 30 info "$PLUGINS/tp_pipeline.so"
expect_eq "config.yaml parallelism: exit code" 0 "$RC"
expect_contains "config.yaml parallelism.default applies" "$WORK/out" '"parallelism": 3'
finish

#!/usr/bin/env bash
# gen-docs.sh: regenerate the generated documentation:
# docs/user-guide/config-reference.md, from the configuration key table
# (src/core/config_keys.h), with the cflink-config-docs tool (tools/).
#
#   scripts/gen-docs.sh                   build the tool in build/, generate
#   scripts/gen-docs.sh --build-dir DIR   use another (configured or new)
#                                         build tree
#
# The ctest docs.config_reference fails while the checked-in page differs
# from what this script generates.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${CF_BUILD_DIR:-build}
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir)
        [ $# -ge 2 ] || { echo "gen-docs.sh: --build-dir needs a directory" >&2; exit 1; }
        build_dir=$2
        shift
        ;;
    --build-dir=*) build_dir=${1#*=} ;;
    -h | --help)
        sed -n '2,11{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "gen-docs.sh: unknown option '$1' (see --help)" >&2
        exit 1
        ;;
    esac
    shift
done
case "$build_dir" in
/*) ;;
*) build_dir=$root/$build_dir ;;
esac

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" >/dev/null
fi
cmake --build "$build_dir" --target cflink-config-docs -j2 >/dev/null
out=$root/docs/user-guide/config-reference.md
"$build_dir/tools/cflink-config-docs" -o "$out"
echo "gen-docs.sh: wrote ${out#"$root"/}"

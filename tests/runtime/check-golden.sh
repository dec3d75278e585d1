#!/bin/sh
# check-golden.sh XDRFLOW OTRF_DIR GOLDEN_DIR - regenerates the OTRF golden files into a
# scratch directory and fails if they differ from the committed ones.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$3/make_golden.py" "$1" "$2" "$tmp" >/dev/null
for f in "$tmp"/*.json; do
    diff -q "$f" "$3/$(basename "$f")" >/dev/null || {
        echo "golden file $(basename "$f") is stale: run make_golden.py and review the diff" >&2
        exit 1
    }
done
echo "golden files up to date"

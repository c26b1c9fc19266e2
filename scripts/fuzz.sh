#!/usr/bin/env bash
# Runs every Go fuzz target for a bounded time. New crashers land in the
# package's testdata/fuzz/ and fail the run.
set -euo pipefail
fuzztime=${1:-20s}
cd "$(dirname "$0")/.."
found=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		found=$((found + 1))
		echo "fuzz $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
	done
done
echo "fuzz: $found targets ran"

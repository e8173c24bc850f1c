#!/usr/bin/env bash
# Packs the "before" side of a before/after GPU benchmark into .gpu/before.tar.xz: the built
# JavaScript (dist/), the CUDA sources and build script of REV, for device-run.sh's before:ARGS
# phase, which builds that addon beside the current one and runs its bench.js, so both sides are
# measured in one device call. REV defaults to 5571b54, main just before issue 10's family layer
# (the BERT-only engine), the "before" of that issue's BERT speed check.
#   bash scripts/gpu/pack-before.sh [REV]
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=$(git rev-parse "${1:-5571b54}^{commit}")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
git archive "$REV" | tar x -C "$W"
ln -s "$PWD/node_modules" "$W/node_modules"
# Type errors in files the bench never loads (an old revision importing a since-removed dev
# package) do not stop tsc's emit; only a missing bench.js does.
(cd "$W" && node node_modules/typescript/bin/tsc -p tsconfig.json > /dev/null || test -f dist/bench/bench.js)
echo "$REV" > "$W/REV"
mkdir -p .gpu
tar cJf .gpu/before.tar.xz -C "$W" REV package.json dist cuda scripts/build-cuda.sh
echo "packed $REV ($(git log -1 --format=%s "$REV" | cut -c1-60)) into .gpu/before.tar.xz ($(du -h .gpu/before.tar.xz | cut -f1))"

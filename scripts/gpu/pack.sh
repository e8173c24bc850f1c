#!/usr/bin/env bash
# Packs what a GPU machine without Node needs into .gpu/ (ignored by git, carried by the device
# tool): the node binary, the runtime node_modules (no @xenova / @huggingface/transformers (test and
# CPU-bench only), typescript, or binaries for other platforms than linux-x64-gnu), the built JS, the SemEval STS data for the sts workload and SciFact for the Qwen3 benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu
[ -f .gpu/node.xz ] || xz -T2 -c "$(command -v node)" > .gpu/node.xz
if [ ! -f .gpu/modules.tar.xz ] || [ package-lock.json -nt .gpu/modules.tar.xz ] || [ scripts/gpu/pack.sh -nt .gpu/modules.tar.xz ]; then
  tar cJf .gpu/modules.tar.xz --exclude='node_modules/@xenova' --exclude='node_modules/onnxruntime-web' \
    --exclude='node_modules/typescript' --exclude='node_modules/@img' --exclude='node_modules/sharp' \
    --exclude='node_modules/protobufjs' --exclude='node_modules/@types' --exclude='node_modules/.cache' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
    --exclude='node_modules/@huggingface/transformers' --exclude='node_modules/@esbuild' --exclude='node_modules/esbuild' --exclude='node_modules/tsx' \
    --exclude='node_modules/tokenizers/tokenizers.[adw]*.node' \
    --exclude='node_modules/tokenizers/tokenizers.linux-arm*.node' --exclude='node_modules/tokenizers/tokenizers.linux-x64-musl.node' \
    node_modules
fi
rm -rf .gpu/sts && cp -r "${STS_DATA:-../shared/data/sts}" .gpu/sts && chmod -R u+w .gpu/sts
# SciFact (BEIR layout) for bench/qwen3.ts, compressed (8 MB → ~2 MB of the 64 MiB the device tool
# carries); a device script unpacks it with `tar xJf .gpu/scifact.tar.xz -C .gpu`.
SCIFACT=${SCIFACT_DATA:-../shared/data/scifact}
[ -f .gpu/scifact.tar.xz ] || tar cJf .gpu/scifact.tar.xz -C "$(dirname "$SCIFACT")" "$(basename "$SCIFACT")"
# The real all-MiniLM-L6-v2 tokenizer files, for bench/host-path.ts and bench/tokenizer.ts.
TOK=${MINILM_TOKENIZER:-../shared/data/tokenizers/all-MiniLM-L6-v2}
[ -d "$TOK" ] && rm -rf .gpu/minilm-tok && cp -r "$TOK" .gpu/minilm-tok && chmod -R u+w .gpu/minilm-tok
# The malloc libraries bench/runs/2026-11-30-s14.sh compares under the tokenizer (where this machine
# has them: Debian's libjemalloc2, libtcmalloc-minimal4, libmimalloc2.0), in case the GPU host lacks them.
mkdir -p .gpu/alloc
for f in libjemalloc.so.2 libtcmalloc_minimal.so.4 libmimalloc.so.2; do
  [ -f "/usr/lib/x86_64-linux-gnu/$f" ] && cp -L "/usr/lib/x86_64-linux-gnu/$f" .gpu/alloc/
done
tar cJf .gpu/dist.tar.xz dist
du -sh .gpu/*

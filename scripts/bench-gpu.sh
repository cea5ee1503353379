#!/usr/bin/env bash
# Decode and prefill on this machine's GPU, natively (wgpu on Vulkan, Metal or
# DX12), on synthetic models of real shapes: decode tok/s against the
# bandwidth roofline, dispatches per token, and decode at 4,000 positions of
# context over decode at 64. Needs no model download: `tabllm synth` writes
# each shape with random but valid weights (llama.cpp's per-tensor types of
# the mix), about 0.8 GB for llama-3.2-1b and 4.9 GB for llama-3.1-8b.
#
#   scripts/bench-gpu.sh [OUT_DIR]        # default bench-results/gpu
#
# Relative paths (OUT_DIR, MODELS_DIR) are taken from the repository root.
#
# Environment:
#   SHAPES      catalog shapes (`tabllm info` lists them); default "llama-3.2-1b llama-3.1-8b"
#   MIX         quantization mix; default q4_k_m
#   MODELS_DIR  where the synthetic GGUFs are written and reused; default target/synth
#   BENCH_ARGS  more `tabllm bench` flags for every run (e.g. "--matvec subgroup")
#
# Per shape it writes OUT_DIR/<shape>.pp-tg.json (pp512, tg128 and the
# bandwidth sweep) and OUT_DIR/<shape>.depth.json (tg64 at depths 64 and
# 4000, and --profile's per-kernel times at 4000), then prints one summary
# line per shape. A CPU adapter (lavapipe) runs it too, slowly: the 8B shape
# takes hours there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:-bench-results/gpu}
shapes=${SHAPES:-llama-3.2-1b llama-3.1-8b}
mix=${MIX:-q4_k_m}
models=${MODELS_DIR:-target/synth}
read -r -a extra <<<"${BENCH_ARGS:-}"
mkdir -p "$out" "$models"

cargo build --release --locked --bin tabllm
tabllm=target/release/tabllm

for shape in $shapes; do
  gguf="$models/$shape.$mix.gguf"
  if [ ! -f "$gguf" ]; then
    echo "== writing $gguf"
    "$tabllm" synth --shape "$shape" --type "$mix" --out "$gguf"
  fi
  echo "== $shape: pp512, tg128 and the bandwidth sweep"
  "$tabllm" bench --model "$gguf" --pp 512 --tg 128 -r 3 --out "$out/$shape.pp-tg.json" ${extra[@]+"${extra[@]}"}
  echo "== $shape: tg64 at depths 64 and 4000"
  "$tabllm" bench --model "$gguf" --pp 0 --tg 64 --depth 64,4000 -r 3 --no-bandwidth --profile --out "$out/$shape.depth.json" ${extra[@]+"${extra[@]}"}
done

echo "== summary (from $out)"
python3 - "$out" $shapes <<'EOF'
import json, sys, os
out, shapes = sys.argv[1], sys.argv[2:]
def tok_s(report, name):
    for t in report.get("tests", []):
        if t.get("test") == name:
            return t.get("tok_s")
    return None
print(f"{'shape':<16} {'device':<28} {'pp512':>8} {'tg128':>8} {'GB/s':>7} {'peak':>7} {'eff':>6} {'disp/tok':>8} {'d4000/d64':>9}")
for s in shapes:
    a = json.load(open(os.path.join(out, f"{s}.pp-tg.json")))
    b = json.load(open(os.path.join(out, f"{s}.depth.json")))
    near, far = tok_s(b, "tg64 @ d64"), tok_s(b, "tg64 @ d4000")
    ratio = f"{far / near:.2f}" if near and far else "?"
    fmt = lambda v, f: (f.format(v) if isinstance(v, (int, float)) else "?")
    print(f"{s:<16} {a.get('device', '?')[:28]:<28} {fmt(a.get('prefill_tok_s'), '{:.1f}'):>8} {fmt(a.get('decode_tok_s'), '{:.1f}'):>8} "
          f"{fmt(a.get('implied_gbps'), '{:.1f}'):>7} {fmt(a.get('peak_gbps'), '{:.1f}'):>7} {fmt(a.get('efficiency') and a['efficiency'] * 100, '{:.1f}%'):>6} "
          f"{fmt(a.get('dispatches_per_token'), '{}'):>8} {ratio:>9}")
EOF

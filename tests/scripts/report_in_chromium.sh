#!/usr/bin/env bash
# `cohort report` on two real runs (a pipeline with a trace, and a cohort of two
# networks) opens in headless Chromium: the page references nothing outside
# itself, the browser logs no console error, and the screenshot shows the plots
# (many colours, a good share of non-background pixels).
set -euo pipefail
bin=$1
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then echo "skip: no chromium (scripts/install-deps.sh installs it)"; exit 77; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quick=(--quiet --set train.threads=1 --set train.log_every=5 --set train.max_steps=40)
"$bin" train "$2/examples/configs/mlp.toml" "${quick[@]}" --out "$work/pipeline" --nproc 2 \
  --set parallel.pipeline=2 --set parallel.micro_batches=2 --set train.timeline=true >/dev/null
"$bin" train "${quick[@]}" --out "$work/cohort" --set network.0.model=mlp >/dev/null
page=$("$bin" report "$work/pipeline" "$work/cohort" --out "$work/report.html")
[[ $page == "$work/report.html" ]] || { echo "FAIL: report printed '$page'"; exit 1; }

if grep -qE '(src|href)=|<script|@import|url\(' "$work/report.html"; then
  echo "FAIL: the page loads something from outside itself"; exit 1
fi
for plot in "Training loss" "Test accuracy" "Throughput" "seconds per rank" "Pipeline timeline"; do
  grep -q "$plot" "$work/report.html" || { echo "FAIL: no '$plot' in the page"; exit 1; }
done

# Root needs --no-sandbox; logging at level 0 prints console messages.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1200,1800 --screenshot="$work/shot.png" --enable-logging=stderr --log-level=0 \
  "file://$work/report.html" >"$work/browser.log" 2>&1 || {
  echo "FAIL: chromium did not render the page:"; tail -5 "$work/browser.log"; exit 1; }
if grep -iE 'CONSOLE.*(error|uncaught)|Uncaught|Failed to load resource' "$work/browser.log"; then
  echo "FAIL: console errors"; exit 1
fi
/usr/bin/python3 - "$work/shot.png" <<'PY'
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
pixels = list(img.getdata())
background = max(set(pixels[:5000]), key=pixels[:5000].count)
ink = sum(1 for p in pixels if p != background) / len(pixels)
colours = len(set(pixels))
print(f"screenshot {img.size}: {100 * ink:.1f}% non-background pixels, {colours} colours")
assert ink > 0.05, "the screenshot is (nearly) blank"
assert colours > 50, "too few colours: the plots did not render"
PY
echo "ok: report rendered in chromium"

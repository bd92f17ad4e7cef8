#!/usr/bin/env bash
# Screenshot of the sweep's DAG as kedro-viz first shows it (coverage levels collapsed), for the README.
#   docs/make_dag_screenshot.sh [output.png]     (default docs/dag.png; needs Debian's `chromium`)
# Builds the static kedro-viz site of the default grid in a scratch copy of the project, serves it on
# localhost and photographs it with headless Chromium. Nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-docs/dag.png}")"
port="${PORT:-8765}"
scratch="$(mktemp -d)"
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$scratch"' EXIT

cp pyproject.toml "$scratch/" && cp -r conf "$scratch/conf" && rm -rf "$scratch/conf/local" && mkdir -p "$scratch/conf/local" "$scratch/src"
mkdir -p "$scratch/data" && cp -r data/01_raw "$scratch/data/01_raw"
(cd "$scratch" && DO_NOT_TRACK=1 KEDRO_ENV="${KEDRO_ENV:-base}" python -m kedro viz build >/dev/null 2>&1)
# kedro-viz keeps its UI state in localStorage: no feature tour, light theme, names as words,
# sidebar and mini-map folded away so that the graph gets the whole window.
sed -i 's|<head>|<head><script>localStorage.setItem("KedroViz", JSON.stringify({showFeatureHints: false, theme: "light", isPrettyName: true, visible: {sidebar: false, miniMap: false}}))</script>|' \
  "$scratch/build/index.html"
python -m http.server "$port" --bind 127.0.0.1 --directory "$scratch/build" >/dev/null 2>&1 &
server=$!
sleep 2
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --hide-scrollbars --window-size=2000,1250 --virtual-time-budget=20000 \
  --screenshot="$out" "http://127.0.0.1:$port/" 2>/dev/null
echo "wrote $out"

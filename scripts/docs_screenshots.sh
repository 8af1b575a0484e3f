#!/usr/bin/env bash
# Build the documentation site and take headless-Chromium screenshots of pages, to look at what readers see.
#   scripts/docs_screenshots.sh [OUT_DIR] [PAGE ...]     (pages relative to the site root; default: three)
# Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/docs-screenshots}"; shift || true
pages=("$@")
[ ${#pages[@]} -gt 0 ] || pages=("" "get-started/your-own-data/" "reference/config-sentiment/")
mkdir -p "$out"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet -d "$out/site"
port=8765
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory "$out/site" >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 1
for page in "${pages[@]}"; do
  name="${page//\//_}"; name="${name:-home}"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --window-size=1400,1800 --screenshot="$out/${name%_}.png" "http://127.0.0.1:$port/$page" >/dev/null 2>&1
  echo "$out/${name%_}.png"
done

#!/usr/bin/env bash
# Checks that the asv dashboard really works, end to end:
#   1. `asv run` builds pysoftmax at the last COMMITS commits (its real build:
#      virtualenv + pip + meson-python, MKL and oneDNN from PyPI) and runs a
#      quick subset of the benchmarks on each;
#   2. `asv publish` writes the static site;
#   3. the site is served on 127.0.0.1 and headless Chromium (Debian's
#      `chromium`) screenshots a benchmark's graph page.  Without internet
#      access (as here) the page could not load its JavaScript from CDNs, so
#      the copy served uses Debian's packaged copies (offline_site.py).
# Usage: bash asv_bench/check_dashboard.sh [OUT.png]   (needs asv: pip install asv)
# Not run in CI: building several commits takes minutes.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-$PWD/dashboard.png}"
commits="${COMMITS:-2}"
subset="Softmax.time_softmax\('(auto|vectorized|reference)', '(64x1000|32x32000)', 'float32', 1\)"

command -v chromium >/dev/null || { echo "needs chromium (apt-get install chromium)" >&2; exit 1; }
[ -f /usr/share/javascript/jquery-flot/jquery.flot.min.js ] || {
    echo "needs apt-get install libjs-jquery libjs-jquery-flot libjs-jquery-stupidtable node-blueimp-md5 libjs-bootstrap" >&2
    exit 1
}
asv machine --yes > /dev/null
asv run --quick --show-stderr --bench "$subset" "HEAD~${commits}..HEAD"
asv publish
python3 offline_site.py html html-offline

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory html-offline "$port" > /dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
url="http://127.0.0.1:$port/#bench_softmax.Softmax.time_softmax?p-strategy='auto'&p-strategy='vectorized'&p-strategy='reference'&p-shape='32x32000'&p-dtype='float32'&p-threads=1"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
    --virtual-time-budget=15000 --screenshot="$out" "$url" 2>/dev/null
echo "screenshot of $url"
echo "written to $out"

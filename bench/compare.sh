#!/usr/bin/env bash
# Scrape latency of the peers serving the same series as ours, in one run: nginx serving the
# bytes from a file (the physical limit) and node_exporter's textfile collector, beside the
# exporter given as ours=URL. One wrk per peer (1 thread, 1 connection, 10 s).
# usage: compare.sh PLUGINS SERIES ours=URL
# prints: peer series p50 p99 req/s
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugins=$1; m=$2; ours=${3#ours=}
work=$(mktemp -d "${TMPDIR:-/tmp}/plugin-exporter-compare.XXXXXX")
chmod 755 "$work"  # nginx workers run as nobody
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$here/textfile_gen.py" "$work/tf" "$plugins" "$m" "$work/static.txt"
np=$(port); pids+=("$("$here/nginx_static.sh" "$work/static.txt" "$np" "$work/nginx")")
tp=$(port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$tp" --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$work/tf" > "$work/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$tp/metrics" && break; sleep 0.1; done
echo "peer series p50 p99 req/s"
for peer in "nginx-static=http://127.0.0.1:$np/metrics" "node-textfile=http://127.0.0.1:$tp/metrics" "ours=$ours"; do
  name=${peer%%=*}; url=${peer#*=}
  n=$(curl -s "$url" | grep -c '^bench_series_value' || true)
  wrk -t1 -c1 -d10s --timeout 30s --latency "$url" > "$work/$name.wrk" 2>&1
  read -r p50 p99 rps _ _ < <("$here/wrkstat.py" "$work/$name.wrk")
  echo "$name $n ${p50}ms ${p99}ms $rps"
done

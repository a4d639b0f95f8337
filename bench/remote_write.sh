#!/usr/bin/env bash
# remote_write: CPU per sample sent and memory per queued sample, beside Prometheus in agent
# mode pushing the same series to the same receiver (a real Prometheus with
# --web.enable-remote-write-receiver). Target: at most half the agent's CPU per sample.
#
#   A  the exporter alone: PLUGINS x SERIES series collected every INTERVAL (interval mode),
#      no remote write: the baseline (plugin ingest).
#   B  the same exporter with a remote_write destination (remote_write_interval = INTERVAL):
#      B - A is what remote write costs (collect the merged exposition, flatten, relabel,
#      encode, snappy, send).
#   C  exporter A, scraped every INTERVAL by `prometheus --enable-feature=agent`, which
#      remote-writes to the same receiver: the agent's own CPU.
#   D  the exporter of B with its destination down and one big shard: resident memory
#      gained per queued sample.
#
# usage: bench/remote_write.sh [PLUGINS [SERIES [SECONDS]]]   (default 10 5000 40)
# env:   INTERVAL (default 2), NO_BUILD, KEEP_WORK
source "$(dirname "$0")/lib.sh"
plugins=${1:-10}
m=${2:-5000}
secs=${3:-40}
interval=${INTERVAL:-2}
command -v prometheus >/dev/null || {
  sudo_if_needed apt-get update -q >&2
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus curl >&2
}
build

metric() { # metric URL NAME_PREFIX: sum of the values of the lines starting with it
  curl -s "$1" | awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%.0f\n", s}'
}
wait_http() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

rport=$(free_port)
mkdir -p "$WORK/recv"
echo "global: {scrape_interval: 1h}" > "$WORK/recv.yml"
prometheus --config.file "$WORK/recv.yml" --storage.tsdb.path "$WORK/recv" \
  --web.listen-address "127.0.0.1:$rport" --web.enable-remote-write-receiver \
  > "$WORK/recv.log" 2>&1 &
_pids+=($!)
wait_http "http://127.0.0.1:$rport/-/ready"

write_config "$WORK/a.yml" "$plugins" "$m" interval "${interval}s"
sed -i "s/^  interval: .*/  interval: ${interval}s/" "$WORK/a.yml"
{ sed 's/^global:/global:\n  remote_write_interval: '"${interval}"'s/' "$WORK/a.yml"
  echo "remote_write:"
  echo "  - {url: 'http://127.0.0.1:$rport/api/v1/write', name: recv}"
} > "$WORK/b.yml"

# measure_exporter CONFIG: starts the exporter, waits for its series, measures its CPU over
# SECS; sets CPU and PORT.
measure_exporter() {
  PORT=$(free_port)
  start_exporter "$1" "$PORT"
  wait_series "http://127.0.0.1:$PORT/metrics" "$((plugins * m))" 120
  sleep "$interval"
  local c0 c1 s0 s1 url="http://127.0.0.1:$PORT/metrics"
  s0=$(metric "$url" plugin_exporter_remote_storage_samples_total)
  c0=$(cpu_s "$EXPORTER_PID"); sleep "$secs"; c1=$(cpu_s "$EXPORTER_PID")
  s1=$(metric "$url" plugin_exporter_remote_storage_samples_total)
  CPU=$(python3 -c "print($c1 - $c0)")
  SENT=$((s1 - s0))
}

log "A: exporter alone"
measure_exporter "$WORK/a.yml"
cpu_a=$CPU
stop_exporter

log "B: exporter with remote_write"
measure_exporter "$WORK/b.yml"
cpu_b=$CPU
sent_b=$SENT
failed=$(metric "http://127.0.0.1:$PORT/metrics" plugin_exporter_remote_storage_samples_failed_total)
stop_exporter

log "C: Prometheus agent scraping exporter A and pushing"
port_a=$(free_port)
start_exporter "$WORK/a.yml" "$port_a"
wait_series "http://127.0.0.1:$port_a/metrics" "$((plugins * m))" 120
aport=$(free_port)
cat > "$WORK/agent.yml" <<EOF
global: {scrape_interval: ${interval}s, scrape_timeout: ${interval}s}
scrape_configs:
  - job_name: exporter
    static_configs: [{targets: ['127.0.0.1:$port_a']}]
remote_write:
  - url: http://127.0.0.1:$rport/api/v1/write
EOF
mkdir -p "$WORK/agent"
prometheus --enable-feature=agent --config.file "$WORK/agent.yml" --storage.agent.path "$WORK/agent" \
  --web.listen-address "127.0.0.1:$aport" > "$WORK/agent.log" 2>&1 &
agent=$!
_pids+=("$agent")
wait_http "http://127.0.0.1:$aport/-/ready"
sleep $((interval * 3))
a0=$(metric "http://127.0.0.1:$aport/metrics" prometheus_remote_storage_samples_total)
c0=$(cpu_s "$agent"); sleep "$secs"; c1=$(cpu_s "$agent")
a1=$(metric "http://127.0.0.1:$aport/metrics" prometheus_remote_storage_samples_total)
cpu_c=$(python3 -c "print($c1 - $c0)")
sent_c=$((a1 - a0))
kill "$agent"; wait "$agent" 2>/dev/null || true
stop_exporter

log "D: memory per queued sample (destination down)"
dead=$(free_port)
{ sed 's/^global:/global:\n  remote_write_interval: '"${interval}"'s/' "$WORK/a.yml"
  echo "remote_write:"
  echo "  - {url: 'http://127.0.0.1:$dead/write', name: down, queue_config: {capacity: 5000000, min_shards: 1, max_shards: 1, max_backoff: 30s}}"
} > "$WORK/d.yml"
port_d=$(free_port)
start_exporter "$WORK/d.yml" "$port_d"
wait_series "http://127.0.0.1:$port_d/metrics" "$((plugins * m))" 120
sleep 1
p0=$(metric "http://127.0.0.1:$port_d/metrics" plugin_exporter_remote_storage_samples_pending)
r0=$(rss_kb "$EXPORTER_PID")
sleep "$secs"
p1=$(metric "http://127.0.0.1:$port_d/metrics" plugin_exporter_remote_storage_samples_pending)
r1=$(rss_kb "$EXPORTER_PID")
stop_exporter

python3 - "$cpu_a" "$cpu_b" "$sent_b" "$failed" "$cpu_c" "$sent_c" "$p0" "$p1" "$r0" "$r1" "$secs" "$plugins" "$m" "$interval" <<'PY'
import sys
cpu_a, cpu_b, sent_b, failed, cpu_c, sent_c, p0, p1, r0, r1 = map(float, sys.argv[1:11])
secs, n, m, interval = int(sys.argv[11]), int(sys.argv[12]), int(sys.argv[13]), int(sys.argv[14])
print(f"remote_write: {n} plugins x {m:,} series every {interval}s, measured over {secs}s")
ours = (cpu_b - cpu_a) / max(sent_b, 1) * 1e6
agent = cpu_c / max(sent_c, 1) * 1e6
print(f"exporter alone: {cpu_a:.2f} CPU-s; with remote_write: {cpu_b:.2f} CPU-s; "
      f"{sent_b:,.0f} samples sent ({failed:,.0f} failed)")
print(f"exporter remote_write: {ours:.2f} CPU-s per million samples "
      f"({sent_b / secs / max((cpu_b - cpu_a) / secs, 1e-9):,.0f} samples/s per core)")
print(f"prometheus agent:      {agent:.2f} CPU-s per million samples, {sent_c:,.0f} samples sent "
      f"({sent_c / secs / max(cpu_c / secs, 1e-9):,.0f} samples/s per core)")
print(f"ratio: {ours / agent:.2f}x the agent's CPU per sample")
per = (r1 - r0) * 1024 / max(p1 - p0, 1)
print(f"memory per queued sample: {per:.0f} bytes ({p1 - p0:,.0f} samples queued, RSS +{(r1 - r0) / 1024:.1f} MiB)")
print(f"{'MET   ' if ours <= agent / 2 else 'MISSED'} at most half the agent's CPU per sample")
PY

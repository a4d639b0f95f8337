#!/bin/sh
# Minimal plugin-exporter plugin: the load averages from /proc/loadavg, no JSON parser needed.
g() { printf '{"name":"loadavg_%s","type":"gauge","help":"%s","samples":[{"value":%s}]}' "$@"; }
while IFS= read -r line; do
  case "$line" in
    '{"type":"collect"'*)
      read -r l1 l5 l15 _ </proc/loadavg
      printf '{"type":"metrics","families":[%s,%s,%s]}\n' "$(g load1 '1-minute load average.' "$l1")" \
        "$(g load5 '5-minute load average.' "$l5")" "$(g load15 '15-minute load average.' "$l15")" ;;
    '{"type":"shutdown"'*) exit 0 ;;
  esac
done

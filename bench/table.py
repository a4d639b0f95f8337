#!/usr/bin/env python3
"""Prints the comparison table of bench/run.sh from its results file: one row per peer and
size, medians over the repeats, ratios to nginx serving the same bytes, and the targets.

Results file lines (tab-separated):
  row   RUN PLUGINS SERIES_PER_PLUGIN PEER SERVED P50_MS P99_MS RPS
  info  RUN PLUGINS SERIES_PER_PLUGIN KEY VALUE
"""
import statistics
import sys
from collections import defaultdict

PEERS = ["nginx-static", "collectd", "node-textfile", "ours", "ours-gzip"]


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def main(path, mode):
    rows = defaultdict(lambda: defaultdict(list))
    info = defaultdict(lambda: defaultdict(list))
    runs = set()
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "row":
            run, n, m, peer = f[1], int(f[2]), int(f[3]), f[4]
            runs.add(run)
            rows[(n, m)][peer].append(tuple(float(x) for x in f[5:9]))
        elif f[0] == "info":
            info[(int(f[2]), int(f[3]))][f[4]].append(float(f[5]))
    print(f"plugin-exporter vs peers, {mode} mode, back-to-back scrapes (wrk -t1 -c1 -d10s); "
          f"medians of {len(runs)} run(s)")
    hdr = f"{'series':>9} {'peer':<14} {'served':>9} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'p50/nginx':>10}"
    print(hdr)
    print("-" * len(hdr))
    verdicts = []
    for (n, m) in sorted(rows):
        r = rows[(n, m)]
        total = n * m
        base = med([x[1] for x in r.get("nginx-static", [])])
        for peer in PEERS + sorted(set(r) - set(PEERS)):
            if peer not in r:
                continue
            xs = r[peer]
            served, p50, p99, rps = (med([x[i] for x in xs]) for i in range(4))
            ratio = p50 / base if base == base and base > 0 else float("nan")
            note = " (gzip)" if peer == "ours-gzip" else ""
            print(f"{total:>9,} {peer:<14} {served:>9,.0f} {p50:>9.3f} {p99:>9.3f} {rps:>9.1f} {ratio:>9.2f}x{note}")
            if peer == "ours":
                verdicts.append((total, "scrape p50 <= 2x nginx", ratio, 2.0))
            if peer == "ours-gzip":
                verdicts.append((total, "gzip scrape p50 <= 3x nginx uncompressed", ratio, 3.0))
        i = info[(n, m)]
        extras = []
        if "rss_kb" in i:
            extras.append(f"exporter RSS {med(i['rss_kb']) / 1024:.1f} MiB")
        if "hwm_kb" in i:
            extras.append(f"peak {med(i['hwm_kb']) / 1024:.1f} MiB")
        if "text_bytes" in i:
            extras.append(f"body {med(i['text_bytes']) / 1e6:.2f} MB")
        if "nginx_bytes" in i:
            extras.append(f"nginx file {med(i['nginx_bytes']) / 1e6:.2f} MB")
        if "gzip_bytes" in i:
            extras.append(f"gzip body {med(i['gzip_bytes']) / 1e6:.2f} MB")
        if extras:
            print(f"{'':>9} {'':<14} " + ", ".join(extras))
    print()
    for total, what, ratio, limit in verdicts:
        # The targets are set for 10,000 and 100,000 series; other sizes only show the ratio.
        if total in (10_000, 100_000):
            ok = "MET   " if ratio <= limit else "MISSED"
        else:
            ok = "(none)"
        print(f"{ok} {total:>9,} series: {what}: {ratio:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "push")

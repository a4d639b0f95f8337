#!/usr/bin/env python3
"""The peers' series: what the synthetic plugins serve, as files.

usage: textfile_gen.py DIR PLUGINS SERIES STATIC
  DIR     gets one node_exporter textfile per plugin (p<N>.prom)
  STATIC  gets the same series as one exposition, as the exporter serves them (for nginx)

Series: bench_series_value{series="s<i>",plugin="p<N>"} <i>.5, as bench/synth pushes them.
"""
import os
import sys

out_dir, plugins, m, static = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(out_dir, exist_ok=True)
head = "# HELP bench_series_value A benchmark gauge\n# TYPE bench_series_value gauge\n"
with open(static, "w") as whole:
    whole.write(head)
    for p in range(plugins):
        lines = "".join(f'bench_series_value{{series="s{i}",plugin="p{p}"}} {i}.5\n' for i in range(m))
        with open(os.path.join(out_dir, f"p{p}.prom.tmp"), "w") as f:
            f.write(head + lines)
        os.rename(os.path.join(out_dir, f"p{p}.prom.tmp"), os.path.join(out_dir, f"p{p}.prom"))
        whole.write(lines)

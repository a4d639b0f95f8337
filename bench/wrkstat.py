#!/usr/bin/env python3
"""Reads wrk --latency output (a file or stdin) and prints `p50_ms p99_ms rps requests errors`
on one line: errors are socket errors plus non-2xx/3xx responses."""
import re
import sys


def ms(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s)
    if not m:
        return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]


def parse(text):
    r = {"p50": float("nan"), "p99": float("nan"), "rps": 0.0, "requests": 0, "errors": 0}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "50%":
            r["p50"] = ms(f[1])
        elif len(f) == 2 and f[0] == "99%":
            r["p99"] = ms(f[1])
        elif line.startswith("Requests/sec:"):
            r["rps"] = float(f[1])
        elif "requests in" in line:
            r["requests"] = int(f[0])
        elif line.strip().startswith("Socket errors:"):
            r["errors"] += sum(int(x) for x in re.findall(r"\d+", line))
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            r["errors"] += int(f[-1])
    return r


if __name__ == "__main__":
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    r = parse(text)
    print(f'{r["p50"]:.3f} {r["p99"]:.3f} {r["rps"]:.1f} {r["requests"]} {r["errors"]}')

#!/usr/bin/env python3
"""plugin-exporter example processor (role: processor) on the Python SDK: adds labels to
other plugins' series from a lookup file.

`config` in the exporter's configuration:
  lookup: the lookup file, JSON or CSV (by its extension):
          JSON: {"web1": {"team": "shop", "site": "fra"}, ...}
          CSV:  a header row naming the key column and the label columns, then one row each
  key:    the label whose value is looked up (default "host")
  labels: which of the file's labels to add (default: all of them)

A series whose `key` label has a row gets that row's labels, except those it already has (a
collector's own labels win). Series without a row go on unchanged. Without `lookup` the
processor passes batches on unchanged (and says so once); a lookup file that cannot be read
fails every batch with the reason, and the exporter serves them as `on_error` says.

Run it by hand:
  printf '%s\\n' '{"type":"hello","protocol":1,"name":"enrich","config":{"lookup":"teams.json"}}' \\
    '{"type":"process","id":1,"plugin":"app","deadline_ms":1000,"families":[{"name":"up","type":"gauge","help":"","samples":[{"labels":{"host":"web1"},"value":1}]}]}' \\
    | examples/processors/enrich.py
"""

import csv
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "plugin-protocol", "python"))
import plugin_exporter_sdk as sdk  # noqa: E402 (after the sys.path change)

NAME = "enrich"
VERSION = "0.1.0"


class Enrich:
    def __init__(self):
        self.key = "host"
        self.table = {}

    def configure(self, hello, log):
        config = hello.get("config") or {}
        self.key = config.get("key", "host")
        if not isinstance(self.key, str):
            raise ValueError("key must be a label name")
        wanted = config.get("labels")
        if wanted is not None and not all(isinstance(w, str) for w in wanted):
            raise ValueError("labels must be a list of label names")
        path = config.get("lookup")
        if path is None:
            self.table = {}
            log.warn("no lookup file in config: batches pass unchanged")
            return
        table = read_csv(path) if path.endswith(".csv") else read_json(path)
        self.table = {
            k: {n: v for n, v in row.items() if wanted is None or n in wanted}
            for k, row in table.items()
        }
        log.info("%d rows from %s, keyed by %s" % (len(self.table), path, self.key))

    def process(self, plugin, families, log):
        for family in families:
            for sample in family.get("samples", []):
                labels = sample.setdefault("labels", {})
                row = self.table.get(labels.get(self.key))
                for name, value in (row or {}).items():
                    labels.setdefault(name, value)
        return families


def read_json(path):
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    if not isinstance(table, dict) or not all(isinstance(r, dict) for r in table.values()):
        raise ValueError("%s: expected an object of objects, key -> {label: value}" % path)
    return {str(k): {str(n): str(v) for n, v in r.items()} for k, r in table.items()}


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError("%s: empty, expected a header row" % path)
    header = rows[0]
    return {r[0]: dict(zip(header[1:], r[1:])) for r in rows[1:] if r}


if __name__ == "__main__":
    enrich = Enrich()
    sys.exit(sdk.run_processor(NAME, VERSION, enrich.process, configure=enrich.configure))

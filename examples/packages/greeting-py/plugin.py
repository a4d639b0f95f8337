#!/usr/bin/env python3
"""greeting-py: answers each collect with one gauge. Protocol: plugin-protocol/PROTOCOL.md."""
import json
import sys

greeting = "hello"
for line in sys.stdin:
    msg = json.loads(line)
    kind = msg.get("type")
    if kind == "hello":
        greeting = (msg.get("config") or {}).get("greeting", greeting)
        out = {"type": "hello", "protocol": 1, "name": "greeting-py", "version": "0.1.0"}
    elif kind == "collect":
        name = "greeting-py".replace("-", "_") + "_up"
        sample = {"labels": {"greeting": greeting}, "value": 1}
        family = {"name": name, "type": "gauge", "help": "1 while greeting-py runs.", "samples": [sample]}
        out = {"type": "metrics", "id": msg.get("id"), "families": [family]}
    elif kind == "shutdown":
        break
    else:
        continue
    print(json.dumps(out), flush=True)

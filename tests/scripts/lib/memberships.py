"""memberships.py RUN: each `start` record's world size and first step in RUN's
metrics.jsonl, in order ("2@0 1@100 2@150"): the memberships an elastic job
went through."""
import json
import sys

starts = [r for r in map(json.loads, open(f"{sys.argv[1]}/metrics.jsonl")) if r["kind"] == "start"]
print(" ".join(f"{r['world_size']}@{r['step']}" for r in starts))

#!/usr/bin/env python3
"""Prints the migration benchmark table (bench-out/migrate-*.jsonl) with DWCP's ratios.

With several trials per cell (MIGRATE_TRIALS), every trial gets a row and the ratios compare
medians of the passing trials: single 2 GiB trials vary by tens of seconds with QEMU's own
dirty-bitmap stalls (the "QEMU stall" column), which hit every method alike."""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = defaultdict(lambda: defaultdict(list))
for r in rows:
    groups[(r["link_name"], r["ram"] + "/" + r.get("write", "page"))][r["method"]].append(r)
print("| link | guest RAM / writes | method | ok | total s | blackout ms | wire MB | rounds | QEMU stall s |")
print("|---|---|---|---|---|---|---|---|---|")
for (link, ram), methods in groups.items():
    for m, trials in methods.items():
        for r in trials:
            wire = r.get("wire_bytes") or r.get("tool_wire_bytes") or 0
            print(f"| {link} | {ram} | {m} | {'yes' if r.get('ok') else 'NO'} | {r.get('total_s', '-')} | "
                  f"{r.get('blackout_ms', '-')} | {wire / 1e6:.1f} | {r.get('rounds', '-')} | {r.get('qemu_stall_s', '-')} |")
print()


def median(trials, key):
    values = [r[key] for r in trials if r.get("ok") and r.get(key) is not None]
    return statistics.median(values) if values else None


for (link, ram), methods in groups.items():
    d = median(methods.get("dwcp", []), "total_s")
    if d is None:
        continue
    t = median(methods.get("qemu-tcp", []), "total_s")
    others = [v for m, trials in methods.items() if m not in ("dwcp", "qemu-tcp")
              for v in [median(trials, "total_s")] if v is not None]
    n = len(methods["dwcp"])
    parts = [f"{link} {ram}: dwcp total {d:.3f} s" + (f" (median of {n})" if n > 1 else "")]
    if t:
        parts.append(f"{d / t:.2f}x QEMU tcp:")
        parts.append(f"blackout {median(methods['dwcp'], 'blackout_ms')} vs {median(methods['qemu-tcp'], 'blackout_ms')} ms")
    tp = median(methods.get("qemu-tcp-prealloc", []), "total_s")
    if tp:
        parts.append(f"{d / tp:.2f}x QEMU tcp: into a pre-faulted destination")
    if others:
        parts.append(f"{d / min(others):.2f}x best other")
    print("- " + ", ".join(parts))

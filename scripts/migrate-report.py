#!/usr/bin/env python3
"""Prints the migration benchmark table (bench-out/migrate.jsonl) with DWCP's ratios."""
import json, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = defaultdict(dict)
for r in rows:
    groups[(r["link_name"], r["ram"] + "/" + r.get("write", "page"))][r["method"]] = r
print("| link | guest RAM / writes | method | ok | total s | blackout ms | wire MB | rounds |")
print("|---|---|---|---|---|---|---|---|")
for (link, ram), methods in groups.items():
    for m, r in methods.items():
        wire = r.get("wire_bytes") or r.get("tool_wire_bytes") or 0
        print(f"| {link} | {ram} | {m} | {'yes' if r.get('ok') else 'NO'} | {r.get('total_s', '-')} | "
              f"{r.get('blackout_ms', '-')} | {wire / 1e6:.1f} | {r.get('rounds', '-')} |")
print()
for (link, ram), methods in groups.items():
    d = methods.get("dwcp")
    t = methods.get("qemu-tcp")
    if not d or not d.get("ok"):
        continue
    others = [r["total_s"] for m, r in methods.items() if m not in ("dwcp",) and r.get("ok") and m != "qemu-tcp"]
    parts = [f"{link} {ram}: dwcp total {d['total_s']} s"]
    if t and t.get("ok"):
        parts.append(f"{d['total_s'] / t['total_s']:.2f}x QEMU tcp:")
        parts.append(f"blackout {d['blackout_ms']} vs {t['blackout_ms']} ms")
    if others:
        parts.append(f"{d['total_s'] / min(others):.2f}x best other")
    print("- " + ", ".join(parts))

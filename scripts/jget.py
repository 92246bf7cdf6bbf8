#!/usr/bin/env python3
"""Prints one number from a JSON document on stdin: jget.py PATH [SCALE] (PATH like end.sum_received.bits_per_second)."""
import json
import sys

value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
print("%.2f" % (float(value) * scale))

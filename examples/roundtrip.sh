#!/usr/bin/env bash
# Encode a file, decode it, and check the round trip. Usage: examples/roundtrip.sh FILE
set -euo pipefail
f=${1:?usage: roundtrip.sh FILE}
dwcp-encode --stats "$f" | dwcp-encode -d | cmp - "$f" && echo "$f: round trip identical"

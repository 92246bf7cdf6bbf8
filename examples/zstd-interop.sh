#!/usr/bin/env bash
# dwcp-encode writes plain zstd for other tools, and decodes zstd streams they wrote.
set -euo pipefail
f=${1:?usage: zstd-interop.sh FILE}
dwcp-encode --format zstd "$f" | zstd -d | cmp - "$f"
zstd -c "$f" | dwcp-encode -d | cmp - "$f"
echo "zstd interop: both directions identical"

#!/usr/bin/env bash
# A sparse disk image (most of it never written) stays sparse on the way: encoded, decoded, and
# sent with dwcp-send/dwcp-recv, the copies read back identical and take the disk space of the
# data, not of the image's size. Usage: examples/sparse-image.sh PORT
set -euo pipefail
port=${1:?usage: sparse-image.sh PORT}
head -c 4M /dev/urandom > disk.img && truncate -s 256M disk.img    # 4 MiB of data, 256 MiB long
dwcp-encode disk.img > disk.dwcp
dwcp-encode -t disk.dwcp                                            # verify only
dwcp-encode -d -f disk.dwcp -o decoded.img
dwcp-recv --listen 127.0.0.1:"$port" -f -o received.img & rp=$!
sleep 0.5
dwcp-send 127.0.0.1:"$port" disk.img
wait "$rp"
for f in disk.img decoded.img received.img; do
  cmp disk.img "$f"
  echo "$f: $(stat -c %s "$f") bytes, $(du -k "$f" | cut -f1) KiB on disk"
done
echo "encoded: $(stat -c %s disk.dwcp) bytes"

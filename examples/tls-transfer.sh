#!/usr/bin/env bash
# Send a file over mutual TLS 1.3 on loopback with throwaway certificates, and check it arrived.
# Usage: examples/tls-transfer.sh FILE [PORT]   (dwcp-send and dwcp-recv on PATH)
set -euo pipefail
f=${1:?usage: tls-transfer.sh FILE [PORT]}
port=${2:-7000}
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
bash "$(dirname "$0")/../scripts/make-test-certs.sh" "$certs"
dwcp-recv --listen "127.0.0.1:$port" --tls --cert "$certs/server.pem" --key "$certs/server.key" --ca "$certs/ca.pem" \
  -o "$certs/received" &
sleep 0.3
dwcp-send --tls --cert "$certs/client.pem" --key "$certs/client.key" --ca "$certs/ca.pem" "localhost:$port" "$f"
wait
cmp "$certs/received" "$f" && echo "$f: arrived over TLS, identical"

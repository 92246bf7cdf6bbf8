#!/usr/bin/env bash
# Makes a throwaway CA and two certificates signed by it, for trying --tls and for the tests:
#   scripts/make-test-certs.sh DIR
# DIR/ca.pem; DIR/server.{pem,key} for localhost, 127.0.0.1 and ::1; DIR/client.{pem,key};
# DIR/stranger.{pem,key}, self-signed (signed by no CA the others trust). P-256 keys, 30 days.
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 30 -subj /CN=dwcp-test-ca 2>/dev/null
signed() { # NAME SUBJECT-ALT-NAMES
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 30 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
signed server "DNS:localhost,IP:127.0.0.1,IP:::1"
signed client "DNS:dwcp-client"
key stranger.key
openssl req -x509 -new -key stranger.key -out stranger.pem -days 30 -subj /CN=stranger -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 ./*.key

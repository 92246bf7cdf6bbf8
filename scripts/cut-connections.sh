#!/usr/bin/env bash
# Cuts TCP connections at random moments until killed: the soaks' chaos (scripts/soak-*-wan.sh).
# Every 0.10 s to GAP_MAX hundredths of a second (at least 10), with probability 1/ODDS, destroys
# every connection from namespace NS to DST (`ss -K`, as a path that drops them or a firewall
# flushing its state would). SEED makes the moments repeatable; DELAY seconds pass first.
#   scripts/cut-connections.sh NS DST SEED GAP_MAX ODDS [DELAY]
set -u
[ $# -ge 5 ] || { echo "usage: scripts/cut-connections.sh NS DST SEED GAP_MAX ODDS [DELAY]" >&2; exit 2; }
ns=$1 dst=$2 gap=$4 odds=$5
RANDOM=$3
sleep "${6:-0}"
while true; do
  g=$((10 + RANDOM % (gap - 9)))
  sleep "$((g / 100)).$(printf %02d $((g % 100)))"
  [ $((RANDOM % odds)) -eq 0 ] && ip netns exec "$ns" ss -K dst "$dst" >/dev/null 2>&1
done

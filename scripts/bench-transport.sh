#!/usr/bin/env bash
# Side-by-side transport benchmark: dwcp-send/dwcp-recv vs iperf3 and socat, same run, same links.
#   scripts/bench-transport.sh BIN_DIR [SECONDS_PER_WAN_RUN]
# Loopback (file and pipe input), an unlimited veth between two namespaces, then two emulated
# WAN links built by ../shared/tools/wan:
# 1 Gbit tbf with 200 ms RTT, and 200 ms RTT with 0.1% loss (bbr); TLS on loopback. Needs root.
# TRANSPORT_SECTIONS picks sections (default: "loopback veth tls wan").
set -euo pipefail
bin=$(cd "${1:-.build/release}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
secs=${2:-15}
sections=" ${TRANSPORT_SECTIONS:-loopback veth tls wan} "
want() { [[ "$sections" == *" $1 "* ]]; }
wan=$(cd "$(dirname "$0")/../.." && pwd)/shared/tools/wan/wan-setup.sh
[ -x "$wan" ] || [ -f "$wan" ] || { echo "bench-transport: $wan missing (../shared/tools/wan)" >&2; exit 1; }
work=$(mktemp -d)
cleanup() { pkill -f "dwcp-recv --listen" 2>/dev/null || true; pkill iperf3 2>/dev/null || true; pkill socat 2>/dev/null || true; bash "$wan" down >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
gbps() { python3 -c "print(f'{$1 * 8 / $2 / 1e9:.2f}')"; }

# Each run prints "Gbit/s CPU": CPU is core-seconds per GB, both ends together (user + system),
# which does not depend on how the two ends share the cores. dwcp_run adds the congestion
# control dwcp-send chose (--cc auto: cubic on a short path), so iperf3 can be run with it too.
dwcp_run() { # NS_SEND NS_RECV ADDR file|pipe SOURCE ARGS... -> prints "Gbit/s CPU CC"
  local ns_s=$1 ns_r=$2 addr=$3 mode=$4 src=$5; shift 5
  $ns_r /usr/bin/time -f "%U %S" -o "$work/recv.cpu" "$bin/dwcp-recv" --listen "$addr:7300" > /dev/null & local rp=$!
  sleep 0.5
  local out
  if [ "$mode" = file ]; then
    out=$($ns_s /usr/bin/time -f "%U %S" -o "$work/send.cpu" "$bin/dwcp-send" --json "$@" "$addr:7300" "$src")
  else
    out=$(bash -c "$src" | $ns_s /usr/bin/time -f "%U %S" -o "$work/send.cpu" "$bin/dwcp-send" --json "$@" "$addr:7300")
  fi
  wait $rp
  python3 -c "import json,sys; j=json.loads(sys.argv[1]); cpu=sum(float(x) for f in sys.argv[2:] for x in open(f).read().split()[:2]); print(f\"{j['gbit_per_s']:.2f} {cpu / (j['bytes'] / 1e9):.3f} {j['congestion_control']}\")" "$out" "$work/recv.cpu" "$work/send.cpu"
}
iperf_run() { # NS_SEND NS_RECV ADDR SECONDS|-F:FILE ARGS... -> prints "Gbit/s CPU"
  local ns_s=$1 ns_r=$2 addr=$3 t=$4; shift 4
  local length=(-t "$t")
  [[ "$t" == -F:* ]] && length=(-F "${t#-F:}")
  $ns_r iperf3 -s -1 -p 5301 > /dev/null & local rp=$!
  sleep 0.5
  $ns_s iperf3 -c "$addr" -p 5301 "${length[@]}" -J "$@" | python3 -c "import json,sys; j=json.load(sys.stdin); r=j['end']['sum_received']; c=j['end']['cpu_utilization_percent']; print(f\"{r['bits_per_second'] / 1e9:.2f} {(c['host_total'] + c['remote_total']) / 100 * r['seconds'] / (r['bytes'] / 1e9):.3f}\")"
  wait $rp || true
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
socat_run() { # NS_SEND NS_RECV ADDR BYTES
  local ns_s=$1 ns_r=$2 addr=$3 bytes=$4
  $ns_r socat -u TCP-LISTEN:7400,reuseaddr OPEN:/dev/null & local rp=$!
  sleep 0.5
  local s e; s=$(date +%s.%N)
  head -c "$bytes" /dev/zero | $ns_s socat -u STDIN "TCP:$addr:7400"
  e=$(date +%s.%N); wait $rp || true
  gbps "$bytes" "$(python3 -c "print($e - $s)")"
}

echo "# transport benchmark ($(nproc) cores; sender and receiver share them)"
echo
# Written back and read twice before timing anything: 4 GB of dirty pages being flushed, or
# moved to the kernel's active list on their second read, would tax whichever run reads the
# file first (measured: the first dwcp run after one read was 26 Gbit/s, later ones 32).
head -c 4000000000 /dev/zero > "$work/4g"; sync "$work/4g"; cat "$work/4g" > /dev/null; cat "$work/4g" > /dev/null
if want loopback; then
echo "## loopback"
echo "dwcp-send reads the file and checksums every chunk at both ends; iperf3 -P N sends one buffer"
echo "that stays in cache, with the system's congestion control ($(sysctl -n net.ipv4.tcp_congestion_control)) or with the one dwcp-send"
echo "chose (-C); iperf3 -F reads the same file (no checksums). CPU: core-seconds per GB, both ends."
echo
echo "| streams | dwcp-send (file) Gbit/s | iperf3 -P N | ratio | iperf3 -P N -C (dwcp's cc) | ratio | iperf3 -F FILE -P N | ratio | CPU s/GB dwcp / iperf3 / iperf3 -F | dwcp-send (pipe) | socat (pipe) | ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
sc=$(socat_run "" "" 127.0.0.1 4000000000)
for n in 1 4 8; do
  read -r d dc cc < <(dwcp_run "" "" 127.0.0.1 file "$work/4g" --streams $n)
  read -r f _ _ < <(dwcp_run "" "" 127.0.0.1 pipe "cat $work/4g" --streams $n)
  read -r i ic < <(iperf_run "" "" 127.0.0.1 5 -P $n)
  read -r ia _ < <(iperf_run "" "" 127.0.0.1 5 -P $n -C "$cc")
  read -r fi fic < <(iperf_run "" "" 127.0.0.1 "-F:$work/4g" -P $n)
  echo "| $n | $d | $i | $(ratio "$d" "$i") | $ia ($cc) | $(ratio "$d" "$ia") | $fi | $(ratio "$d" "$fi") | $dc / $ic / $fic | $f | $sc | $(ratio "$f" "$sc") |"
done
fi

# TLS: the same 4 GB file through one encrypted connection; "per core" is bits moved per CPU
# second of both ends (user + system, from /usr/bin/time), so it does not depend on how the
# two processes share the 2 cores.
if want tls; then
echo
echo "## loopback TLS 1.3, 4 GB, mutual certificates (scripts/make-test-certs.sh)"
bash "$here/make-test-certs.sh" "$work/certs" >/dev/null
C=$work/certs
cpu_run() { # OUT-FILE COMMAND... : runs it under /usr/bin/time, CPU seconds into OUT-FILE
  local out=$1; shift
  /usr/bin/time -f "%U %S" -o "$out" "$@"
}
cpu() { awk '{print $1 + $2}' "$1"; }
tls_case() { # LABEL RECV-COMMAND... -- SEND-COMMAND...
  local label=$1; shift
  local recv=() send=()
  while [ "$1" != "--" ]; do recv+=("$1"); shift; done; shift
  send=("$@")
  cpu_run "$work/r.cpu" "${recv[@]}" > /dev/null & local rp=$!
  sleep 0.5
  local s e; s=$(date +%s.%N)
  cpu_run "$work/s.cpu" "${send[@]}"
  wait $rp; e=$(date +%s.%N)
  local wall cpus; wall=$(python3 -c "print($e - $s)"); cpus=$(python3 -c "print($(cpu "$work/r.cpu") + $(cpu "$work/s.cpu"))")
  echo "$label $(gbps 4000000000 "$wall") $(gbps 4000000000 "$cpus")"
}
echo "| tool | Gbit/s | Gbit/s per core (both ends) |"
echo "|---|---:|---:|"
read -r _ sw sc < <(tls_case socat socat -u "OPENSSL-LISTEN:7401,reuseaddr,cert=$C/server.pem,key=$C/server.key,cafile=$C/ca.pem,verify=1" OPEN:/dev/null -- \
  socat -u "FILE:$work/4g" "OPENSSL:127.0.0.1:7401,cert=$C/client.pem,key=$C/client.key,cafile=$C/ca.pem,openssl-min-proto-version=TLS1.3")
echo "| socat OPENSSL (TLS 1.3) | $sw | $sc |"
for n in 1 4; do
  read -r _ dw dc < <(tls_case dwcp "$bin/dwcp-recv" --listen 127.0.0.1:7300 --tls --cert "$C/server.pem" --key "$C/server.key" --ca "$C/ca.pem" -- \
    "$bin/dwcp-send" --streams $n --tls --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem" 127.0.0.1:7300 "$work/4g")
  echo "| dwcp-send --tls --streams $n | $dw | $dc (×$(python3 -c "print(f'{$dc/$sc:.2f}')") socat) |"
done
fi

# Unlimited veth between two namespaces (no rate, no delay): the same file, 1/4/8 streams.
if want veth; then
echo
echo "## unlimited veth (../shared/tools/wan up, no rate or delay), 4 GB file"
echo "| streams | dwcp-send (file) Gbit/s | iperf3 -P N | ratio | iperf3 -P N -C (dwcp's cc) | ratio | iperf3 -F FILE -P N | ratio | CPU s/GB dwcp / iperf3 / iperf3 -F |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"
bash "$wan" up > /dev/null
for n in 1 4 8; do
  read -r d dc cc < <(dwcp_run "ip netns exec nb-a" "ip netns exec nb-b" 10.200.0.2 file "$work/4g" --streams $n)
  read -r i ic < <(iperf_run "ip netns exec nb-a" "ip netns exec nb-b" 10.200.0.2 5 -P $n)
  read -r ia _ < <(iperf_run "ip netns exec nb-a" "ip netns exec nb-b" 10.200.0.2 5 -P $n -C "$cc")
  read -r fi fic < <(iperf_run "ip netns exec nb-a" "ip netns exec nb-b" 10.200.0.2 "-F:$work/4g" -P $n)
  echo "| $n | $d | $i | $(ratio "$d" "$i") | $ia ($cc) | $(ratio "$d" "$ia") | $fi | $(ratio "$d" "$fi") | $dc / $ic / $fic |"
done
bash "$wan" down > /dev/null
fi

wan_case() { # LABEL WAN-ARGS... ; CC
  local label=$1 cc=$2; shift 2
  bash "$wan" up "$@" > /dev/null
  local A="ip netns exec nb-a" B="ip netns exec nb-b" bytes=$(( secs * 100000000 ))
  local d i s
  read -r d _ _ < <(dwcp_run "$A" "$B" 10.200.0.2 pipe "head -c $bytes /dev/zero" --streams 16 --cc "$cc")
  read -r i _ < <(iperf_run "$A" "$B" 10.200.0.2 "$secs" -P 16 -C "$cc")
  s=$(socat_run "$A" "$B" 10.200.0.2 $(( secs * 10000000 )))
  echo "| $label | $d | $i | $(ratio "$d" "$i") | $s | $(python3 -c "print(f'{$d/$s:.1f}')") |"
  bash "$wan" down > /dev/null
}
want wan || exit 0
echo
echo "## emulated WAN (../shared/tools/wan), 16 streams, ~${secs} s per run"
echo "| link | dwcp-send Gbit/s | iperf3 -P 16 | ratio | socat (1 stream) | dwcp/socat |"
echo "|---|---:|---:|---:|---:|---:|"
wan_case "1 Gbit, 200 ms, cubic" cubic --rate 1gbit --rtt 200
wan_case "1 Gbit, 200 ms, 0.1% loss, bbr" bbr --rate 1gbit --rtt 200 --loss 0.1

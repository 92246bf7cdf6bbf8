# Sourced by the chaos soaks (scripts/soak-*-wan.sh): their trials counted, a failed trial's work
# directory kept, and the run's summary and exit status.
#   soak_judge NAME SENT RECEIVED COPY   the trial passes when both ends exited 0 and COPY is
#                                        "identical"; else it counts as failed and $work is kept
#                                        as $SOAK_KEEP/NAME (default /tmp/dwcp-soak-failed)
#   soak_fail NAME                       counts a failed trial and keeps $work as $SOAK_KEEP/NAME
#                                        (for a soak that judges its trials otherwise)
#   soak_summary SOAK TRIALS             "SOAK: P of TRIALS trials passed"; fails if any failed
soak_failed=0
soak_keep=${SOAK_KEEP:-/tmp/dwcp-soak-failed}

soak_fail() {
  soak_failed=$((soak_failed + 1))
  mkdir -p "$soak_keep"; rm -rf "${soak_keep:?}/$1"; cp -r "$work" "$soak_keep/$1"
}

soak_judge() {
  local name=$1 sent=$2 received=$3 copy=$4
  if [ "$sent" -ne 0 ] || [ "$received" -ne 0 ] || [ "$copy" != identical ]; then
    soak_fail "$name"
  fi
}

soak_summary() {
  echo "$1: $(($2 - soak_failed)) of $2 trials passed"
  [ "$soak_failed" -eq 0 ]
}

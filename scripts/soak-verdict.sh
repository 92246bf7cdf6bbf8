# Sourced by the chaos soaks (scripts/soak-*-wan.sh): their trials counted, a failed trial's work
# directory kept, and the run's summary and exit status.
#   soak_judge NAME SENT RECEIVED COPY   the trial passes when both ends exited 0 and COPY is
#                                        "identical"; else it counts as failed and $work is kept
#                                        as $SOAK_KEEP/NAME (default /tmp/dwcp-soak-failed)
#   soak_summary SOAK TRIALS             "SOAK: P of TRIALS trials passed"; fails if any failed
# A soak that judges its trials otherwise counts a failure with soak_failed=$((soak_failed + 1)).
soak_failed=0
soak_keep=${SOAK_KEEP:-/tmp/dwcp-soak-failed}

soak_judge() {
  local name=$1 sent=$2 received=$3 copy=$4
  if [ "$sent" -ne 0 ] || [ "$received" -ne 0 ] || [ "$copy" != identical ]; then
    soak_failed=$((soak_failed + 1))
    mkdir -p "$soak_keep"; rm -rf "${soak_keep:?}/$name"; cp -r "$work" "$soak_keep/$name"
  fi
}

soak_summary() {
  echo "$1: $(($2 - soak_failed)) of $2 trials passed"
  [ "$soak_failed" -eq 0 ]
}

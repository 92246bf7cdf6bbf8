# Sourced by the chaos soaks and bench-image-wan.sh (with $repo set to the repository): one
# emulated path through ../shared/tools/wan, namespaces PREFIX-a (10.200.0.1) and PREFIX-b
# (10.200.0.2), a work directory $work under PARENT, and an exit trap that kills the script's
# jobs, takes the path down and removes $work.
#   wan_path_up NAME PREFIX PARENT RATE RTT [more wan-setup.sh up options]
wan_path_up() {
  local name=$1 prefix=$2 parent=$3 rate=$4 rtt=$5
  shift 5
  wan="$repo/../shared/tools/wan/wan-setup.sh"
  [ -f "$wan" ] || { echo "$name: $wan missing" >&2; exit 1; }
  work=$(mktemp -d "$parent/$name.XXXXXX")
  export NB_PREFIX=$prefix WAN_STATE="$work/wan"
  trap wan_path_down EXIT
  bash "$wan" up --rate "$rate" --rtt "$rtt" "$@" >&2
}

wan_path_down() {
  kill $(jobs -p) 2>/dev/null || true
  bash "$wan" down >/dev/null 2>&1 || true
  rm -rf "$work"
}

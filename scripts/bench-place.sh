#!/usr/bin/env bash
# dwcp-place against the published vector bin packing results and the Alibaba openb cluster,
# and decision latency at 1.5k and 100k nodes. Reads ../shared/data/placement.
set -euo pipefail
bin=${1:-.build/release}
data=${PLACE_DATA:-../shared/data/placement}
vbp=$data/vbp-panigrahy
openb=$data/alibaba-openb-2023
echo "== Panigrahy et al. vector bin packing: 1620 instances, items shuffled (seed 1)"
/usr/bin/time -f "whole evaluation: %e s wall" "$bin/dwcp-place" eval --bounds "$vbp/Panigrahy_summary_known.tsv" "$vbp/instances"
echo "== Alibaba openb: the Running pods on the 1523-node cluster (lower bound 604)"
"$bin/dwcp-place" eval --nodes "$openb/openb_node_list_all_node.csv" --phase Running "$openb/openb_pod_list_default.csv"
echo "== online decision latency"
"$bin/dwcp-place" bench --nodes 1500,100000 --decisions 1000

#!/usr/bin/env bash
# Checks the protocol models with spin: `check.sh` runs every configuration (leases
# G1-G3, reports G4 in muster.pml; named sequences in sequences.pml, with all faults and
# with restarts only; Redis-side minting stations in stations.pml) and must find no
# error; `check.sh HOLE1` (HOLE2, HOLE3, HOLE4, RESETHOLE, SEQHOLE1 .. SEQHOLE4,
# STATIONHOLE1, STATIONHOLE2) puts a hole back and must find a violation. The search is spin's bitstate
# search in random order, bounded in time (SECONDS_PER_RUN per seed, default 30), with
# seeds 1 to 3 (1 to 9 for a hole, stopping at the first violation).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null || { echo "spin is not installed (apt-get install -y spin)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/muster.pml" "$here/sequences.pml" "$here/stations.pml" "$work/"
cd "$work"
budget=${SECONDS_PER_RUN:-30}
hole=${1:-}
errors=0
run() { # $1: label, $2: model, $3..: spin defines
  local label=$1 model=$2; shift 2
  spin -a "$@" "$model" >/dev/null || { echo "spin -a failed"; exit 2; }
  gcc -O2 -DSAFETY -DBITSTATE -DT_RAND -DP_RAND -o pan pan.c 2>/dev/null || { echo "gcc failed"; exit 2; }
  local seeds="1 2 3"
  [ -n "$hole" ] && seeds="1 2 3 4 5 6 7 8 9"
  # The stations model's holes lie where a depth-first search goes first, not a random one.
  if [ "$model" = stations.pml ]; then
    gcc -O2 -DSAFETY -DBITSTATE -o pand pan.c 2>/dev/null || { echo "gcc failed"; exit 2; }
    seeds="dfs $seeds"
  fi
  for seed in $seeds; do
    if [ "$seed" = dfs ]; then
      out=$(timeout "$budget" ./pand -m5000 -w28 2>&1)
    else
      out=$(timeout "$budget" ./pan -m5000 -w28 -RS$seed 2>&1)
    fi
    e=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9]*\).*/\1/p' | tail -n 1)
    if [ -n "$e" ] && [ "$e" != 0 ]; then
      echo "$label seed $seed: $(printf '%s\n' "$out" | grep -m1 'assertion violated')"
      errors=$((errors + e))
      if [ -n "$hole" ]; then return; fi
    else
      echo "$label seed $seed: no violation in ${budget}s of search"
    fi
  done
}
restarts="-DRESTARTS -DTMAX=7 -DTRIES=2"
case "$hole" in
  "")
    run "leases (G1-G3)" muster.pml
    run "reports (G4)" muster.pml -DREPORTS
    run "sequences" sequences.pml
    run "sequences, restarts only" sequences.pml $restarts
    run "stations (Redis-side minting on a Cluster)" stations.pml ;;
  STATIONHOLE*) run "stations with $hole" stations.pml -D"$hole" ;;
  HOLE4) run "reports (G4) with $hole" muster.pml -DREPORTS -D"$hole" ;;
  SEQHOLE3) run "sequences, restarts only, with $hole" sequences.pml $restarts -D"$hole" ;;
  SEQHOLE*) run "sequences with $hole" sequences.pml -D"$hole" ;;
  *) run "leases (G1-G3) with $hole" muster.pml -D"$hole" ;;
esac
echo "errors: $errors"
if [ -n "$hole" ]; then [ "$errors" -gt 0 ]; else [ "$errors" -eq 0 ]; fi

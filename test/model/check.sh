#!/usr/bin/env bash
# Checks the protocol model with spin: `check.sh` runs both configurations (G1-G3, and
# G4) and must find no error; `check.sh HOLE1` (or HOLE2, HOLE3, HOLE4) puts a hole of
# an earlier version back and must find a violation. The search is spin's bitstate
# search in random order, bounded in time (SECONDS_PER_RUN per seed, default 30), with
# seeds 1 to 3 (1 to 9 for a hole, stopping at the first violation).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null || { echo "spin is not installed (apt-get install -y spin)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/muster.pml" "$work/"
cd "$work"
budget=${SECONDS_PER_RUN:-30}
hole=${1:-}
errors=0
run() { # $1: label, $2..: spin defines
  local label=$1; shift
  spin -a "$@" muster.pml >/dev/null || { echo "spin -a failed"; exit 2; }
  gcc -O2 -DSAFETY -DBITSTATE -DT_RAND -DP_RAND -o pan pan.c 2>/dev/null || { echo "gcc failed"; exit 2; }
  local seeds="1 2 3"
  [ -n "$hole" ] && seeds="1 2 3 4 5 6 7 8 9"
  for seed in $seeds; do
    out=$(timeout "$budget" ./pan -m5000 -w28 -RS$seed 2>&1)
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
case "$hole" in
  "") run "leases (G1-G3)"; run "reports (G4)" -DREPORTS ;;
  HOLE4) run "reports (G4) with $hole" -DREPORTS -D"$hole" ;;
  *) run "leases (G1-G3) with $hole" -D"$hole" ;;
esac
echo "errors: $errors"
if [ -n "$hole" ]; then [ "$errors" -gt 0 ]; else [ "$errors" -eq 0 ]; fi

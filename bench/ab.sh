#!/usr/bin/env bash
# Interleaved A/B comparison of two builds of check_exchange_authcert on one bundle: ROUNDS
# rounds, each one hyperfine run of 10 executions of A and of B, printing the two medians per round
# and the mean of the medians. On a VM whose speed drifts within minutes this compares builds
# fairly where two separate runs do not. Every second round runs B first, so that a drift of the
# VM's speed within a round favours neither build. Rounds are noisy: an 8-round run once put a
# build 3.6% behind that two 20-round runs put 5-6% ahead; use 20 rounds for a decision.
#
#   bash bench/ab.sh BINARY_A BINARY_B BUNDLE [ROUNDS]      (default 6 rounds)
#
# Needs hyperfine and python3 (Debian: hyperfine python3).
set -euo pipefail
[[ $# -ge 3 ]] || { echo "usage: $0 BINARY_A BINARY_B BUNDLE [ROUNDS]" >&2; exit 2; }
A="$1" B="$2" BUNDLE="$3" ROUNDS="${4:-6}"
NOW="2026-12-01T00:00:00Z"
RESULT="$(mktemp)"
trap 'rm -f "$RESULT"' EXIT
for round in $(seq "$ROUNDS"); do
    first="$A" second="$B"
    if ((round % 2 == 0)); then first="$B" second="$A"; fi
    hyperfine -N -i -w 2 -r 10 --export-json "$RESULT" \
        "$first --now $NOW --bundle $BUNDLE" "$second --now $NOW --bundle $BUNDLE" >/dev/null 2>&1
    # Printed as "A B" whatever the order of the round.
    python3 -c 'import json, sys
r = [x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]]
if sys.argv[2] == "swapped":
    r.reverse()
print(" ".join("%.1f" % m for m in r))' "$RESULT" "$( ((round % 2 == 0)) && echo swapped || echo kept)"
done | awk '{ a += $1; b += $2; print "round medians ms: A " $1 "  B " $2 }
    END { printf "mean of medians: A %.1f  B %.1f  B/A %.3f\n", a / NR, b / NR, b / a }'

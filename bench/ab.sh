#!/usr/bin/env bash
# Interleaved A/B comparison of two builds of check_exchange_authcert on one bundle: ROUNDS
# rounds, each one hyperfine run of 10 executions of A and of B, printing the two medians per round
# and the mean of the medians. On a VM whose speed drifts within minutes this compares builds
# fairly where two separate runs do not.
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
for _ in $(seq "$ROUNDS"); do
    hyperfine -N -i -w 2 -r 10 --export-json "$RESULT" \
        "$A --now $NOW --bundle $BUNDLE" "$B --now $NOW --bundle $BUNDLE" >/dev/null 2>&1
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"] * 1000) for x in r))' "$RESULT"
done | awk '{ a += $1; b += $2; print "round medians ms: A " $1 "  B " $2 }
    END { printf "mean of medians: A %.1f  B %.1f  B/A %.3f\n", a / NR, b / NR, b / a }'

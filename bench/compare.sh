#!/usr/bin/env bash
# A/B start-up comparison of several builds of check_exchange_authcert (used for the
# [profile.release] decision in BENCHMARKS.md; bench/run.sh is the benchmark itself).
#
#   bash bench/compare.sh [-r ROUNDS] [-n RUNS] BINARY...
#
# Each round runs one hyperfine over /bin/true and every BINARY (PEM check, no shell), in a
# shuffled order. A single long hyperfine run is at the mercy of load drifting between its
# commands; many short shuffled rounds, compared round by round, are not. Reported: the
# median over rounds of (binary median / first binary median), with a bootstrap 95% interval,
# and of (binary median / /bin/true median).
#
# The binaries are copied into one fresh temp dir first: byte-identical files have measured
# up to ~6% apart depending on how their pages sit in the page cache (a linker-written file vs
# a fresh copy), which is more than most profile settings change.
#
# Needs hyperfine and python3. As root, BENCH_RT_PRIO=N runs hyperfine under SCHED_FIFO N.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=40
RUNS=60
while getopts "r:n:" opt; do
    case $opt in
    r) ROUNDS=$OPTARG ;;
    n) RUNS=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || {
    echo "usage: $0 [-r ROUNDS] [-n RUNS] BINARY..." >&2
    exit 2
}
command -v hyperfine >/dev/null || { echo "hyperfine not found (Debian: hyperfine)" >&2; exit 1; }

ARGS="--cert samples/auth-certificate.pem --now 2026-12-01T00:00:00Z"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

names=()
for bin in "$@"; do
    [[ -x "$bin" ]] || { echo "not executable: $bin" >&2; exit 1; }
    name="$(basename "$bin")"
    while [[ -e "$WORK/$name" ]]; do name="$name+"; done
    cp "$bin" "$WORK/$name"
    names+=("$name")
done

HF=(hyperfine)
[[ -z "${BENCH_RT_PRIO:-}" ]] || HF=(chrt -f "$BENCH_RT_PRIO" hyperfine)

for round in $(seq "$ROUNDS"); do
    cmd=()
    while read -r name; do
        if [[ $name == "/bin/true" ]]; then
            cmd+=(-n /bin/true /bin/true)
        else
            cmd+=(-n "$name" "$WORK/$name $ARGS")
        fi
    done < <(printf '%s\n' /bin/true "${names[@]}" | shuf)
    "${HF[@]}" -N -i --warmup 10 --runs "$RUNS" --style none \
        --export-json "$WORK/round-$round.json" "${cmd[@]}" >/dev/null 2>&1
    printf '.' >&2
done
echo >&2

python3 - "$WORK" "${names[@]}" <<'PY'
import glob, json, random, statistics as st, sys

work, names = sys.argv[1], sys.argv[2:]
rounds = [{r["command"]: st.median(r["times"]) for r in json.load(open(f))["results"]}
          for f in glob.glob(work + "/round-*.json")]
ref = names[0]

def ci(xs):
    boots = sorted(st.median(random.choices(xs, k=len(xs))) for _ in range(2000))
    return boots[49], boots[1949]

print(f"{len(rounds)} rounds; reference = {ref}")
print(f"{'binary':36} {'median ms':>9} {'x /bin/true':>11} {'x ' + ref[:20]:>24}  95% CI")
for n in ["/bin/true"] + names:
    ms = st.median(r[n] for r in rounds) * 1e3
    vs_true = st.median(r[n] / r["/bin/true"] for r in rounds)
    rel = [r[n] / r[ref] for r in rounds]
    lo, hi = ci(rel)
    print(f"{n:36} {ms:9.3f} {vs_true:10.2f}x {st.median(rel):23.3f}  [{lo:.3f}, {hi:.3f}]")
PY

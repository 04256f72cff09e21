#!/usr/bin/env bash
# Start-up and size of this checkout's release binary against the release binary of an earlier
# commit: "no worse than before X landed" (issue 16: before --ldap, the parent of the first
# commit that touched src/source/ldap.rs).
#
#   bash bench/since.sh [-n RUNS] [-r ROUNDS] COMMIT
#
# Builds COMMIT's check_exchange_authcert in a temporary `git worktree` with its own target dir
# (release profile of that commit) and this checkout's into target/release, then reports:
#   - both sizes and their ELF relocation counts (what the dynamic loader walks at every start);
#   - one hyperfine run of /bin/true, the old and the new binary on one PEM file (-N, warm-up
#     50, RUNS runs each; default 1000): means and medians;
#   - bench/compare.sh -r ROUNDS -n 60 on the same two binaries (default 20 rounds): the
#     interleaved median ratio with its 95% interval, which the shared VM's drift cannot bias.
# The worktree and its target dir are removed at the end. EXTRA_RUSTFLAGS, when set, is given to
# both builds (linker experiments; the new one then builds in target/bench-since-flags). As root,
# BENCH_RT_PRIO=N runs every hyperfine under SCHED_FIFO N (chrt), as bench/compare.sh does.
#
# Needs git, cargo, hyperfine, python3; readelf (binutils) for the relocation counts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=1000
ROUNDS=20
while getopts "n:r:" opt; do
    case $opt in
    n) RUNS=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 ]] || { echo "usage: $0 [-n RUNS] [-r ROUNDS] COMMIT" >&2; exit 2; }
OLD_COMMIT="$(git rev-parse --verify "$1^{commit}")"
command -v hyperfine >/dev/null || { echo "hyperfine not found (Debian: hyperfine)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-since.XXXXXX")"
cleanup() {
    git worktree remove --force "$WORK/old" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

build() { # directory, target dir
    (cd "$1" && CARGO_TARGET_DIR="$2" RUSTFLAGS="${EXTRA_RUSTFLAGS:-}" \
        cargo build --release --locked --bin check_exchange_authcert >&2)
}
git worktree add --detach "$WORK/old" "$OLD_COMMIT" >&2
build "$WORK/old" "$WORK/old-target"
NEW_TARGET=target
[[ -z "${EXTRA_RUSTFLAGS:-}" ]] || NEW_TARGET="target/bench-since-flags"
build . "$NEW_TARGET"
# Fresh copies side by side: the page cache treats a linker-written file and a copy differently
# (bench/compare.sh).
cp "$WORK/old-target/release/check_exchange_authcert" "$WORK/old-bin"
cp "$NEW_TARGET/release/check_exchange_authcert" "$WORK/new-bin"

echo "old: $(git log -1 --format='%h %s' "$OLD_COMMIT" | cut -c1-80)"
echo "new: $(git describe --always --dirty)"
for side in old new; do
    bin="$WORK/$side-bin"
    relocs="n/a"
    if command -v readelf >/dev/null; then
        relative="$(readelf -rW "$bin" | grep -c 'R_X86_64_RELATIVE' || true)"
        symbol="$(readelf -rW "$bin" | grep 'R_X86_64' | grep -vc 'R_X86_64_RELATIVE' || true)"
        relocs="$relative relative, $symbol symbol"
        if readelf -SW "$bin" | grep -q '\.relr\.dyn'; then relocs="$relocs (+ RELR)"; fi
    fi
    echo "$side: $(stat -c %s "$bin") bytes, relocations $relocs"
done

ARGS="--now 2026-12-01T00:00:00Z --cert samples/auth-certificate.pem"
HF=(hyperfine)
[[ -z "${BENCH_RT_PRIO:-}" ]] || HF=(chrt -f "$BENCH_RT_PRIO" hyperfine)
"${HF[@]}" -N --warmup 50 --runs "$RUNS" --export-json "$WORK/one-run.json" \
    -n /bin/true /bin/true -n old "$WORK/old-bin $ARGS" -n new "$WORK/new-bin $ARGS" >/dev/null
python3 - "$WORK/one-run.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
true = results["/bin/true"]
print(f"{'one hyperfine run':18} {'mean ms':>8} {'median ms':>9} {'mean x true':>11} {'median x true':>13}")
for name in ["/bin/true", "old", "new"]:
    r = results[name]
    print(f"{name:18} {r['mean'] * 1e3:8.3f} {r['median'] * 1e3:9.3f} "
          f"{r['mean'] / true['mean']:10.2f}x {r['median'] / true['median']:12.2f}x")
PY
bash bench/compare.sh -r "$ROUNDS" -n 60 "$WORK/old-bin" "$WORK/new-bin"

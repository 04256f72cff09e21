#!/usr/bin/env bash
# Scale benchmark of check_exchange_authcert (issue 7): whole-process wall time and peak RSS of
# one check on a PEM file, on the real fixture pair (GetAuthConfig.xml + GetExchangeCertificate.xml)
# and on synthetic collector bundles of N servers x 20 certificates (N = 1, 10, 100, 500; real
# DER from examples/make_bundle.rs), against /bin/true and `openssl x509 -checkend`, in one
# hyperfine run. Prints medians, ratios, the per-certificate cost and a linearity check.
#
#   bash bench/scale.sh
#
# Needs (installs nothing itself): cargo, hyperfine, openssl, python3 (Debian: hyperfine openssl
# python3), GNU time at /usr/bin/time (Debian: time) for peak RSS.
#
# Environment knobs (all optional):
#   RUNS=30            measured runs per command       WARMUP=3   warm-up runs per command
#   RSS_RUNS=5         /usr/bin/time runs per command (the median peak RSS is reported)
#   RATIO_ROUNDS=10    interleaved rounds for the start-up ratios (see below)
#   RATIO_RUNS=100     runs per command in each of those rounds
#   SERVERS="1 10 100 500"   bundle sizes              CERTS=20   certificates per server
#   KEY_TYPE=rsa       certificate keys of the bundles: rsa (RSA 2048, as Exchange) or ecdsa
#   BENCH_BIN=path     benchmark this binary instead of building target/release
#   BUNDLE_DIR=dir     keep/reuse generated bundles there (default: a temporary directory)
#   FIXTURES=dir       the css-exchange fixtures (default: ../shared/fixtures/css-exchange)
#
# The PEM and fixture-pair targets are ratios to /bin/true of about 1-3 ms, and this VM's speed
# drifts within seconds: besides the main run, RATIO_ROUNDS short hyperfine runs of the three
# commands side by side give one ratio per round, and the verdict uses the median of those.
#
# Targets: PEM <= 2x /bin/true; fixture pair <= 3x /bin/true; 500 servers <= 150 ms and
# <= 64 MiB peak RSS; time linear in the number of certificates. A missed target prints
# "TARGET MISSED" and the script still exits 0; it exits non-zero only when it cannot run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-30}"
WARMUP="${WARMUP:-3}"
RSS_RUNS="${RSS_RUNS:-5}"
SERVERS="${SERVERS:-1 10 100 500}"
CERTS="${CERTS:-20}"
KEY_TYPE="${KEY_TYPE:-rsa}"
NOW="2026-12-01T00:00:00Z"
PEM="samples/auth-certificate.pem"
FIXTURES="${FIXTURES:-../shared/fixtures/css-exchange}"
AUTHCONFIG="$FIXTURES/GetAuthConfig.xml"
CERTIFICATES="$FIXTURES/GetExchangeCertificate.xml"

die() {
    echo "scale: $*" >&2
    exit 1
}
need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it first ($2)"
}

need hyperfine "Debian: apt-get install -y hyperfine"
need openssl "Debian: apt-get install -y openssl"
need python3 "Debian: apt-get install -y python3"
[[ -x /usr/bin/time ]] || die "GNU time not at /usr/bin/time (Debian: apt-get install -y time)"
[[ -r "$PEM" ]] || die "sample $PEM missing"
[[ -r "$AUTHCONFIG" && -r "$CERTIFICATES" ]] || die "fixtures not found in $FIXTURES (set FIXTURES=dir)"

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN="$BENCH_BIN"
    echo "== using prebuilt binary $BIN (BENCH_BIN set)"
    echo "== cargo build --release --example make_bundle"
    cargo build --release --example make_bundle || die "building make_bundle failed"
else
    echo "== cargo build --release (check + make_bundle)"
    cargo build --release --bin check_exchange_authcert --example make_bundle ||
        die "cargo build --release failed"
    BIN="$TARGET_DIR/release/check_exchange_authcert"
fi
MAKE_BUNDLE="$TARGET_DIR/release/examples/make_bundle"
[[ -x "$BIN" ]] || die "binary $BIN not found or not executable"
[[ -x "$MAKE_BUNDLE" ]] || die "$MAKE_BUNDLE not found"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-scale.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
BUNDLES="${BUNDLE_DIR:-$WORK}"
mkdir -p "$BUNDLES"

echo "== generating bundles: N servers x $CERTS certificates ($KEY_TYPE keys), N in: $SERVERS"
bundle_of() { echo "$BUNDLES/bundle-$KEY_TYPE-$CERTS-$1.json"; }
for n in $SERVERS; do
    out="$(bundle_of "$n")"
    if [[ ! -s "$out" ]]; then
        "$MAKE_BUNDLE" --servers "$n" --certs-per-server "$CERTS" --scenario healthy \
            --key-type "$KEY_TYPE" --now "$NOW" --out "$out" ||
            die "make_bundle --servers $n failed"
    fi
    printf '   %4s servers: %9d bytes\n' "$n" "$(stat -c %s "$out")"
done

# Every check must judge (exit 0-2), not fail: a refused input would be measured as fast.
sanity() {
    local rc=0
    "$BIN" "$@" >"$WORK/out.txt" || rc=$?
    [[ $rc -le 2 ]] || die "check $* exited $rc: $(head -c 300 "$WORK/out.txt")"
}
sanity --now "$NOW" --cert "$PEM"
sanity --authconfig "$AUTHCONFIG" --certificates "$CERTIFICATES"
for n in $SERVERS; do sanity --now "$NOW" --bundle "$(bundle_of "$n")"; done

TRUE_BIN=/bin/true
[[ -x "$TRUE_BIN" ]] || TRUE_BIN="$(command -v true)"

# name|command, in the order of the report.
COMMANDS=(
    "/bin/true|$TRUE_BIN"
    "openssl x509 -checkend|openssl x509 -checkend 2592000 -noout -in $PEM"
    "check PEM|$BIN --now $NOW --cert $PEM"
    "check fixture pair|$BIN --authconfig $AUTHCONFIG --certificates $CERTIFICATES"
)
for n in $SERVERS; do
    COMMANDS+=("bundle $n servers|$BIN --now $NOW --bundle $(bundle_of "$n")")
done

HF_ARGS=()
for entry in "${COMMANDS[@]}"; do
    HF_ARGS+=(-n "${entry%%|*}" "${entry#*|}")
done
JSON="$WORK/hyperfine.json"
echo "== $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== hyperfine: $WARMUP warm-up + $RUNS runs per command, no shell (-N)"
# -i: checks exit 1/2 when a sample certificate warns; openssl -checkend exits 1 near expiry.
hyperfine -N -i --warmup "$WARMUP" --runs "$RUNS" --export-json "$JSON" --style basic \
    "${HF_ARGS[@]}" || die "hyperfine failed"

RATIO_ROUNDS="${RATIO_ROUNDS:-10}"
RATIO_RUNS="${RATIO_RUNS:-100}"
echo "== start-up ratios: $RATIO_ROUNDS interleaved rounds of /bin/true, PEM, fixture pair ($RATIO_RUNS runs each)"
RATIOS="$WORK/ratios.txt"
: >"$RATIOS"
# Every second round runs the commands in reverse order, so that neither the baseline nor the
# checks always run first after the previous round (the baseline's median moved most).
RATIO_COMMANDS=("$TRUE_BIN" "$BIN --now $NOW --cert $PEM"
    "$BIN --authconfig $AUTHCONFIG --certificates $CERTIFICATES")
for round in $(seq "$RATIO_ROUNDS"); do
    commands=("${RATIO_COMMANDS[@]}")
    if ((round % 2 == 0)); then
        commands=("${commands[2]}" "${commands[1]}" "${commands[0]}")
    fi
    hyperfine -N -i --warmup 5 --runs "$RATIO_RUNS" --export-json "$WORK/round.json" --style none \
        "${commands[@]}" >/dev/null || die "hyperfine (ratio round) failed"
    python3 -c 'import json, sys
median = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
true, pem, pair = (median[c] for c in sys.argv[2:5])
print(pem / true, pair / true)' "$WORK/round.json" "${RATIO_COMMANDS[@]}" >>"$RATIOS"
done

echo "== peak RSS: /usr/bin/time -f %M, median of $RSS_RUNS runs per command"
RSS="$WORK/rss.txt"
: >"$RSS"
for entry in "${COMMANDS[@]}"; do
    name="${entry%%|*}"
    read -r -a argv <<<"${entry#*|}"
    values=()
    for _ in $(seq "$RSS_RUNS"); do
        /usr/bin/time -f %M -o "$WORK/rss1.txt" "${argv[@]}" >/dev/null 2>&1 || true
        values+=("$(tail -n1 "$WORK/rss1.txt")")
    done
    printf '%s\t%s\n' "$name" "${values[*]}" >>"$RSS"
done

echo
python3 - "$JSON" "$RSS" "$CERTS" "$SERVERS" "$RATIOS" <<'PY'
import json, statistics, sys

path, rss_path, certs_per_server, servers, ratios_path = sys.argv[1:6]
certs_per_server = int(certs_per_server)
sizes = [int(n) for n in servers.split()]
results = {r["command"]: r for r in json.load(open(path))["results"]}
rss = {}
for line in open(rss_path):
    name, values = line.rstrip("\n").split("\t")
    rss[name] = statistics.median(int(v) for v in values.split())

median = {name: statistics.median(r["times"]) for name, r in results.items()}
floor = median["/bin/true"]
w = max(len(n) for n in results)
print(f"{'command':<{w}}  {'certs':>6}  {'median ms':>9}  {'min ms':>7}  {'sd ms':>6}  {'x /bin/true':>11}  {'CPU ms':>8}  {'peak RSS KiB':>12}")
print("-" * (w + 74))
for name, r in results.items():
    certs = ""
    if name.startswith("bundle "):
        certs = str(int(name.split()[1]) * certs_per_server)
    sd = (r["stddev"] or 0.0) * 1e3
    print(f"{name:<{w}}  {certs:>6}  {median[name]*1e3:9.3f}  {min(r['times'])*1e3:7.3f}  {sd:6.3f}"
          f"  {median[name]/floor:10.2f}x  {(r['user'] + r['system'])*1e3:8.2f}  {rss[name]:12.0f}")
print()
print("CPU ms: mean user+system time of the process; unlike wall time it hardly grows when other")
print("processes compete for the cores (compare with the load average printed above).")
print()

# Cost per certificate and linearity: least squares of median time over certificate count.
xs = [n * certs_per_server for n in sizes]
ys = [median[f"bundle {n} servers"] for n in sizes]
verdicts = []
if len(xs) >= 2:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    r2 = 1 - ss_res / ss_tot if ss_tot else 1.0
    print(f"per-certificate cost (least squares): {slope*1e6:.2f} us/certificate, "
          f"fixed cost {intercept*1e3:.3f} ms, R^2 = {r2:.4f}")
    print("marginal cost between sizes:")
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), list(zip(xs, ys))[1:]):
        print(f"   {x0:>6} -> {x1:>6} certificates: {(y1 - y0) / (x1 - x0) * 1e6:8.2f} us/certificate")
    rss_xs = [rss[f"bundle {n} servers"] for n in sizes]
    rss_slope = (rss_xs[-1] - rss_xs[0]) / (xs[-1] - xs[0])
    print(f"peak RSS per certificate: {rss_slope:.2f} KiB/certificate "
          f"({rss_xs[0]:.0f} KiB at {xs[0]}, {rss_xs[-1]:.0f} KiB at {xs[-1]})")
    # Linear: a straight line explains the curve, and the largest step costs per certificate no
    # more than twice the whole range's average (a quadratic term would grow it with N).
    worst_step = max((y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in zip(zip(xs, ys), list(zip(xs, ys))[1:]))
    linear = r2 >= 0.99 and worst_step <= 2 * max(slope, 1e-9)
    verdicts.append((linear, f"linear in certificates: R^2 {r2:.4f} (>= 0.99), largest marginal "
                             f"cost {worst_step*1e6:.2f} us <= 2x the average {slope*1e6:.2f} us"))
print()

def target(ok, text):
    verdicts.append((ok, text))

# Start-up ratios: the median of the interleaved rounds (the main run's ratio is shown too).
rounds = [tuple(float(v) for v in line.split()) for line in open(ratios_path) if line.strip()]
pem_rounds = sorted(r[0] for r in rounds)
pair_rounds = sorted(r[1] for r in rounds)
print(f"start-up ratios in {len(rounds)} interleaved rounds: PEM {pem_rounds[0]:.2f}-{pem_rounds[-1]:.2f}x, "
      f"fixture pair {pair_rounds[0]:.2f}-{pair_rounds[-1]:.2f}x /bin/true")
print()
pem = statistics.median(pem_rounds)
target(pem <= 2.0, f"PEM {pem:.2f}x /bin/true, median of {len(rounds)} interleaved rounds "
                   f"(main run: {median['check PEM']/floor:.2f}x) (target <= 2x)")
pair = statistics.median(pair_rounds)
target(pair <= 3.0, f"fixture pair {pair:.2f}x /bin/true, median of {len(rounds)} interleaved rounds "
                    f"(main run: {median['check fixture pair']/floor:.2f}x) (target <= 3x)")
largest = max(sizes)
name = f"bundle {largest} servers"
if largest >= 500:
    target(median[name] <= 0.150, f"{largest} servers {median[name]*1e3:.1f} ms (target <= 150 ms)")
    target(rss[name] <= 65536, f"{largest} servers peak RSS {rss[name]/1024:.1f} MiB (target <= 64 MiB)")
for ok, text in verdicts:
    print(("TARGET MET:    " if ok else "TARGET MISSED: ") + text)
PY

#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a given time each, after seeding its
# corpus from the samples and the real Exchange fixtures.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 s, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). All targets are built
# once (`cargo +nightly fuzz build`), then each binary runs with `-malloc_limit_mb=512
# -rss_limit_mb=2048 -timeout=5`: an input that makes one allocation of 512 MB or more, or takes
# more than 5 s, is a finding, like a crash. (The process limit is higher than the allocation
# limit because libFuzzer keeps the whole corpus in memory: the clixml corpus of real exports is
# over 100 MB, and with AddressSanitizer's quarantine it passed 512 MB while replaying it at start.)
# Findings land in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/ (both
# ignored by git); one log per target in fuzz/logs/. A summary (target, seconds, executions,
# coverage, result) is printed at the end. Do not pause a running fuzzer (SIGSTOP): libFuzzer's
# timer counts wall time, so the input running at the pause is reported as a timeout.
#
# Environment: FUZZ_JOBS=N runs N libFuzzer processes per target (-fork=N), default 1.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
TIME="${1:-60}"
shift || true
ROOT=..
FIXTURES="$ROOT/../shared/fixtures/css-exchange"
SEP=$'\n--8<--\n' # the pipeline target's part separator

if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

# --- seeds ------------------------------------------------------------------------------------
seed() { # seed TARGET NAME < bytes
    mkdir -p "corpus/$1"
    cat >"corpus/$1/seed-$2"
}
utf16le() { iconv -f UTF-8 -t UTF-16LE "$1" | { printf '\xff\xfe'; cat; }; }
have_fixtures=false
[[ -d "$FIXTURES" ]] && have_fixtures=true

make_seeds() {
    local f name
    # CliXml: the real exports, UTF-8 with BOM as stored and UTF-16LE with BOM as 5.1 writes them.
    if $have_fixtures; then
        for f in "$FIXTURES"/*.xml; do
            name="$(basename "$f" .xml)"
            seed clixml "$name" <"$f"
            sed '1s/^\xEF\xBB\xBF//' "$f" | utf16le /dev/stdin | seed clixml "$name-utf16"
        done
    fi
    printf '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj RefId="0"><TN RefId="0"><T>X</T></TN><ToString>a_x000D__x000A_</ToString><Props><Ref N="r" RefId="0"/><DCT><En><S N="Key">k</S><I32 N="Value">1</I32></En></DCT><DT N="d">2023-01-01T00:00:00.1234567+01:00</DT><BA N="RawData">MIIB</BA><LST N="l"><S>a</S><Nil/></LST></Props></Obj></Objs>' |
        seed clixml handmade

    # ConvertTo-Json, both PowerShell generations.
    cat <<'JSON' | seed powershell_json ps51-authconfig
{
    "CurrentCertificateThumbprint":  "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786",
    "NextCertificateThumbprint":  "",
    "NextCertificateEffectiveDate":  "\/Date(1675433762000)\/",
    "ObjectState":  1,
    "RawData":  [48, 130, 1, 10]
}
JSON
    cat <<'JSON' | seed powershell_json ps7-certificates
[{"RawData": "MIIBCg==", "Identity": "EXCH01\\E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786", "Services": "IIS, SMTP",
  "Status": "Valid", "NotAfter": "2027-02-03T15:16:02.1234567+01:00", "FriendlyName": "Microsoft Exchange"}]
JSON
    cat <<'JSON' | seed powershell_json ps51-servers
{"value": [{"Name": "EXCH01", "Fqdn": "exch01.contoso.lab", "ServerRole": 2, "IsEdgeServer": false,
  "AdminDisplayVersion": {"Major": 15, "Minor": 2, "Build": 1544, "Revision": 4},
  "Site": "contoso.lab/Configuration/Sites/Default-First-Site-Name"}], "Count": 1}
JSON
    seed powershell_json bundle <"$ROOT/samples/bundle-contoso.json"

    # Bundles.
    seed bundle contoso <"$ROOT/samples/bundle-contoso.json"
    utf16le "$ROOT/samples/bundle-contoso.json" | seed bundle contoso-utf16

    # Certificate files: the first byte picks the PFX password (0 none, 1 empty, 2 "sample").
    for f in "$ROOT"/samples/*.pem "$ROOT"/samples/*.cer; do
        { printf '\x00'; cat "$f"; } | seed cert_file "$(basename "$f")"
    done
    { printf '\x02'; cat "$ROOT/samples/auth-certificate.pfx"; } | seed cert_file pfx
    { printf '\x00'; grep -v -- '-----' "$ROOT/samples/auth-certificate.pem" | tr -d '\n'; } |
        seed cert_file base64

    # Ranges: warning line, critical line.
    local i=0 range
    for range in $'60:\n30:' $'~:10\n@10:20' $'10\n20' $'@-5.5:1e3\n0:' $'-10:-1\n~:'; do
        printf '%s' "$range" | seed range "$((i++))"
    done

    # Command lines: NUL-separated arguments.
    printf -- '-w\0@10:20\0-c\0~:5\0--rotation-window\00\0--max-age\00\0-o\0prtg-xml\0-t\00.5' | seed options a
    printf -- '--now\0002027-03-01T00:00:00+01:00\0--next-min-days\0001826\0--unreachable-state\0ok\0--publish-grace\00024' | seed options b

    # The whole pipeline: tagged parts.
    { printf 'B'; cat "$ROOT/samples/bundle-contoso.json"; } | seed pipeline bundle
    { printf 'X'; cat "$ROOT/samples/auth-certificate.pem"; printf '%s' "$SEP"; printf 'X'; cat "$ROOT/samples/exch01-transport.cer"; } |
        seed pipeline certs
    { printf 'P'; cat "$ROOT/samples/auth-certificate.pfx"; } | seed pipeline pfx
    if $have_fixtures; then
        {
            printf 'A'; cat "$FIXTURES/GetAuthConfig.xml"; printf '%s' "$SEP"
            printf 'C'; cat "$FIXTURES/GetExchangeCertificate.xml"
        } | seed pipeline fixture-pair
        {
            printf 'A'; cat "$FIXTURES/hc-e19-GetAuthConfig.xml"; printf '%s' "$SEP"
            printf 'c'; cat "$FIXTURES/hc-e19-GetExchangeCertificate.xml"; printf '%s' "$SEP"
            printf 'B'; cat "$ROOT/samples/bundle-contoso.json"
        } | seed pipeline two-authconfigs
    fi
    { printf 'S'; cat "$(ls corpus/powershell_json/seed-ps51-servers)"; printf '%s' "$SEP"; printf 'C'; cat corpus/powershell_json/seed-ps7-certificates; } |
        seed pipeline json-exports
    if [[ -f "$ROOT/src/source/metadata.rs" ]]; then
        printf '{"id":"_7d3c","version":"1.0","name":"Exchange","realm":"contoso.lab","serviceName":"00000002-0000-0ff1-ce00-000000000000","issuer":"00000002-0000-0ff1-ce00-000000000000@contoso.lab","allowedAudiences":["00000002-0000-0ff1-ce00-000000000000@contoso.lab"],"keys":[{"usage":"signing","keyinfo":{"x5t":"4b3xrljJPHXnbJ3YghOPuP8Pp4Y"},"keyvalue":{"type":"x509Certificate","value":"%s"}}],"endpoints":[{"location":"https://mail.contoso.lab/autodiscover/metadata/json/1","protocol":"OAuth2","usage":"metadata"}]}' \
            "$(grep -v -- '-----' "$ROOT/samples/auth-certificate.pem" | tr -d '\n')" | seed metadata exchange
    fi
}
make_seeds

# --- runs -------------------------------------------------------------------------------------
# Build once, then run the binaries: `cargo fuzz run` would rebuild whenever src/ changed between
# two targets, and every target would fuzz a different library.
echo "== cargo +nightly fuzz build"
mkdir -p logs
cargo +nightly fuzz build >logs/build.txt 2>&1 || {
    cat logs/build.txt >&2
    exit 2
}
TRIPLE="$(rustc +nightly -vV | sed -n 's/^host: //p')"
BIN_DIR="target/$TRIPLE/release"
mkdir -p logs
SUMMARY=()
status=0
for target in "${TARGETS[@]}"; do
    echo "== $target: ${TIME}s"
    log="logs/$target.log"
    extra=()
    [[ -n "${FUZZ_JOBS:-}" ]] && extra+=("-fork=$FUZZ_JOBS")
    mkdir -p "artifacts/$target"
    "$BIN_DIR/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$TIME" -malloc_limit_mb=512 -rss_limit_mb=2048 -timeout=5 -print_final_stats=1 "${extra[@]}" \
        >"$log" 2>&1
    rc=$?
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
    corpus="$(find "corpus/$target" -type f | wc -l)"
    if [[ $rc -eq 0 ]]; then
        result=ok
    else
        result="FINDING (exit $rc): $(grep -m1 -E 'ERROR: libFuzzer|panicked|Test unit written' "$log" | cut -c1-120)"
        status=1
    fi
    SUMMARY+=("$(printf '%-16s %6ss %12s execs  cov %6s  corpus %5s  %s' "$target" "$TIME" "${execs:-?}" "${cov:-?}" "$corpus" "$result")")
done

echo
echo "target             time        executions   coverage    corpus   result"
printf '%s\n' "${SUMMARY[@]}"
exit $status

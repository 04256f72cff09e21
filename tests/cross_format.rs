//! One verdict everywhere: a monitoring system must never show a different state than the
//! check computed.
//!
//! For every report the test suite can build (the samples, the real CSS-Exchange fixtures when
//! present, organisations made with the builders of `tests/common`, the Exchange simulator's
//! scenarios, loopback metadata and TLS endpoints, and runs that fail) the real binary runs once
//! per output format with a pinned `--now`. The **verdict** is the `status` of `--output json`
//! (which must equal its `exit_code` and the process's exit code). From the bytes of each other
//! format alone, the state each monitoring system would show is computed by the evaluators in
//! `tests/common/monitors.rs` and compared with the verdict:
//!
//! - **Nagios/Icinga**: the exit code, and the status word of the first line.
//! - **PRTG EXE/Script Advanced (XML and JSON)**: an error document is Down; otherwise each
//!   channel's state (its value lookup, parsed from `plugins/prtg/exchange.authcert.status.ovl`,
//!   or its limits with `LimitMode` 1), and the sensor takes the worst channel. PRTG has no
//!   UNKNOWN: the expected sensor state is Ok for OK, Warning for WARNING, Error for CRITICAL,
//!   Warning for UNKNOWN (what the shipped lookup maps 3 to), and Down (an error document) for
//!   a run that could not judge. No channel may be worse than the expected sensor state.
//! - **PRTG Script v2**: `status`, made worse by any lookup channel; mapped as above.
//! - **Checkmk local check**: every line parsed (`P` computed from the metric levels as
//!   Checkmk does). The service `Exchange auth state` must show the verdict, and no other
//!   service may be worse than the verdict in the check's own order (OK < UNKNOWN < WARNING <
//!   CRITICAL): each of them shows the judgement's state of its topic (a server, the next
//!   certificate), which the verdict summarises. Checkmk's host overview ranks UNKNOWN above
//!   WARNING, so a host with an unreachable server's UNKNOWN service beside a WARNING verdict
//!   leads with UNKNOWN: that service's own state, as the check computed it, not a
//!   contradiction; the `Exchange auth state` service carries the verdict.
//! - **Prometheus**: the shipped alert rules (`plugins/prometheus/exchange-authcert.rules.yml`)
//!   are evaluated by `promtool test rules` on every case's `.prom` file at once (one test group
//!   per case, told apart by an `instance` label): every sample becomes a constant input series,
//!   every `*_timestamp_seconds` value is shifted so that the check ran at the evaluation time
//!   (promtool's clock starts at 0), and the evaluation comes 2 h in, after every `for:`. The
//!   alerts firing (`ALERTS`, counted by `alertname`, `check_state`, `thumbprint`, `server`)
//!   must be exactly those the JSON report implies: the verdict's state alert
//!   (`ExchangeAuthCertCheckFailed` for a run that could not judge), the finding alerts for
//!   the findings the report has, and one per self-signed certificate and server whose state
//!   (its worst finding) is not OK. Without promtool the test says so and checks only the
//!   `check_state`/`check_success` samples the rules read.
//!
//! Across all cases, PRTG's channel limits must not change between runs of one sensor: PRTG
//! fixes a channel's limits when it first sees the channel, so limits that come and go would
//! stick from the first run. A sensor is one command line, so the cases are grouped by their
//! judgement options (thresholds, `--max-age`, …); within a group a channel name carries the
//! same limits in every case, or never any.
//!
//! A run "could not judge" (the report's `failed`) when its JSON report has no metrics at all:
//! a judged report always carries at least the `certificates` metric (src/judge/mod.rs), the
//! failure report none; the JSON has no field of its own for it.
//!
//! The test collects every contradiction of every case and format, then fails once with the
//! whole list (case, format, verdict, what the system shows, and the channel, service or alert
//! that causes it). The evaluators are checked on hand-written documents below.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use time::OffsetDateTime;

use common::exchange::{
    AuthConfigExport, ExportFormat, Organisation, ServerInfo, Store, StoreCert, TextEncoding,
    decode_text, own_certs, set_mtime, store, transport, two_servers, with_own,
};
use common::monitors::{
    CheckState, PrtgDocument, PrtgLookup, PrtgState, checkmk_worst, nagios_view, parse_checkmk,
    parse_prometheus, parse_prtg_json, parse_prtg_lookup, parse_prtg_v2, parse_prtg_xml,
    prtg_channel_state, prtg_sensor_state, prtg_v2_sensor_state,
};
use common::net::{self, KeyCase, Reply, Smtp};
use common::probe;
use common::renew::SimOrg;
use common::{
    CRATE_DIR, Output, Run, TestCert, Workdir, anchor, auth_cert, auth_expiring, ca_issued, days,
    rfc3339, selfsigned_expiring, test_ca,
};

/// Every output format, in the order the runs are made.
const FORMATS: [&str; 7] = [
    "json",
    "nagios",
    "prtg-xml",
    "prtg-json",
    "prtg-v2",
    "checkmk",
    "prometheus",
];
/// The instant the samples and the collector's sample bundle were made for.
const SAMPLES_NOW: &str = "2026-12-01T00:00:00Z";
const LOOKUP: &str = "plugins/prtg/exchange.authcert.status.ovl";
const RULES: &str = "plugins/prometheus/exchange-authcert.rules.yml";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/css-exchange"
);
/// The Checkmk service that carries the overall state.
const CHECKMK_OVERALL: &str = "Exchange auth state";
/// When promtool evaluates the alerts: after the longest `for:` of the rules (1 h).
const EVAL_SECONDS: i64 = 2 * 3600;
/// promtool's step for series and rule evaluation: every `for:` of the rules is a multiple.
const STEP_SECONDS: i64 = 300;
/// Parallel runs of the binary (the machine is shared; the runs are short).
const WORKERS: usize = 3;

// =============================================================================================
// Cases
// =============================================================================================

/// One command line of the check, without `--output`.
struct Case {
    name: String,
    /// Inputs and `--now`: what differs between two runs of one sensor.
    args: Vec<String>,
    /// Judgement options (thresholds, `--max-age`, `--unreachable-state`): one sensor's
    /// configuration.
    options: Vec<String>,
    /// Working directory (the crate directory when `None`).
    cwd: Option<PathBuf>,
}

/// The cases, and what must live as long as they run (temporary files, simulated
/// organisations; the loopback servers live as long as the test process).
#[derive(Default)]
struct Catalogue {
    cases: Vec<Case>,
    dirs: Vec<Workdir>,
    simulated: Vec<SimOrg>,
}

impl Catalogue {
    /// A case from a command line: inputs and `--now`, then ` | ` and the judgement options if
    /// any. Arguments are split at spaces (no path here has one).
    fn add(&mut self, name: impl Into<String>, command: &str) {
        self.add_in(name, command, None);
    }

    fn add_in(&mut self, name: impl Into<String>, command: &str, cwd: Option<&Path>) {
        let name = name.into();
        assert!(
            !self.cases.iter().any(|c| c.name == name),
            "two cases named {name:?}"
        );
        let (args, options) = command.split_once(" | ").unwrap_or((command, ""));
        let words = |text: &str| text.split_whitespace().map(str::to_string).collect();
        self.cases.push(Case {
            name,
            args: words(args),
            options: words(options),
            cwd: cwd.map(Path::to_path_buf),
        });
    }

    /// Cases from a table: `name => command line`, one a line.
    fn add_table(&mut self, prefix: &str, table: &str, cwd: Option<&Path>) {
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (name, command) = line.split_once(" => ").expect("name => command line");
            self.add_in(format!("{prefix}: {}", name.trim()), command.trim(), cwd);
        }
    }

    /// A new temporary directory that lives as long as the catalogue.
    fn dir(&mut self) -> &Workdir {
        self.dirs.push(Workdir::new());
        self.dirs.last().expect("just pushed")
    }

    /// `org` as the collector's bundle, checked at [`now`], with these judgement options.
    fn bundle_with(&mut self, name: &str, org: &Organisation, options: &str) {
        let path = org.write_bundle(self.dir(), "exchange-authstate.json", TextEncoding::Utf8);
        let command = format!(
            "--bundle {} --now {} | {options}",
            path.display(),
            rfc3339(now())
        );
        self.add(format!("bundle: {name}"), &command);
    }

    fn bundle(&mut self, name: &str, org: &Organisation) {
        self.bundle_with(name, org, "");
    }

    /// `org` as an admin's Exchange Management Shell exports, checked at [`now`].
    fn exports(&mut self, name: &str, org: &Organisation, format: ExportFormat) {
        let args = org.write_exports(self.dir(), format).join(" ");
        let command = format!("{args} --now {}", rfc3339(now()));
        self.add(format!("{}: {name}", format.name()), &command);
    }
}

/// The instant the generated organisations are checked at.
fn now() -> OffsetDateTime {
    anchor()
}

/// Every case, in a fixed order.
fn catalogue() -> Catalogue {
    let mut catalogue = Catalogue::default();
    catalogue.add_table("samples", SAMPLE_CASES, None);
    fixture_cases(&mut catalogue);
    organisation_cases(&mut catalogue);
    loose_certificate_cases(&mut catalogue);
    simulator_cases(&mut catalogue);
    network_cases(&mut catalogue);
    failed_run_cases(&mut catalogue);
    catalogue
}

// --- samples/ ---------------------------------------------------------------------------------

/// The samples, made for 2026-12-01 (samples/README.md): the Auth certificate expires
/// 2031-01-15 12:00, the transport certificate 2026-12-20, the WMSvc one expired 2026-10-01;
/// the bundle's current certificate expires 2027-01-10 and its next takes over 2026-12-03.
const SAMPLE_CASES: &str = "
Auth certificate => --cert samples/auth-certificate.pem --now 2026-12-01T00:00:00Z
transport certificate, 19 days left => --cert samples/exch01-transport.cer --now 2026-12-01T00:00:00Z
expired WMSvc certificate => --cert samples/exch01-wmsvc-expired.pem --now 2026-12-01T00:00:00Z
all three certificates => --cert samples/auth-certificate.pem --cert samples/exch01-transport.cer --cert samples/exch01-wmsvc-expired.pem --now 2026-12-01T00:00:00Z
PFX with a password file => --cert samples/auth-certificate.pfx --pfx-password-file samples/auth-certificate.pfx.password --now 2026-12-01T00:00:00Z
Auth certificate, 45 days left => --cert samples/auth-certificate.pem --now 2030-12-01T12:00:00Z
Auth certificate, 14 days left => --cert samples/auth-certificate.pem --now 2031-01-01T12:00:00Z
Auth certificate, expired => --cert samples/auth-certificate.pem --now 2031-02-01T00:00:00Z
Auth certificate and expired transport certificate => --cert samples/auth-certificate.pem --cert samples/exch01-transport.cer --now 2027-01-01T00:00:00Z
bundle, rotation on track => --bundle samples/bundle-contoso.json --now 2026-12-01T00:00:00Z
bundle, a day before the next takes over => --bundle samples/bundle-contoso.json --now 2026-12-02T00:00:00Z
bundle and an expired loose certificate => --bundle samples/bundle-contoso.json --cert samples/exch01-wmsvc-expired.pem --now 2026-12-01T00:00:00Z
bundle and metadata => --bundle samples/bundle-contoso.json --metadata samples/metadata-contoso.json --now 2026-12-01T00:00:00Z
bundle 5 days on (stale, next overdue) => --bundle samples/bundle-contoso.json --now 2026-12-06T00:00:00Z
bundle 5 days on, --max-age 0 => --bundle samples/bundle-contoso.json --now 2026-12-06T00:00:00Z | --max-age 0
bundle 5 days on, --max-age 200 => --bundle samples/bundle-contoso.json --now 2026-12-06T00:00:00Z | --max-age 200
bundle after the current expired, --max-age 0 => --bundle samples/bundle-contoso.json --now 2027-01-11T00:00:00Z | --max-age 0
metadata only => --metadata samples/metadata-contoso.json --now 2026-12-01T00:00:00Z
metadata only, 20 days left => --metadata samples/metadata-contoso.json --now 2030-12-26T00:00:00Z
metadata only, expired => --metadata samples/metadata-contoso.json --now 2031-02-01T00:00:00Z
";

// --- ../shared/fixtures/css-exchange ----------------------------------------------------------

/// The real exports (DOMAIN.md section 7): GetAuthConfig.xml stages its next certificate for
/// 2023-02-03 14:16:02 UTC; the current one expires 2027-12-30; the E16 Auth certificate expired
/// 2023-10-29.
const FIXTURE_CASES: &str = "
organisation before the rotation => --authconfig GetAuthConfig.xml --certificates GetExchangeCertificate.xml --servers GetExchangeServer.xml --now 2023-01-05T00:00:00Z
organisation 23 h after the effective date => --authconfig GetAuthConfig.xml --certificates GetExchangeCertificate.xml --servers GetExchangeServer.xml --now 2023-02-04T13:16:02Z
organisation 25 h after the effective date (next overdue) => --authconfig GetAuthConfig.xml --certificates GetExchangeCertificate.xml --servers GetExchangeServer.xml --now 2023-02-04T15:16:02Z
organisation, current 29 days before expiry => --authconfig GetAuthConfig.xml --certificates GetExchangeCertificate.xml --servers GetExchangeServer.xml --now 2027-12-01T00:00:00Z
current certificate in no store => --authconfig GetAuthConfigNoNextCert.xml --certificates GetExchangeCertificate.xml --servers GetExchangeServer.xml --now 2023-01-05T00:00:00Z
New-ExchangeCertificate export completes a store => --authconfig GetAuthConfigNoNextCert.xml --certificates E2k16-1=GetExchangeCertificate.xml --certificates E2k16-1=NewExchangeAuthCertificate.xml --now 2023-01-05T00:00:00Z
default transport certificate export added => --authconfig GetAuthConfig.xml --certificates E2k16-1=GetExchangeCertificate.xml --certificates E2k16-1=NewExchangeCertificateDefaultTransport.xml --now 2023-01-05T00:00:00Z
broken certificate export => --authconfig GetAuthConfig.xml --certificates E2k16-1=GetExchangeCertificateBroken.xml --now 2023-01-05T00:00:00Z
AuthConfig alone (no store) => --authconfig GetAuthConfig.xml --now 2023-01-05T00:00:00Z
certificates without AuthConfig => --certificates E2k16-1=GetExchangeCertificate.xml --servers GetExchangeServer.xml --now 2023-01-05T00:00:00Z
HealthChecker E16, Auth certificate expired => --authconfig hc-e16-GetAuthConfig.xml --certificates hc-e16-GetExchangeCertificate.xml --now 2023-11-01T00:00:00Z
HealthChecker E16, a month before => --authconfig hc-e16-GetAuthConfig.xml --certificates hc-e16-GetExchangeCertificate.xml --now 2023-10-01T00:00:00Z
HealthChecker E19 => --authconfig hc-e19-GetAuthConfig.xml --certificates hc-e19-GetExchangeCertificate.xml --now 2023-11-01T00:00:00Z
";

/// The fixture cases, when this checkout has the fixtures. Each case reads copies dated at its
/// `--now` (a raw export is dated by its file, and the stored files by the checkout), so the
/// default `--max-age` applies as to a fresh export.
fn fixture_cases(c: &mut Catalogue) {
    let fixtures = PathBuf::from(FIXTURES);
    if !fixtures.is_dir() {
        println!(
            "note: no fixtures at {}: their cases are skipped",
            fixtures.display()
        );
        return;
    }
    for line in FIXTURE_CASES.lines().filter(|l| !l.trim().is_empty()) {
        let (_, command) = line.split_once(" => ").expect("name => command line");
        let words: Vec<&str> = command.split_whitespace().collect();
        let now = words
            .windows(2)
            .find(|pair| pair[0] == "--now")
            .map(|pair| chrono::DateTime::parse_from_rfc3339(pair[1]).expect("an RFC 3339 --now"))
            .expect("every fixture case pins --now");
        let dated = OffsetDateTime::from_unix_timestamp(now.timestamp()).expect("a date");
        let copies = c.dir();
        for file in words
            .iter()
            .filter_map(|w| w.rsplit('=').next())
            .filter(|f| f.ends_with(".xml"))
        {
            let text = decode_text(&std::fs::read(fixtures.join(file)).expect("a fixture file"));
            set_mtime(
                &copies.write(file, TextEncoding::Utf8Bom.encode(&text)),
                dated,
            );
        }
        let cwd = copies.path().to_path_buf();
        c.add_table("fixtures", line, Some(&cwd));
    }
}

// --- organisations made with tests/common/exchange.rs -----------------------------------------

/// EXCH01 and EXCH02 both holding the `auth` certificates.
fn both_hold(config: AuthConfigExport, auth: &[&TestCert]) -> Organisation {
    two_servers(config, store("EXCH01", auth), store("EXCH02", auth))
}

/// A current certificate with `current_days` left on both servers, nothing staged.
fn plain(current_days: i64) -> Organisation {
    let current = auth_expiring(now() + days(current_days));
    both_hold(AuthConfigExport::current(&current), &[&current])
}

/// A next certificate valid from yesterday for `valid_days`.
fn next_cert(valid_days: i64) -> TestCert {
    auth_cert(now() - days(1), now() + days(valid_days))
}

/// `current_days` left, `next` staged on both servers to take over in `effective_in_days`.
fn rotating(current_days: i64, next: &TestCert, effective_in_days: i64) -> Organisation {
    let current = auth_expiring(now() + days(current_days));
    let config = AuthConfigExport::current(&current).next(next, now() + days(effective_in_days));
    both_hold(config, &[&current, next])
}

/// EXCH01 holds `exch01`; EXCH02 could not be queried.
fn with_unreachable(config: AuthConfigExport, exch01: Vec<StoreCert>) -> Organisation {
    let reason = "Connecting to remote server exch02.contoso.lab failed: WinRM cannot complete the operation.";
    Organisation::new(now())
        .auth_config(config)
        .mailbox("EXCH01", exch01)
        .unreachable("EXCH02", reason)
}

/// `org`, collected `hours` before [`now`].
fn aged(org: &Organisation, hours: i64) -> Organisation {
    let mut org = org.clone();
    org.collected_at = now() - time::Duration::hours(hours);
    org
}

fn organisation_cases(c: &mut Catalogue) {
    let current = auth_expiring(now() + days(1000));
    let healthy = both_hold(AuthConfigExport::current(&current), &[&current]);
    c.bundle("healthy", &healthy);
    for format in ExportFormat::ALL {
        c.exports("healthy", &healthy, format);
    }

    // AuthConfig.
    let mut no_config = Organisation::new(now()).mailbox("EXCH01", own_certs("EXCH01"));
    no_config.auth_config = None;
    c.bundle("no AuthConfig", &no_config);
    let error =
        "The operation couldn't be performed because object 'AuthConfig' couldn't be found.";
    c.bundle(
        "AuthConfig unreadable",
        &no_config.clone().auth_config_error(error),
    );
    let empty = AuthConfigExport::with_current_thumbprint("");
    c.bundle(
        "AuthConfig without a current thumbprint",
        &both_hold(empty, &[]),
    );

    // The current certificate.
    let lost = AuthConfigExport::current(&auth_expiring(now() + days(1000)));
    c.bundle(
        "current certificate in no store",
        &both_hold(lost.clone(), &[]),
    );
    c.exports(
        "current certificate not found, no store given",
        &Organisation::new(now()).auth_config(lost),
        ExportFormat::CliXml,
    );
    let config = AuthConfigExport::current(&current);
    c.bundle(
        "current missing on a server",
        &two_servers(
            config.clone(),
            store("EXCH01", &[&current]),
            store("EXCH02", &[]),
        ),
    );
    let expired = auth_expiring(now() - days(3));
    c.bundle(
        "current expired",
        &both_hold(AuthConfigExport::current(&expired), &[&expired]),
    );
    for left in [90, 61, 60, 59, 45, 31, 30, 29, 20, 1] {
        c.bundle(
            &format!("current {left} days left, nothing staged"),
            &plain(left),
        );
    }
    c.bundle_with(
        "current 45 days left, own thresholds",
        &plain(45),
        "-w 90: -c 50:",
    );

    // Rotations and the next certificate.
    let next = next_cert(1824);
    for (left, effective) in [(40, 2), (59, 3), (25, 2), (10, 1)] {
        let name = format!("rotation on track, current {left} days left, next in {effective} days");
        c.bundle(&name, &rotating(left, &next, effective));
    }
    c.bundle(
        "next effective after the current expires",
        &rotating(20, &next, 25),
    );
    c.bundle(
        "next expiring (100 days)",
        &rotating(800, &next_cert(100), 10),
    );
    let dead_next = auth_cert(now() - days(1830), now() - days(5));
    c.bundle(
        "next expired, current 45 days left",
        &rotating(45, &dead_next, 10),
    );
    c.bundle(
        "next expired, current 800 days left",
        &rotating(800, &dead_next, 10),
    );
    let long = auth_expiring(now() + days(800));
    let staged = AuthConfigExport::current(&long).next(&next, now() + days(10));
    let on = |servers: [&[&TestCert]; 2]| {
        two_servers(
            staged.clone(),
            store("EXCH01", servers[0]),
            store("EXCH02", servers[1]),
        )
    };
    c.bundle("next missing on a server", &on([&[&long, &next], &[&long]]));
    c.bundle("next in no store", &on([&[&long], &[&long]]));
    c.bundle(
        "current missing on one server, next on the other",
        &on([&[&long], &[&next]]),
    );
    let two_days_ago = now() - time::Duration::hours(48);
    let overdue = both_hold(
        AuthConfigExport::current(&long).next(&next, two_days_ago),
        &[&long, &next],
    );
    c.bundle("next overdue", &overdue);
    c.bundle_with(
        "next overdue within a longer grace",
        &overdue,
        "--publish-grace 72",
    );
    let soon = auth_expiring(now() + days(40));
    let overdue_soon = both_hold(
        AuthConfigExport::current(&soon).next(&next, two_days_ago),
        &[&soon, &next],
    );
    c.bundle("next overdue, current 40 days left", &overdue_soon);

    // Previous and leftover Auth certificates.
    let previous = auth_cert(now() - days(1795), now() + days(30));
    let dead_previous = auth_cert(now() - days(1830), now() - days(5));
    c.bundle(
        "previous lingering",
        &both_hold(config.clone().previous(&previous), &[&current, &previous]),
    );
    c.bundle(
        "previous expired",
        &both_hold(
            config.clone().previous(&dead_previous),
            &[&current, &dead_previous],
        ),
    );
    let leftover = auth_cert(now() - days(2000), now() - days(200));
    let spare = auth_cert(now() - days(10), now() + days(1815));
    let leftovers = two_servers(
        config.clone(),
        store("EXCH01", &[&current, &leftover]),
        store("EXCH02", &[&current, &spare]),
    );
    c.bundle("unused expired and spare Auth certificates", &leftovers);

    // Servers.
    let unreachable = with_unreachable(config.clone(), store("EXCH01", &[&current]));
    c.bundle("a server unreachable", &unreachable);
    for state in ["ok", "warning", "critical", "unknown"] {
        let name = format!("a server unreachable, --unreachable-state {state}");
        c.bundle_with(&name, &unreachable, &format!("--unreachable-state {state}"));
    }
    let short = auth_expiring(now() + days(45));
    let unreachable_45 = with_unreachable(
        AuthConfigExport::current(&short),
        store("EXCH01", &[&short]),
    );
    c.bundle(
        "a server unreachable and the current 45 days left",
        &unreachable_45,
    );
    let transport_20 = StoreCert::new(&transport("EXCH01", now() + days(20)), &["IIS", "SMTP"]);
    let unreachable_transport = with_unreachable(
        config.clone(),
        vec![StoreCert::new(&current, &[]), transport_20.clone()],
    );
    c.bundle(
        "a server unreachable and a transport certificate 20 days left",
        &unreachable_transport,
    );
    c.exports(
        "a listed server without an export",
        &healthy.clone().not_collected("EXCH03"),
        ExportFormat::CliXml,
    );
    let edge = Organisation::new(now())
        .auth_config(config.clone())
        .mailbox("EXCH01", store("EXCH01", &[&current]))
        .server(
            ServerInfo::edge("EDGE01"),
            Store::Certificates(own_certs("EDGE01")),
        );
    c.bundle("an Edge server", &edge);

    // Hybrid.
    c.bundle("hybrid, steady", &healthy.clone().hybrid(Some(true)));
    c.bundle(
        "hybrid, rotation pending",
        &rotating(800, &next, 10).hybrid(Some(true)),
    );
    c.bundle("hybrid unknown", &healthy.clone().hybrid(None));

    // Self-signed and CA-issued certificates in the stores.
    let dead = StoreCert::new(&transport("EXCH02", now() - days(1)), &["SMTP"]);
    c.bundle(
        "self-signed expired, bound",
        &with_own(own_certs("EXCH01"), vec![dead]),
    );
    c.bundle(
        "self-signed 20 days left",
        &with_own(vec![transport_20], own_certs("EXCH02")),
    );
    let transport_10 = StoreCert::new(&transport("EXCH01", now() + days(10)), &["IIS", "SMTP"]);
    c.bundle(
        "self-signed 10 days left",
        &with_own(vec![transport_10], own_certs("EXCH02")),
    );
    let mut exch01 = own_certs("EXCH01");
    exch01.push(StoreCert::new(
        &selfsigned_expiring("WMSvc-SHA2-EXCH01", now() - days(30)),
        &[],
    ));
    c.bundle(
        "unused expired self-signed certificate",
        &with_own(exch01, own_certs("EXCH02")),
    );
    let ca = test_ca("Contoso Issuing CA");
    let mail = |from: i64, to: i64| {
        ca_issued(
            "mail.contoso.lab",
            now() + days(from),
            now() + days(to),
            &ca,
        )
    };
    let mut exch01 = own_certs("EXCH01");
    exch01.push(StoreCert::new(&mail(-400, -35), &[]));
    c.bundle(
        "unused expired CA-issued certificate",
        &with_own(exch01.clone(), own_certs("EXCH02")),
    );
    exch01.push(StoreCert::new(
        &mail(-340, 20),
        &["IMAP", "POP", "IIS", "SMTP"],
    ));
    let mut exch02 = own_certs("EXCH02");
    exch02.push(StoreCert::new(&mail(-380, -2), &["IIS", "SMTP"]));
    c.bundle(
        "CA-issued certificates expired and expiring",
        &with_own(exch01, exch02),
    );

    // How old the state is.
    c.bundle("stale bundle (30 h)", &aged(&healthy, 30));
    c.bundle_with(
        "stale bundle (30 h), --max-age 0",
        &aged(&healthy, 30),
        "--max-age 0",
    );
    c.bundle_with(
        "bundle 30 h old, --max-age 31",
        &aged(&healthy, 30),
        "--max-age 31",
    );
    c.bundle(
        "stale bundle and current 45 days left",
        &aged(&plain(45), 30),
    );
    c.bundle(
        "stale bundle and a server unreachable",
        &aged(&unreachable, 30),
    );
    c.bundle("bundle from the future (clock skew)", &aged(&healthy, -5));

    // The classes of the judgement at Microsoft's level, in every format.
    let leftover = selfsigned_expiring("old-exch01", now() + days(10));
    let mut with_leftover = store("EXCH01", &[&current]);
    with_leftover.push(StoreCert::new(&leftover, &[]));
    let unbound = two_servers(config.clone(), with_leftover, store("EXCH02", &[&current]));
    c.bundle("unbound self-signed certificate 10 days left", &unbound);
    c.bundle_with("unbound, --alert-unbound", &unbound, "--alert-unbound");
    let gone = transport("EXCH02", now() + days(900));
    c.bundle(
        "internal transport certificate missing",
        &Organisation::new(now())
            .auth_config(config.clone())
            .mailbox("EXCH01", store("EXCH01", &[&current]))
            .mailbox("EXCH02", vec![StoreCert::new(&current, &[])])
            .internal_transport(&gone),
    );
    let mut branch = ServerInfo::mailbox("EXCH03");
    branch.site = "Branch".into();
    c.bundle(
        "a server in another AD site lacks the current",
        &both_hold(config.clone(), &[&current])
            .server(branch, Store::Certificates(own_certs("EXCH03"))),
    );
    if let Some(weak) = common::weak::weak_auth_cert(
        now() - days(10),
        now() + days(1000),
        1024,
        common::weak::SignedWith::Sha1,
    ) {
        c.bundle(
            "current Auth Certificate 1024-bit, SHA-1",
            &both_hold(AuthConfigExport::current(&weak), &[&weak]),
        );
    }
    let previous = auth_expiring(now() + days(20));
    let activated = auth_cert(now() - days(31), now() + days(1794));
    c.bundle(
        "hybrid (OAuth only) right after a rotation",
        &both_hold(
            AuthConfigExport::current(&activated).previous(&previous),
            &[&activated, &previous],
        )
        .hybrid(Some(false))
        .hybrid_oauth(true, false),
    );
    c.exports(
        "exports 3 days old",
        &aged(&healthy, 72),
        ExportFormat::Json7,
    );
}

// --- loose certificate files ------------------------------------------------------------------

fn loose_certificate_cases(c: &mut Catalogue) {
    let ca = test_ca("Contoso Issuing CA");
    let certificates = [
        ("auth-ok.pem", auth_expiring(now() + days(1000))),
        ("auth-expired.pem", auth_expiring(now() - days(10))),
        (
            "wmsvc-expired.pem",
            selfsigned_expiring("WMSvc-SHA2-EXCH01", now() - days(60)),
        ),
        ("transport.pem", transport("EXCH01", now() + days(20))),
        (
            "not-yet-valid.pem",
            auth_cert(now() + days(10), now() + days(1835)),
        ),
        (
            "mail.pem",
            ca_issued("mail.contoso.lab", now() - days(340), now() + days(25), &ca),
        ),
    ];
    let dir = c.dir();
    for (name, certificate) in &certificates {
        dir.write_pem(name, certificate);
    }
    let cwd = dir.path().to_path_buf();
    let table = format!(
        "
expired Auth certificate => --cert auth-expired.pem --now {now}
expired self-signed certificate => --cert wmsvc-expired.pem --now {now}
expired Auth and self-signed certificates => --cert auth-expired.pem --cert wmsvc-expired.pem --now {now}
healthy Auth, transport 20 days left => --cert auth-ok.pem --cert transport.pem --now {now}
Auth certificate not yet valid => --cert not-yet-valid.pem --now {now}
CA-issued certificate 25 days left => --cert mail.pem --now {now}
healthy Auth and CA-issued 25 days left => --cert auth-ok.pem --cert mail.pem --now {now}
",
        now = rfc3339(now())
    );
    c.add_table("--cert", &table, Some(&cwd));
}

// --- the Exchange simulator (tests/common/renew.rs) -------------------------------------------

fn simulator_cases(c: &mut Catalogue) {
    for (scenario, _) in common::renew::SCENARIOS {
        let simulated = SimOrg::new(scenario);
        let bundle = simulated.export("bundle.json");
        let command = format!("--bundle {} --now {}", bundle.display(), common::renew::NOW);
        c.add(format!("simulator: {scenario}"), &command);
        c.simulated.push(simulated);
    }
}

// --- metadata and TLS endpoints (tests/common/net.rs) -----------------------------------------

fn network_cases(c: &mut Catalogue) {
    let pinned = rfc3339(now());
    let current = auth_expiring(now() + days(1000));
    let expiring = auth_expiring(now() + days(20));
    let stray = auth_expiring(now() + days(1500));
    let previous = auth_expiring(now() + days(10));
    let doc = |keys: &[(&TestCert, Option<&str>)]| net::metadata_doc(keys, KeyCase::Lower);

    // Saved metadata documents, alone or next to the organisation they belong to.
    let documents = [
        ("one valid key", doc(&[(&current, None)])),
        (
            "one key 20 days left",
            net::metadata_doc(&[(&expiring, None)], KeyCase::Camel),
        ),
        (
            "current and previous",
            doc(&[(&current, None), (&previous, None)]),
        ),
        (
            "wrong x5t",
            doc(&[(&current, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA"))]),
        ),
        ("no keys", doc(&[])),
    ];
    for (name, document) in documents {
        let path = c.dir().write("metadata.json", document);
        c.add(
            format!("metadata file: {name}"),
            &format!("--metadata {} --now {pinned}", path.display()),
        );
    }
    let organisation = both_hold(AuthConfigExport::current(&current), &[&current]);
    let bundle = organisation.write_bundle(c.dir(), "bundle.json", TextEncoding::Utf8);
    for (name, key) in [
        ("publishes the current", &current),
        ("publishes another certificate", &stray),
    ] {
        let path = c.dir().write("metadata.json", doc(&[(key, None)]));
        let command = format!(
            "--bundle {} --metadata {} --now {pinned}",
            bundle.display(),
            path.display()
        );
        c.add(format!("bundle and metadata: {name}"), &command);
    }

    // A live HTTPS server, and a port where nothing listens.
    let identity = net::trusted_identity();
    let ca = c.dir().write("ca.pem", &identity.ca_pem);
    let valid = doc(&[(&current, None)]);
    let address = net::https_server(&identity, move |path| match path {
        "/autodiscover/metadata/json/1" => Reply::json(valid.clone()),
        "/broken" => Reply::json("<html><body>Exchange error</body></html>"),
        _ => Reply::status(404),
    });
    let url = |path: &str| {
        format!(
            "--metadata https://{address}{path} --ca-file {} --now {pinned}",
            ca.display()
        )
    };
    c.add("metadata URL", &url("/autodiscover/metadata/json/1"));
    c.add("metadata URL: HTTP 404", &url("/missing"));
    c.add("metadata URL: not a metadata document", &url("/broken"));
    let refused = format!(
        "--metadata https://127.0.0.1:{}/autodiscover/metadata/json/1 --now {pinned}",
        net::closed_port()
    );
    c.add("metadata URL: connection refused", &refused);
    c.add(
        "metadata URL: connection refused, --unreachable-state ok",
        &format!("{refused} | --unreachable-state ok"),
    );

    // Per-server probes (tests/common/probe.rs) completing a bundle whose EXCH02 could not be
    // queried: EXCH02 answers from a store that holds the current certificate, from one that
    // lacks it (an error answer), or not at all.
    let config = AuthConfigExport::current(&current);
    let collected = with_unreachable(config.clone(), store("EXCH01", &[&current]));
    let bundle = collected.write_bundle(c.dir(), "bundle.json", TextEncoding::Utf8);
    let lives = [
        ("EXCH02 holds the current", store("EXCH02", &[&current])),
        ("EXCH02 lacks the current", store("EXCH02", &[])),
    ];
    for (name, exch02) in lives {
        let live = two_servers(config.clone(), store("EXCH01", &[&current]), exch02);
        let probes = probe::serve(&live, now(), c.dir());
        let command = format!(
            "--bundle {} {} --ca-file {} --now {pinned}",
            bundle.display(),
            probes.args().join(" "),
            probes.ca_file.display()
        );
        c.add(format!("bundle and probes: {name}"), &command);
    }
    let probes = probe::serve(&collected, now(), c.dir());
    let command = format!(
        "--bundle {} {} --ca-file {} -t 3 --now {pinned}",
        bundle.display(),
        probes.args().join(" "),
        probes.ca_file.display()
    );
    c.add("bundle and probes: EXCH02 never answers", &command);

    // TLS endpoints.
    let tls = net::implicit_tls_server(&net::identity_of(&expiring));
    c.add(
        "TLS endpoint: Auth certificate 20 days left",
        &format!("--tls 127.0.0.1:{} --now {pinned}", tls.port()),
    );
    let transport_20 = transport("EXCH01", now() + days(20));
    let smtp = net::smtp_server(&net::identity_of(&transport_20), Smtp::Good);
    let command = format!(
        "--tls 127.0.0.1:{} --starttls smtp --now {pinned}",
        smtp.port()
    );
    c.add(
        "SMTP STARTTLS: transport certificate 20 days left",
        &command,
    );
    let closed = net::closed_port();
    c.add(
        "TLS endpoint: connection refused",
        &format!("--tls 127.0.0.1:{closed} --now {pinned}"),
    );
    let command =
        format!("--tls 127.0.0.1:{closed} --cert samples/auth-certificate.pem --now {SAMPLES_NOW}");
    c.add("TLS endpoint refused and a healthy Auth file", &command);
}

// --- runs that cannot judge -------------------------------------------------------------------

const FAILED_RUN_CASES: &str = "
nonexistent file => --cert nonexistent.pem --now 2026-12-01T00:00:00Z
unreadable certificate file => --cert garbage.pem --now 2026-12-01T00:00:00Z
broken bundle => --bundle bundle.json --now 2026-12-01T00:00:00Z
unknown option => --bogus --now 2026-12-01T00:00:00Z
bad --now => --cert auth.pem --now tomorrow
no input at all => --now 2026-12-01T00:00:00Z
";

fn failed_run_cases(c: &mut Catalogue) {
    let dir = c.dir();
    dir.write("garbage.pem", "not a certificate\n");
    dir.write("bundle.json", "{\"schema\": \"something else\"");
    dir.write_pem("auth.pem", &auth_expiring(now() + days(1000)));
    let cwd = dir.path().to_path_buf();
    c.add_table("failed run", FAILED_RUN_CASES, Some(&cwd));
}

// =============================================================================================
// Running every case in every format
// =============================================================================================

/// A case and its output in every format.
struct CaseRun<'a> {
    case: &'a Case,
    /// A short id for Prometheus's `instance` label.
    id: String,
    outputs: BTreeMap<&'static str, Output>,
}

fn run_all(cases: &[Case]) -> Vec<CaseRun<'_>> {
    let jobs: Vec<(usize, &'static str)> = (0..cases.len())
        .flat_map(|i| FORMATS.iter().map(move |f| (i, *f)))
        .collect();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, &'static str, Output)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some(&(i, format)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let case = &cases[i];
                    let mut run = Run::new()
                        .args(&case.args)
                        .args(&case.options)
                        .args(["--output", format]);
                    if let Some(cwd) = &case.cwd {
                        run = run.cwd(cwd);
                    }
                    let output = run.output();
                    done.lock().expect("results").push((i, format, output));
                }
            });
        }
    });
    let mut runs: Vec<CaseRun> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| CaseRun {
            case,
            id: format!("case-{i:03}"),
            outputs: BTreeMap::new(),
        })
        .collect();
    for (i, format, output) in done.into_inner().expect("results") {
        runs[i].outputs.insert(format, output);
    }
    runs
}

/// What the check computed: the JSON report's verdict.
struct Verdict {
    state: CheckState,
    /// The run could not judge (no metrics in the report: see the module documentation).
    failed: bool,
    report: Value,
}

impl Verdict {
    fn describe(&self) -> String {
        if self.failed {
            format!("{} (failed run)", self.state.word())
        } else {
            self.state.word().to_string()
        }
    }
}

/// The verdict of a case, with the JSON report's `status`, `exit_code` and the process's exit
/// code agreeing.
fn verdict(run: &CaseRun) -> Result<Verdict, String> {
    let output = &run.outputs["json"];
    let report: Value = serde_json::from_str(&output.stdout)
        .map_err(|e| format!("the JSON report is not JSON: {e}"))?;
    let state = report["status"]
        .as_str()
        .and_then(CheckState::from_word)
        .ok_or_else(|| format!("the JSON report's status is {}", report["status"]))?;
    if report["exit_code"].as_i64() != Some(state.code()) || i64::from(output.code) != state.code()
    {
        return Err(format!(
            "status {} but exit_code {} and process exit code {}",
            state.word(),
            report["exit_code"],
            output.code
        ));
    }
    let failed = report["metrics"].as_array().is_none_or(Vec::is_empty);
    Ok(Verdict {
        state,
        failed,
        report,
    })
}

// =============================================================================================
// Contradictions
// =============================================================================================

/// A monitoring system showing something other than the verdict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Contradiction {
    case: String,
    format: String,
    verdict: String,
    shown: String,
    causes: Vec<String>,
}

impl std::fmt::Display for Contradiction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "- [{}] {}: verdict {}, shows {}",
            self.format, self.case, self.verdict, self.shown
        )?;
        for cause in &self.causes {
            writeln!(f, "    because {cause}")?;
        }
        Ok(())
    }
}

/// What one format shows for one case, when it is not the verdict: `(shown, causes)`.
type Finding = Option<(String, Vec<String>)>;

fn nagios_finding(output: &Output, verdict: &Verdict) -> Finding {
    let view = nagios_view(output.code, &output.stdout);
    let name =
        |state: Option<CheckState>| state.map_or("nothing".to_string(), |s| s.word().to_string());
    let mut causes = Vec::new();
    if view.exit_state != Some(verdict.state) {
        causes.push(format!("exit code {}", output.code));
    }
    if view.word_state != Some(verdict.state) {
        causes.push(format!("first line {:?}", output.first_line()));
    }
    (!causes.is_empty()).then(|| {
        (
            format!(
                "{} (exit code), {} (first line)",
                name(view.exit_state),
                name(view.word_state)
            ),
            causes,
        )
    })
}

/// The PRTG sensor state a verdict must give. PRTG has no UNKNOWN: the shipped lookup maps 3 to
/// Warning; a run that could not judge is an error document (Down).
fn expected_prtg(verdict: &Verdict) -> PrtgState {
    if verdict.failed {
        return PrtgState::Error;
    }
    match verdict.state {
        CheckState::Ok => PrtgState::Ok,
        CheckState::Warning | CheckState::Unknown => PrtgState::Warning,
        CheckState::Critical => PrtgState::Error,
    }
}

fn prtg_name(state: PrtgState, error_document: bool) -> String {
    if error_document {
        "Down (error document)".into()
    } else {
        format!("{state:?}")
    }
}

/// Channel limits seen per sensor configuration, format and channel: signature -> first case.
type LimitsSeen = BTreeMap<(String, &'static str, String), BTreeMap<String, String>>;

fn prtg_finding(
    format: &'static str,
    output: &Output,
    verdict: &Verdict,
    lookups: &[PrtgLookup],
    case: &Case,
    limits: &mut LimitsSeen,
) -> Finding {
    let parsed = match format {
        "prtg-xml" => parse_prtg_xml(&output.stdout),
        _ => parse_prtg_json(&output.stdout),
    };
    let document = match parsed {
        Ok(document) => document,
        Err(e) => return Some(("an unreadable document".into(), vec![e])),
    };
    let expected = expected_prtg(verdict);
    let sensor = match prtg_sensor_state(&document, lookups) {
        Ok(state) => state,
        Err(e) => return Some(("an unreadable document".into(), vec![e])),
    };
    let mut causes = Vec::new();
    match &document {
        PrtgDocument::Error { text } => {
            if !verdict.failed {
                causes.push(format!(
                    "an error document ({text:?}) for a run that judged"
                ));
            }
        }
        PrtgDocument::Channels { channels, .. } => {
            if verdict.failed {
                causes.push(
                    "channels instead of an error document for a run that could not judge".into(),
                );
            }
            for channel in channels {
                let (state, why) = prtg_channel_state(channel, lookups).expect("evaluated above");
                if state > expected {
                    causes.push(format!("channel {:?} is {state:?}: {why}", channel.name));
                } else if sensor < expected && channel.lookup.is_some() {
                    causes.push(format!(
                        "no channel reaches {expected:?}; {:?}: {why}",
                        channel.name
                    ));
                }
                let signature = if channel.limit_mode {
                    channel.limits.signature()
                } else {
                    "none".into()
                };
                limits
                    .entry((case.options.join(" "), format, channel.name.clone()))
                    .or_default()
                    .entry(signature)
                    .or_insert_with(|| case.name.clone());
            }
            if sensor < expected && causes.is_empty() {
                causes.push(format!("no channel reaches {expected:?}"));
            }
        }
    }
    let error_document = matches!(document, PrtgDocument::Error { .. });
    (sensor != expected || !causes.is_empty()).then(|| (prtg_name(sensor, error_document), causes))
}

fn prtg_v2_finding(output: &Output, verdict: &Verdict, lookups: &[PrtgLookup]) -> Finding {
    let document = match parse_prtg_v2(&output.stdout) {
        Ok(document) => document,
        Err(e) => return Some(("an unreadable document".into(), vec![e])),
    };
    let (state, causes) = match prtg_v2_sensor_state(&document, lookups) {
        Ok(result) => result,
        Err(e) => return Some(("an unreadable document".into(), vec![e])),
    };
    (state != expected_prtg(verdict)).then(|| (format!("{state:?}"), causes))
}

fn checkmk_finding(output: &Output, verdict: &Verdict) -> Finding {
    let services = match parse_checkmk(&output.stdout) {
        Ok(services) => services,
        Err(e) => return Some(("unreadable lines".into(), vec![e])),
    };
    let mut causes = Vec::new();
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    if names.len() != services.len() {
        causes.push("two services with one name".into());
    }
    let overall: Vec<_> = services
        .iter()
        .filter(|s| s.name == CHECKMK_OVERALL)
        .collect();
    match overall.as_slice() {
        [service] if service.state == verdict.state => {}
        [service] => causes.push(format!(
            "service {CHECKMK_OVERALL:?} is {}",
            service.state.word()
        )),
        _ => causes.push(format!("{} services {CHECKMK_OVERALL:?}", overall.len())),
    }
    for service in &services {
        if service.state.plugin_rank() > verdict.state.plugin_rank() {
            causes.push(format!(
                "service {:?} is {}, worse than the verdict",
                service.name,
                service.state.word()
            ));
        }
    }
    let worst = checkmk_worst(services.iter().map(|s| s.state));
    (!causes.is_empty()).then(|| (format!("worst {}", worst.word()), causes))
}

// =============================================================================================
// Prometheus: the shipped rules on every case
// =============================================================================================

/// An alert as the test compares it: `count by (alertname, check_state, thumbprint, server)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Alert {
    name: &'static str,
    check_state: &'static str,
    thumbprint: Option<String>,
    server: Option<String>,
}

impl Alert {
    fn of(name: &'static str, check_state: &'static str) -> Alert {
        Alert {
            name,
            check_state,
            thumbprint: None,
            server: None,
        }
    }

    /// The label set promtool prints for the count.
    fn labels(&self) -> String {
        let mut labels = vec![
            format!("alertname=\"{}\"", self.name),
            format!("check_state=\"{}\"", self.check_state),
        ];
        if let Some(server) = &self.server {
            labels.push(format!("server=\"{server}\""));
        }
        if let Some(thumbprint) = &self.thumbprint {
            labels.push(format!("thumbprint=\"{thumbprint}\""));
        }
        format!("{{{}}}", labels.join(", "))
    }
}

/// `critical` > `warning` > `unknown` > `info`/`ok`: how the check ranks findings (worst first).
fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 4,
        "warning" => 3,
        "unknown" => 2,
        "info" => 1,
        _ => 0,
    }
}

/// The alerts the shipped rules must fire for a report, computed from the JSON report alone.
fn expected_alerts(verdict: &Verdict) -> BTreeSet<Alert> {
    let mut alerts = BTreeSet::new();
    if verdict.failed {
        alerts.insert(Alert::of("ExchangeAuthCertCheckFailed", "unknown"));
        return alerts;
    }
    match verdict.state {
        CheckState::Ok => {}
        CheckState::Warning => {
            alerts.insert(Alert::of("ExchangeAuthCertWarning", "warning"));
        }
        CheckState::Critical => {
            alerts.insert(Alert::of("ExchangeAuthCertCritical", "critical"));
        }
        CheckState::Unknown => {
            alerts.insert(Alert::of("ExchangeAuthCertUnknown", "unknown"));
        }
    }
    let findings = verdict.report["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |code: &str, severity: &str| {
        findings
            .iter()
            .any(|f| f["code"] == code && f["severity"] == severity)
    };
    if has("auth.current.missing_on_servers", "critical") {
        alerts.insert(Alert::of("ExchangeAuthCertMissingOnServers", "critical"));
    }
    if has("export.stale", "warning") {
        alerts.insert(Alert::of("ExchangeAuthStateExportStale", "warning"));
    }
    // Self-signed certificates: one state per server whose store holds the certificate (or
    // none, for a file), the worst finding about it there or about it in general.
    for certificate in verdict.report["certificates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if certificate["kind"] != "selfsigned" {
            continue;
        }
        let thumbprint = certificate["thumbprint"].as_str().expect("thumbprint");
        let mut servers: Vec<Option<&str>> = Vec::new();
        for source in certificate["sources"].as_array().into_iter().flatten() {
            let server = source["server"].as_str();
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        if servers.len() > 1 {
            servers.retain(Option::is_some);
        }
        for server in servers {
            let worst = findings
                .iter()
                .filter(|f| f["thumbprint"] == thumbprint)
                .filter(|f| f["server"].is_null() || f["server"].as_str() == server)
                .filter_map(|f| f["severity"].as_str())
                .max_by_key(|s| severity_rank(s));
            let alert = match worst {
                Some("critical") => ("ExchangeSelfSignedCertificateCritical", "critical"),
                Some("warning") => ("ExchangeSelfSignedCertificateWarning", "warning"),
                Some("unknown") => ("ExchangeSelfSignedCertificateUnknown", "unknown"),
                _ => continue,
            };
            alerts.insert(Alert {
                name: alert.0,
                check_state: alert.1,
                thumbprint: Some(thumbprint.to_string()),
                server: server.filter(|s| !s.is_empty()).map(str::to_string),
            });
        }
    }
    alerts
}

/// The promtool test group of one case: the `.prom` samples as constant series (timestamps
/// shifted so the check ran at [`EVAL_SECONDS`]), and the alerts expected to fire then.
fn promtool_group(run: &CaseRun, verdict: &Verdict) -> Result<Value, String> {
    let samples = parse_prometheus(&run.outputs["prometheus"].stdout)?;
    let checked_at = samples
        .iter()
        .find(|s| s.name == "exchange_authcert_check_timestamp_seconds")
        .ok_or("no exchange_authcert_check_timestamp_seconds")?
        .value;
    let steps = EVAL_SECONDS / STEP_SECONDS;
    let series: Vec<Value> = samples
        .iter()
        .map(|sample| {
            let value = if sample.name.ends_with("_timestamp_seconds") {
                sample.value - checked_at + EVAL_SECONDS as f64
            } else {
                sample.value
            };
            json!({
                "series": sample.selector(&[("instance", &run.id)]),
                "values": format!("{value}x{steps}"),
            })
        })
        .collect();
    let expected: Vec<Value> = expected_alerts(verdict)
        .iter()
        .map(|alert| json!({"labels": alert.labels(), "value": 1}))
        .collect();
    Ok(json!({
        "name": run.case.name,
        "interval": format!("{STEP_SECONDS}s"),
        "input_series": series,
        "promql_expr_test": [{
            "expr": format!(
                "count by (alertname, check_state, thumbprint, server) (ALERTS{{alertstate=\"firing\",instance=\"{}\"}})",
                run.id
            ),
            "eval_time": format!("{EVAL_SECONDS}s"),
            "exp_samples": expected,
        }],
    }))
}

/// The `promtool` on PATH, or `None` after saying why.
fn promtool() -> Option<PathBuf> {
    common::exchange::promtool(
        "note: promtool not installed (Debian/Ubuntu: apt-get install prometheus): the alert rules are not evaluated, only the check_state and check_success samples they read",
    )
}

/// Runs every case's group in one `promtool test rules`; returns, per case id, promtool's
/// account of what fired instead of what was expected.
fn promtool_mismatches(promtool: &Path, groups: Vec<Value>) -> BTreeMap<String, String> {
    let dir = Workdir::new();
    let rules = Path::new(CRATE_DIR).join(RULES);
    let tests = json!({
        "rule_files": [rules.display().to_string()],
        "evaluation_interval": format!("{STEP_SECONDS}s"),
        "tests": groups,
    });
    // JSON is YAML: no quoting rules of YAML to get wrong.
    let file = dir.write(
        "cross-format.test.yml",
        serde_json::to_string_pretty(&tests).expect("JSON"),
    );
    let result = Command::new(promtool)
        .arg("test")
        .arg("rules")
        .arg(&file)
        .output()
        .expect("running promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let mut mismatches = BTreeMap::new();
    if result.status.success() {
        return mismatches;
    }
    // Each failure starts with `expr: "…instance=\"case-NNN\"…"` and shows exp and got.
    for block in text.split("expr: ").skip(1) {
        let id = block
            .split("instance=\\\"")
            .nth(1)
            .and_then(|rest| rest.split('\\').next())
            .unwrap_or("?")
            .to_string();
        let detail: Vec<&str> = block
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        mismatches.insert(id, detail.join(" "));
    }
    assert!(
        !mismatches.is_empty(),
        "promtool test rules failed without a comparison:\n{text}"
    );
    mismatches
}

/// Without promtool: the two samples the state alerts read must carry the verdict.
fn prometheus_samples_finding(output: &Output, verdict: &Verdict) -> Finding {
    let samples = match parse_prometheus(&output.stdout) {
        Ok(samples) => samples,
        Err(e) => return Some(("an unreadable file".into(), vec![e])),
    };
    let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
    let state = value("exchange_authcert_check_state");
    let success = value("exchange_authcert_check_success");
    let expected_success = if verdict.failed { 0.0 } else { 1.0 };
    (state != Some(verdict.state.code() as f64) || success != Some(expected_success)).then(|| {
        (
            format!("check_state {state:?}, check_success {success:?}"),
            vec!["the samples the state alerts read".into()],
        )
    })
}

// =============================================================================================
// The property
// =============================================================================================

#[test]
fn every_monitoring_system_shows_the_verdict() {
    let started = Instant::now();
    let lookup_text =
        std::fs::read_to_string(Path::new(CRATE_DIR).join(LOOKUP)).expect("the shipped lookup");
    let lookups = vec![parse_prtg_lookup(&lookup_text).expect("the shipped lookup parses")];
    let catalogue = catalogue();
    let built = started.elapsed();
    let runs = run_all(&catalogue.cases);
    let ran = started.elapsed();
    let promtool = promtool();

    let mut contradictions = Vec::new();
    let mut limits = LimitsSeen::new();
    let mut groups = Vec::new();
    let mut verdicts: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut seen_states = BTreeSet::new();
    for run in &runs {
        let case = run.case;
        let verdict = match verdict(run) {
            Ok(verdict) => verdict,
            Err(e) => {
                contradictions.push(Contradiction {
                    case: case.name.clone(),
                    format: "json".into(),
                    verdict: "none".into(),
                    shown: "no verdict".into(),
                    causes: vec![e],
                });
                continue;
            }
        };
        seen_states.insert((verdict.state, verdict.failed));
        println!("{} {:<22} {}", run.id, verdict.describe(), case.name);
        verdicts.insert(run.id.clone(), (case.name.clone(), verdict.describe()));
        for format in FORMATS {
            let output = &run.outputs[format];
            let finding = match format {
                "json" => None,
                "nagios" => nagios_finding(output, &verdict),
                "prtg-xml" | "prtg-json" => {
                    prtg_finding(format, output, &verdict, &lookups, case, &mut limits)
                }
                "prtg-v2" => prtg_v2_finding(output, &verdict, &lookups),
                "checkmk" => checkmk_finding(output, &verdict),
                "prometheus" if promtool.is_some() => match promtool_group(run, &verdict) {
                    Ok(group) => {
                        groups.push(group);
                        None
                    }
                    Err(e) => Some(("an unreadable file".into(), vec![e])),
                },
                "prometheus" => prometheus_samples_finding(output, &verdict),
                other => unreachable!("format {other}"),
            };
            if let Some((shown, causes)) = finding {
                contradictions.push(Contradiction {
                    case: case.name.clone(),
                    format: format.into(),
                    verdict: verdict.describe(),
                    shown,
                    causes,
                });
            }
        }
    }
    let evaluated_groups = groups.len();
    if let Some(promtool) = &promtool {
        for (id, detail) in promtool_mismatches(promtool, groups) {
            let (case, verdict) = verdicts
                .get(&id)
                .cloned()
                .unwrap_or_else(|| (id.clone(), "?".into()));
            contradictions.push(Contradiction {
                case,
                format: "prometheus".into(),
                verdict,
                shown: "other alerts".into(),
                causes: vec![format!("promtool: {detail}")],
            });
        }
    }
    let limit_changes = limits_that_change(&limits);

    // The property is only worth something if the cases reach every verdict.
    for state in CheckState::ALL {
        assert!(
            seen_states.contains(&(state, false)),
            "no case judges {}",
            state.word()
        );
    }
    assert!(
        seen_states.contains(&(CheckState::Unknown, true)),
        "no case is a failed run"
    );
    println!(
        "{} cases x {} formats ({} promtool groups) in {:.1} s (cases built in {:.1} s, run by {:.1} s); \
         {} contradictions, {} channels whose limits change",
        runs.len(),
        FORMATS.len(),
        evaluated_groups,
        started.elapsed().as_secs_f64(),
        built.as_secs_f64(),
        ran.as_secs_f64(),
        contradictions.len(),
        limit_changes.len()
    );

    contradictions.sort();
    let mut report = String::new();
    for contradiction in &contradictions {
        let _ = write!(report, "{contradiction}");
    }
    for change in &limit_changes {
        let _ = writeln!(report, "{change}");
    }
    assert!(
        contradictions.is_empty() && limit_changes.is_empty(),
        "monitoring systems show something other than the check's verdict:\n{report}"
    );
}

/// Channels whose limits differ between cases of one sensor configuration.
fn limits_that_change(limits: &LimitsSeen) -> Vec<String> {
    limits
        .iter()
        .filter(|(_, signatures)| signatures.len() > 1)
        .map(|((options, format, channel), signatures)| {
            let options = if options.is_empty() { "default options" } else { options };
            let mut text = format!("- [{format}] channel {channel:?} ({options}) carries different limits between runs:");
            for (signature, case) in signatures {
                let _ = write!(text, "\n    {signature} (first in {case})");
            }
            text
        })
        .collect()
}

// =============================================================================================
// The evaluators on hand-written documents
// =============================================================================================

fn shipped_lookup() -> PrtgLookup {
    let text =
        std::fs::read_to_string(Path::new(CRATE_DIR).join(LOOKUP)).expect("the shipped lookup");
    parse_prtg_lookup(&text).expect("the shipped lookup parses")
}

#[test]
fn the_shipped_lookup_maps_every_check_state() {
    let lookup = shipped_lookup();
    assert_eq!(lookup.id, "exchange.authcert.status");
    assert_eq!(lookup.state_of(0.0), PrtgState::Ok);
    assert_eq!(lookup.state_of(1.0), PrtgState::Warning);
    assert_eq!(lookup.state_of(2.0), PrtgState::Error);
    assert_eq!(lookup.state_of(3.0), PrtgState::Warning);
    // undefinedState="Warning": a value the lookup does not know.
    assert_eq!(lookup.state_of(7.0), PrtgState::Warning);
}

#[test]
fn lookup_ranges_and_the_default_undefined_state() {
    let lookup = parse_prtg_lookup(
        r#"<?xml version="1.0"?><ValueLookup id="x" desiredValue="0"><Lookups>
             <Range state="Error" from="10" to="20">bad</Range><SingleInt state="None" value="1">n</SingleInt>
           </Lookups></ValueLookup>"#,
    )
    .unwrap();
    assert_eq!(lookup.state_of(15.0), PrtgState::Error);
    assert_eq!(lookup.state_of(1.0), PrtgState::Ok);
    assert_eq!(
        lookup.state_of(5.0),
        PrtgState::Ok,
        "PRTG's default undefinedState is None"
    );
}

#[test]
fn prtg_xml_limits_evaluate_as_prtg_does() {
    let document = parse_prtg_xml(
        "<prtg><result><channel>Days left</channel><value>40</value><LimitMode>1</LimitMode>\
         <LimitMinWarning>60</LimitMinWarning><LimitMinError>30</LimitMinError></result>\
         <result><channel>Status</channel><value>0</value><ValueLookup>exchange.authcert.status</ValueLookup></result>\
         <text>OK</text></prtg>",
    )
    .unwrap();
    let lookups = [shipped_lookup()];
    assert_eq!(
        prtg_sensor_state(&document, &lookups),
        Ok(PrtgState::Warning)
    );
    let PrtgDocument::Channels { channels, .. } = &document else {
        panic!("channels")
    };
    let (state, why) = prtg_channel_state(&channels[0], &lookups).unwrap();
    assert_eq!(state, PrtgState::Warning);
    assert_eq!(why, "value 40 < limitminwarning 60");
    assert_eq!(
        prtg_channel_state(&channels[1], &lookups).unwrap().0,
        PrtgState::Ok
    );
}

#[test]
fn prtg_limits_need_limit_mode_and_are_strict() {
    let channel = |value: &str, mode: &str| {
        format!(
            "<prtg><result><channel>c</channel><value>{value}</value><limitmode>{mode}</limitmode>\
             <limitmaxwarning>26</limitmaxwarning><limitmaxerror>48</limitmaxerror></result></prtg>"
        )
    };
    let state = |value: &str, mode: &str| {
        prtg_sensor_state(&parse_prtg_xml(&channel(value, mode)).unwrap(), &[]).unwrap()
    };
    assert_eq!(state("26", "1"), PrtgState::Ok, "on the limit is within it");
    assert_eq!(state("27", "1"), PrtgState::Warning);
    assert_eq!(state("49", "1"), PrtgState::Error);
    assert_eq!(
        state("49", "0"),
        PrtgState::Ok,
        "limits without limit mode do nothing"
    );
    let flagged =
        "<prtg><result><channel>c</channel><value>1</value><Warning>1</Warning></result></prtg>";
    assert_eq!(
        prtg_sensor_state(&parse_prtg_xml(flagged).unwrap(), &[]),
        Ok(PrtgState::Warning)
    );
}

#[test]
fn prtg_error_documents_are_down() {
    let xml = parse_prtg_xml("<prtg><error>1</error><text>no such file</text></prtg>").unwrap();
    assert_eq!(
        xml,
        PrtgDocument::Error {
            text: "no such file".into()
        }
    );
    assert_eq!(prtg_sensor_state(&xml, &[]), Ok(PrtgState::Error));
    let json = parse_prtg_json(r#"{"prtg": {"error": 1, "text": "no such file"}}"#).unwrap();
    assert_eq!(json, xml);
}

#[test]
fn prtg_json_limits_and_lookups() {
    let document = parse_prtg_json(
        r#"{"prtg": {"result": [
             {"channel": "Servers missing", "value": 1, "limitmode": 1, "limitmaxerror": "0"},
             {"channel": "Status", "value": 3, "valuelookup": "exchange.authcert.status"}
           ], "text": "x"}}"#,
    )
    .unwrap();
    let lookups = [shipped_lookup()];
    assert_eq!(prtg_sensor_state(&document, &lookups), Ok(PrtgState::Error));
    let PrtgDocument::Channels { channels, .. } = &document else {
        panic!("channels")
    };
    assert_eq!(
        prtg_channel_state(&channels[1], &lookups).unwrap().0,
        PrtgState::Warning
    );
    assert_eq!(
        channels[0].limits.signature(),
        "minerror - maxerror 0 minwarning - maxwarning -"
    );
}

#[test]
fn prtg_v2_status_and_lookup_channels() {
    let lookups = [shipped_lookup()];
    let document = parse_prtg_v2(
        r#"{"version": 2, "status": "ok", "message": "m", "channels": [
             {"id": 10, "name": "Status", "type": "lookup", "lookup_name": "exchange.authcert.status", "value": 2},
             {"id": 11, "name": "Days left", "type": "integer", "value": 40}]}"#,
    )
    .unwrap();
    assert_eq!(
        prtg_v2_sensor_state(&document, &lookups).unwrap().0,
        PrtgState::Error
    );
    let warning =
        parse_prtg_v2(r#"{"version": 2, "status": "warning", "message": "m", "channels": []}"#)
            .unwrap();
    assert_eq!(
        prtg_v2_sensor_state(&warning, &lookups).unwrap().0,
        PrtgState::Warning
    );
    let limits = r#"{"version": 2, "status": "ok", "channels": [{"id": 11, "name": "d", "type": "integer", "value": 1, "limit_min_error": 30}]}"#;
    assert!(
        parse_prtg_v2(limits).is_err(),
        "an unknown channel field must not be ignored"
    );
}

#[test]
fn checkmk_lines_and_the_computed_state() {
    let services = parse_checkmk(
        "0 \"Exchange auth state\" days_left=40;;;;|certificates=9;;;0; all well\\nOK: details\n\
         P \"Environment\" temp=30;28;35|humidity=33;40:60;35:70;0;100 text\n\
         P \"Exact\" v=28;28;35 on the level\n\
         3 \"Exchange self-signed certificates EXCH02\" - server EXCH02 could not be queried\n",
    )
    .unwrap();
    assert_eq!(services.len(), 4);
    assert_eq!(services[0].name, "Exchange auth state");
    assert_eq!(
        (services[0].state, services[0].computed),
        (CheckState::Ok, false)
    );
    assert_eq!(services[0].metrics.len(), 2);
    // Werk #17's example: temp warns (30 > 28), humidity is critical (33 < 35).
    assert_eq!(
        (services[1].state, services[1].computed),
        (CheckState::Critical, true)
    );
    assert_eq!(
        services[2].state,
        CheckState::Ok,
        "a value on a level is the better state"
    );
    assert_eq!(services[3].state, CheckState::Unknown);
    assert!(services[3].metrics.is_empty());
    assert!(parse_checkmk("7 \"x\" - text\n").is_err());
}

#[test]
fn the_two_orders_of_states() {
    use CheckState::{Critical, Ok, Unknown, Warning};
    assert_eq!(checkmk_worst([Ok, Warning, Unknown]), Unknown);
    assert_eq!(checkmk_worst([Unknown, Critical]), Critical);
    assert_eq!(checkmk_worst([]), Ok);
    let plugin_worst = [Ok, Warning, Unknown]
        .into_iter()
        .max_by_key(|s| s.plugin_rank());
    assert_eq!(
        plugin_worst,
        Some(Warning),
        "the check ranks UNKNOWN below WARNING"
    );
}

#[test]
fn nagios_exit_code_and_status_word() {
    let view = nagios_view(1, "EXCHANGE AUTHCERT WARNING - x | a=1;;;;\nWARNING: x\n");
    assert_eq!(
        (view.exit_state, view.word_state),
        (Some(CheckState::Warning), Some(CheckState::Warning))
    );
    let view = nagios_view(0, "EXCHANGE AUTHCERT CRITICAL - x\n");
    assert_eq!(
        (view.exit_state, view.word_state),
        (Some(CheckState::Ok), Some(CheckState::Critical))
    );
    assert_eq!(nagios_view(4, "garbage").exit_state, None);
}

#[test]
fn prometheus_samples_and_selectors() {
    let samples = parse_prometheus(
        "# HELP a b\n# TYPE a gauge\nexchange_authcert_check_state 2\n\
         exchange_authcert_state{thumbprint=\"AB\",subject=\"CN=a \\\"q\\\" b\\\\c\\nd\",server=\"\"} -1\n",
    )
    .unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].value, 2.0);
    assert_eq!(samples[1].labels["subject"], "CN=a \"q\" b\\c\nd");
    assert_eq!(samples[1].value, -1.0);
    assert_eq!(
        samples[1].selector(&[("instance", "case-001")]),
        "exchange_authcert_state{instance=\"case-001\",server=\"\",subject=\"CN=a \\\"q\\\" b\\\\c\\nd\",thumbprint=\"AB\"}"
    );
}

#[test]
fn expected_alerts_follow_the_report() {
    let report = json!({
        "status": "CRITICAL",
        "metrics": [{"label": "certificates", "value": 2}],
        "findings": [
            {"severity": "critical", "code": "auth.current.missing_on_servers", "message": "m", "thumbprint": "AUTH"},
            {"severity": "warning", "code": "selfsigned.expiring", "message": "m", "thumbprint": "SELF", "server": "EXCH01"},
            {"severity": "warning", "code": "export.stale", "message": "m"}
        ],
        "certificates": [
            {"thumbprint": "SELF", "kind": "selfsigned", "sources": [{"server": "EXCH01"}]},
            {"thumbprint": "FILE", "kind": "selfsigned", "sources": [{"origin": "a.pem"}]}
        ]
    });
    let verdict = Verdict {
        state: CheckState::Critical,
        failed: false,
        report,
    };
    let alerts: Vec<String> = expected_alerts(&verdict)
        .iter()
        .map(Alert::labels)
        .collect();
    assert_eq!(
        alerts,
        [
            "{alertname=\"ExchangeAuthCertCritical\", check_state=\"critical\"}",
            "{alertname=\"ExchangeAuthCertMissingOnServers\", check_state=\"critical\"}",
            "{alertname=\"ExchangeAuthStateExportStale\", check_state=\"warning\"}",
            "{alertname=\"ExchangeSelfSignedCertificateWarning\", check_state=\"warning\", server=\"EXCH01\", thumbprint=\"SELF\"}",
        ]
    );
    let failed = Verdict {
        state: CheckState::Unknown,
        failed: true,
        report: json!({}),
    };
    assert_eq!(
        expected_alerts(&failed),
        BTreeSet::from([Alert::of("ExchangeAuthCertCheckFailed", "unknown")])
    );
}

#[test]
fn every_shipped_alert_says_which_check_state_it_stands_for() {
    let text =
        std::fs::read_to_string(Path::new(CRATE_DIR).join(RULES)).expect("the shipped rules");
    let alerts: Vec<&str> = text.split("- alert: ").skip(1).collect();
    assert!(alerts.len() >= 5, "{text}");
    for alert in alerts {
        let name = alert.lines().next().unwrap_or_default();
        let state = alert
            .lines()
            .find_map(|l| l.trim().strip_prefix("check_state: "))
            .unwrap_or_else(|| panic!("alert {name} has no check_state label"));
        assert!(
            ["ok", "warning", "critical", "unknown"].contains(&state),
            "alert {name}: check_state {state:?}"
        );
    }
}

#[test]
fn promtool_reports_alerts_the_verdict_does_not_imply() {
    let Some(promtool) = promtool() else { return };
    // A .prom file saying WARNING, held against a report saying OK: the state alert fires
    // although none is expected, and promtool must say so for this case.
    let prom = "exchange_authcert_check_success 1\nexchange_authcert_check_state 1\n\
                exchange_authcert_check_timestamp_seconds 1796083200\n";
    let case = Case {
        name: "hand-written".into(),
        args: Vec::new(),
        options: Vec::new(),
        cwd: None,
    };
    let output = Output {
        command: "hand-written".into(),
        code: 0,
        stdout: prom.into(),
        stderr: String::new(),
        elapsed: std::time::Duration::ZERO,
    };
    let run = CaseRun {
        case: &case,
        id: "case-999".into(),
        outputs: BTreeMap::from([("prometheus", output)]),
    };
    let ok = Verdict {
        state: CheckState::Ok,
        failed: false,
        report: json!({"findings": [], "certificates": []}),
    };
    let group = promtool_group(&run, &ok).expect("a group");
    let mismatches = promtool_mismatches(&promtool, vec![group]);
    let detail = mismatches
        .get("case-999")
        .expect("promtool reports the case");
    assert!(detail.contains("ExchangeAuthCertWarning"), "{detail}");
    // The same file held against a WARNING report passes.
    let warning = Verdict {
        state: CheckState::Warning,
        ..ok
    };
    let group = promtool_group(&run, &warning).expect("a group");
    assert!(promtool_mismatches(&promtool, vec![group]).is_empty());
}

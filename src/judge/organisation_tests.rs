//! Judgement of whole organisations, one MEAC scenario or finding per test, on hand-built
//! states with real certificates and a pinned `now`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use nagiosplugin::ServiceState;

use super::*;
use crate::model::Thumbprint;
use crate::source::records::{AuthConfigRecord, CertificateRecord, ServerRecord};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

/// A real self-signed certificate valid from `from_days` to `to_days` around `now()`.
fn der(cn: &str, from_days: i64, to_days: i64) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let at = |days: i64| {
        time::OffsetDateTime::from_unix_timestamp((now() + Duration::days(days)).timestamp())
            .unwrap()
    };
    params.not_before = at(from_days);
    params.not_after = at(to_days);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

fn auth(from_days: i64, to_days: i64) -> Vec<u8> {
    der(crate::model::AUTH_CERTIFICATE_CN, from_days, to_days)
}

fn tp(der: &[u8]) -> Thumbprint {
    Thumbprint::of_der(der)
}

fn record(der: &[u8], services: &[&str]) -> CertificateRecord {
    CertificateRecord {
        services: Some(services.iter().map(|s| s.to_string()).collect()),
        ..CertificateRecord::new(der.to_vec())
    }
}

fn mailbox(name: &str) -> ServerRecord {
    ServerRecord {
        name: name.into(),
        fqdn: Some(format!("{name}.contoso.lab")),
        site: Some("Default-First-Site-Name".into()),
        version: Some("Version 15.2 (Build 1544.4)".into()),
        major_version: Some(15),
        roles: vec!["Mailbox".into()],
        is_edge: false,
    }
}

/// Two Mailbox servers; `stores` gives each one's certificates.
fn organisation(
    config: AuthConfigRecord,
    stores: &[(&str, Vec<CertificateRecord>)],
) -> ExchangeState {
    let mut state = ExchangeState::default();
    state.set_auth_config(config, "authconfig.xml").unwrap();
    state.add_server_list(vec![mailbox("EXCH01"), mailbox("EXCH02")]);
    for (server, records) in stores {
        state
            .add_store(server, records.clone(), "certs.xml")
            .unwrap();
    }
    state
}

fn config(current: &[u8], next: Option<(&[u8], i64)>) -> AuthConfigRecord {
    AuthConfigRecord {
        current: Some(tp(current)),
        next: next.map(|(der, _)| tp(der)),
        next_effective: next.map(|(_, days)| now() + Duration::days(days)),
        ..AuthConfigRecord::default()
    }
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

fn finding(report: &Report, code: FindingCode) -> &Finding {
    report
        .findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:?}", codes(report)))
}

fn action(report: &Report) -> RecommendedAction {
    report.recommendation.as_ref().unwrap().action
}

fn metric(report: &Report, label: &str) -> i64 {
    report
        .metrics
        .iter()
        .find(|m| m.label == label)
        .unwrap()
        .value
}

#[test]
fn healthy_organisation_is_ok_with_nothing_to_do() {
    let current = auth(-100, 1000);
    let state = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Ok, "{:?}", codes(&report));
    assert_eq!(action(&report), RecommendedAction::None);
    assert_eq!(metric(&report, "auth_current_days"), 1000);
    assert_eq!(metric(&report, "days_left"), 1000);
    assert_eq!(metric(&report, "servers_missing_auth_cert"), 0);
    assert!(
        report.summary.contains("on 2 of 2 servers"),
        "{}",
        report.summary
    );
    assert_eq!(
        report.certificates[0].roles,
        vec![CertificateRole::Auth, CertificateRole::AuthCurrent]
    );
}

#[test]
fn expiring_without_next_warns_twice_and_recommends_staging() {
    let current = auth(-1700, 45);
    let state = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Warning);
    assert_eq!(
        finding(&report, FindingCode::AuthCurrentExpiring).severity,
        Severity::Warning
    );
    assert_eq!(
        finding(&report, FindingCode::AuthNextNotStaged).severity,
        Severity::Warning
    );
    assert_eq!(action(&report), RecommendedAction::StageNext);
}

#[test]
fn expired_current_without_next_is_critical_and_recommends_replace() {
    let current = auth(-1900, -3);
    let state = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Critical);
    assert!(
        finding(&report, FindingCode::AuthCurrentExpired)
            .message
            .contains("expired 3 days ago")
    );
    assert_eq!(action(&report), RecommendedAction::Replace);
    assert_eq!(metric(&report, "auth_current_days"), -1);
}

#[test]
fn expired_current_with_valid_next_everywhere_publishes_it_else_replaces() {
    let current = auth(-1900, -3);
    let next = auth(-5, 1800);
    let everywhere = organisation(
        config(&current, Some((&next, -2))),
        &[
            ("EXCH01", vec![record(&current, &[]), record(&next, &[])]),
            ("EXCH02", vec![record(&current, &[]), record(&next, &[])]),
        ],
    );
    let report = judge(&everywhere, &Policy::defaults(now()));
    // Ours (GUIDE's parity table): the valid next one takes over; MEAC would replace.
    assert_eq!(action(&report), RecommendedAction::PublishNext);
    assert!(!codes(&report).contains(&"auth.next.not_staged"));
    let not_everywhere = organisation(
        config(&current, Some((&next, -2))),
        &[
            ("EXCH01", vec![record(&current, &[]), record(&next, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&not_everywhere, &Policy::defaults(now()));
    assert_eq!(action(&report), RecommendedAction::Replace);
}

#[test]
fn current_missing_on_one_server_names_it() {
    let current = auth(-100, 1000);
    let other = der("EXCH02", -100, 1000);
    let state = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[])]),
            ("EXCH02", vec![record(&other, &["SMTP"])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Critical);
    let missing = finding(&report, FindingCode::AuthCurrentMissingOnServers);
    assert!(
        missing
            .message
            .ends_with("missing on 1 of 2 servers: EXCH02"),
        "{}",
        missing.message
    );
    assert_eq!(action(&report), RecommendedAction::ImportCurrent);
    assert_eq!(
        report.recommendation.as_ref().unwrap().servers,
        vec!["EXCH02"]
    );
    assert_eq!(metric(&report, "servers_missing_auth_cert"), 1);
}

#[test]
fn current_in_no_store_is_not_found_and_recommends_replace() {
    let current = auth(-100, 1000);
    let other = der("EXCH01", -100, 1000);
    let state = organisation(
        config(&current, None),
        &[("EXCH01", vec![record(&other, &["SMTP"])])],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::AuthCurrentNotFound).severity,
        Severity::Critical
    );
    assert_eq!(action(&report), RecommendedAction::Replace);
}

#[test]
fn current_cannot_be_checked_without_any_store() {
    let current = auth(-100, 1000);
    let mut state = ExchangeState::default();
    state
        .set_auth_config(config(&current, None), "authconfig.xml")
        .unwrap();
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::AuthCurrentNotFound).severity,
        Severity::Unknown
    );
    assert_eq!(
        report.state,
        ServiceState::Warning,
        "not staged is still a warning: {:?}",
        codes(&report)
    );
}

#[test]
fn missing_or_empty_auth_config_is_critical() {
    let mut state = ExchangeState::default();
    state.add_server_list(vec![mailbox("EXCH01")]);
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::AuthConfigMissing).severity,
        Severity::Critical
    );
    assert!(report.recommendation.is_none());

    let empty = organisation(AuthConfigRecord::default(), &[]);
    let report = judge(&empty, &Policy::defaults(now()));
    assert!(
        finding(&report, FindingCode::AuthConfigMissing)
            .message
            .contains("no current")
    );
}

#[test]
fn next_effective_after_current_expiry_is_a_gap() {
    let current = auth(-1800, 20);
    let next = auth(-1, 1800);
    let store = vec![record(&current, &[]), record(&next, &[])];
    let state = organisation(
        config(&current, Some((&next, 25))),
        &[("EXCH01", store.clone()), ("EXCH02", store)],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Critical);
    finding(&report, FindingCode::AuthNextEffectiveAfterCurrentExpiry);
    assert!(!codes(&report).contains(&"auth.next.not_staged"));
}

#[test]
fn next_overdue_after_publish_grace() {
    let current = auth(-1000, 800);
    let next = auth(-40, 1800);
    let store = vec![record(&current, &[]), record(&next, &[])];
    let state = organisation(
        config(&current, Some((&next, -2))),
        &[("EXCH01", store.clone()), ("EXCH02", store)],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert!(
        finding(&report, FindingCode::AuthNextOverdue)
            .message
            .contains("48 h ago")
    );
    let mut lenient = Policy::defaults(now());
    lenient.publish_grace = Duration::hours(72);
    assert!(!codes(&judge(&state, &lenient)).contains(&"auth.next.overdue"));
}

#[test]
fn next_expiring_and_missing_on_a_server() {
    let current = auth(-1000, 800);
    let next = auth(-40, 100);
    let state = organisation(
        config(&current, Some((&next, 10))),
        &[
            ("EXCH01", vec![record(&current, &[]), record(&next, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::AuthNextExpiring).severity,
        Severity::Warning
    );
    assert!(
        finding(&report, FindingCode::AuthNextMissingOnServers)
            .message
            .ends_with("EXCH02")
    );
    assert_eq!(action(&report), RecommendedAction::ImportNext);
    assert_eq!(metric(&report, "auth_next_days"), 100);
}

#[test]
fn previous_certificate_is_informational() {
    let current = auth(-10, 1800);
    let previous = auth(-1900, -5);
    let mut record_config = config(&current, None);
    record_config.previous = Some(tp(&previous));
    let store = vec![record(&current, &[]), record(&previous, &[])];
    let state = organisation(
        record_config,
        &[("EXCH01", store.clone()), ("EXCH02", store)],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Ok, "{:?}", codes(&report));
    assert_eq!(
        finding(&report, FindingCode::AuthPreviousExpired).severity,
        Severity::Info
    );
}

#[test]
fn unreachable_server_is_unknown_by_default_and_configurable() {
    let current = auth(-100, 1000);
    let mut state = organisation(
        config(&current, None),
        &[("EXCH01", vec![record(&current, &[])])],
    );
    if let Some(server) = state.servers.iter_mut().find(|s| s.name == "EXCH02") {
        server.inventory = crate::model::Inventory::Unreachable {
            reason: "The WinRM client cannot process the request".into(),
        };
    }
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Unknown, "{:?}", codes(&report));
    assert!(
        finding(&report, FindingCode::ServersUnreachable)
            .message
            .contains("EXCH02")
    );
    let mut policy = Policy::defaults(now());
    policy.unreachable_severity = Severity::Warning;
    assert_eq!(judge(&state, &policy).state, ServiceState::Warning);
    assert_eq!(
        judge(&state, &Policy::defaults(now()))
            .recommendation
            .unwrap()
            .unreachable_servers,
        vec!["EXCH02"]
    );
}

#[test]
fn hybrid_reminder_while_rotation_pending() {
    let current = auth(-1000, 800);
    let next = auth(-1, 1800);
    let store = vec![record(&current, &[]), record(&next, &[])];
    let mut state = organisation(
        config(&current, Some((&next, 3))),
        &[("EXCH01", store.clone()), ("EXCH02", store)],
    );
    state.hybrid_detected = Some(true);
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::HybridDetected).severity,
        Severity::Warning
    );

    let steady = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let mut steady = steady;
    steady.hybrid_detected = Some(true);
    let report = judge(&steady, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::HybridDetected).severity,
        Severity::Info
    );
    assert_eq!(report.state, ServiceState::Ok);
}

#[test]
fn selfsigned_server_certificates_by_binding() {
    let current = auth(-100, 1000);
    let transport = der("EXCH01", -1800, 10);
    let dead = der("WMSvc-SHA2-EXCH01", -3650, -30);
    let bound_dead = der("EXCH01-old", -3650, -1);
    let state = organisation(
        config(&current, None),
        &[
            (
                "EXCH01",
                vec![
                    record(&current, &[]),
                    record(&transport, &["IIS", "SMTP"]),
                    record(&dead, &[]),
                    record(&bound_dead, &["SMTP"]),
                ],
            ),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    let expiring = finding(&report, FindingCode::SelfSignedExpiring);
    assert_eq!(expiring.severity, Severity::Critical);
    assert!(
        expiring.message.contains("bound to IIS, SMTP"),
        "{}",
        expiring.message
    );
    assert_eq!(expiring.server.as_deref(), Some("EXCH01"));
    assert_eq!(
        finding(&report, FindingCode::SelfSignedUnusedExpired).severity,
        Severity::Info
    );
    assert_eq!(
        finding(&report, FindingCode::SelfSignedExpired).severity,
        Severity::Critical
    );
    assert_eq!(metric(&report, "selfsigned_min_days"), -1);
}

#[test]
fn stale_state_warns() {
    let current = auth(-100, 1000);
    let mut state = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    state.note_collected_at(now() - Duration::hours(30));
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::ExportStale).severity,
        Severity::Warning
    );
    assert_eq!(metric(&report, "export_age_hours"), 30);
    let mut policy = Policy::defaults(now());
    policy.max_age = None;
    assert_eq!(judge(&state, &policy).state, ServiceState::Ok);
}

#[test]
fn unreferenced_auth_certificates_are_leftovers_not_alarms() {
    let current = auth(-100, 1000);
    let old = auth(-2000, -200);
    let state = organisation(
        config(&current, None),
        &[
            ("EXCH01", vec![record(&current, &[]), record(&old, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Ok, "{:?}", codes(&report));
    assert!(
        finding(&report, FindingCode::AuthUnreferenced)
            .message
            .contains("can be removed")
    );
}

#[test]
fn expiring_current_is_informational_while_a_rotation_is_on_track() {
    let current = auth(-1800, 40);
    let next = auth(-1, 1800);
    let store = vec![record(&current, &[]), record(&next, &[])];
    let state = organisation(
        config(&current, Some((&next, 2))),
        &[("EXCH01", store.clone()), ("EXCH02", store)],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(report.state, ServiceState::Ok, "{:?}", codes(&report));
    let expiring = finding(&report, FindingCode::AuthCurrentExpiring);
    assert_eq!(expiring.severity, Severity::Info);
    assert!(
        expiring.message.contains("rotation on track: next"),
        "{}",
        expiring.message
    );
    assert_eq!(action(&report), RecommendedAction::None);

    // The same rotation with the next certificate missing on a server is not on track.
    let state = organisation(
        config(&current, Some((&next, 2))),
        &[
            ("EXCH01", vec![record(&current, &[]), record(&next, &[])]),
            ("EXCH02", vec![record(&current, &[])]),
        ],
    );
    let report = judge(&state, &Policy::defaults(now()));
    assert_eq!(
        finding(&report, FindingCode::AuthCurrentExpiring).severity,
        Severity::Warning
    );
}

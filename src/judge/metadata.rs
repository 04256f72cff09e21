//! The agentless view: what the Auth metadata document publishes (`metadata.*`) and which
//! network endpoints could not be reached (`endpoint.unreachable`).
//!
//! Exchange publishes AuthConfig's **current** certificate and, while it is set and valid, the
//! **previous** one; never the next one; and it caches the document up to 12 h per process
//! (DOMAIN.md section 5). So with AuthConfig the current one must be published, the previous one
//! may be, and anything else is suspicious. Certificates presented on `--tls` endpoints are not
//! judged here: they are ordinary certificates in the state, judged like any other.

use super::outcome::Outcome;
use super::thresholds::Breach;
use super::{Finding, FindingCode, Metric, MetricId, Policy, Severity, expiry_phrase};
use crate::model::{
    AuthConfig, Certificate, ExchangeState, MetadataProblem, PublishedMetadata, Thumbprint,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Current,
    Previous,
    Next,
    /// AuthConfig is known and names it in no role.
    Other,
    /// No AuthConfig to tell.
    Unknown,
}

/// What the judgement says about the network inputs. Its `metrics` hold `days_left` for a run
/// whose only Auth certificates come from the metadata (AuthConfig's current when it is
/// published, else the published certificate valid the longest); its certificate metrics one
/// `metadata_<THUMB8>_days` per published signing certificate.
pub fn judge(state: &ExchangeState, policy: &Policy) -> Outcome {
    let mut outcome = Outcome::default();
    for (endpoint, reason) in &state.unreachable_endpoints {
        outcome.push(Finding::new(
            policy.unreachable_severity,
            FindingCode::EndpointUnreachable,
            format!("{endpoint} could not be checked: {reason}"),
        ));
    }
    if let Some(published) = &state.published {
        outcome.merge(judge_published(published, state, policy));
    }
    outcome
}

fn judge_published(
    published: &PublishedMetadata,
    state: &ExchangeState,
    policy: &Policy,
) -> Outcome {
    if let Some(problem) = document_problem(published) {
        return Outcome::of_finding(problem);
    }
    let mut outcome = Outcome::of_findings(key_problems(published));
    let signing = signing_certificates(published, state);
    if signing.is_empty() {
        if published.keys.iter().all(|k| k.problem.is_none()) {
            outcome.push(Finding::new(
                Severity::Critical,
                FindingCode::MetadataNoKeys,
                format!(
                    "metadata {} publishes no signing certificate: tokens signed with the Auth Certificate cannot be validated",
                    published.origin
                ),
            ));
        }
        return outcome;
    }
    let current_missing = current_not_published(published, state, &signing, policy);
    let current_is_missing = current_missing.is_some();
    outcome.findings.extend(current_missing);
    outcome.findings.extend(unexpected_keys(
        &published.origin,
        &signing,
        current_is_missing,
    ));
    for (certificate, role) in &signing {
        outcome.push(published_expiry(
            &published.origin,
            certificate,
            *role,
            &signing,
            policy,
        ));
        outcome.certificate_metrics.push(Metric::per_certificate(
            &certificate.thumbprint,
            format!("metadata_{}_days", certificate.thumbprint.short()),
            certificate.days_left(policy.now),
            policy.auth.clone(),
        ));
    }
    let primary = signing
        .iter()
        .find(|(_, role)| *role == Role::Current)
        .or_else(|| signing.iter().max_by_key(|(c, _)| c.not_after))
        .map(|(c, _)| *c);
    if let Some(primary) = primary {
        outcome.metrics.push(Metric::summary(
            MetricId::DaysLeft,
            primary.days_left(policy.now),
            Some(policy.auth.clone()),
        ));
        let count = signing.len();
        let plural = if count == 1 { "" } else { "s" };
        outcome.ok_summary = Some(format!(
            "metadata publishes {count} signing certificate{plural}, {} {} ({})",
            primary.thumbprint.short(),
            expiry_phrase(primary, policy.now),
            primary.not_after.format("%Y-%m-%d")
        ));
    }
    outcome
}

/// The document could not be fetched or is not a metadata document.
fn document_problem(published: &PublishedMetadata) -> Option<Finding> {
    let origin = &published.origin;
    let (code, reason) = match published.problem.as_ref()? {
        MetadataProblem::Http(reason) => (FindingCode::MetadataHttpError, reason),
        MetadataProblem::Invalid(reason) => (FindingCode::MetadataInvalid, reason),
    };
    Some(Finding::new(
        Severity::Unknown,
        code,
        format!("metadata {origin}: {reason}"),
    ))
}

/// Keys that could not be decoded, and keys whose x5t is not their certificate's.
fn key_problems(published: &PublishedMetadata) -> Vec<Finding> {
    let origin = &published.origin;
    let mut findings = Vec::new();
    for (index, key) in published.keys.iter().enumerate() {
        if let Some(problem) = &key.problem {
            findings.push(Finding::new(
                Severity::Unknown,
                FindingCode::MetadataInvalid,
                format!("metadata {origin}: published key {}: {problem}", index + 1),
            ));
        }
        if let (Some(published_x5t), Some(computed), Some(certificate)) =
            (&key.x5t, &key.computed_x5t, &key.certificate)
            && published_x5t.trim_end_matches('=') != computed
        {
            findings.push(
                Finding::new(
                    Severity::Warning,
                    FindingCode::MetadataX5tMismatch,
                    format!(
                        "metadata {origin}: key {} ({}) is published with x5t '{published_x5t}' but its certificate's is '{computed}'",
                        certificate.thumbprint.short(),
                        certificate.subject
                    ),
                )
                .about(&certificate.thumbprint),
            );
        }
    }
    findings
}

/// The published signing certificates, each with its AuthConfig role.
fn signing_certificates<'a>(
    published: &'a PublishedMetadata,
    state: &ExchangeState,
) -> Vec<(&'a Certificate, Role)> {
    let config = state.auth_config.as_ref().filter(|c| c.error.is_none());
    let role_of = |thumbprint: &Thumbprint| match config {
        None => Role::Unknown,
        Some(c) if c.current.as_ref() == Some(thumbprint) => Role::Current,
        Some(c) if c.previous.as_ref() == Some(thumbprint) => Role::Previous,
        Some(c) if c.next.as_ref() == Some(thumbprint) => Role::Next,
        Some(_) => Role::Other,
    };
    published
        .keys
        .iter()
        .filter(|k| {
            k.usage
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case("signing"))
        })
        .filter_map(|k| k.certificate.as_ref())
        .map(|c| (c, role_of(&c.thumbprint)))
        .collect()
}

/// AuthConfig's current certificate must be published (Exchange publishes current and
/// previous, never next: DOMAIN.md section 8).
fn current_not_published(
    published: &PublishedMetadata,
    state: &ExchangeState,
    signing: &[(&Certificate, Role)],
    policy: &Policy,
) -> Option<Finding> {
    let config = state.auth_config.as_ref().filter(|c| c.error.is_none())?;
    let current = config.current.as_ref()?;
    if signing.iter().any(|(_, role)| *role == Role::Current) {
        return None;
    }
    let list = signing
        .iter()
        .map(|(c, _)| c.thumbprint.short().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    // Exchange publishes current and previous only, from a document it caches up to 12 h
    // (DOMAIN.md section 8, from AuthMetadataBuilder): the next certificate published means our
    // AuthConfig is older than the document; the previous one alone, a cache that has not yet
    // caught up with a rotation.
    let publishes = |role: Role| signing.iter().any(|(_, r)| *r == role);
    let (severity, why) = if publishes(Role::Next) {
        (
            Severity::Warning,
            "it publishes AuthConfig's next certificate, which Exchange never publishes: the AuthConfig input predates a rotation (collect it again)".to_string(),
        )
    } else if let Some(hours) = hours_since_change_within_cache(config, policy) {
        (
            Severity::Info,
            format!(
                "AuthConfig changed {hours} h ago and Exchange caches the document up to 12 h: it is expected to catch up"
            ),
        )
    } else if publishes(Role::Previous) {
        (
            Severity::Warning,
            "it still publishes the previous certificate: Exchange caches the document up to 12 h after a rotation; if AuthConfig changed longer ago, restart MSExchangeServiceHost and recycle MSExchangeOWAAppPool/MSExchangeECPAppPool".to_string(),
        )
    } else {
        (
            Severity::Critical,
            "Exchange builds the document from the serving server's own store: that server lacks the current certificate or its private key, or the document is cached from before a recent change (up to 12 h)".to_string(),
        )
    };
    Some(
        Finding::new(
            severity,
            FindingCode::MetadataCurrentNotPublished,
            format!(
                "AuthConfig's current Auth Certificate {} is not published in metadata {} (it publishes {list}); {why}",
                current.short(),
                published.origin
            ),
        )
        .about(current),
    )
}

/// Whole hours since AuthConfig changed (AD's whenChanged), while that is within the 12 h
/// Exchange may serve a cached document (DOMAIN.md section 8): a lag is no alert then.
pub(super) fn hours_since_change_within_cache(config: &AuthConfig, policy: &Policy) -> Option<i64> {
    const CACHE_HOURS: i64 = 12;
    let since = policy.now - config.changed_at?;
    (since >= chrono::Duration::zero() && since <= chrono::Duration::hours(CACHE_HOURS))
        .then(|| since.num_hours())
}

/// Published certificates AuthConfig gives no publishable role.
fn unexpected_keys(
    origin: &str,
    signing: &[(&Certificate, Role)],
    current_missing: bool,
) -> Vec<Finding> {
    signing
        .iter()
        .filter(|(_, role)| *role == Role::Other || (*role == Role::Next && !current_missing))
        .map(|(certificate, role)| {
            let what = if *role == Role::Next {
                "AuthConfig's next certificate (Exchange never publishes next)"
            } else {
                "a certificate that is neither AuthConfig's current nor its previous"
            };
            Finding::new(
                Severity::Warning,
                FindingCode::MetadataUnexpectedKey,
                format!(
                    "metadata {origin} publishes {what}: {} ({})",
                    certificate.thumbprint.short(),
                    certificate.subject
                ),
            )
            .about(&certificate.thumbprint)
        })
        .collect()
}

/// Expiry of one published signing certificate, with the Auth thresholds. AuthConfig's
/// current and previous certificates are judged by the organisation's rules, and an old key
/// beside a newer valid one is the rollover Exchange itself performs: those are information.
fn published_expiry(
    origin: &str,
    certificate: &Certificate,
    role: Role,
    signing: &[(&Certificate, Role)],
    policy: &Policy,
) -> Finding {
    let now = policy.now;
    let breaches = |c: &Certificate| policy.auth.evaluate(c.days_left(now) as f64) != Breach::None;
    let (mut severity, code) = if certificate.is_expired(now) {
        (Severity::Critical, FindingCode::MetadataExpired)
    } else {
        match policy.auth.evaluate(certificate.days_left(now) as f64) {
            Breach::Critical => (Severity::Critical, FindingCode::MetadataExpiring),
            Breach::Warning => (Severity::Warning, FindingCode::MetadataExpiring),
            Breach::None => (Severity::Ok, FindingCode::MetadataOk),
        }
    };
    let mut note = "";
    if severity != Severity::Ok {
        let successor = signing.iter().any(|(other, other_role)| {
            other.thumbprint != certificate.thumbprint
                && matches!(other_role, Role::Unknown | Role::Current)
                && !other.is_expired(now)
                && !breaches(other)
                && other.not_after > certificate.not_after
        });
        if role == Role::Previous {
            severity = Severity::Info;
            note = " (AuthConfig's previous certificate)";
        } else if role == Role::Current {
            // Judged once, by the organisation's rules (auth.current.*), which know whether a
            // staged rotation takes over in time.
            severity = Severity::Info;
            note = " (judged as AuthConfig's current certificate: see auth.current.*)";
        } else if role == Role::Unknown && successor {
            severity = Severity::Info;
            note = " (another published certificate is valid longer)";
        }
    }
    let role_text = match role {
        Role::Current => " current",
        Role::Previous => " previous",
        Role::Next => " next",
        Role::Other | Role::Unknown => "",
    };
    Finding::new(
        severity,
        code,
        format!(
            "metadata {origin}: published{role_text} signing certificate {} ({}) {} ({}){note}",
            certificate.thumbprint.short(),
            certificate.subject,
            expiry_phrase(certificate, now),
            certificate.not_after.format("%Y-%m-%d %H:%M UTC")
        ),
    )
    .about(&certificate.thumbprint)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::judge::judge as judge_all;
    use crate::model::{AuthConfig, PublishedKey};

    fn certificate(name: &str, days: i64) -> Certificate {
        let not_before = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let subject = format!("CN=Microsoft Exchange Server Auth Certificate {name}");
        Certificate {
            thumbprint: Thumbprint::of_der(subject.as_bytes()),
            issuer: subject.clone(),
            subject,
            serial: "01".into(),
            not_before,
            not_after: not_before + Duration::days(days),
            self_signed: true,
            key_algorithm: "RSA".into(),
            key_bits: Some(2048),
            signature_algorithm: "sha256WithRSAEncryption".into(),
            is_exchange_auth: true,
        }
    }

    fn key(certificate: &Certificate) -> PublishedKey {
        PublishedKey {
            usage: Some("signing".into()),
            x5t: Some("x".into()),
            computed_x5t: Some("x".into()),
            certificate: Some(certificate.clone()),
            problem: None,
        }
    }

    fn published(keys: Vec<PublishedKey>) -> ExchangeState {
        let mut state = ExchangeState::default();
        state.published = Some(PublishedMetadata {
            origin: "https://mail/autodiscover/metadata/json/1".into(),
            issuer: None,
            realm: None,
            problem: None,
            keys,
        });
        state
    }

    fn policy(day: i64) -> Policy {
        Policy::defaults(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(day))
    }

    fn codes(outcome: &Outcome) -> Vec<(FindingCode, Severity)> {
        outcome
            .findings
            .iter()
            .map(|f| (f.code, f.severity))
            .collect()
    }

    fn config(current: &Certificate, previous: Option<&Certificate>) -> AuthConfig {
        AuthConfig {
            current: Some(current.thumbprint.clone()),
            previous: previous.map(|p| p.thumbprint.clone()),
            next: None,
            next_effective: None,
            service_name: None,
            realm: None,
            origin: "authconfig.xml".into(),
            error: None,
            changed_at: None,
        }
    }

    #[test]
    fn expiry_uses_auth_thresholds() {
        let c = certificate("a", 1000);
        let state = published(vec![key(&c)]);
        for (day, expected) in [
            (900, (FindingCode::MetadataOk, Severity::Ok)),
            (950, (FindingCode::MetadataExpiring, Severity::Warning)),
            (980, (FindingCode::MetadataExpiring, Severity::Critical)),
            (1001, (FindingCode::MetadataExpired, Severity::Critical)),
        ] {
            assert_eq!(
                codes(&judge(&state, &policy(day))),
                vec![expected],
                "day {day}"
            );
        }
        let report = judge_all(&state, &policy(900));
        assert_eq!(report.state, nagiosplugin::ServiceState::Ok);
        assert!(
            report
                .summary
                .starts_with("metadata publishes 1 signing certificate"),
            "{}",
            report.summary
        );
        assert_eq!(report.metrics[0].label, "days_left");
        assert_eq!(report.metrics[0].value, 100);
    }

    #[test]
    fn an_old_key_beside_a_newer_one_is_information() {
        let old = certificate("old", 1000);
        let new = certificate("new", 3000);
        let outcome = judge(&published(vec![key(&old), key(&new)]), &policy(990));
        assert_eq!(
            codes(&outcome),
            vec![
                (FindingCode::MetadataExpiring, Severity::Info),
                (FindingCode::MetadataOk, Severity::Ok)
            ]
        );
        assert_eq!(outcome.metrics[0].value, 2010);
    }

    #[test]
    fn current_must_be_published_previous_may_be_others_warn() {
        let current = certificate("current", 3000);
        let previous = certificate("previous", 1000);
        let stray = certificate("stray", 3000);
        let mut state = published(vec![key(&current), key(&previous)]);
        state.auth_config = Some(config(&current, Some(&previous)));
        let outcome = judge(&state, &policy(990));
        assert_eq!(
            codes(&outcome),
            vec![
                (FindingCode::MetadataOk, Severity::Ok),
                (FindingCode::MetadataExpiring, Severity::Info)
            ]
        );

        let mut state = published(vec![key(&stray)]);
        state.auth_config = Some(config(&current, None));
        let outcome = judge(&state, &policy(0));
        assert_eq!(
            codes(&outcome),
            vec![
                (FindingCode::MetadataCurrentNotPublished, Severity::Critical),
                (FindingCode::MetadataUnexpectedKey, Severity::Warning),
                (FindingCode::MetadataOk, Severity::Ok)
            ]
        );
    }

    #[test]
    fn x5t_mismatch_problems_and_empty_lists() {
        let c = certificate("a", 1000);
        let mut wrong = key(&c);
        wrong.x5t = Some("other".into());
        let broken = PublishedKey {
            usage: Some("signing".into()),
            x5t: None,
            computed_x5t: None,
            certificate: None,
            problem: Some("keyvalue.value is not base64".into()),
        };
        let outcome = judge(&published(vec![wrong, broken]), &policy(0));
        assert_eq!(
            codes(&outcome),
            vec![
                (FindingCode::MetadataX5tMismatch, Severity::Warning),
                (FindingCode::MetadataInvalid, Severity::Unknown),
                (FindingCode::MetadataOk, Severity::Ok)
            ]
        );
        let outcome = judge(&published(vec![]), &policy(0));
        assert_eq!(
            codes(&outcome),
            vec![(FindingCode::MetadataNoKeys, Severity::Critical)]
        );
    }

    #[test]
    fn unreachable_endpoints_follow_the_policy() {
        let mut state = ExchangeState::default();
        state
            .unreachable_endpoints
            .push(("tls://mail:25".into(), "connection refused".into()));
        let mut p = policy(0);
        assert_eq!(
            codes(&judge(&state, &p)),
            vec![(FindingCode::EndpointUnreachable, Severity::Unknown)]
        );
        p.unreachable_severity = Severity::Info;
        let report = judge_all(&state, &p);
        assert_eq!(report.state, nagiosplugin::ServiceState::Ok);
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.code == FindingCode::InputInvalid)
        );
    }
}

//! The Auth Certificate of an organisation: what MEAC decides, as findings (`auth.*`,
//! `hybrid.detected`) and metrics.
//!
//! MEAC asks every Mailbox/CAS server for the current and next certificate; here the servers'
//! stores come from exports or the bundle, and a server whose store is unknown (unreachable,
//! not collected) is never counted as "missing" — it gets its own finding in `stores`.

use chrono::Duration;

use super::{
    Finding, FindingCode, Metric, MetricId, Policy, Severity, Thresholds, expiry_phrase,
    thresholds::Breach,
};
use crate::model::{CertificateEntry, ExchangeState, Inventory, Thumbprint};

/// A hybrid reminder stays a WARNING this long after the current certificate was created.
pub const HCW_RECENT_DAYS: i64 = 30;

/// The AuthAdmin servicelet publishes a due next certificate at service start and every 12 h.
pub const SERVICELET_INTERVAL_HOURS: i64 = 12;

pub struct AuthOutcome {
    pub findings: Vec<Finding>,
    pub metrics: Vec<Metric>,
    /// The first line when all is well.
    pub ok_summary: Option<String>,
}

/// The required servers whose store is known not to hold `thumbprint`.
pub fn servers_lacking(state: &ExchangeState, thumbprint: &Thumbprint) -> Vec<String> {
    state
        .servers
        .iter()
        .filter(|server| {
            server.requires_auth_certificate && server.holds(thumbprint) == Some(false)
        })
        .map(|server| server.name.clone())
        .collect()
}

/// The required servers whose store is known (read successfully).
fn servers_checked(state: &ExchangeState) -> usize {
    state
        .servers
        .iter()
        .filter(|s| s.requires_auth_certificate && matches!(s.inventory, Inventory::Known { .. }))
        .count()
}

/// Days left as MEAC counts them: whole days, -1 when expired or not found.
pub fn meac_days(entry: Option<&CertificateEntry>, policy: &Policy) -> i64 {
    match entry {
        Some(entry) if !entry.certificate.is_expired(policy.now) => {
            entry.certificate.days_left(policy.now)
        }
        _ => -1,
    }
}

pub fn judge(state: &ExchangeState, policy: &Policy) -> AuthOutcome {
    let mut findings = Vec::new();
    let mut metrics = Vec::new();
    let mut missing_current = 0;
    let now = policy.now;
    let date =
        |instant: chrono::DateTime<chrono::Utc>| instant.format("%Y-%m-%d %H:%M UTC").to_string();
    let stores_known = state
        .servers
        .iter()
        .any(|s| matches!(s.inventory, Inventory::Known { .. }));

    let config = match &state.auth_config {
        None => {
            findings.push(Finding::new(
                Severity::Critical,
                FindingCode::AuthConfigMissing,
                "no AuthConfig in the inputs (give --authconfig or a --bundle): which certificate signs is unknown",
            ));
            None
        }
        Some(config) => match (&config.error, &config.current) {
            (Some(error), _) => {
                findings.push(Finding::new(
                    Severity::Critical,
                    FindingCode::AuthConfigMissing,
                    format!("AuthConfig could not be read: {error}"),
                ));
                None
            }
            (None, None) => {
                findings.push(Finding::new(
                    Severity::Critical,
                    FindingCode::AuthConfigMissing,
                    "AuthConfig has no current certificate thumbprint",
                ));
                None
            }
            (None, Some(current)) => Some((config, current)),
        },
    };
    let Some((config, current)) = config else {
        metrics.push(Metric::summary(
            MetricId::DaysLeft,
            -1,
            Some(policy.auth.clone()),
        ));
        metrics.push(Metric::summary(
            MetricId::AuthCurrentDays,
            -1,
            Some(policy.auth.clone()),
        ));
        return AuthOutcome {
            findings,
            metrics,
            ok_summary: None,
        };
    };
    let current_entry = state.certificate(current);
    let rotation = rotation_on_track(state, policy);

    // The current certificate.
    match current_entry {
        None if !stores_known => findings.push(
            Finding::new(
                Severity::Unknown,
                FindingCode::AuthCurrentNotFound,
                format!(
                    "current Auth Certificate {} cannot be checked: no certificate export or bundle store was given",
                    current.short()
                ),
            )
            .about(current),
        ),
        None => findings.push(
            Finding::new(
                Severity::Critical,
                FindingCode::AuthCurrentNotFound,
                format!(
                    "current Auth Certificate {current} (AuthConfig) is in no server's certificate store"
                ),
            )
            .about(current),
        ),
        Some(entry) => {
            let certificate = &entry.certificate;
            let days = certificate.days_left(now);
            if certificate.is_expired(now) {
                findings.push(
                    Finding::new(
                        Severity::Critical,
                        FindingCode::AuthCurrentExpired,
                        format!(
                            "current Auth Certificate {} {} ({})",
                            current.short(),
                            expiry_phrase(certificate, now),
                            date(certificate.not_after)
                        ),
                    )
                    .about(current),
                );
            } else if let Some(severity) = breach(&policy.auth, days) {
                // A rotation that will complete in time is the cure, not a problem.
                let (severity, on_track) = match &rotation {
                    Some(takeover) => (Severity::Info, format!("; rotation on track: {takeover}")),
                    None => (severity, String::new()),
                };
                findings.push(
                    Finding::new(
                        severity,
                        FindingCode::AuthCurrentExpiring,
                        format!(
                            "current Auth Certificate {} {} ({}){on_track}",
                            current.short(),
                            expiry_phrase(certificate, now),
                            date(certificate.not_after)
                        ),
                    )
                    .about(current),
                );
            }
            let lacking = servers_lacking(state, current);
            missing_current = lacking.len();
            if !lacking.is_empty() {
                findings.push(
                    Finding::new(
                        Severity::Critical,
                        FindingCode::AuthCurrentMissingOnServers,
                        format!(
                            "current Auth Certificate {} is missing on {} of {} servers: {}",
                            current.short(),
                            lacking.len(),
                            servers_checked(state),
                            lacking.join(", ")
                        ),
                    )
                    .about(current),
                );
            }
        }
    }
    let current_days = meac_days(current_entry, policy);

    // The next certificate.
    let next = config.next.as_ref();
    let next_entry = next.and_then(|t| state.certificate(t));
    let next_valid = next_entry.is_some_and(|e| !e.certificate.is_expired(now));
    if current_days <= policy.rotation_window_days && !next_valid {
        let why = match (next, next_entry) {
            (None, _) => "no next certificate is staged".to_string(),
            (Some(t), None) => format!("the staged next certificate {} is in no store", t.short()),
            (Some(t), Some(_)) => format!("the staged next certificate {} has expired", t.short()),
        };
        let when = match current_entry {
            Some(_) if current_days >= 0 => format!("expires in {current_days} days"),
            Some(_) => "has expired".to_string(),
            None => "is missing".to_string(),
        };
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::AuthNextNotStaged,
            format!(
                "current Auth Certificate {when} and {why} (rotation window {} days)",
                policy.rotation_window_days
            ),
        ));
    }
    if let Some(next) = next {
        if let Some(entry) = next_entry {
            let certificate = &entry.certificate;
            let days = certificate.days_left(now);
            if certificate.is_expired(now) || days <= policy.next_min_days {
                let state_text = expiry_phrase(certificate, now);
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        FindingCode::AuthNextExpiring,
                        format!(
                            "next Auth Certificate {} {state_text} ({}): stage a newer one",
                            next.short(),
                            date(certificate.not_after)
                        ),
                    )
                    .about(next),
                );
            }
            let lacking = servers_lacking(state, next);
            if !lacking.is_empty() {
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        FindingCode::AuthNextMissingOnServers,
                        format!(
                            "next Auth Certificate {} is missing on {} of {} servers: {}",
                            next.short(),
                            lacking.len(),
                            servers_checked(state),
                            lacking.join(", ")
                        ),
                    )
                    .about(next),
                );
            }
        } else if stores_known {
            findings.push(
                Finding::new(
                    Severity::Warning,
                    FindingCode::AuthNextMissingOnServers,
                    format!("next Auth Certificate {next} (AuthConfig) is in no server's certificate store"),
                )
                .about(next),
            );
        }
        if let Some(effective) = config.next_effective {
            if let Some(current_entry) = current_entry
                && effective > current_entry.certificate.not_after
            {
                findings.push(
                    Finding::new(
                        Severity::Critical,
                        FindingCode::AuthNextEffectiveAfterCurrentExpiry,
                        format!(
                            "next Auth Certificate {} becomes effective {}, after the current one expires {}: nothing valid signs in between",
                            next.short(),
                            date(effective),
                            date(current_entry.certificate.not_after)
                        ),
                    )
                    .about(next),
                );
            }
            if now - effective > policy.publish_grace {
                let hours = (now - effective).num_hours();
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        FindingCode::AuthNextOverdue,
                        format!(
                            "next Auth Certificate {} was due {} ({hours} h ago) and is still not current: the AuthAdmin servicelet (MSExchangeServiceHost) is not publishing it",
                            next.short(),
                            date(effective)
                        ),
                    )
                    .about(next),
                );
            }
        }
    }
    let next_days = next.map(|_| meac_days(next_entry, policy));

    // The previous certificate.
    if let Some(previous) = &config.previous {
        let finding = match state.certificate(previous) {
            Some(entry) if entry.certificate.is_expired(now) => Finding::new(
                Severity::Info,
                FindingCode::AuthPreviousExpired,
                format!(
                    "previous Auth Certificate {} expired {}: clear it (Set-AuthConfig -ClearPreviousCertificate)",
                    previous.short(),
                    date(entry.certificate.not_after)
                ),
            ),
            Some(entry) => Finding::new(
                Severity::Info,
                FindingCode::AuthPreviousLingering,
                format!(
                    "previous Auth Certificate {} is still set ({} days left)",
                    previous.short(),
                    entry.certificate.days_left(now)
                ),
            ),
            None => Finding::new(
                Severity::Info,
                FindingCode::AuthPreviousLingering,
                format!(
                    "previous Auth Certificate {} is still set but in no store",
                    previous.short()
                ),
            ),
        };
        findings.push(finding.about(previous));
    }

    // Hybrid: Exchange Online trusts the published certificate; it must learn of a new one.
    if state.hybrid_detected == Some(true) {
        let changed_recently = current_entry
            .is_some_and(|e| now - e.certificate.not_before <= Duration::days(HCW_RECENT_DAYS));
        let pending = next.is_some();
        let (severity, text) = if pending || changed_recently {
            (
                Severity::Warning,
                "hybrid configuration detected and the Auth Certificate changed recently or a rotation is pending: rerun the Hybrid Configuration Wizard once the new certificate is current",
            )
        } else {
            (Severity::Info, "hybrid configuration detected")
        };
        findings.push(Finding::new(severity, FindingCode::HybridDetected, text));
    }

    metrics.push(Metric::summary(
        MetricId::DaysLeft,
        current_days,
        Some(policy.auth.clone()),
    ));
    metrics.push(Metric::summary(
        MetricId::AuthCurrentDays,
        current_days,
        Some(policy.auth.clone()),
    ));
    if let Some(days) = next_days {
        let warning = format!("{}:", policy.next_min_days + 1);
        let thresholds = Thresholds::parse(&warning, "0:").ok();
        metrics.push(Metric::summary(MetricId::AuthNextDays, days, thresholds));
    }
    let none_missing = Thresholds::parse("0", "0").ok();
    metrics.push(Metric::summary(
        MetricId::ServersMissingAuthCert,
        missing_current as i64,
        none_missing,
    ));

    let ok_summary = current_entry.map(|entry| {
        let mut text = format!(
            "Auth Certificate {} valid for {} days (until {}), on {} of {} servers",
            current.short(),
            entry.certificate.days_left(now),
            entry.certificate.not_after.format("%Y-%m-%d"),
            servers_checked(state) - missing_current,
            servers_checked(state)
        );
        if let (Some(next), Some(effective)) = (next, config.next_effective) {
            text.push_str(&format!(
                ", next {} effective {}",
                next.short(),
                effective.format("%Y-%m-%d")
            ));
        }
        text
    });
    AuthOutcome {
        findings,
        metrics,
        ok_summary,
    }
}

/// `Some("next X takes over D")` when a staged next certificate will take over in time: valid,
/// beyond --next-min-days, on every server that must hold it, effective before the current one
/// expires, and not overdue.
fn rotation_on_track(state: &ExchangeState, policy: &Policy) -> Option<String> {
    let config = state.auth_config.as_ref()?;
    let next = config.next.as_ref()?;
    let effective = config.next_effective?;
    let next_entry = state.certificate(next)?;
    let current_entry = state.certificate(config.current.as_ref()?)?;
    // The servicelet publishes up to 12 h after the effective date: that must happen while the
    // current certificate is still valid, and MEAC replaces once it has no whole day left.
    let published_by = effective.max(policy.now) + Duration::hours(SERVICELET_INTERVAL_HOURS);
    let on_track = meac_days(Some(next_entry), policy) > policy.next_min_days
        && meac_days(Some(current_entry), policy) >= 1
        && servers_lacking(state, next).is_empty()
        && published_by <= current_entry.certificate.not_after
        && policy.now - effective <= policy.publish_grace;
    on_track.then(|| {
        format!(
            "next {} takes over {}",
            next.short(),
            effective.format("%Y-%m-%d %H:%M UTC")
        )
    })
}

fn breach(thresholds: &Thresholds, days: i64) -> Option<Severity> {
    match thresholds.evaluate(days as f64) {
        Breach::Critical => Some(Severity::Critical),
        Breach::Warning => Some(Severity::Warning),
        Breach::None => None,
    }
}

//! The servers' certificate stores: servers that could not be read, and every certificate other
//! than AuthConfig's, per server, with the services it is bound to there.

use super::certificates::{ExpiryCodes, auth_roles, expiry_findings};
use super::outcome::Outcome;
use super::{Finding, FindingCode, Metric, MetricId, Policy, Severity};
use crate::model::{CertificateKind, ExchangeState, Inventory};

const SELFSIGNED: ExpiryCodes = ExpiryCodes {
    expired: FindingCode::SelfSignedExpired,
    expiring: FindingCode::SelfSignedExpiring,
    unused_expired: Some(FindingCode::SelfSignedUnusedExpired),
    ok: None,
};

const CA_ISSUED: ExpiryCodes = ExpiryCodes {
    expired: FindingCode::CertExpired,
    expiring: FindingCode::CertExpiring,
    unused_expired: Some(FindingCode::CertUnusedExpired),
    ok: None,
};

/// Servers are judged on all cores from a few dozen up: a large organisation's stores hold
/// thousands of certificates, each with its own findings.
pub fn judge(state: &ExchangeState, policy: &Policy) -> Outcome {
    let findings = crate::parallel::map_in_order(&state.servers, PARALLEL_FROM_SERVERS, |server| {
        server_findings(state, policy, server)
    })
    .into_iter()
    .flatten()
    .collect();
    Outcome {
        metrics: metrics(state, policy),
        ..Outcome::of_findings(findings)
    }
}

const PARALLEL_FROM_SERVERS: usize = 32;

fn server_findings(
    state: &ExchangeState,
    policy: &Policy,
    server: &crate::model::Server,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    match &server.inventory {
        Inventory::Unreachable { reason } => {
            findings.push(
                Finding::new(
                    policy.unreachable_severity,
                    FindingCode::ServersUnreachable,
                    format!("server {} could not be queried: {reason}", server.name),
                )
                .on_server(&server.name),
            );
        }
        Inventory::NotCollected if server.requires_auth_certificate => {
            findings.push(
                Finding::new(
                    Severity::Info,
                    FindingCode::ServersNotCollected,
                    format!(
                        "server {} has no certificate export: its Auth Certificate was not checked",
                        server.name
                    ),
                )
                .on_server(&server.name),
            );
        }
        Inventory::NotCollected => {}
        Inventory::Known { .. } => {
            for (entry, sighting) in state.store_of(server) {
                if !auth_roles(&entry.certificate.thumbprint, state).is_empty() {
                    continue; // judged by the auth rules
                }
                let services = sighting.and_then(|s| s.services.as_deref());
                match entry.kind {
                    CertificateKind::Auth => {
                        findings.push(unreferenced(entry, &server.name, policy))
                    }
                    CertificateKind::SelfSigned => findings.extend(expiry_findings(
                        entry,
                        policy,
                        Some((&server.name, services)),
                        SELFSIGNED,
                    )),
                    CertificateKind::CaIssued => findings.extend(expiry_findings(
                        entry,
                        policy,
                        Some((&server.name, services)),
                        CA_ISSUED,
                    )),
                }
            }
        }
    }
    findings
}

/// An Auth-named certificate AuthConfig does not use: a leftover of an earlier renewal.
fn unreferenced(entry: &crate::model::CertificateEntry, server: &str, policy: &Policy) -> Finding {
    let certificate = &entry.certificate;
    let days = certificate.days_left(policy.now);
    let state = if certificate.is_expired(policy.now) {
        format!(
            "{}: it can be removed",
            super::expiry_phrase(certificate, policy.now)
        )
    } else {
        format!("{days} days left")
    };
    Finding::new(
        Severity::Info,
        FindingCode::AuthUnreferenced,
        format!(
            "server {server}: Auth-named certificate {} is not referenced by AuthConfig ({state})",
            certificate.thumbprint.short()
        ),
    )
    .about(&certificate.thumbprint)
    .on_server(server)
}

/// `selfsigned_min_days`: the fewest days left among the self-signed server certificates in use
/// (expired ones bound to nothing are leftovers, not a countdown).
fn metrics(state: &ExchangeState, policy: &Policy) -> Vec<Metric> {
    // Per server on all cores, like the findings: 500 stores are 10,000 lookups.
    let minimum_per_server =
        crate::parallel::map_in_order(&state.servers, PARALLEL_FROM_SERVERS, |server| {
            state
                .store_of(server)
                .filter(|(entry, sighting)| {
                    let unused_expired = entry.certificate.is_expired(policy.now)
                        && sighting
                            .and_then(|s| s.services.as_ref())
                            .is_some_and(Vec::is_empty);
                    entry.kind == CertificateKind::SelfSigned && !unused_expired
                })
                .map(|(entry, _)| entry.certificate.days_left(policy.now))
                .min()
        });
    minimum_per_server
        .into_iter()
        .flatten()
        .min()
        .map(|days| {
            Metric::summary(
                MetricId::SelfSignedMinDays,
                days,
                Some(policy.selfsigned.clone()),
            )
        })
        .into_iter()
        .collect()
}

//! The servers' certificate stores: servers that could not be read, and every certificate other
//! than AuthConfig's, per server, with the services it is bound to there.

use super::certificates::{ExpiryCodes, Held, auth_roles, expiry_findings};
use super::outcome::Outcome;
use super::thresholds::Breach;
use super::{Finding, FindingCode, Metric, MetricId, Policy, Severity};
use crate::model::{CertificateKind, ExchangeState, Inventory, ProbedStore, Server};

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
    match &server.inventory {
        Inventory::Unreachable { reason } => vec![
            Finding::new(
                policy.unreachable_severity,
                FindingCode::ServersUnreachable,
                format!("server {} could not be queried: {reason}", server.name),
            )
            .on_server(&server.name),
        ],
        // A server that must hold the Auth Certificate and whose store nobody read is as
        // unknown as one that could not be queried, unless no input of the run reads stores.
        Inventory::NotCollected if server.requires_auth_certificate && state.stores_observable() => vec![
            Finding::new(
                policy.unreachable_severity,
                FindingCode::ServersNotCollected,
                format!(
                    "server {} must hold the Auth Certificate but no certificate export covers it: it was not checked",
                    server.name
                ),
            )
            .on_server(&server.name),
        ],
        Inventory::NotCollected => Vec::new(),
        Inventory::Known { .. } => store_findings(state, policy, server),
        Inventory::Probed(probe) => probe_findings(state, server, probe),
    }
}

/// What a server's own metadata endpoint told of it, beyond the current certificate's
/// presence (which the Auth rules judge): why it counts as missing it, or why it is not judged.
fn probe_findings(state: &ExchangeState, server: &Server, probe: &ProbedStore) -> Vec<Finding> {
    let finding =
        |code, text: String| Finding::new(Severity::Info, code, text).on_server(&server.name);
    if let Some(answer) = &probe.refused {
        return vec![finding(
            FindingCode::ServersProbeRefused,
            format!(
                "server {}: its Auth metadata endpoint answered {answer}: Exchange cannot serve it when the current Auth Certificate or its private key is missing from the server's store ({})",
                server.name, probe.origin
            ),
        )];
    }
    let Some(current) = state.auth_config.as_ref().and_then(|c| c.current.as_ref()) else {
        return Vec::new();
    };
    if probe.published.contains(current) {
        return Vec::new();
    }
    vec![finding(
        FindingCode::ServersProbeUnconfirmed,
        format!(
            "server {}: its Auth metadata does not publish the current Auth Certificate {} (Exchange caches it up to 12 h after a rotation and publishes no expired certificate): not judged there ({})",
            server.name,
            current.short(),
            probe.origin
        ),
    )]
}

/// The certificates of one store that the Auth rules do not judge, and the internal transport
/// certificate's presence.
fn store_findings(state: &ExchangeState, policy: &Policy, server: &Server) -> Vec<Finding> {
    let mut findings: Vec<Finding> = transport_missing(server).into_iter().collect();
    for (entry, sighting) in state.store_of(server) {
        let certificate = &entry.certificate;
        if !auth_roles(&certificate.thumbprint, state).is_empty()
            || excluded_like_healthchecker(certificate)
        {
            continue; // judged by the auth rules, or not Exchange's
        }
        let held = Held {
            server: &server.name,
            services: sighting.and_then(|s| s.services.as_deref()),
            internal_transport: server.internal_transport_certificate.as_ref()
                == Some(&certificate.thumbprint),
        };
        let codes = match entry.kind {
            CertificateKind::Auth => {
                findings.push(unreferenced(entry, &server.name, policy));
                continue;
            }
            CertificateKind::SelfSigned => SELFSIGNED,
            CertificateKind::CaIssued => CA_ISSUED,
        };
        if held.is_unbound() && !policy.alert_unbound {
            findings.extend(unbound(entry, policy, &held, codes));
        } else {
            findings.extend(expiry_findings(entry, policy, Some(&held), codes));
        }
    }
    findings
}

/// HealthChecker does not judge two kinds of certificates that Azure puts on its virtual
/// machines: the daily `MS-Organization-P2P-Access [YYYY]` ones (issued by that CA, not
/// self-signed) and the self-signed "Windows Azure CRP Certificate Generator" one (matched in
/// a DC= attribute of subject or issuer). Source: CSS-Exchange
/// Shared/CertificateFunctions/Get-ExchangeServerCertificateInformation.ps1. Our names are
/// in DER order, so the P2P pattern is matched as a whole attribute rather than at the end.
pub fn excluded_like_healthchecker(certificate: &crate::model::Certificate) -> bool {
    // Every certificate of every store passes here: look for the names without allocating.
    let names = [certificate.subject.as_str(), certificate.issuer.as_str()];
    let p2p = || {
        names.iter().any(|name| {
            contains_ignore_ascii_case(name, "p2p-access") && name.split(", ").any(is_p2p_access_cn)
        })
    };
    let crp = || {
        names.iter().any(|name| {
            contains_ignore_ascii_case(name, "dc=windows azure crp certificate generator")
        })
    };
    if certificate.self_signed {
        crp()
    } else {
        p2p()
    }
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `CN=MS-Organization-P2P-Access [YYYY]` with a year of 1000-2999 (HealthChecker's
/// `\[[12][0-9]{3}\]`), case-insensitive as PowerShell's `-match`.
fn is_p2p_access_cn(attribute: &str) -> bool {
    let lower = attribute.trim().to_ascii_lowercase();
    let Some(year) = lower
        .strip_prefix("cn=ms-organization-p2p-access [")
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return false;
    };
    year.len() == 4 && year.starts_with(['1', '2']) && year.bytes().all(|b| b.is_ascii_digit())
}

/// The internal transport certificate Exchange records for the server is not in its store
/// (HealthChecker: "No Internal Transport Certificate found", red; Invoke-AnalyzerSecurity-
/// ExchangeCertificates.ps1).
fn transport_missing(server: &Server) -> Option<Finding> {
    let thumbprint = server.internal_transport_certificate.as_ref()?;
    if server.holds(thumbprint) != Some(false) {
        return None;
    }
    Some(
        Finding::new(
            Severity::Critical,
            FindingCode::TransportMissing,
            format!(
                "server {}: its internal transport certificate {} is not in its store: SMTP between the servers and the back-end site fail without it; create one with New-ExchangeCertificate on that server",
                server.name,
                thumbprint.short()
            ),
        )
        .about(thumbprint)
        .on_server(&server.name),
    )
}

/// A certificate bound to no service is nobody's countdown: information while it nears
/// expiry, and a reminder that it can be removed once expired; never an alert, so the state
/// does not flip when it expires (`--alert-unbound` judges it like any other).
fn unbound(
    entry: &crate::model::CertificateEntry,
    policy: &Policy,
    held: &Held,
    codes: ExpiryCodes,
) -> Vec<Finding> {
    let certificate = &entry.certificate;
    if certificate.is_expired(policy.now) {
        return expiry_findings(entry, policy, Some(held), codes);
    }
    let breaches = policy
        .thresholds_for(entry.kind)
        .evaluate(certificate.days_left(policy.now) as f64)
        != Breach::None;
    if !breaches {
        return Vec::new();
    }
    let code = match entry.kind {
        CertificateKind::SelfSigned => FindingCode::SelfSignedUnbound,
        _ => FindingCode::CertUnbound,
    };
    let finding = Finding::new(
        Severity::Info,
        code,
        format!(
            "server {}: {} {} ({}) bound to no service {} ({}): nothing uses it, so it needs no renewal; remove it when it is no longer wanted",
            held.server,
            super::describe_kind(entry.kind),
            certificate.thumbprint.short(),
            certificate.subject,
            super::expiry_phrase(certificate, policy.now),
            certificate.not_after.format("%Y-%m-%d %H:%M UTC")
        ),
    )
    .about(&certificate.thumbprint)
    .on_server(held.server);
    vec![finding]
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
/// (those bound to nothing are leftovers, not a countdown; with `--alert-unbound` only the
/// expired ones are).
fn metrics(state: &ExchangeState, policy: &Policy) -> Vec<Metric> {
    // Per server on all cores, like the findings: 500 stores are 10,000 lookups.
    let minimum_per_server =
        crate::parallel::map_in_order(&state.servers, PARALLEL_FROM_SERVERS, |server| {
            state
                .store_of(server)
                .filter(|(entry, sighting)| {
                    let held = Held {
                        server: &server.name,
                        services: sighting.and_then(|s| s.services.as_deref()),
                        internal_transport: server.internal_transport_certificate.as_ref()
                            == Some(&entry.certificate.thumbprint),
                    };
                    let leftover = held.is_unbound()
                        && (!policy.alert_unbound || entry.certificate.is_expired(policy.now));
                    entry.kind == CertificateKind::SelfSigned
                        && !leftover
                        && !excluded_like_healthchecker(&entry.certificate)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Certificate;

    fn certificate(attributes: &[(rcgen::DnType, &str)]) -> Certificate {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in attributes {
            params.distinguished_name.push(kind.clone(), *value);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Certificate::from_der(&der).unwrap()
    }

    #[test]
    fn azure_crp_certificate_is_matched_in_its_dc_attribute() {
        let dc = rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]);
        let crp = certificate(&[(dc.clone(), "Windows Azure CRP Certificate Generator")]);
        assert!(crp.self_signed);
        assert!(excluded_like_healthchecker(&crp), "{}", crp.subject);
        let other = certificate(&[(dc, "Windows Azure Something Else")]);
        assert!(!excluded_like_healthchecker(&other));
        // The P2P pattern needs a certificate that is not self-signed.
        let p2p = certificate(&[(
            rcgen::DnType::CommonName,
            "MS-Organization-P2P-Access [2026]",
        )]);
        assert!(!excluded_like_healthchecker(&p2p));
        assert!(is_p2p_access_cn("CN=MS-Organization-P2P-Access [2026]"));
        assert!(!is_p2p_access_cn("CN=MS-Organization-P2P-Access [3026]"));
        assert!(!is_p2p_access_cn("CN=MS-Organization-P2P-Access [202]"));
    }
}

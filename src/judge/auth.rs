//! The Auth Certificate of an organisation: what MEAC decides, as findings (`auth.*`,
//! `hybrid.detected`) and metrics.
//!
//! MEAC asks every Mailbox/CAS server for the current and next certificate; here the servers'
//! stores come from exports or the bundle, and a server whose store is unknown (unreachable,
//! not collected) is never counted as "missing" — it gets its own finding in `stores`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::certificates::weak_auth_findings;
use super::outcome::Outcome;
use super::{
    Finding, FindingCode, Metric, MetricId, Policy, Severity, Thresholds, Topic, expiry_phrase,
    thresholds::Breach,
};
use crate::model::{AuthConfig, CertificateEntry, ExchangeState, Inventory, Thumbprint};

/// A hybrid reminder stays a WARNING this long after the current certificate was created
/// (MEAC stages 30 days ahead).
pub const HCW_RECENT_DAYS: i64 = 30;

/// The AuthAdmin servicelet publishes a due next certificate at service start and every 12 h.
pub const SERVICELET_INTERVAL_HOURS: i64 = 12;

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

/// The required servers whose store is known (read, or probed with an answer).
fn servers_checked(state: &ExchangeState) -> usize {
    state
        .servers
        .iter()
        .filter(|s| s.requires_auth_certificate && s.is_observed())
        .count()
}

/// Days left as MEAC counts them (Get-ExchangeAuthCertificateStatus.ps1: `(NotAfter - now).Days`,
/// and -1 once `NotAfter.Date` has passed, i.e. from the midnight that starts the day of
/// NotAfter): whole days, -1 on the expiry day, when expired, or when not found. MEAC takes the
/// server's local midnight; we take UTC midnight (GUIDE.md's parity table).
pub fn meac_days(entry: Option<&CertificateEntry>, policy: &Policy) -> i64 {
    match entry {
        Some(entry) if policy.now < expiry_day_start(&entry.certificate) => {
            entry.certificate.days_left(policy.now)
        }
        _ => -1,
    }
}

/// The UTC midnight that starts the day of the certificate's NotAfter.
pub fn expiry_day_start(certificate: &crate::model::Certificate) -> DateTime<Utc> {
    certificate
        .not_after
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// MEAC's days left of an AuthConfig certificate as the stores show it: MEAC reads the
/// certificate from the servers (Get-ExchangeServerCertificate) and counts -1 when no reachable
/// server holds it, even where a file or the metadata document has it. Without any store read
/// (certificate files and AuthConfig only) the certificate itself is all there is to count.
pub fn meac_days_in_stores(state: &ExchangeState, thumbprint: &Thumbprint, policy: &Policy) -> i64 {
    let stores_known = state.servers.iter().any(|s| s.is_observed());
    let held = state
        .servers
        .iter()
        .any(|s| s.holds(thumbprint) == Some(true));
    if stores_known && !held {
        return -1;
    }
    meac_days(state.certificate(thumbprint), policy)
}

/// The facts every Auth rule reads: a usable AuthConfig and what the stores say of it.
struct Context<'a> {
    state: &'a ExchangeState,
    policy: &'a Policy,
    config: &'a AuthConfig,
    current: &'a Thumbprint,
    current_entry: Option<&'a CertificateEntry>,
    /// MEAC's days left of the current certificate (-1 when expired or not found).
    current_days: i64,
    next_entry: Option<&'a CertificateEntry>,
    /// At least one server's store was read.
    stores_known: bool,
    /// At least one server was probed and answered (`--probe-servers`): it shows the current
    /// and previous certificates only, never the next one.
    probes_answered: bool,
}

impl Context<'_> {
    fn next(&self) -> Option<&Thumbprint> {
        self.config.next.as_ref()
    }
}

fn date(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The Auth rules in MEAC's order of concern: AuthConfig, current, next, previous, hybrid;
/// then the metrics they measure.
pub fn judge(state: &ExchangeState, policy: &Policy) -> Outcome {
    let config = match usable_config(state) {
        Ok(config) => config,
        Err(finding) => return config_missing(finding, policy),
    };
    let current = config.current.as_ref().expect("usable_config checks it");
    let current_entry = state.certificate(current);
    let next_entry = config.next.as_ref().and_then(|t| state.certificate(t));
    let context = Context {
        state,
        policy,
        config,
        current,
        current_entry,
        current_days: meac_days(current_entry, policy),
        next_entry,
        stores_known: state
            .servers
            .iter()
            .any(|s| matches!(s.inventory, Inventory::Known { .. })),
        probes_answered: state
            .servers
            .iter()
            .any(|s| matches!(s.inventory, Inventory::Probed(_))),
    };
    let mut outcome = current_rule(&context)
        .merged(weak_rule(&context))
        .merged(next_not_staged_rule(&context))
        .merged(next_rule(&context))
        .merged(previous_rule(&context))
        .merged(sites_rule(&context))
        .merged(hybrid_rule(&context));
    outcome.metrics = metrics(&context);
    outcome.ok_summary = ok_summary(&context);
    outcome
}

/// AuthConfig with a current thumbprint, or the finding that says why there is none.
fn usable_config(state: &ExchangeState) -> Result<&AuthConfig, Finding> {
    let missing =
        |text: String| Finding::new(Severity::Critical, FindingCode::AuthConfigMissing, text);
    match &state.auth_config {
        None => Err(missing(
            "no AuthConfig in the inputs (give --authconfig or a --bundle): which certificate signs is unknown".into(),
        )),
        Some(config) => match (&config.error, &config.current) {
            (Some(error), _) => Err(missing(format!("AuthConfig could not be read: {error}"))),
            (None, None) => Err(missing(
                "AuthConfig has no current certificate thumbprint".into(),
            )),
            (None, Some(_)) => Ok(config),
        },
    }
}

fn config_missing(finding: Finding, policy: &Policy) -> Outcome {
    let mut outcome = Outcome::of_finding(finding);
    outcome.metrics = vec![
        Metric::summary(MetricId::DaysLeft, -1, Some(policy.auth.clone())),
        Metric::summary(MetricId::AuthCurrentDays, -1, Some(policy.auth.clone())),
    ];
    outcome
}

/// The current certificate: in a store at all, expired, expiring (unless a rotation takes
/// over in time), and on every server that must hold it.
fn current_rule(c: &Context) -> Outcome {
    let current = c.current;
    let Some(entry) = c.current_entry else {
        return Outcome::of_finding(current_not_found(c));
    };
    let now = c.policy.now;
    let certificate = &entry.certificate;
    let mut outcome = Outcome::default();
    if certificate.is_expired(now) {
        outcome.push(
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
    } else if let Some(severity) = breach(&c.policy.auth, certificate.days_left(now)) {
        // A rotation that will complete in time is the cure, not a problem.
        let (severity, on_track) = match rotation_on_track(c.state, c.policy) {
            Some(takeover) => (Severity::Info, format!("; rotation on track: {takeover}")),
            None => (severity, String::new()),
        };
        outcome.push(
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
    let lacking = servers_lacking(c.state, current);
    if !lacking.is_empty() {
        outcome.push(
            Finding::new(
                Severity::Critical,
                FindingCode::AuthCurrentMissingOnServers,
                format!(
                    "current Auth Certificate {} is missing on {} of {} servers: {}{}",
                    current.short(),
                    lacking.len(),
                    servers_checked(c.state),
                    lacking.join(", "),
                    site_hint(c.state, &lacking)
                ),
            )
            .about(current),
        );
    }
    outcome
}

fn current_not_found(c: &Context) -> Finding {
    let current = c.current;
    let finding = if c.stores_known {
        Finding::new(
            Severity::Critical,
            FindingCode::AuthCurrentNotFound,
            format!(
                "current Auth Certificate {current} (AuthConfig) is in no server's certificate store"
            ),
        )
    } else if c.probes_answered {
        current_published_by_no_server(c)
    } else {
        Finding::new(
            Severity::Unknown,
            FindingCode::AuthCurrentNotFound,
            format!(
                "current Auth Certificate {} cannot be checked: no input holds it (no certificate export or bundle store was read, and no probed server answered)",
                current.short()
            ),
        )
    };
    finding.about(current)
}

/// No probed server publishes the current certificate. Exchange publishes it only while it is
/// valid and in the serving server's store with its private key, from a document cached up to
/// 12 h (DOMAIN.md section 8): right after AuthConfig changed that is the cache; otherwise the
/// certificate has expired or is missing everywhere.
fn current_published_by_no_server(c: &Context) -> Finding {
    let current = c.current;
    match super::metadata::hours_since_change_within_cache(c.config, c.policy) {
        Some(hours) => Finding::new(
            Severity::Warning,
            FindingCode::AuthCurrentNotFound,
            format!(
                "current Auth Certificate {} is published by no probed server yet: AuthConfig changed {hours} h ago and Exchange caches its metadata up to 12 h; it cannot be judged until they catch up",
                current.short()
            ),
        ),
        None => Finding::new(
            Severity::Critical,
            FindingCode::AuthCurrentNotFound,
            format!(
                "current Auth Certificate {current} (AuthConfig) is published by no probed server: Exchange publishes it only while it is valid and in the server's store with its private key, so it has expired or is missing"
            ),
        ),
    }
}

/// Weak keys and signatures of the current and the next certificate (HealthChecker's rule).
fn weak_rule(c: &Context) -> Outcome {
    let mut findings = Vec::new();
    if let Some(entry) = c.current_entry {
        findings.extend(weak_auth_findings(entry, "current Auth Certificate"));
    }
    if let Some(entry) = c.next_entry {
        let next = weak_auth_findings(entry, "next Auth Certificate");
        findings.extend(next.into_iter().map(|f| f.on_topic(Topic::AuthNext)));
    }
    Outcome::of_findings(findings)
}

/// MEAC stages a new certificate once the current one is inside the rotation window and no
/// valid next one is staged.
fn next_not_staged_rule(c: &Context) -> Outcome {
    let next_valid = c
        .next_entry
        .is_some_and(|e| !e.certificate.is_expired(c.policy.now));
    if c.current_days > c.policy.rotation_window_days || next_valid {
        return Outcome::default();
    }
    let why = match (c.next(), c.next_entry) {
        // Staged, but no input holds its certificate (AuthConfig from AD with only the
        // metadata, which never publishes the next one): whether it is valid is unknown.
        (Some(_), None) if !c.stores_known => return Outcome::default(),
        (None, _) => "no next certificate is staged".to_string(),
        (Some(t), None) => format!("the staged next certificate {} is in no store", t.short()),
        (Some(t), Some(_)) => format!("the staged next certificate {} has expired", t.short()),
    };
    let when = match c.current_entry {
        Some(e) if e.certificate.is_expired(c.policy.now) => "has expired".to_string(),
        Some(_) if c.current_days < 0 => "expires today".to_string(),
        Some(_) => format!("expires in {} days", c.current_days),
        None => "is missing".to_string(),
    };
    let finding = Finding::new(
        Severity::Warning,
        FindingCode::AuthNextNotStaged,
        format!(
            "current Auth Certificate {when} and {why} (rotation window {} days)",
            c.policy.rotation_window_days
        ),
    );
    Outcome::of_finding(match c.next() {
        Some(next) => finding.about(next),
        None => finding,
    })
}

/// The staged next certificate: valid long enough, on every server, effective in time, and
/// published by the servicelet when due.
fn next_rule(c: &Context) -> Outcome {
    let Some(next) = c.next() else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    if let Some(entry) = c.next_entry {
        outcome.merge(next_in_stores_rule(c, next, entry));
    } else if c.stores_known {
        outcome.push(
            Finding::new(
                Severity::Warning,
                FindingCode::AuthNextMissingOnServers,
                format!(
                    "next Auth Certificate {next} (AuthConfig) is in no server's certificate store"
                ),
            )
            .about(next),
        );
    }
    if let Some(effective) = c.config.next_effective {
        outcome.merge(next_effective_rule(c, next, effective));
    }
    outcome
}

fn next_in_stores_rule(c: &Context, next: &Thumbprint, entry: &CertificateEntry) -> Outcome {
    let now = c.policy.now;
    let certificate = &entry.certificate;
    let mut outcome = Outcome::default();
    if certificate.is_expired(now) || certificate.days_left(now) <= c.policy.next_min_days {
        outcome.push(
            Finding::new(
                Severity::Warning,
                FindingCode::AuthNextExpiring,
                format!(
                    "next Auth Certificate {} {} ({}): stage a newer one",
                    next.short(),
                    expiry_phrase(certificate, now),
                    date(certificate.not_after)
                ),
            )
            .about(next),
        );
    }
    let lacking = servers_lacking(c.state, next);
    if !lacking.is_empty() {
        outcome.push(
            Finding::new(
                Severity::Warning,
                FindingCode::AuthNextMissingOnServers,
                format!(
                    "next Auth Certificate {} is missing on {} of {} servers: {}{}",
                    next.short(),
                    lacking.len(),
                    servers_checked(c.state),
                    lacking.join(", "),
                    site_hint(c.state, &lacking)
                ),
            )
            .about(next),
        );
    }
    outcome
}

fn next_effective_rule(c: &Context, next: &Thumbprint, effective: DateTime<Utc>) -> Outcome {
    let mut outcome = Outcome::default();
    if let Some(current_entry) = c.current_entry
        && effective > current_entry.certificate.not_after
    {
        outcome.push(
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
    if c.policy.now - effective > c.policy.publish_grace {
        let hours = (c.policy.now - effective).num_hours();
        outcome.push(
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
    outcome
}

/// A previous certificate still set: information, and once expired a reminder to clear it.
fn previous_rule(c: &Context) -> Outcome {
    let Some(previous) = &c.config.previous else {
        return Outcome::default();
    };
    let now = c.policy.now;
    let finding = match c.state.certificate(previous) {
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
    Outcome::of_finding(finding.about(previous))
}

/// MEAC notes Exchange servers in more than one AD site (MultipleExchangeADSites in
/// Get-ExchangeAuthCertificateStatus.ps1): the certificate servicelet deploys a new Auth
/// Certificate only within a site, so the other sites must be checked after a renewal.
fn sites_rule(c: &Context) -> Outcome {
    let sites = required_servers_by_site(c.state);
    if sites.len() < 2 {
        return Outcome::default();
    }
    let list: Vec<String> = sites
        .iter()
        .map(|(site, servers)| {
            let plural = if servers.len() == 1 { "" } else { "s" };
            format!("{site}: {} server{plural}", servers.len())
        })
        .collect();
    Outcome::of_finding(Finding::new(
        Severity::Info,
        FindingCode::ServersMultipleSites,
        format!(
            "the servers that must hold the Auth Certificate are in {} AD sites ({}): the certificate servicelet replicates a new Auth Certificate only within a site; after a renewal check one server per site",
            sites.len(),
            list.join("; ")
        ),
    ))
}

/// The required servers by AD site (servers whose site is unknown are left out).
fn required_servers_by_site(state: &ExchangeState) -> BTreeMap<&str, Vec<&str>> {
    let mut sites: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for server in state.servers.iter().filter(|s| s.requires_auth_certificate) {
        if let Some(site) = &server.site {
            sites.entry(site).or_default().push(&server.name);
        }
    }
    sites
}

/// "; EXCH03 is in AD site Branch, the others in HQ: ..." when the servers that lack a
/// certificate are all outside the site that holds most of the required servers.
fn site_hint(state: &ExchangeState, lacking: &[String]) -> String {
    let sites = required_servers_by_site(state);
    let Some((main_site, _)) = sites.iter().max_by_key(|(_, servers)| servers.len()) else {
        return String::new();
    };
    let site_of = |name: &str| {
        sites
            .iter()
            .find(|(_, servers)| servers.contains(&name))
            .map(|(site, _)| *site)
    };
    let elsewhere = lacking
        .iter()
        .all(|name| site_of(name).is_some_and(|site| site != *main_site));
    if sites.len() < 2 || !elsewhere {
        return String::new();
    }
    format!(
        "; they are in other AD sites than {main_site}: the certificate servicelet replicates only within a site, so one server per site needs the certificate (MEAC)"
    )
}

/// Hybrid: Exchange Online trusts the Auth Certificate it was given, so it must learn of a new
/// one. Hybrid as HealthChecker detects it (a HybridConfiguration object, OAuth to Exchange
/// Online, or the dedicated hybrid application: Invoke-AnalyzerHybridInformation.ps1). A
/// WARNING while a rotation is pending (a valid next certificate: since 2025
/// ConfigureExchangeHybridApplication.ps1 uploads the current and the next certificate, so it
/// can be trusted before it becomes current) and while one just happened (the previous
/// certificate still set and valid, or the current certificate created recently): activation is when hybrid OAuth (free/busy, MailTips) breaks.
fn hybrid_rule(c: &Context) -> Outcome {
    let hybrid = c.state.hybrid;
    if c.state.hybrid_detected != Some(true) {
        return Outcome::default();
    }
    let how = hybrid_signs(&hybrid);
    let finding = if let Some(pending) = pending_rotation(c) {
        Finding::new(
            Severity::Warning,
            FindingCode::HybridDetected,
            format!(
                "hybrid with Exchange Online ({how}) and {pending}: Exchange Online must trust it before it becomes current; with the dedicated hybrid application run ConfigureExchangeHybridApplication.ps1 now (it uploads the current and the next certificate), otherwise rerun the Hybrid Configuration Wizard as soon as it is current"
            ),
        )
    } else if let Some(change) = recent_rotation(c) {
        Finding::new(
            Severity::Warning,
            FindingCode::HybridDetected,
            format!(
                "hybrid with Exchange Online ({how}) and {change}: unless the Hybrid Configuration Wizard (or ConfigureExchangeHybridApplication.ps1) ran since, hybrid free/busy and MailTips fail; rerun it, then clear the previous certificate (Set-AuthConfig -ClearPreviousCertificate)"
            ),
        )
    } else {
        Finding::new(
            Severity::Info,
            FindingCode::HybridDetected,
            format!("hybrid configuration detected ({how})"),
        )
    };
    Outcome::of_finding(finding)
}

fn hybrid_signs(hybrid: &crate::model::Hybrid) -> String {
    let signs: Vec<&str> = [
        (hybrid.configuration, "HybridConfiguration"),
        (hybrid.oauth_to_exchange_online, "OAuth to Exchange Online"),
        (hybrid.dedicated_application, "dedicated hybrid application"),
    ]
    .into_iter()
    .filter(|(sign, _)| *sign == Some(true))
    .map(|(_, name)| name)
    .collect();
    signs.join(", ")
}

/// "a next Auth Certificate X is staged, effective D" while a valid one is staged.
fn pending_rotation(c: &Context) -> Option<String> {
    let next = c.next()?;
    let entry = c.next_entry?;
    if entry.certificate.is_expired(c.policy.now) {
        return None;
    }
    let effective = c
        .config
        .next_effective
        .map(|d| format!(", effective {}", date(d)))
        .unwrap_or_default();
    Some(format!(
        "a next Auth Certificate {} is staged{effective}",
        next.short()
    ))
}

/// What says the Auth Certificate changed lately: the previous one still set and valid (a
/// planned rotation), or the current certificate created within [`HCW_RECENT_DAYS`] (an
/// emergency replacement, which creates and publishes at once). AuthConfig's own change time
/// is no sign: clearing the previous certificate changes it too.
fn recent_rotation(c: &Context) -> Option<String> {
    let now = c.policy.now;
    let recent = |at: DateTime<Utc>| now - at <= Duration::days(HCW_RECENT_DAYS);
    if let Some(previous) = &c.config.previous
        && c.state
            .certificate(previous)
            .is_some_and(|e| !e.certificate.is_expired(now))
    {
        return Some(format!(
            "the previous Auth Certificate {} is still set: the current one replaced it",
            previous.short()
        ));
    }
    let created = c.current_entry?.certificate.not_before;
    recent(created).then(|| {
        format!(
            "the current Auth Certificate {} was created {}",
            c.current.short(),
            date(created)
        )
    })
}

/// `days_left` and `auth_current_days` (MEAC's count), `auth_next_days` while one is staged,
/// and the servers that lack the current certificate.
fn metrics(c: &Context) -> Vec<Metric> {
    let auth = Some(c.policy.auth.clone());
    let mut metrics = vec![
        Metric::summary(MetricId::DaysLeft, c.current_days, auth.clone()),
        Metric::summary(MetricId::AuthCurrentDays, c.current_days, auth),
    ];
    if c.next().is_some() {
        let warning = format!("{}:", c.policy.next_min_days + 1);
        let thresholds = Thresholds::parse(&warning, "0:").ok();
        let days = meac_days(c.next_entry, c.policy);
        metrics.push(Metric::summary(MetricId::AuthNextDays, days, thresholds));
    }
    metrics.push(Metric::summary(
        MetricId::ServersMissingAuthCert,
        missing_current(c) as i64,
        Thresholds::parse("0", "0").ok(),
    ));
    metrics
}

/// The required servers whose store was read and lacks the current certificate, also when it
/// is in no store at all (auth.current.not_found).
fn missing_current(c: &Context) -> usize {
    servers_lacking(c.state, c.current).len()
}

fn ok_summary(c: &Context) -> Option<String> {
    let entry = c.current_entry?;
    let checked = servers_checked(c.state);
    let mut text = format!(
        "Auth Certificate {} valid for {} days (until {}), on {} of {checked} servers",
        c.current.short(),
        entry.certificate.days_left(c.policy.now),
        entry.certificate.not_after.format("%Y-%m-%d"),
        checked - missing_current(c),
    );
    if let (Some(next), Some(effective)) = (c.next(), c.config.next_effective) {
        text.push_str(&format!(
            ", next {} effective {}",
            next.short(),
            effective.format("%Y-%m-%d")
        ));
    }
    Some(text)
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

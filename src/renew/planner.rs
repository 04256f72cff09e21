//! The planner: which scenarios the organisation needs, and why.
//!
//! [`plan`] runs the rules below in a fixed order. Each rule is one function; together they
//! produce [`Decision`]s (what to do, with every value the steps need, validated for
//! PowerShell) and the plan's reasons, notes and refusals. Nothing here builds a step: the
//! step builder ([`super::steps`]) turns decisions into PowerShell.
//!
//! Which rules are the planner's own, and which decide something the monitoring should know
//! too (those mirror the judgement today and should come from it, `src/judge`):
//!
//! | rule | whose |
//! | --- | --- |
//! | `start_from_recommendation` | the judgement's: `judge::action::recommend` (MEAC's decision) |
//! | `replace_when_staging_is_too_late` | should come from `judge::action::recommend`: a rotation that cannot take over in time is a replacement the monitoring should report as one |
//! | `servers_to_plan_for`, `leave_out_unreachable` | planner; mirrors MEAC refusing to act while a server cannot be queried (`Recommendation::unreachable_servers`) |
//! | `hybrid_needs_acknowledgement` | should come from the judgement: MEAC's hybrid block |
//! | `replace_needs_emergency` | planner: consent to the emergency sequence |
//! | `staging_lead`, `lead_is_long_enough` | planner: MEAC's staging date, Set-AuthConfig's 48 h |
//! | `effective_before_current_expires` | mirrors the judgement's `auth.next.effective_after_current_expiry` |
//! | `imports` | mirrors the judgement: the servers lacking current/next (`judge::auth::servers_lacking`) |
//! | `publish_overdue` | mirrors the judgement's finding `auth.next.overdue` |
//! | `clear_previous`, `current_active_since` | planner (when to clear: only from AuthConfig's recorded change or `--clear-previous`); "expired" mirrors `auth.previous.expired` |
//! | `self_signed_renewals` | mirrors the judgement: self-signed certificates it rates WARNING/CRITICAL |
//! | `cleanup_removals` | mirrors the findings `selfsigned.unused_expired`/`cert.unused_expired`; the expired Auth Certificates should come from the judgement too |
//! | `hybrid_reminder`, `run_on_note` | planner |

use chrono::{DateTime, Duration, Utc};

use super::Scenario;
use super::options::RenewOptions;
use super::powershell::{self, ServerName, ValidationError};
use crate::judge::{
    CertificateReport, FindingCode, Recommendation, RecommendedAction, Report, Severity,
};
use crate::model::{
    CertificateEntry, CertificateKind, ExchangeState, Inventory, Server, Sighting, Thumbprint,
};

/// Hours a staged certificate must lie ahead (Microsoft's recommendation).
pub const MIN_LEAD_HOURS: i64 = 48;

/// One thing the planner decided to do, with every value its steps need.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The emergency sequence: a new Auth Certificate becomes current now.
    Replace {
        old_current: Option<Thumbprint>,
        /// The old current certificate is expired or missing: the previous slot is cleared too.
        clear_old_current: bool,
    },
    /// Planned rotation: a new certificate is staged as next.
    StageNext {
        effective: DateTime<Utc>,
        /// `--emergency`: Set-AuthConfig may take a date less than 48 h ahead.
        force: bool,
        /// It must stay valid until the new one takes over.
        current: Option<Thumbprint>,
    },
    /// An AuthConfig certificate copied from a server that holds it to those that lack it.
    Import {
        role: AuthRole,
        thumbprint: Thumbprint,
        source: ServerName,
        targets: Vec<ServerName>,
    },
    /// Publish the staged next certificate: the servicelet did not (`overdue`), or it takes
    /// over now instead of a replacement (the judgement's `publish_next`).
    Publish {
        next: Thumbprint,
        current: Option<Thumbprint>,
        overdue: bool,
    },
    /// Stage the next certificate again, effective before the current one expires (the
    /// judgement's `restage_next`).
    Restage {
        next: Thumbprint,
        effective: DateTime<Utc>,
        current: Option<Thumbprint>,
        /// When the current certificate expires: restaged, the next one takes over before.
        current_expires: Option<DateTime<Utc>>,
    },
    ClearPrevious {
        current: Thumbprint,
        previous: Thumbprint,
        previous_expired: bool,
    },
    RenewSelfSigned(SelfSignedRenewal),
    /// An expired certificate bound to nothing (`--cleanup`).
    Remove {
        server: ServerName,
        thumbprint: Thumbprint,
    },
}

impl Decision {
    pub fn scenario(&self) -> Scenario {
        match self {
            Decision::Replace { .. } => Scenario::Replace,
            Decision::StageNext { .. } => Scenario::StageNext,
            Decision::Import {
                role: AuthRole::Current,
                ..
            } => Scenario::ImportCurrent,
            Decision::Import {
                role: AuthRole::Next,
                ..
            } => Scenario::ImportNext,
            Decision::Publish { overdue: true, .. } => Scenario::PublishOverdue,
            Decision::Publish { overdue: false, .. } => Scenario::PublishNext,
            Decision::Restage { .. } => Scenario::RestageNext,
            Decision::ClearPrevious { .. } => Scenario::ClearPrevious,
            Decision::RenewSelfSigned(_) => Scenario::SelfSigned,
            Decision::Remove { .. } => Scenario::Cleanup,
        }
    }

    /// Replace and StageNext create the new Auth Certificate.
    fn creates_auth_certificate(&self) -> bool {
        matches!(self, Decision::Replace { .. } | Decision::StageNext { .. })
    }
}

/// Which AuthConfig certificate an import copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRole {
    Current,
    Next,
}

impl AuthRole {
    pub fn label(self) -> &'static str {
        match self {
            AuthRole::Current => "current",
            AuthRole::Next => "next",
        }
    }
}

/// A self-signed server certificate bound to services, renewed for the same services.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfSignedRenewal {
    pub server: ServerName,
    pub old: Thumbprint,
    /// The old certificate's subject (`CN=…`), given to `New-ExchangeCertificate` explicitly:
    /// a piped certificate is ignored (DOMAIN.md §8).
    pub subject: String,
    /// The services the new certificate is enabled for: the old one's, without IIS for the
    /// internal transport certificate (see `keeps_back_end`).
    pub services: Vec<&'static str>,
    /// The old certificate is the internal transport certificate bound to IIS: the Exchange
    /// Back End site (444). `Enable-ExchangeCertificate -Services IIS` would bind the front
    /// end instead, so IIS is left out, as MEAC does (New-ExchangeAuthCertificate.ps1), and
    /// the back-end binding is moved by its own step.
    pub keeps_back_end: bool,
    /// The server's internal transport certificate already renews this one (an earlier run
    /// stopped before moving the back-end binding): nothing new is created.
    pub successor: Option<Thumbprint>,
    pub friendly_name: Option<String>,
    /// It is the server's internal transport certificate: its renewal replaces that on purpose.
    pub is_transport: bool,
    pub days_left: i64,
    /// `--cleanup`: the old certificate is removed once its successor serves.
    pub remove_replaced: bool,
}

/// The planner's result: what to do and why, for which servers.
#[derive(Debug, Clone)]
pub struct Planned {
    pub now: DateTime<Utc>,
    /// The reachable servers that must hold the Auth Certificate; the first is where the plan
    /// runs.
    pub servers: Vec<ServerName>,
    /// Servers left out, with why.
    pub skipped: Vec<String>,
    pub decisions: Vec<Decision>,
    pub reasons: Vec<String>,
    pub notes: Vec<String>,
    pub refusals: Vec<String>,
    /// AuthConfig's current, next and previous thumbprints when planned.
    pub auth_before: Vec<Thumbprint>,
}

impl Planned {
    /// In the order decided, each once; `Nothing` when nothing was decided.
    pub fn scenarios(&self) -> Vec<Scenario> {
        let mut scenarios = Vec::new();
        for scenario in self.decisions.iter().map(Decision::scenario) {
            if !scenarios.contains(&scenario) {
                scenarios.push(scenario);
            }
        }
        if scenarios.is_empty() {
            scenarios.push(Scenario::Nothing);
        }
        scenarios
    }

    /// The server the plan must run on: where the new Auth Certificate is created, because
    /// `Set-AuthConfig -NewCertificateThumbprint` looks for it in the local store.
    pub fn run_on(&self) -> Option<&ServerName> {
        self.decisions
            .iter()
            .any(Decision::creates_auth_certificate)
            .then(|| &self.servers[0])
    }
}

/// What the rules add to as they run.
#[derive(Debug, Default)]
struct Planning {
    decisions: Vec<Decision>,
    reasons: Vec<String>,
    notes: Vec<String>,
    refusals: Vec<String>,
}

/// What the rules read: the inputs, the servers the plan covers and AuthConfig's thumbprints
/// (validated for PowerShell).
struct Facts<'a> {
    state: &'a ExchangeState,
    report: &'a Report,
    options: &'a RenewOptions,
    now: DateTime<Utc>,
    servers: Vec<ServerName>,
    current: Option<Thumbprint>,
    next: Option<Thumbprint>,
    previous: Option<Thumbprint>,
}

impl Facts<'_> {
    fn entry(&self, thumbprint: Option<&Thumbprint>) -> Option<&CertificateEntry> {
        thumbprint.and_then(|t| self.state.certificate(t))
    }

    /// Planned servers whose store is known to hold the certificate.
    fn holders(&self, thumbprint: &Thumbprint) -> Vec<ServerName> {
        self.servers_where(|server| server.holds(thumbprint) == Some(true))
    }

    /// Planned servers whose store is known to lack the certificate.
    fn lacking(&self, thumbprint: &Thumbprint) -> Vec<ServerName> {
        self.servers_where(|server| server.holds(thumbprint) == Some(false))
    }

    fn servers_where(&self, wanted: impl Fn(&Server) -> bool) -> Vec<ServerName> {
        self.servers
            .iter()
            .filter(|s| self.state.server(s.as_str()).is_some_and(&wanted))
            .cloned()
            .collect()
    }

    /// The input names a server the plan covers (whatever the case or domain suffix).
    fn covers(&self, server: &str) -> bool {
        self.servers
            .iter()
            .any(|s| s.key() == Server::key_of(server))
    }

    fn is_transport_certificate(&self, server: &str, thumbprint: &Thumbprint) -> bool {
        self.state
            .server(server)
            .and_then(|s| s.internal_transport_certificate.as_ref())
            == Some(thumbprint)
    }

    /// AuthConfig names it (current, next or previous).
    fn is_referenced(&self, thumbprint: &Thumbprint) -> bool {
        [&self.current, &self.next, &self.previous]
            .into_iter()
            .flatten()
            .any(|t| t == thumbprint)
    }

    fn has_finding(&self, code: FindingCode) -> bool {
        self.report.findings.iter().any(|f| f.code == code)
    }

    fn current_days_left(&self) -> Option<i64> {
        self.entry(self.current.as_ref())
            .map(|e| e.certificate.days_left(self.now))
    }

    /// Expired, or not in any input (nothing can sign with it).
    fn is_expired_or_unknown(&self, thumbprint: Option<&Thumbprint>) -> bool {
        self.entry(thumbprint)
            .is_none_or(|e| e.certificate.is_expired(self.now))
    }
}

/// Plans from the judgement's report. Errors are inputs that fail validation or a state
/// nothing can be planned from; situations that forbid execution become refusals.
pub fn plan(
    state: &ExchangeState,
    report: &Report,
    options: &RenewOptions,
) -> Result<Planned, ValidationError> {
    let Some(recommendation) = report.recommendation.as_ref() else {
        return Err(ValidationError(
            "no usable AuthConfig in the inputs: the renewal needs --bundle (or --authconfig with --certificates)".into(),
        ));
    };
    let config = state
        .auth_config
        .as_ref()
        .ok_or_else(|| ValidationError("no AuthConfig in the inputs".into()))?;
    let mut out = Planning::default();
    let (servers, skipped) = servers_to_plan_for(state)?;
    leave_out_unreachable(&skipped, options, &mut out);
    if servers.is_empty() {
        return Err(ValidationError(
            "no reachable Exchange server that must hold the Auth Certificate in the inputs".into(),
        ));
    }
    let facts = Facts {
        state,
        report,
        options,
        now: report.checked_at,
        servers,
        current: validated(config.current.as_ref())?,
        next: validated(config.next.as_ref())?,
        previous: validated(config.previous.as_ref())?,
    };

    stale_input_needs_consent(&facts, &mut out);
    let action = start_from_recommendation(recommendation, &mut out);
    let action = replace_when_staging_is_too_late(action, &facts, &mut out);
    hybrid_needs_acknowledgement(action, &facts, &mut out);
    match action {
        RecommendedAction::Replace => replace(&facts, &mut out),
        RecommendedAction::StageNext => stage_next(&facts, &mut out)?,
        RecommendedAction::ImportCurrent | RecommendedAction::ImportNext => {
            imports(&facts, &mut out)?
        }
        RecommendedAction::PublishNext => publish_next(&facts, &mut out),
        RecommendedAction::RestageNext => restage_next(&facts, &mut out)?,
        RecommendedAction::None => publish_overdue(&facts, &mut out),
    }
    clear_previous(&facts, &mut out);
    self_signed_renewals(&facts, &mut out)?;
    if options.cleanup {
        cleanup_removals(&facts, &mut out)?;
    }
    if out.decisions.is_empty() {
        out.reasons.push("nothing to do".into());
    }
    hybrid_reminder(&facts, &mut out);

    let auth_before = [&facts.current, &facts.next, &facts.previous]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let mut planned = Planned {
        auth_before,
        now: facts.now,
        servers: facts.servers,
        skipped,
        decisions: out.decisions,
        reasons: out.reasons,
        notes: out.notes,
        refusals: out.refusals,
    };
    if let Some(note) = run_on_note(&planned) {
        planned.notes.insert(0, note);
    }
    Ok(planned)
}

/// A thumbprint from the inputs, re-checked before it can reach PowerShell.
fn validated(thumbprint: Option<&Thumbprint>) -> Result<Option<Thumbprint>, ValidationError> {
    thumbprint
        .map(|t| powershell::thumbprint(t.as_str()))
        .transpose()
}

/// The servers that must hold the Auth Certificate, split into those whose store is known
/// (validated names) and those left out, with why.
fn servers_to_plan_for(
    state: &ExchangeState,
) -> Result<(Vec<ServerName>, Vec<String>), ValidationError> {
    let mut servers = Vec::new();
    let mut skipped = Vec::new();
    for server in state.servers.iter().filter(|s| s.requires_auth_certificate) {
        match &server.inventory {
            Inventory::Known { .. } => servers.push(ServerName::parse(&server.name)?),
            Inventory::Unreachable { reason } => {
                skipped.push(format!("{} ({})", server.name, reason))
            }
            Inventory::NotCollected => skipped.push(format!("{} (not collected)", server.name)),
            // The renewal reads bundles; a probe shows only the published Auth Certificates.
            Inventory::Probed(_) => skipped.push(format!("{} (probed, not read)", server.name)),
        }
    }
    // The first server is where the plan runs and creates a new Auth Certificate: a Mailbox
    // server of version 15, as MEAC requires (Test-IsServerValidForAuthCertificateGeneration.ps1;
    // on an Exchange 2013 CAS-only server Get-TransportService fails). Stable: the collector's
    // order otherwise.
    servers.sort_by_key(|name| !can_create_auth_certificate(state, name));
    Ok((servers, skipped))
}

/// A Mailbox server of Exchange version 15 (MEAC's
/// Test-IsServerValidForAuthCertificateGeneration.ps1). Unknown roles or version count as
/// able, as before.
fn can_create_auth_certificate(state: &ExchangeState, name: &ServerName) -> bool {
    let Some(server) = state.server(name.as_str()) else {
        return true;
    };
    let mailbox = server.roles.is_empty()
        || server
            .roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("Mailbox"));
    let v15 = server.major_version.is_none_or(|v| v == 15);
    mailbox && v15
}

/// Servers that could not be queried stop the plan, as in MEAC, unless the administrator
/// takes them over by hand (`--ignore-unreachable`).
fn leave_out_unreachable(skipped: &[String], options: &RenewOptions, out: &mut Planning) {
    if skipped.is_empty() {
        return;
    }
    if options.ignore_unreachable {
        out.notes.push(format!(
            "left out (--ignore-unreachable): {}; they must be handled by hand",
            skipped.join(", ")
        ));
    } else {
        out.refusals.push(format!(
            "servers could not be queried: {}; fix them or rerun with --ignore-unreachable",
            skipped.join(", ")
        ));
    }
}

/// A plan from state older than `--max-age` acts on what may have changed since (issue 15
/// item 8): refused unless the administrator asks for it explicitly (`--allow-stale`).
fn stale_input_needs_consent(facts: &Facts, out: &mut Planning) {
    if !facts.has_finding(FindingCode::ExportStale) {
        return;
    }
    let age = facts
        .report
        .export_age
        .map(|a| format!("{} h", a.num_hours()))
        .unwrap_or_else(|| "too long".into());
    if facts.options.allow_stale {
        out.notes.push(format!(
            "planned from state collected {age} ago (--allow-stale); every step still checks the live state first"
        ));
    } else {
        out.refusals.push(format!(
            "the state was collected {age} ago, more than --max-age: collect a fresh bundle, or rerun with --allow-stale"
        ));
    }
}

/// The plan starts from what Microsoft's logic (MEAC) recommends: the judgement's
/// recommended action (DOMAIN.md §3).
fn start_from_recommendation(
    recommendation: &Recommendation,
    out: &mut Planning,
) -> RecommendedAction {
    out.reasons.push(format!(
        "Microsoft's logic (MEAC) recommends {}: {}",
        recommendation.action.as_str(),
        recommendation.reason
    ));
    recommendation.action
}

/// Staging at least 48 h ahead is impossible when the current expires within 2 days: the
/// rotation becomes a replacement.
fn replace_when_staging_is_too_late(
    action: RecommendedAction,
    facts: &Facts,
    out: &mut Planning,
) -> RecommendedAction {
    if action == RecommendedAction::StageNext && facts.current_days_left().is_some_and(|d| d <= 2) {
        out.reasons.push(
            "the current certificate expires within 2 days: no staged rotation can take over in time, so it is replaced now"
                .into(),
        );
        return RecommendedAction::Replace;
    }
    action
}

/// Hybrid detected blocks changing the active certificate unless acknowledged (MEAC): hybrid
/// features break until the Hybrid Configuration Wizard is rerun.
fn hybrid_needs_acknowledgement(action: RecommendedAction, facts: &Facts, out: &mut Planning) {
    let changes_active = matches!(
        action,
        RecommendedAction::Replace
            | RecommendedAction::StageNext
            | RecommendedAction::PublishNext
            | RecommendedAction::RestageNext
    ) || (action == RecommendedAction::None
        && facts.has_finding(FindingCode::AuthNextOverdue));
    if changes_active
        && facts.state.hybrid_detected == Some(true)
        && !facts.options.hybrid_acknowledged
    {
        out.refusals.push(
            "hybrid configuration detected: changing the active Auth Certificate breaks hybrid features until the Hybrid Configuration Wizard is rerun; rerun with --hybrid-acknowledged".into(),
        );
    }
}

/// The emergency sequence (DOMAIN.md §4): a new certificate, effective now, published at once.
fn replace(facts: &Facts, out: &mut Planning) {
    if let Some(refusal) = replace_needs_emergency(facts.options) {
        out.refusals.push(refusal);
    }
    let clear_old_current = facts.is_expired_or_unknown(facts.current.as_ref());
    if !clear_old_current {
        out.notes.push(format!(
            "the previous certificate stays set; clear it after {} days (rerun the plan then)",
            facts.options.clear_after.num_days()
        ));
    }
    out.decisions.push(Decision::Replace {
        old_current: facts.current.clone(),
        clear_old_current,
    });
}

/// An effective date of now is less than 48 h ahead: only with the administrator's consent.
fn replace_needs_emergency(options: &RenewOptions) -> Option<String> {
    (!options.emergency).then(|| {
        "the Auth Certificate must be replaced now (effective date now, less than 48 h ahead): rerun with --emergency to confirm the emergency sequence".into()
    })
}

/// Planned rotation: a new certificate staged as next, effective on MEAC's date.
fn stage_next(facts: &Facts, out: &mut Planning) -> Result<(), ValidationError> {
    let options = facts.options;
    let lead = options
        .effective_in
        .unwrap_or_else(|| staging_lead(facts.current_days_left().unwrap_or(0)));
    lead_is_long_enough(lead, options)?;
    let effective = facts.now + lead;
    effective_before_current_expires(effective, facts)?;
    out.reasons.push(format!(
        "the new certificate becomes effective on {} (MEAC's date rule{}, never less than 48 h ahead)",
        effective.format("%Y-%m-%d %H:%M UTC"),
        if options.effective_in.is_some() { " overridden by --effective-in" } else { "" }
    ));
    out.decisions.push(Decision::StageNext {
        effective,
        force: options.emergency,
        current: facts.current.clone(),
    });
    out.notes.push(format!(
        "the AuthAdmin servicelet publishes the new certificate after {}; clear the previous one {} days later (rerun the plan then)",
        effective.format("%Y-%m-%d %H:%M UTC"),
        options.clear_after.num_days()
    ));
    Ok(())
}

/// MEAC's date rule (DOMAIN.md §3): 30 days ahead; 4 days when the current certificate
/// expires within 32 days, 2 days when within 4.
fn staging_lead(current_days_left: i64) -> Duration {
    match current_days_left {
        days if days >= 32 => Duration::days(30),
        days if days > 4 => Duration::days(4),
        _ => Duration::days(2),
    }
}

/// Microsoft recommends staging at least 48 h ahead (Set-AuthConfig asks for confirmation
/// below that): Exchange needs the time to replicate.
fn lead_is_long_enough(lead: Duration, options: &RenewOptions) -> Result<(), ValidationError> {
    if lead < Duration::hours(MIN_LEAD_HOURS) && !options.emergency {
        return Err(ValidationError(format!(
            "--effective-in {} h is less than 48 h ahead: Exchange needs time to replicate; use --emergency to force it",
            lead.num_hours()
        )));
    }
    Ok(())
}

/// A next certificate effective after the current one expires leaves a gap with no valid
/// current certificate.
fn effective_before_current_expires(
    effective: DateTime<Utc>,
    facts: &Facts,
) -> Result<(), ValidationError> {
    match facts.entry(facts.current.as_ref()) {
        Some(current) if effective >= current.certificate.not_after => {
            Err(ValidationError(format!(
                "effective date {} is not before the current certificate expires ({}): choose a shorter --effective-in",
                effective.format("%Y-%m-%d %H:%M UTC"),
                current.certificate.not_after.format("%Y-%m-%d %H:%M UTC")
            )))
        }
        _ => Ok(()),
    }
}

/// Every Mailbox/CAS server must hold the current (and a valid next) certificate: copy it
/// where it is missing (MEAC's import, DOMAIN.md §3 rule 4).
fn imports(facts: &Facts, out: &mut Planning) -> Result<(), ValidationError> {
    if let Some(import) = import(facts, AuthRole::Current, facts.current.as_ref())? {
        out.decisions.push(import);
    }
    let next_is_valid = facts
        .entry(facts.next.as_ref())
        .is_some_and(|e| !e.certificate.is_expired(facts.now));
    if next_is_valid && let Some(import) = import(facts, AuthRole::Next, facts.next.as_ref())? {
        out.decisions.push(import);
    }
    Ok(())
}

fn import(
    facts: &Facts,
    role: AuthRole,
    thumbprint: Option<&Thumbprint>,
) -> Result<Option<Decision>, ValidationError> {
    let Some(thumbprint) = thumbprint else {
        return Ok(None);
    };
    let targets = facts.lacking(thumbprint);
    if targets.is_empty() {
        return Ok(None);
    }
    let source = facts.holders(thumbprint).into_iter().next().ok_or_else(|| {
        ValidationError(format!(
            "the {} Auth Certificate {thumbprint} is in no reachable server's store: nothing to export it from (replace it with --emergency)",
            role.label()
        ))
    })?;
    Ok(Some(Decision::Import {
        role,
        thumbprint: thumbprint.clone(),
        source,
        targets,
    }))
}

/// The AuthAdmin servicelet should have published the next certificate (DOMAIN.md §2): do
/// what it did not.
fn publish_overdue(facts: &Facts, out: &mut Planning) {
    if !facts.has_finding(FindingCode::AuthNextOverdue) {
        return;
    }
    let Some(next) = &facts.next else { return };
    out.reasons.push("the next certificate's effective date has passed but the AuthAdmin servicelet has not published it".into());
    out.decisions.push(Decision::Publish {
        next: next.clone(),
        current: facts.current.clone(),
        overdue: true,
    });
}

/// Mirrors the judgement (`publish_next`): the staged next certificate takes over now.
fn publish_next(facts: &Facts, out: &mut Planning) {
    let Some(next) = &facts.next else { return };
    out.decisions.push(Decision::Publish {
        next: next.clone(),
        current: facts.current.clone(),
        overdue: facts.has_finding(FindingCode::AuthNextOverdue),
    });
}

/// Mirrors the judgement (`restage_next`): the same next certificate, staged with MEAC's date
/// rule, at least 48 h ahead and before the current one expires.
fn restage_next(facts: &Facts, out: &mut Planning) -> Result<(), ValidationError> {
    let Some(next) = &facts.next else {
        return Ok(());
    };
    let lead = facts
        .options
        .effective_in
        .unwrap_or_else(|| staging_lead(facts.current_days_left().unwrap_or(0)));
    lead_is_long_enough(lead, facts.options)?;
    let effective = facts.now + lead;
    effective_before_current_expires(effective, facts)?;
    out.reasons.push(format!(
        "the next certificate is staged again, effective {} (MEAC's date rule, before the current one expires)",
        effective.format("%Y-%m-%d %H:%M UTC")
    ));
    out.decisions.push(Decision::Restage {
        next: next.clone(),
        effective,
        current: facts.current.clone(),
        current_expires: facts
            .entry(facts.current.as_ref())
            .map(|e| e.certificate.not_after),
    });
    Ok(())
}

/// The previous certificate goes at once when it has expired (nothing can sign with it);
/// otherwise once the current one is on every server and is known to have been active for
/// `--clear-after` (or the administrator says so with `--clear-previous`), and then only in a
/// plan that does nothing else. Never in a plan that changes AuthConfig another way (imports
/// do not). Tokens signed with the previous certificate stay valid only while it is set: an
/// estimate that clears it too early breaks sessions and hybrid calls (issue 15 item 10).
fn clear_previous(facts: &Facts, out: &mut Planning) {
    let changes_auth_config = out
        .decisions
        .iter()
        .any(|d| !matches!(d, Decision::Import { .. }));
    let (Some(previous), Some(current)) = (&facts.previous, &facts.current) else {
        return;
    };
    if changes_auth_config {
        return;
    }
    let previous_expired = facts.is_expired_or_unknown(Some(previous));
    let on_every_server = facts.holders(current).len() == facts.servers.len();
    let activation = current_active_since(facts);
    let grace_passed = match activation {
        Activation::KnownBy(since) => facts.now - since >= facts.options.clear_after,
        Activation::Unknown => facts.options.clear_previous,
    };
    if previous_expired || (on_every_server && grace_passed && out.decisions.is_empty()) {
        out.reasons
            .push(clear_reason(facts, previous, previous_expired, activation));
        out.decisions.push(Decision::ClearPrevious {
            current: current.clone(),
            previous: previous.clone(),
            previous_expired,
        });
    } else {
        out.notes.push(previous_left_alone(
            facts,
            previous,
            activation,
            on_every_server,
        ));
    }
}

/// What is known about when the current certificate became active.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    /// At the latest then: AuthConfig's last change (AD whenChanged, the collector's
    /// WhenChangedUTC). Publishing changes AuthConfig, so the current certificate has been
    /// active at least since then.
    KnownBy(DateTime<Utc>),
    /// The input does not say (an older collector, raw exports without WhenChangedUTC).
    Unknown,
}

/// Only what is recorded counts: AuthConfig's last change, or an earlier run's journal that saw
/// the certificate as current (the earlier of the two). The certificate's NotBefore says when
/// it was made, not when it became current (a certificate staged 30 days ahead by MEAC, or
/// published weeks late by hand, would be cleared on a guess).
fn current_active_since(facts: &Facts) -> Activation {
    let changed = facts.state.auth_config.as_ref().and_then(|c| c.changed_at);
    let seen = facts
        .current
        .as_ref()
        .and_then(|c| {
            facts
                .options
                .current_seen
                .get(&c.as_str().to_ascii_uppercase())
        })
        .copied();
    match (changed, seen) {
        (Some(a), Some(b)) => Activation::KnownBy(a.min(b)),
        (Some(at), None) | (None, Some(at)) => Activation::KnownBy(at),
        (None, None) => Activation::Unknown,
    }
}

fn clear_reason(
    facts: &Facts,
    previous: &Thumbprint,
    previous_expired: bool,
    activation: Activation,
) -> String {
    match activation {
        _ if previous_expired => format!("the previous certificate {previous} has expired"),
        Activation::KnownBy(since) => format!(
            "the current certificate has been active since {} at the latest (AuthConfig's last change, or an earlier run saw it current then), at least {} days, and is on every server",
            since.format("%Y-%m-%d %H:%M UTC"),
            facts.options.clear_after.num_days()
        ),
        Activation::Unknown => "--clear-previous: the administrator confirms the current certificate has been active long enough; it is on every server".into(),
    }
}

/// Why the previous certificate stays, and when it can go.
fn previous_left_alone(
    facts: &Facts,
    previous: &Thumbprint,
    activation: Activation,
    on_every_server: bool,
) -> String {
    let everywhere = if on_every_server {
        ""
    } else {
        " and once the current one is present on every server"
    };
    match activation {
        Activation::KnownBy(since) => format!(
            "the previous certificate {} stays: it can be cleared from {} (current since {} by AuthConfig's last change or the run journal, --clear-after {} days{everywhere})",
            previous.short(),
            (since + facts.options.clear_after).format("%Y-%m-%d"),
            since.format("%Y-%m-%d %H:%M UTC"),
            facts.options.clear_after.num_days()
        ),
        Activation::Unknown => format!(
            "the previous certificate {} stays: the input does not tell when the current certificate became active (AuthConfig's WhenChangedUTC, collected by the collector 1.1.0, or a journal of the run that published it); collect a new bundle, or rerun with --clear-previous once it has been active for --clear-after{everywhere}",
            previous.short()
        ),
    }
}

/// Self-signed server certificates the judgement rates WARNING or CRITICAL, wherever a
/// planned server has them bound to services.
fn self_signed_renewals(facts: &Facts, out: &mut Planning) -> Result<(), ValidationError> {
    let due = facts.report.certificates.iter().filter(|c| {
        c.kind == CertificateKind::SelfSigned
            && matches!(c.state, Severity::Warning | Severity::Critical)
    });
    for certificate in due {
        for sighting in &certificate.sources {
            if let Some(renewal) = self_signed_renewal(facts, certificate, sighting)? {
                out.decisions.push(Decision::RenewSelfSigned(renewal));
            }
        }
    }
    Ok(())
}

/// A former internal transport certificate still on a web site: the server's transport
/// certificate now is a healthy one with the same subject, made by an earlier run that stopped
/// before the back-end binding moved. Renewing it again would make one more certificate and,
/// as it is no longer the transport certificate, would enable the new one for IIS: the front
/// end (DOMAIN.md §8).
fn back_end_successor(
    facts: &Facts,
    server: &str,
    certificate: &CertificateReport,
) -> Option<Thumbprint> {
    let transport = facts
        .state
        .server(server)?
        .internal_transport_certificate
        .as_ref()?;
    if *transport == certificate.thumbprint {
        return None;
    }
    let successor = facts
        .report
        .certificates
        .iter()
        .find(|c| c.thumbprint == *transport)?;
    let healthy = matches!(successor.state, Severity::Ok | Severity::Info);
    (healthy && successor.subject.eq_ignore_ascii_case(&certificate.subject))
        .then(|| transport.clone())
}

fn self_signed_renewal(
    facts: &Facts,
    certificate: &CertificateReport,
    sighting: &Sighting,
) -> Result<Option<SelfSignedRenewal>, ValidationError> {
    let (Some(server), Some(services)) = (&sighting.server, &sighting.services) else {
        return Ok(None);
    };
    if services.is_empty() || !facts.covers(server) {
        return Ok(None);
    }
    let server = ServerName::parse(server)?;
    let mut services: Vec<&'static str> = services
        .iter()
        .map(|s| powershell::service(s))
        .collect::<Result<_, _>>()?;
    let is_transport = facts.is_transport_certificate(server.as_str(), &certificate.thumbprint);
    // MEAC: "Internal transport certificate is bound to Back End Website - avoid to enable it
    // for IIS to prevent it being bound to Front End" (New-ExchangeAuthCertificate.ps1).
    let successor = back_end_successor(facts, server.as_str(), certificate);
    let keeps_back_end = (is_transport || successor.is_some()) && services.contains(&"IIS");
    if keeps_back_end {
        services.retain(|s| *s != "IIS");
    }
    let friendly_name = sighting
        .friendly_name
        .as_deref()
        .map(|f| powershell::text(f, "friendly name"))
        .transpose()?;
    Ok(Some(SelfSignedRenewal {
        old: powershell::thumbprint(certificate.thumbprint.as_str())?,
        subject: powershell::text(&certificate.subject, "certificate subject")?,
        server,
        services,
        keeps_back_end,
        successor,
        friendly_name,
        is_transport,
        days_left: certificate.days_left,
        remove_replaced: facts.options.cleanup,
    }))
}

/// `--cleanup`: expired certificates bound to nothing go, never one AuthConfig names nor a
/// server's internal transport certificate.
fn cleanup_removals(facts: &Facts, out: &mut Planning) -> Result<(), ValidationError> {
    for certificate in facts.report.certificates.iter() {
        if !is_removable(facts, certificate) {
            continue;
        }
        for sighting in &certificate.sources {
            let (Some(server), Some(services)) = (&sighting.server, &sighting.services) else {
                continue;
            };
            if !services.is_empty()
                || !facts.covers(server)
                || facts.is_transport_certificate(server, &certificate.thumbprint)
            {
                continue;
            }
            out.decisions.push(Decision::Remove {
                server: ServerName::parse(server)?,
                thumbprint: powershell::thumbprint(certificate.thumbprint.as_str())?,
            });
        }
    }
    Ok(())
}

/// Expired, not named by AuthConfig, and either reported unused-and-expired by the judgement
/// or an expired Auth Certificate.
fn is_removable(facts: &Facts, certificate: &CertificateReport) -> bool {
    let reported_unused = facts.report.findings.iter().any(|f| {
        f.thumbprint.as_ref() == Some(&certificate.thumbprint)
            && matches!(
                f.code,
                FindingCode::SelfSignedUnusedExpired | FindingCode::CertUnusedExpired
            )
    });
    let expired_auth = certificate.kind == CertificateKind::Auth && certificate.days_left < 0;
    (reported_unused || expired_auth)
        && !facts.is_referenced(&certificate.thumbprint)
        && certificate.not_after <= facts.now
}

/// Hybrid: the Hybrid Configuration Wizard must be rerun after the active certificate
/// changes; when hybrid is unknown, the plan says so.
fn hybrid_reminder(facts: &Facts, out: &mut Planning) {
    match facts.state.hybrid_detected {
        Some(true) => out.notes.push(
            "hybrid: after the active Auth Certificate changes, rerun the Hybrid Configuration Wizard (HCW)".into(),
        ),
        Some(false) => {}
        None => out.notes.push(
            "whether a hybrid configuration exists is unknown: if there is one, rerun the Hybrid Configuration Wizard (HCW) after the active Auth Certificate changes".into(),
        ),
    }
}

/// The first note of a plan that creates the new Auth Certificate: where to run it.
fn run_on_note(planned: &Planned) -> Option<String> {
    planned.run_on().map(|server| {
        format!("run this plan on {server}: the new Auth Certificate is created there and Set-AuthConfig needs it in the local store")
    })
}

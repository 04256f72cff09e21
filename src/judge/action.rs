//! The action to take: Microsoft's MonitorExchangeAuthCertificate.ps1 scenarios in its order
//! (CSS-Exchange Admin/MonitorExchangeAuthCertificate/DataCollection/
//! Get-ExchangeAuthCertificateStatus.ps1), and two rules of ours where MEAC would replace a
//! certificate that a staged, valid next one can take over from, or says nothing while the next
//! one will become effective only after the current one expired. The renewal companion plans
//! from this.

use serde::Serialize;

use super::Policy;
use super::auth::{meac_days_in_stores, servers_lacking};
use crate::model::{ExchangeState, Thumbprint};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendedAction {
    /// Create a new Auth Certificate and make it current now (emergency sequence).
    Replace,
    /// Create a new certificate and stage it as next (planned rotation).
    StageNext,
    /// Import the current certificate on the servers that lack it.
    ImportCurrent,
    /// Import the next certificate on the servers that lack it.
    ImportNext,
    /// Make the staged next certificate current now (`Set-AuthConfig -PublishCertificate`):
    /// it is valid and on every server, and the current one expires today or already did, or
    /// the servicelet is overdue publishing it (ours: MEAC replaces).
    PublishNext,
    /// Stage the next certificate again with an effective date before the current one expires
    /// (ours: MEAC does not judge the date).
    RestageNext,
    None,
}

impl RecommendedAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendedAction::Replace => "replace",
            RecommendedAction::StageNext => "stage_next",
            RecommendedAction::ImportCurrent => "import_current",
            RecommendedAction::ImportNext => "import_next",
            RecommendedAction::PublishNext => "publish_next",
            RecommendedAction::RestageNext => "restage_next",
            RecommendedAction::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub action: RecommendedAction,
    pub reason: String,
    /// The servers an import concerns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// Servers whose store is unknown: MEAC refuses to act while any is unreachable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable_servers: Vec<String>,
}

/// What the recommendation rules read.
struct Facts {
    /// MEAC's days left of the current and next certificate, as the stores show them.
    current: i64,
    next: i64,
    /// Required servers whose store lacks the current certificate.
    lacking_current: Vec<String>,
    /// Required servers whose store lacks the next certificate; empty when the next one has
    /// expired (nothing would be imported) or is in no store.
    lacking_next: Vec<String>,
    /// The next certificate's effective date lies after the current one's NotAfter.
    effective_after_expiry: bool,
    /// The effective date passed more than `--publish-grace` ago and it is still next.
    overdue: bool,
    /// Every server that must hold the Auth Certificate had its store read: only then does
    /// "on every server" mean every server.
    every_store_read: bool,
}

type Rule = fn(&Facts, &Policy) -> Option<(RecommendedAction, String, Vec<String>)>;

/// `None` when there is no usable AuthConfig (nothing to decide from). Otherwise the first of
/// MEAC's scenarios that applies, in MEAC's order (Get-ExchangeAuthCertificateStatus.ps1).
pub fn recommend(state: &ExchangeState, policy: &Policy) -> Option<Recommendation> {
    let config = state.auth_config.as_ref().filter(|c| c.error.is_none())?;
    let days = |t: &Option<Thumbprint>| {
        t.as_ref()
            .map_or(-1, |t| meac_days_in_stores(state, t, policy))
    };
    let lacking = |t: &Option<Thumbprint>| {
        t.as_ref()
            .map(|t| servers_lacking(state, t))
            .unwrap_or_default()
    };
    let next = days(&config.next);
    let current_not_after = config
        .current
        .as_ref()
        .and_then(|t| state.certificate(t))
        .map(|e| e.certificate.not_after);
    let effective = config.next.as_ref().and(config.next_effective);
    let facts = Facts {
        effective_after_expiry: matches!(
            (effective, current_not_after),
            (Some(effective), Some(not_after)) if effective > not_after
        ),
        overdue: effective.is_some_and(|at| policy.now - at > policy.publish_grace),
        every_store_read: state
            .servers
            .iter()
            .filter(|s| s.requires_auth_certificate)
            .all(|s| matches!(s.inventory, crate::model::Inventory::Known { .. })),
        current: days(&config.current),
        next,
        lacking_current: lacking(&config.current),
        lacking_next: if next >= 0 {
            lacking(&config.next)
        } else {
            Vec::new()
        },
    };
    let rules: [Rule; 7] = [
        replace_when_nothing_is_valid,
        publish_the_staged_next_instead,
        stage_next_in_the_rotation_window,
        replace_when_only_the_next_is_valid,
        restage_the_next_before_the_current_expires,
        import_current_where_missing,
        import_next_where_missing,
    ];
    let (action, reason, servers) = rules
        .iter()
        .find_map(|rule| rule(&facts, policy))
        .unwrap_or((RecommendedAction::None, "nothing to do".into(), Vec::new()));
    let unreachable_servers = state
        .servers
        .iter()
        .filter(|s| !s.is_reachable())
        .map(|s| s.name.clone())
        .collect();
    Some(Recommendation {
        action,
        reason,
        servers,
        unreachable_servers,
    })
}

/// MEAC scenario 1: current expired (or in its expiry day, or in no store) and no valid next.
fn replace_when_nothing_is_valid(
    f: &Facts,
    _: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    (f.current < 0 && f.next < 0).then(|| {
        (
            RecommendedAction::Replace,
            "neither the current nor a next Auth Certificate is valid beyond today (MEAC counts a certificate as expired from the start of its expiry day, and one that no server holds as missing)".into(),
            Vec::new(),
        )
    })
}

/// Fewer days left than this and a new effective date 48 h ahead (Microsoft's minimum lead for
/// Set-AuthConfig without -Force) would not come before the current certificate expires.
const RESTAGE_MIN_DAYS: i64 = 3;

/// Ours, before MEAC's scenarios 2 and 3: a valid next certificate that every read store holds
/// can take over now (`Set-AuthConfig -PublishCertificate`, immediately deployed to all Client
/// Access servers per the cmdlet's documentation) where MEAC would create a new one: when the
/// current one expires today or already did, when the next one would become effective only
/// after that and there is no time left to stage it again, or when the servicelet is overdue.
fn publish_the_staged_next_instead(
    f: &Facts,
    _: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    let takes_over = f.next >= 0 && f.lacking_next.is_empty() && f.every_store_read;
    let why = if f.current < 0 {
        "the current Auth Certificate expires today or has expired"
    } else if f.effective_after_expiry && f.current < RESTAGE_MIN_DAYS {
        "the next one would become effective only after the current one expires, and there is no time to stage it again 48 h ahead"
    } else if f.overdue {
        "its effective date has passed and the AuthAdmin servicelet has not published it"
    } else {
        return None;
    };
    takes_over.then(|| {
        (
            RecommendedAction::PublishNext,
            format!(
                "{why}, while the staged next certificate is valid and on every server: publish it (Set-AuthConfig -PublishCertificate) rather than replace it"
            ),
            Vec::new(),
        )
    })
}

/// Ours: the next certificate becomes effective after the current one expires, leaving nothing
/// valid to sign in between (auth.next.effective_after_current_expiry): stage it again with a
/// date before the current one's NotAfter while there is time for Microsoft's 48 h lead.
fn restage_the_next_before_the_current_expires(
    f: &Facts,
    _: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    (f.effective_after_expiry && f.next >= 0 && f.current >= RESTAGE_MIN_DAYS).then(|| {
        (
            RecommendedAction::RestageNext,
            format!(
                "the staged next certificate becomes effective after the current one expires (in {} days): stage it again with an effective date at least 48 h ahead and before then",
                f.current
            ),
            Vec::new(),
        )
    })
}

/// MEAC scenario 2: the current certificate is inside the rotation window and no next one
/// with more than `--next-min-days` is staged, and both are on every server.
fn stage_next_in_the_rotation_window(
    f: &Facts,
    policy: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    let window = policy.rotation_window_days;
    let applies = (0..=window).contains(&f.current)
        && f.next <= policy.next_min_days
        && f.lacking_current.is_empty()
        && f.lacking_next.is_empty();
    applies.then(|| {
        (
            RecommendedAction::StageNext,
            format!(
                "the current Auth Certificate expires in {} days (rotation window {window}) and no next certificate with more than {} days is staged",
                f.current, policy.next_min_days
            ),
            Vec::new(),
        )
    })
}

/// MEAC scenario 3: the current certificate is expired, in its expiry day or in no store,
/// while a next one is valid.
fn replace_when_only_the_next_is_valid(
    f: &Facts,
    _: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    (f.current <= 0 && f.next >= 0).then(|| {
        (
            RecommendedAction::Replace,
            "the current Auth Certificate is expired, expires today or is in no server's store, while a next one is valid".into(),
            Vec::new(),
        )
    })
}

/// MEAC scenario 4.
fn import_current_where_missing(
    f: &Facts,
    _: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    (!f.lacking_current.is_empty()).then(|| {
        (
            RecommendedAction::ImportCurrent,
            "the current Auth Certificate is missing on some servers".into(),
            f.lacking_current.clone(),
        )
    })
}

/// MEAC scenario 5, only for a next certificate that is still valid.
fn import_next_where_missing(
    f: &Facts,
    _: &Policy,
) -> Option<(RecommendedAction, String, Vec<String>)> {
    (!f.lacking_next.is_empty()).then(|| {
        (
            RecommendedAction::ImportNext,
            "the next Auth Certificate is missing on some servers".into(),
            f.lacking_next.clone(),
        )
    })
}

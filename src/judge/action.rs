//! The action Microsoft's MonitorExchangeAuthCertificate.ps1 would take, in its order
//! (DOMAIN.md §3). The renewal companion starts from this.

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
    None,
}

impl RecommendedAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendedAction::Replace => "replace",
            RecommendedAction::StageNext => "stage_next",
            RecommendedAction::ImportCurrent => "import_current",
            RecommendedAction::ImportNext => "import_next",
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
    let facts = Facts {
        current: days(&config.current),
        next,
        lacking_current: lacking(&config.current),
        lacking_next: if next >= 0 {
            lacking(&config.next)
        } else {
            Vec::new()
        },
    };
    let rules: [Rule; 5] = [
        replace_when_nothing_is_valid,
        stage_next_in_the_rotation_window,
        replace_when_only_the_next_is_valid,
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

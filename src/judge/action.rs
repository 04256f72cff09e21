//! The action Microsoft's MonitorExchangeAuthCertificate.ps1 would take, in its order
//! (DOMAIN.md §3). The renewal companion starts from this.

use serde::Serialize;

use super::Policy;
use super::auth::{meac_days, servers_lacking};
use crate::model::ExchangeState;

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

/// `None` when there is no usable AuthConfig (nothing to decide from).
pub fn recommend(state: &ExchangeState, policy: &Policy) -> Option<Recommendation> {
    let config = state.auth_config.as_ref().filter(|c| c.error.is_none())?;
    let current_entry = config.current.as_ref().and_then(|t| state.certificate(t));
    let next_entry = config.next.as_ref().and_then(|t| state.certificate(t));
    let current = meac_days(current_entry, policy);
    let next = meac_days(next_entry, policy);
    let lacking_current = config
        .current
        .as_ref()
        .map(|t| servers_lacking(state, t))
        .unwrap_or_default();
    let lacking_next = config
        .next
        .as_ref()
        .filter(|_| next_entry.is_some())
        .map(|t| servers_lacking(state, t))
        .unwrap_or_default();
    let unreachable_servers: Vec<String> = state
        .servers
        .iter()
        .filter(|s| !s.is_reachable())
        .map(|s| s.name.clone())
        .collect();
    let window = policy.rotation_window_days;
    let (action, reason, servers) = if current < 0 && next < 0 {
        (
            RecommendedAction::Replace,
            "neither the current nor a next Auth Certificate is valid".to_string(),
            Vec::new(),
        )
    } else if (0..=window).contains(&current)
        && next <= policy.next_min_days
        && lacking_current.is_empty()
        && lacking_next.is_empty()
    {
        (
            RecommendedAction::StageNext,
            format!(
                "the current Auth Certificate expires in {current} days (rotation window {window}) and no next certificate with more than {} days is staged",
                policy.next_min_days
            ),
            Vec::new(),
        )
    } else if current <= 0 && next >= 0 {
        (
            RecommendedAction::Replace,
            "the current Auth Certificate is expired or missing while a next one is valid"
                .to_string(),
            Vec::new(),
        )
    } else if !lacking_current.is_empty() {
        (
            RecommendedAction::ImportCurrent,
            "the current Auth Certificate is missing on some servers".to_string(),
            lacking_current,
        )
    } else if !lacking_next.is_empty() {
        (
            RecommendedAction::ImportNext,
            "the next Auth Certificate is missing on some servers".to_string(),
            lacking_next,
        )
    } else {
        (
            RecommendedAction::None,
            "nothing to do".to_string(),
            Vec::new(),
        )
    };
    Some(Recommendation {
        action,
        reason,
        servers,
        unreachable_servers,
    })
}

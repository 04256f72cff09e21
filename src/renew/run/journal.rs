//! The run's record: a JSON-lines journal (read again to resume) and a readable log.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::RunOptions;
use crate::renew::Plan;

/// The journal (JSON lines) and the readable log.
pub(super) struct Journal {
    journal: std::fs::File,
    log: std::fs::File,
    plan: String,
}

impl Journal {
    pub(super) fn open(options: &RunOptions, plan: &Plan) -> Result<Journal, String> {
        let open = |path: &Path| {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        Ok(Journal {
            journal: open(&options.journal)?,
            log: open(&options.log)?,
            plan: plan.fingerprint.clone(),
        })
    }

    pub(super) fn event(&mut self, event: &str, step: Option<&str>, detail: Value, message: &str) {
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let record =
            json!({"time": now, "plan": self.plan, "event": event, "step": step, "detail": detail});
        let _ = writeln!(self.journal, "{record}");
        let _ = self.journal.flush();
        let line = format!("{now} {message}");
        let _ = writeln!(self.log, "{line}");
        let _ = self.log.flush();
        println!("{message}");
    }
}

/// What an earlier journal of the same plan says: steps done, certificates made.
#[derive(Debug, Default)]
pub(super) struct Earlier {
    /// Ids of the steps done (or found already done).
    pub(super) done: BTreeSet<String>,
    /// `RenewNew<slot>` variable -> thumbprint of the certificate a step made.
    pub(super) new: BTreeMap<String, String>,
}

impl Earlier {
    pub(super) fn is_resuming(&self) -> bool {
        !self.done.is_empty() || !self.new.is_empty()
    }
}

pub(super) fn read_earlier(path: &Path, fingerprint: &str) -> Earlier {
    let mut earlier = Earlier::default();
    let Ok(text) = std::fs::read_to_string(path) else {
        return earlier;
    };
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if record["plan"].as_str() != Some(fingerprint) {
            continue;
        }
        match record["event"].as_str() {
            Some("step_done") | Some("step_already_done") => {
                if let Some(id) = record["step"].as_str() {
                    earlier.done.insert(id.to_string());
                }
            }
            Some("state") => {
                if let Some(new) = record["detail"]["new"].as_object() {
                    for (k, v) in new {
                        if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                            earlier.new.insert(k.clone(), v.to_string());
                        }
                    }
                }
            }
            // A completed run of the same plan is history: nothing of it is resumed.
            Some("finish") if record["detail"]["outcome"].as_str() == Some("completed") => {
                earlier = Earlier::default();
            }
            _ => {}
        }
    }
    earlier
}

/// When an earlier run saw each thumbprint as AuthConfig's current certificate first (the state
/// it re-read, with the Exchange server's clock): the record of a publication, so that a later
/// plan knows the current certificate has been active at least since then.
pub fn currents_seen(path: &Path) -> BTreeMap<String, chrono::DateTime<Utc>> {
    let mut seen: BTreeMap<String, chrono::DateTime<Utc>> = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return seen;
    };
    for record in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if record["event"].as_str() != Some("state") {
            continue;
        }
        let detail = &record["detail"];
        let (Some(current), Some(at)) =
            (detail["auth"]["current"].as_str(), detail["now"].as_str())
        else {
            continue;
        };
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
            continue;
        };
        if current.is_empty() {
            continue;
        }
        let at = at.with_timezone(&Utc);
        seen.entry(current.to_ascii_uppercase())
            .and_modify(|first| *first = (*first).min(at))
            .or_insert(at);
    }
    seen
}

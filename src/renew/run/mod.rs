//! Guided execution: one Windows PowerShell process, driven over stdin/stdout.
//!
//! Line protocol (each request is one line, so `powershell.exe -Command -` never waits for a
//! block to end):
//! - the prelude ([`PRELUDE`]) is sent once, base64-encoded, and dot-sourced: it loads the
//!   Exchange snap-in and defines `Invoke-RenewStep` and `Get-RenewState`;
//! - `Get-RenewState -Servers @(…) -Nonce 'n'` answers `@@STATE {json}` then `@@END n`;
//! - `Invoke-RenewStep -Id 'id' -Nonce 'n' -Encoded '<base64 UTF-8 of the step>'` answers
//!   `@@OUT <line>` for the step's output, `@@RESULT {"id","ok","error"}` then `@@END n`.
//!
//! After every step the state is re-read and the step's verifications (and the unchanged
//! internal transport certificates) are checked in Rust. Every event goes to a JSON-lines
//! journal and a readable log; a later run of the same plan resumes from the live state.
//!
//! `session` is the PowerShell process, `journal` the record; this module walks the steps.

mod journal;
mod session;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::powershell::{self, Arg, Command as PsCommand, ServerName, Statement, ThumbRef};
use super::{Check, CheckView, LiveState, Plan, Step};
use crate::model::Server;
pub use journal::currents_seen;
use journal::{Earlier, Journal, read_earlier};
use session::Session;
pub use session::{PRELUDE, Timeouts, prelude};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub powershell: PathBuf,
    pub execute: bool,
    pub yes: bool,
    pub journal: PathBuf,
    pub log: PathBuf,
    pub timeouts: Timeouts,
}

/// What a run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    DryRun,
    /// Stopped by the administrator.
    Stopped(String),
    Failed(String),
}

/// Executes (or, without `--execute`, walks through) the plan.
pub fn run(plan: &Plan, options: &RunOptions) -> Result<Outcome, String> {
    if !plan.refusals.is_empty() {
        return Err(format!("refusing to run: {}", plan.refusals.join("; ")));
    }
    let mut journal = Journal::open(options, plan)?;
    let earlier = read_earlier(&options.journal, &plan.fingerprint);
    record_start(&mut journal, plan, options, &earlier);
    let mut session = Session::start(&options.powershell, options.timeouts)?;
    reuse_certificates_made_earlier(&mut session, &earlier)?;
    let baseline = session.state(&plan.servers)?;
    if let Some(message) = wrong_computer(plan, &baseline) {
        session.finish();
        journal.event("refused", None, json!({"reason": message}), &message);
        return Err(message);
    }
    journal.event(
        "state",
        None,
        serde_json::to_value(&baseline).unwrap_or(Value::Null),
        "Read the live state (AuthConfig, certificates, internal transport certificates)",
    );
    let outcome = Runner {
        plan,
        options,
        session: &mut session,
        journal: &mut journal,
        baseline: &baseline,
        earlier: &earlier,
        live: baseline.clone(),
        replaced_transport: BTreeSet::new(),
    }
    .drive()
    .unwrap_or_else(Outcome::Failed);
    if matches!(outcome, Outcome::Failed(_) | Outcome::Stopped(_)) && options.execute {
        recover(plan, &mut session, &mut journal, &baseline);
    }
    record_finish(&mut journal, plan, &outcome);
    session.finish();
    Ok(outcome)
}

fn record_start(journal: &mut Journal, plan: &Plan, options: &RunOptions, earlier: &Earlier) {
    let resuming = earlier.is_resuming();
    journal.event(
        "start",
        None,
        json!({"execute": options.execute, "steps": plan.steps.len(), "resuming": resuming, "scenarios": plan.scenarios}),
        &format!(
            "{} plan {} ({} steps){}",
            if options.execute { "Running" } else { "Dry run of" },
            plan.fingerprint,
            plan.steps.len(),
            if resuming { ", resuming from the journal and the live state" } else { "" }
        ),
    );
}

/// Certificates an interrupted run made: their thumbprints are validated before reuse.
fn reuse_certificates_made_earlier(session: &mut Session, earlier: &Earlier) -> Result<(), String> {
    for (name, thumbprint) in &earlier.new {
        let valid_name = name
            .strip_prefix("RenewNew")
            .is_some_and(|n| n.parse::<u8>().is_ok());
        if let (true, Ok(t)) = (valid_name, powershell::thumbprint(thumbprint)) {
            session.set_global(name, &t)?;
        }
    }
    Ok(())
}

/// A plan that creates the new Auth Certificate must run on the server it creates it on:
/// `Set-AuthConfig -NewCertificateThumbprint` looks in the local store.
fn wrong_computer(plan: &Plan, baseline: &LiveState) -> Option<String> {
    let (Some(wanted), Some(here)) = (&plan.run_on, &baseline.computer) else {
        return None;
    };
    (wanted.key() != Server::key_of(here)).then(|| {
        format!(
            "this plan must run on {wanted} (the new Auth Certificate is created there), not on {here}"
        )
    })
}

fn record_finish(journal: &mut Journal, plan: &Plan, outcome: &Outcome) {
    let (label, text) = match outcome {
        Outcome::Completed => ("completed", "All steps done and verified.".to_string()),
        Outcome::DryRun => (
            "dry_run",
            "Dry run: nothing was changed (run again with --execute).".to_string(),
        ),
        Outcome::Stopped(why) => ("stopped", format!("Stopped: {why}. Run again to resume.")),
        Outcome::Failed(why) => (
            "failed",
            format!("FAILED: {why}. Run again to resume once the cause is fixed."),
        ),
    };
    journal.event(
        "finish",
        None,
        json!({"outcome": label, "message": text}),
        &text,
    );
    for note in &plan.notes {
        journal.event(
            "note",
            None,
            json!({"note": note}),
            &format!("Note: {note}"),
        );
    }
}

/// Walks the plan's steps, each checked against the live state before and after it runs.
struct Runner<'a> {
    plan: &'a Plan,
    options: &'a RunOptions,
    session: &'a mut Session,
    journal: &'a mut Journal,
    /// The state before the first step.
    baseline: &'a LiveState,
    earlier: &'a Earlier,
    /// The state after the last step run.
    live: LiveState,
    /// Servers whose internal transport certificate a step so far replaces on purpose.
    replaced_transport: BTreeSet<String>,
}

/// Whether the walk goes on after a step.
enum Flow {
    Next,
    Stop(Outcome),
}

impl Runner<'_> {
    fn drive(mut self) -> Result<Outcome, String> {
        let plan = self.plan;
        for (index, step) in plan.steps.iter().enumerate() {
            if let Flow::Stop(outcome) = self.step(index + 1, step)? {
                return Ok(outcome);
            }
        }
        Ok(if self.options.execute {
            Outcome::Completed
        } else {
            Outcome::DryRun
        })
    }

    /// One step: skipped when already done, shown in a dry run, otherwise checked, confirmed,
    /// run and verified.
    fn step(&mut self, number: usize, step: &Step) -> Result<Flow, String> {
        if let Some(server) = &step.replaces_transport_on {
            self.replaced_transport.insert(server.key());
        }
        if self.already_done(number, step) {
            return Ok(Flow::Next);
        }
        let unmet = check_all(&step.preconditions, &self.live, self.baseline);
        if !self.options.execute {
            self.show_dry_run(number, step, &unmet);
            return Ok(Flow::Next);
        }
        if !unmet.is_empty() {
            return Ok(Flow::Stop(self.precondition_failed(number, step, &unmet)));
        }
        if !self.options.yes {
            let id = &step.id;
            match ask(number, step) {
                Answer::Yes => {}
                Answer::Skip => {
                    self.skipped(number, step);
                    return Ok(Flow::Next);
                }
                Answer::No => {
                    let why = format!("step {number} ({id}) declined");
                    return Ok(Flow::Stop(Outcome::Stopped(why)));
                }
                Answer::Quit => {
                    let why = format!("quit before step {number} ({id})");
                    return Ok(Flow::Stop(Outcome::Stopped(why)));
                }
            }
        }
        if let Err(error) = self.execute(number, step)? {
            return Ok(Flow::Stop(self.step_failed(number, step, &error)));
        }
        let failed = self.verification_failures(step);
        if !failed.is_empty() {
            return Ok(Flow::Stop(self.verification_failed(number, step, &failed)));
        }
        self.done(number, step);
        Ok(Flow::Next)
    }

    /// Already done (by an earlier run, or by hand)? Only when it has done-checks and they
    /// all hold now.
    fn already_done(&mut self, number: usize, step: &Step) -> bool {
        let done = step.done_checks();
        if done.is_empty() || !check_all(done, &self.live, self.baseline).is_empty() {
            return false;
        }
        let why = if self.earlier.done.contains(&step.id) {
            "done by an earlier run"
        } else {
            "already true in the live state"
        };
        self.journal.event(
            "step_already_done",
            Some(&step.id),
            json!({"reason": why}),
            &format!("Step {number} {}: {why}, verified; skipped", step.title),
        );
        true
    }

    fn show_dry_run(&mut self, number: usize, step: &Step, unmet: &[String]) {
        self.journal.event(
            "step_dry_run",
            Some(&step.id),
            json!({"powershell": step.powershell, "unmet_preconditions": unmet}),
            &format!(
                "Step {number}: {} — would run:\n{}",
                step.title,
                indent(&step.powershell)
            ),
        );
    }

    fn precondition_failed(&mut self, number: usize, step: &Step, unmet: &[String]) -> Outcome {
        self.journal.event(
            "precondition_failed",
            Some(&step.id),
            json!({"unmet": unmet}),
            &format!(
                "Step {number} {}: not run, precondition not met: {}",
                step.title,
                unmet.join("; ")
            ),
        );
        Outcome::Failed(format!(
            "step {number} ({}) precondition not met: {}",
            step.id,
            unmet.join("; ")
        ))
    }

    fn skipped(&mut self, number: usize, step: &Step) {
        self.journal.event(
            "step_skipped",
            Some(&step.id),
            Value::Null,
            &format!("Step {number} {}: skipped by the administrator", step.title),
        );
    }

    /// Runs the step's PowerShell, then re-reads the state, whether the step failed or not.
    /// `Ok(Err(message))`: the step failed; `Err`: the session did.
    fn execute(
        &mut self,
        number: usize,
        step: &Step,
    ) -> Result<Result<Vec<String>, String>, String> {
        let id = step.id.as_str();
        self.journal.event(
            "step_start",
            Some(id),
            json!({"powershell": step.powershell}),
            &format!("Step {number}: {}", step.title),
        );
        let result = self.session.step(id, &step.powershell)?;
        self.live = self.session.state(&self.plan.servers)?;
        self.journal.event(
            "state",
            Some(id),
            serde_json::to_value(&self.live).unwrap_or(Value::Null),
            "  re-read the live state",
        );
        Ok(result)
    }

    fn step_failed(&mut self, number: usize, step: &Step, error: &str) -> Outcome {
        self.journal.event(
            "step_failed",
            Some(&step.id),
            json!({"error": error}),
            &format!("Step {number} {} FAILED: {error}", step.title),
        );
        Outcome::Failed(format!("step {number} ({}) failed: {error}", step.id))
    }

    /// The step's verifications that do not hold, and every server whose internal transport
    /// certificate changed although no step so far replaces it on purpose.
    fn verification_failures(&self, step: &Step) -> Vec<String> {
        let mut failed = check_all(&step.verify, &self.live, self.baseline);
        for server in &self.plan.servers {
            if self.replaced_transport.contains(&server.key()) {
                continue;
            }
            let check = Check::TransportUnchanged {
                server: server.clone(),
            };
            if check.holds(&self.live, self.baseline) != Ok(true) {
                failed.push(check.describe());
            }
        }
        failed
    }

    fn verification_failed(&mut self, number: usize, step: &Step, failed: &[String]) -> Outcome {
        self.journal.event(
            "verify_failed",
            Some(&step.id),
            json!({"failed": failed}),
            &format!(
                "Step {number} {}: verification FAILED: {}",
                step.title,
                failed.join("; ")
            ),
        );
        Outcome::Failed(format!(
            "step {number} ({}) verification failed: {}",
            step.id,
            failed.join("; ")
        ))
    }

    fn done(&mut self, number: usize, step: &Step) {
        let verified: Vec<&str> = step.verify.iter().map(|c| c.description.as_str()).collect();
        self.journal.event(
            "step_done",
            Some(&step.id),
            json!({"verified": verified, "new": self.live.new}),
            &format!(
                "Step {number} {}: done, verified ({})",
                step.title,
                if verified.is_empty() {
                    "nothing to verify".to_string()
                } else {
                    verified.join("; ")
                }
            ),
        );
    }
}

/// The checks that do not hold, described (with why, when they cannot be evaluated).
fn check_all(checks: &[CheckView], live: &LiveState, baseline: &LiveState) -> Vec<String> {
    checks
        .iter()
        .filter_map(|c| match c.check.holds(live, baseline) {
            Ok(true) => None,
            Ok(false) => Some(c.description.clone()),
            Err(why) => Some(format!("{} ({why})", c.description)),
        })
        .collect()
}

enum Answer {
    Yes,
    Skip,
    No,
    Quit,
}

/// Shows the step and asks the administrator; the end of input quits.
fn ask(number: usize, step: &Step) -> Answer {
    println!(
        "\nStep {number}: {}\n  why: {}\n  impact: {}\n{}",
        step.title,
        step.why,
        step.impact,
        indent(&step.powershell)
    );
    print!("Run step {number} ({})? [y/N/skip/quit] ", step.id);
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
        return Answer::Quit;
    }
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        "s" | "skip" => Answer::Skip,
        "q" | "quit" => Answer::Quit,
        _ => Answer::No,
    }
}

/// After a failure: give every server back the internal transport certificate it had before
/// the first step (unless the plan renews it on purpose).
fn recover(plan: &Plan, session: &mut Session, journal: &mut Journal, baseline: &LiveState) {
    let replaced: BTreeSet<String> = plan
        .steps
        .iter()
        .filter_map(|s| s.replaces_transport_on.as_ref().map(ServerName::key))
        .collect();
    let Ok(live) = session.state(&plan.servers) else {
        journal.event(
            "recovery_failed",
            None,
            Value::Null,
            "Could not re-read the state to check the internal transport certificates",
        );
        return;
    };
    for server in &plan.servers {
        if replaced.contains(&server.key()) {
            continue;
        }
        if let Some(before) = transport_to_restore(server, baseline, &live) {
            restore_transport(session, journal, server, &before);
        }
    }
}

/// The internal transport certificate `server` had before the first step, when the server
/// answers and now has another one.
fn transport_to_restore(
    server: &ServerName,
    baseline: &LiveState,
    live: &LiveState,
) -> Option<String> {
    let before = baseline
        .server(server)
        .and_then(|s| s.transport.clone())
        .filter(|t| !t.is_empty())?;
    let now = live.server(server).filter(|s| s.reachable)?;
    let unchanged = now
        .transport
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case(&before));
    (!unchanged).then_some(before)
}

/// Re-enables the recorded certificate for SMTP, which makes it the transport certificate
/// again (DOMAIN.md §4).
fn restore_transport(
    session: &mut Session,
    journal: &mut Journal,
    server: &ServerName,
    before: &str,
) {
    let Ok(thumbprint) = powershell::thumbprint(before) else {
        return;
    };
    let statement = Statement::Run(
        PsCommand::new("Enable-ExchangeCertificate")
            .arg("Server", Arg::Server(server.clone()))
            .arg("Thumbprint", Arg::Thumb(ThumbRef::Known(thumbprint)))
            .arg("Services", Arg::Str("SMTP".into()))
            .switch("Force"),
    );
    let code = statement.powershell();
    let result = session.step("recover-transport", &code);
    let ok = matches!(result, Ok(Ok(_)));
    journal.event(
        "recovery",
        None,
        json!({"server": server, "restored": before, "ok": ok, "powershell": code}),
        &format!("Recovery: re-enabled the internal transport certificate {before} on {server} for SMTP: {}", if ok { "done" } else { "FAILED" }),
    );
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Default location of the journal and log: `<ExchangeInstallPath>\Logging\AuthCertificateRenewal`
/// when set, else the temporary directory.
pub fn default_directory() -> PathBuf {
    match std::env::var_os("ExchangeInstallPath") {
        Some(root) => PathBuf::from(root)
            .join("Logging")
            .join("AuthCertificateRenewal"),
        None => std::env::temp_dir().join("AuthCertificateRenewal"),
    }
}

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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::powershell::{Arg, Command as PsCommand, ServerName, Statement, ThumbRef, quote};
use super::{Check, LiveState, Plan, Step};

/// Defines the two functions the runner calls; sent once per session.
pub const PRELUDE: &str = r#"$ErrorActionPreference = 'Stop'
if (-not (Get-Command Get-AuthConfig -ErrorAction SilentlyContinue)) {
    try {
        Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn -ErrorAction Stop
    } catch {
        Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010 -ErrorAction Stop
    }
}

function ConvertTo-RenewUtc {
    param($Value)
    if ($null -eq $Value) {
        return $null
    }
    ([datetime]$Value).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
}

function Invoke-RenewStep {
    param([string]$Id, [string]$Nonce, [string]$Encoded)
    $result = [ordered]@{ id = $Id; ok = $true; error = $null }
    try {
        $code = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($Encoded))
        . ([ScriptBlock]::Create($code)) 2>&1 | Out-String -Stream | ForEach-Object { '@@OUT ' + $_ }
    } catch {
        $result.ok = $false
        $result.error = ($_.Exception.Message -replace '\s+', ' ')
    }
    '@@RESULT ' + (ConvertTo-Json -InputObject $result -Compress)
    '@@END ' + $Nonce
}

function Get-RenewState {
    param([string[]]$Servers, [string]$Nonce)
    $config = Get-AuthConfig
    $state = [ordered]@{
        now     = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
        computer = $env:COMPUTERNAME
        auth    = [ordered]@{
            current        = [string]$config.CurrentCertificateThumbprint
            previous       = [string]$config.PreviousCertificateThumbprint
            next           = [string]$config.NextCertificateThumbprint
            next_effective = ConvertTo-RenewUtc $config.NextCertificateEffectiveDate
        }
        hybrid  = $null
        servers = @()
        new     = @{}
    }
    try {
        $state.hybrid = [bool](Get-HybridConfiguration)
    } catch {
        $state.hybrid = $null
    }
    foreach ($server in $Servers) {
        $entry = [ordered]@{ name = $server; reachable = $true; error = $null; transport = $null; certificates = @() }
        try {
            $entry.certificates = @(Get-ExchangeCertificate -Server $server | ForEach-Object {
                    [ordered]@{ thumbprint = $_.Thumbprint; services = $_.Services.ToString(); not_after = ConvertTo-RenewUtc $_.NotAfter; subject = $_.Subject }
                })
            $entry.transport = [string](Get-TransportService -Identity $server).InternalTransportCertificateThumbprint
        } catch {
            $entry.reachable = $false
            $entry.error = ($_.Exception.Message -replace '\s+', ' ')
        }
        $state.servers += $entry
    }
    Get-Variable -Scope Global -Name 'RenewNew*' -ErrorAction SilentlyContinue | ForEach-Object { $state.new[$_.Name] = [string]$_.Value }
    '@@STATE ' + (ConvertTo-Json -InputObject $state -Depth 6 -Compress)
    '@@END ' + $Nonce
}
"#;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub powershell: PathBuf,
    pub execute: bool,
    pub yes: bool,
    pub journal: PathBuf,
    pub log: PathBuf,
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

/// One PowerShell process.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    counter: u64,
    tag: String,
}

impl Session {
    fn start(program: &Path) -> Result<Session, String> {
        let mut child = Command::new(program)
            .args([
                "-NoLogo",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-Command",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin for PowerShell")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout for PowerShell")?);
        let tag = format!(
            "{:x}{:x}",
            std::process::id(),
            Utc::now().timestamp_micros()
        );
        let mut session = Session {
            child,
            stdin,
            stdout,
            counter: 0,
            tag,
        };
        let encoded = STANDARD.encode(PRELUDE.as_bytes());
        let nonce = session.nonce();
        session.send(&format!(
            ". ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String({})))); Write-Output {}",
            quote(&encoded),
            quote(&format!("@@END {nonce}"))
        ))?;
        session.read_until(&nonce)?;
        Ok(session)
    }

    fn nonce(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.tag, self.counter)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("PowerShell stopped accepting commands: {e}"))
    }

    fn read_until(&mut self, nonce: &str) -> Result<Vec<String>, String> {
        let end = format!("@@END {nonce}");
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = self
                .stdout
                .read_line(&mut line)
                .map_err(|e| format!("reading PowerShell's output: {e}"))?;
            if read == 0 {
                return Err("PowerShell ended unexpectedly".into());
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.trim() == end {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    fn state(&mut self, servers: &[ServerName]) -> Result<LiveState, String> {
        let list: Vec<String> = servers.iter().map(|s| quote(s.as_str())).collect();
        let nonce = self.nonce();
        self.send(&format!(
            "Get-RenewState -Servers @({}) -Nonce {}",
            list.join(", "),
            quote(&nonce)
        ))?;
        let lines = self.read_until(&nonce)?;
        let json = lines
            .iter()
            .find_map(|l| l.strip_prefix("@@STATE "))
            .ok_or_else(|| format!("no state from PowerShell: {}", lines.join(" / ")))?;
        serde_json::from_str(json).map_err(|e| format!("unreadable state from PowerShell: {e}"))
    }

    /// Runs PowerShell text as one step; `Ok(output lines)` or `Err(error message)`.
    fn step(&mut self, id: &str, code: &str) -> Result<Result<Vec<String>, String>, String> {
        let nonce = self.nonce();
        self.send(&format!(
            "Invoke-RenewStep -Id {} -Nonce {} -Encoded {}",
            quote(id),
            quote(&nonce),
            quote(&STANDARD.encode(code.as_bytes()))
        ))?;
        let lines = self.read_until(&nonce)?;
        let output: Vec<String> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("@@OUT ").map(str::to_string))
            .collect();
        let result: Value = lines
            .iter()
            .find_map(|l| l.strip_prefix("@@RESULT "))
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| format!("no result for step {id}: {}", lines.join(" / ")))?;
        if result["ok"].as_bool() == Some(true) {
            Ok(Ok(output))
        } else {
            Ok(Err(result["error"]
                .as_str()
                .unwrap_or("failed")
                .to_string()))
        }
    }

    fn finish(mut self) {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// The journal (JSON lines) and the readable log.
struct Journal {
    journal: std::fs::File,
    log: std::fs::File,
    plan: String,
}

impl Journal {
    fn open(options: &RunOptions, plan: &Plan) -> Result<Journal, String> {
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

    fn event(&mut self, event: &str, step: Option<&str>, detail: Value, message: &str) {
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
struct Earlier {
    done: BTreeSet<String>,
    new: BTreeMap<String, String>,
}

fn read_earlier(path: &Path, fingerprint: &str) -> Earlier {
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

enum Answer {
    Yes,
    Skip,
    No,
    Quit,
}

fn ask(number: usize, step: &Step) -> Answer {
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

fn check_all(checks: &[super::CheckView], live: &LiveState, baseline: &LiveState) -> Vec<String> {
    checks
        .iter()
        .filter_map(|c| match c.check.holds(live, baseline) {
            Ok(true) => None,
            Ok(false) => Some(c.description.clone()),
            Err(why) => Some(format!("{} ({why})", c.description)),
        })
        .collect()
}

/// Executes (or, without `--execute`, walks through) the plan.
pub fn run(plan: &Plan, options: &RunOptions) -> Result<Outcome, String> {
    if !plan.refusals.is_empty() {
        return Err(format!("refusing to run: {}", plan.refusals.join("; ")));
    }
    let mut journal = Journal::open(options, plan)?;
    let earlier = read_earlier(&options.journal, &plan.fingerprint);
    let resuming = !earlier.done.is_empty() || !earlier.new.is_empty();
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
    let mut session = Session::start(&options.powershell)?;
    // Certificates an interrupted run made: their thumbprints are validated before reuse.
    for (name, thumbprint) in &earlier.new {
        let valid_name = name
            .strip_prefix("RenewNew")
            .is_some_and(|n| n.parse::<u8>().is_ok());
        if let (true, Ok(t)) = (valid_name, super::powershell::thumbprint(thumbprint)) {
            let nonce = session.nonce();
            session.send(&format!(
                "$global:{name} = {}; Write-Output {}",
                quote(t.as_str()),
                quote(&format!("@@END {nonce}"))
            ))?;
            session.read_until(&nonce)?;
        }
    }
    let baseline = session.state(&plan.servers)?;
    if let (Some(wanted), Some(here)) = (&plan.run_on, &baseline.computer)
        && wanted.key() != crate::model::Server::key_of(here)
    {
        session.finish();
        let message = format!(
            "this plan must run on {wanted} (the new Auth Certificate is created there), not on {here}"
        );
        journal.event("refused", None, json!({"reason": message}), &message);
        return Err(message);
    }
    journal.event(
        "state",
        None,
        serde_json::to_value(&baseline).unwrap_or(Value::Null),
        "Read the live state (AuthConfig, certificates, internal transport certificates)",
    );
    let outcome = drive(
        plan,
        options,
        &mut session,
        &mut journal,
        &baseline,
        &earlier,
    );
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Failed(error),
    };
    if matches!(outcome, Outcome::Failed(_) | Outcome::Stopped(_)) && options.execute {
        recover(plan, &mut session, &mut journal, &baseline);
    }
    let (label, text) = match &outcome {
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
    session.finish();
    Ok(outcome)
}

fn drive(
    plan: &Plan,
    options: &RunOptions,
    session: &mut Session,
    journal: &mut Journal,
    baseline: &LiveState,
    earlier: &Earlier,
) -> Result<Outcome, String> {
    let mut live = baseline.clone();
    let mut replaced_transport: BTreeSet<String> = BTreeSet::new();
    for (index, step) in plan.steps.iter().enumerate() {
        let number = index + 1;
        let id = step.id.as_str();
        if let Some(server) = &step.replaces_transport_on {
            replaced_transport.insert(server.key());
        }
        // Already done (by an earlier run, or by hand)? Only when it has verifications and
        // they all hold now.
        if !step.verify.is_empty() && check_all(&step.verify, &live, baseline).is_empty() {
            let why = if earlier.done.contains(id) {
                "done by an earlier run"
            } else {
                "already true in the live state"
            };
            journal.event(
                "step_already_done",
                Some(id),
                json!({"reason": why}),
                &format!("Step {number} {}: {why}, verified; skipped", step.title),
            );
            continue;
        }
        let unmet = check_all(&step.preconditions, &live, baseline);
        if !options.execute {
            journal.event(
                "step_dry_run",
                Some(id),
                json!({"powershell": step.powershell, "unmet_preconditions": unmet}),
                &format!(
                    "Step {number}: {} — would run:\n{}",
                    step.title,
                    indent(&step.powershell)
                ),
            );
            continue;
        }
        if !unmet.is_empty() {
            journal.event(
                "precondition_failed",
                Some(id),
                json!({"unmet": unmet}),
                &format!(
                    "Step {number} {}: not run, precondition not met: {}",
                    step.title,
                    unmet.join("; ")
                ),
            );
            return Ok(Outcome::Failed(format!(
                "step {number} ({id}) precondition not met: {}",
                unmet.join("; ")
            )));
        }
        if !options.yes {
            println!(
                "\nStep {number}: {}\n  why: {}\n  impact: {}\n{}",
                step.title,
                step.why,
                step.impact,
                indent(&step.powershell)
            );
            match ask(number, step) {
                Answer::Yes => {}
                Answer::Skip => {
                    journal.event(
                        "step_skipped",
                        Some(id),
                        Value::Null,
                        &format!("Step {number} {}: skipped by the administrator", step.title),
                    );
                    continue;
                }
                Answer::No => {
                    return Ok(Outcome::Stopped(format!("step {number} ({id}) declined")));
                }
                Answer::Quit => {
                    return Ok(Outcome::Stopped(format!(
                        "quit before step {number} ({id})"
                    )));
                }
            }
        }
        journal.event(
            "step_start",
            Some(id),
            json!({"powershell": step.powershell}),
            &format!("Step {number}: {}", step.title),
        );
        let result = session.step(id, &step.powershell)?;
        live = session.state(&plan.servers)?;
        journal.event(
            "state",
            Some(id),
            serde_json::to_value(&live).unwrap_or(Value::Null),
            "  re-read the live state",
        );
        if let Err(error) = result {
            journal.event(
                "step_failed",
                Some(id),
                json!({"error": error}),
                &format!("Step {number} {} FAILED: {error}", step.title),
            );
            return Ok(Outcome::Failed(format!(
                "step {number} ({id}) failed: {error}"
            )));
        }
        let mut failed = check_all(&step.verify, &live, baseline);
        for server in &plan.servers {
            if replaced_transport.contains(&server.key()) {
                continue;
            }
            let check = Check::TransportUnchanged {
                server: server.clone(),
            };
            if check.holds(&live, baseline) != Ok(true) {
                failed.push(check.describe());
            }
        }
        if !failed.is_empty() {
            journal.event(
                "verify_failed",
                Some(id),
                json!({"failed": failed}),
                &format!(
                    "Step {number} {}: verification FAILED: {}",
                    step.title,
                    failed.join("; ")
                ),
            );
            return Ok(Outcome::Failed(format!(
                "step {number} ({id}) verification failed: {}",
                failed.join("; ")
            )));
        }
        let verified: Vec<&str> = step.verify.iter().map(|c| c.description.as_str()).collect();
        journal.event(
            "step_done",
            Some(id),
            json!({"verified": verified, "new": live.new}),
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
    Ok(if options.execute {
        Outcome::Completed
    } else {
        Outcome::DryRun
    })
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
        let before = baseline
            .server(server)
            .and_then(|s| s.transport.clone())
            .filter(|t| !t.is_empty());
        let now = live.server(server).and_then(|s| s.transport.clone());
        let (Some(before), true) = (before, live.server(server).is_some_and(|s| s.reachable))
        else {
            continue;
        };
        if now
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&before))
        {
            continue;
        }
        let Ok(thumbprint) = super::powershell::thumbprint(&before) else {
            continue;
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

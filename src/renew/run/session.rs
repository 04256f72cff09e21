//! One Windows PowerShell process, driven over stdin/stdout one line per request (the
//! protocol is described in the parent module).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::Value;

use crate::model::Thumbprint;
use crate::renew::LiveState;
use crate::renew::powershell::{ServerName, quote};

/// Defines the two functions the runner calls; sent once per session.
pub const PRELUDE: &str = concat!(
    r#"$ErrorActionPreference = 'Stop'
# Redirected output is written in the OEM code page (DOMAIN.md section 8): ask for UTF-8, and
# keep what the runner parses in ASCII anyway.
try {
    [Console]::OutputEncoding = [System.Text.Encoding]::UTF8
} catch {
}
function ConvertTo-RenewAscii {
    param([string]$Text)
    [regex]::Replace($Text, '[^\x00-\x7F]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
}
"#,
    crate::renew::powershell::load_exchange!(),
    r#"
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
    '@@RESULT ' + (ConvertTo-RenewAscii (ConvertTo-Json -InputObject $result -Compress))
    '@@END ' + $Nonce
}

function Get-RenewState {
    param([string[]]$Servers, [string]$Nonce)
    try {
        Get-RenewStateLine -Servers $Servers
    } catch {
        '@@STATEERROR ' + (ConvertTo-RenewAscii ($_.Exception.Message -replace '\s+', ' '))
    }
    '@@END ' + $Nonce
}

# One certificate of the state. With serialization signing and an expired Auth Certificate the
# shell returns RawData only (MEAC: Import-ExchangeCertificateFromRawData.ps1): the facts then
# come from the DER itself; the services are unknown.
function ConvertTo-RenewCertificateEntry {
    param($Certificate)
    $notAfter = $Certificate.NotAfter
    $subject = $Certificate.Subject
    if ($null -eq $Certificate.Thumbprint -and $null -ne $Certificate.RawData) {
        $x509 = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [byte[]]$Certificate.RawData)
        $notAfter = $x509.NotAfter
        $subject = $x509.Subject
    }
    [ordered]@{ thumbprint = Get-RenewThumbprint $Certificate; services = [string]$Certificate.Services; not_after = ConvertTo-RenewUtc $notAfter; subject = $subject }
}

function Get-RenewStateLine {
    param([string[]]$Servers)
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
            $entry.certificates = @(Get-ExchangeCertificate -Server $server | ForEach-Object { ConvertTo-RenewCertificateEntry $_ })
            $entry.transport = [string](Get-TransportService -Identity $server).InternalTransportCertificateThumbprint
        } catch {
            $entry.reachable = $false
            $entry.error = ($_.Exception.Message -replace '\s+', ' ')
        }
        $state.servers += $entry
    }
    Get-Variable -Scope Global -Name 'RenewNew*' -ErrorAction SilentlyContinue | ForEach-Object { $state.new[$_.Name] = [string]$_.Value }
    '@@STATE ' + (ConvertTo-RenewAscii (ConvertTo-Json -InputObject $state -Depth 6 -Compress))
}
"#
);

/// The prelude and the functions steps call ([`crate::renew::powershell::STEP_FUNCTIONS`]).
pub fn prelude() -> String {
    format!("{PRELUDE}{}", crate::renew::powershell::STEP_FUNCTIONS)
}

/// Every line PowerShell writes, as it comes; the channel closes when its output ends.
fn read_lines_in_background(mut stdout: BufReader<std::process::ChildStdout>) -> Receiver<Vec<u8>> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        loop {
            let mut bytes = Vec::new();
            match stdout.read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if sender.send(bytes).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

/// A line of PowerShell's output: UTF-8 when it is, else decoded with replacement characters.
/// Windows PowerShell writes redirected output in the OEM code page (DOMAIN.md §8): one
/// "München" in a certificate subject must not abort the run; what the runner parses is ASCII.
fn decode_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One PowerShell process.
pub(super) struct Session {
    child: Child,
    stdin: ChildStdin,
    /// PowerShell's output lines, read by a thread so that waiting for them can time out.
    lines: Receiver<Vec<u8>>,
    counter: u64,
    tag: String,
    timeouts: Timeouts,
    /// When the whole run must have ended.
    deadline: Instant,
}

/// How long one request (a step, a state read) and the whole run may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub step: Duration,
    pub run: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            step: Duration::from_secs(20 * 60),
            run: Duration::from_secs(4 * 60 * 60),
        }
    }
}

impl Session {
    pub(super) fn start(program: &Path, timeouts: Timeouts) -> Result<Session, String> {
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
        let lines = read_lines_in_background(stdout);
        let tag = format!(
            "{:x}{:x}",
            std::process::id(),
            Utc::now().timestamp_micros()
        );
        let mut session = Session {
            child,
            stdin,
            lines,
            counter: 0,
            tag,
            timeouts,
            deadline: Instant::now() + timeouts.run,
        };
        let encoded = STANDARD.encode(prelude().as_bytes());
        let nonce = session.nonce();
        session.send(&format!(
            ". ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String({})))); Write-Output {}",
            quote(&encoded),
            quote(&format!("@@END {nonce}"))
        ))?;
        session.read_until(&nonce)?;
        Ok(session)
    }

    /// `$global:<name> = '<thumbprint>'`: what the step that made the certificate had set.
    /// `name` must be a validated `RenewNew<slot>`.
    pub(super) fn set_global(&mut self, name: &str, thumbprint: &Thumbprint) -> Result<(), String> {
        let nonce = self.nonce();
        self.send(&format!(
            "$global:{name} = {}; Write-Output {}",
            quote(thumbprint.as_str()),
            quote(&format!("@@END {nonce}"))
        ))?;
        self.read_until(&nonce)?;
        Ok(())
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
        let step_limit = Instant::now() + self.timeouts.step;
        let (limit, which) = if step_limit <= self.deadline {
            (step_limit, ("step", self.timeouts.step))
        } else {
            (self.deadline, ("run", self.timeouts.run))
        };
        loop {
            let wait = limit.saturating_duration_since(Instant::now());
            let bytes = match self.lines.recv_timeout(wait) {
                Ok(bytes) => bytes,
                Err(RecvTimeoutError::Timeout) => {
                    // PowerShell may still be acting: stop it, the state is re-read next run.
                    let _ = self.child.kill();
                    return Err(format!(
                        "timed out: PowerShell did not answer within the {} timeout of {} s (--{}-timeout); it was stopped, run again to resume from the live state",
                        which.0,
                        which.1.as_secs(),
                        which.0
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("PowerShell ended unexpectedly".into());
                }
            };
            let line = decode_line(&bytes);
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.trim() == end {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    pub(super) fn state(&mut self, servers: &[ServerName]) -> Result<LiveState, String> {
        let list: Vec<String> = servers.iter().map(|s| quote(s.as_str())).collect();
        let nonce = self.nonce();
        self.send(&format!(
            "Get-RenewState -Servers @({}) -Nonce {}",
            list.join(", "),
            quote(&nonce)
        ))?;
        let lines = self.read_until(&nonce)?;
        if let Some(error) = lines.iter().find_map(|l| l.strip_prefix("@@STATEERROR ")) {
            return Err(format!("reading the live state failed: {error}"));
        }
        let json = lines
            .iter()
            .find_map(|l| l.strip_prefix("@@STATE "))
            .ok_or_else(|| format!("no state from PowerShell: {}", lines.join(" / ")))?;
        serde_json::from_str(json).map_err(|e| format!("unreadable state from PowerShell: {e}"))
    }

    /// Runs PowerShell text as one step; `Ok(output lines)` or `Err(error message)`.
    pub(super) fn step(
        &mut self,
        id: &str,
        code: &str,
    ) -> Result<Result<Vec<String>, String>, String> {
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

    pub(super) fn finish(mut self) {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

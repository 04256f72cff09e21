//! A plan as a standalone Windows PowerShell 5.1 script: elevated, snap-in loaded when not in
//! the Exchange Management Shell, a `-DryRun` switch, a confirmation per step, the internal
//! transport certificate and IIS bindings recorded first and restored/verified last, every step
//! verified, a log under `<ExchangeInstallPath>\Logging\AuthCertificateRenewal\` (or `%TEMP%`)
//! and exit code 1 on failure.

use std::fmt::Write;

use super::powershell::{self, ServerName, quote};
use super::{Plan, Step};

const HEADER: &str = r#"#Requires -RunAsAdministrator
#Requires -Version 5.1
[CmdletBinding()]
param(
    # Show every step and what it would verify; change nothing.
    [switch]$DryRun,
    # Run every step without asking.
    [switch]$Yes
)

$ErrorActionPreference = 'Stop'

# The Exchange Management Shell may not start while certificates are expired: the snap-in works.
if (-not (Get-Command Get-AuthConfig -ErrorAction SilentlyContinue)) {
    try {
        Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn -ErrorAction Stop
    } catch {
        Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010 -ErrorAction Stop
    }
}

$RenewLogDirectory = Join-Path $env:TEMP 'AuthCertificateRenewal'
if ($env:ExchangeInstallPath) {
    $RenewLogDirectory = Join-Path $env:ExchangeInstallPath 'Logging\AuthCertificateRenewal'
}
try {
    New-Item -ItemType Directory -Path $RenewLogDirectory -Force | Out-Null
} catch {
    $RenewLogDirectory = Join-Path $env:TEMP 'AuthCertificateRenewal'
    New-Item -ItemType Directory -Path $RenewLogDirectory -Force | Out-Null
}
$RenewLogFile = Join-Path $RenewLogDirectory ('AuthCertificateRenewal-{0}.log' -f (Get-Date -Format 'yyyyMMdd-HHmmss'))

function Write-RenewLog {
    param([string]$Message)
    $line = '{0} {1}' -f (Get-Date).ToUniversalTime().ToString('o'), $Message
    Write-Host $line
    Add-Content -Path $RenewLogFile -Value $line
}

function Confirm-RenewStep {
    param([int]$Number, [string]$Title, [string]$Code)
    Write-RenewLog ('Step {0}: {1}' -f $Number, $Title)
    Write-Host $Code
    if ($DryRun) {
        Write-RenewLog ('Step {0}: dry run, not executed' -f $Number)
        return $false
    }
    if ($Yes) {
        return $true
    }
    $answer = Read-Host 'Run this step? [y]es / [N]o, stop / [s]kip'
    if ($answer -match '^(y|yes)$') {
        return $true
    }
    if ($answer -match '^(s|skip)$') {
        Write-RenewLog ('Step {0}: skipped by the administrator' -f $Number)
        return $false
    }
    throw 'stopped by the administrator'
}

function Assert-RenewCheck {
    param([string]$Description, [scriptblock]$Test)
    if (& $Test) {
        Write-RenewLog ('  verified: {0}' -f $Description)
    } else {
        throw ('verification failed: {0}' -f $Description)
    }
}

function Get-RenewIisBinding {
    param([string]$Server)
    @(Get-ExchangeCertificate -Server $Server | Where-Object { @(Get-RenewServiceNames $_.Services) -contains 'IIS' } | ForEach-Object { $_.Thumbprint })
}

# Puts back what New-ExchangeCertificate may have taken over: the default SMTP (internal
# transport) certificate and the IIS bindings recorded before the first step.
function Restore-RenewBinding {
    foreach ($server in @($RenewTransportBefore.Keys)) {
        if ($RenewTransportReplaced.ContainsKey($server)) {
            continue
        }
        $before = $RenewTransportBefore[$server]
        $now = (Get-TransportService -Identity $server).InternalTransportCertificateThumbprint
        if ($before -and $now -ne $before) {
            Write-RenewLog ('restoring the internal transport certificate {0} on {1}' -f $before, $server)
            Enable-ExchangeCertificate -Server $server -Thumbprint $before -Services 'SMTP' -Force
        }
        if ($before -and (Get-TransportService -Identity $server).InternalTransportCertificateThumbprint -ne $before) {
            throw ('the internal transport certificate of {0} is not {1}' -f $server, $before)
        }
        $iisNow = Get-RenewIisBinding -Server $server
        foreach ($thumbprint in $RenewIisBefore[$server]) {
            if ($iisNow -notcontains $thumbprint -and -not $RenewIisReplaced.ContainsKey($server)) {
                Write-RenewLog ('restoring the IIS binding of {0} on {1}' -f $thumbprint, $server)
                Enable-ExchangeCertificate -Server $server -Thumbprint $thumbprint -Services 'IIS' -Force
            }
        }
    }
}
"#;

/// The script for `plan`. Refusals must have been handled by the caller.
pub fn render(plan: &Plan) -> String {
    let mut out = String::from(HEADER);
    out.push_str(powershell::STEP_FUNCTIONS);
    write_variables(&mut out, plan);
    if let Some(server) = &plan.run_on {
        write_run_on_guard(&mut out, server);
    }
    write_recording(&mut out, plan);
    for (index, step) in plan.steps.iter().enumerate() {
        write_step(&mut out, index + 1, step);
    }
    write_ending(&mut out, plan);
    out
}

/// The servers, and the tables of what is recorded before the first step.
fn write_variables(out: &mut String, plan: &Plan) {
    let servers: Vec<String> = plan.servers.iter().map(|s| quote(s.as_str())).collect();
    let _ = writeln!(out, "\n$RenewServers = @({})", servers.join(", "));
    let _ = writeln!(out, "$RenewTransportBefore = @{{}}");
    let _ = writeln!(out, "$RenewTransportReplaced = @{{}}");
    let _ = writeln!(out, "$RenewIisBefore = @{{}}");
    let _ = writeln!(out, "$RenewIisReplaced = @{{}}");
    let _ = writeln!(out, "$RenewFailed = $false\n");
}

/// The script stops on another computer than the one the new Auth Certificate is created on.
fn write_run_on_guard(out: &mut String, server: &ServerName) {
    let host = server.as_str().split('.').next().unwrap_or_default();
    let _ = writeln!(
        out,
        "if ($env:COMPUTERNAME -ne {0}) {{\n    Write-Host {1}\n    exit 1\n}}\n",
        quote(host),
        quote(&format!(
            "Run this script on {server}: the new Auth Certificate is created there and Set-AuthConfig needs it in the local store."
        ))
    );
}

/// Opens the `try` and records every server's internal transport certificate and IIS
/// bindings, which `Restore-RenewBinding` puts back at the end.
fn write_recording(out: &mut String, plan: &Plan) {
    let scenarios: Vec<&str> = plan.scenarios.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(out, "try {{");
    let _ = writeln!(
        out,
        "    Write-RenewLog ('Auth certificate renewal plan {} ({}), {} steps; log: {{0}}' -f $RenewLogFile)",
        quote(&plan.fingerprint).trim_matches('\''),
        scenarios.join(", "),
        plan.steps.len()
    );
    out.push_str(
        "    foreach ($server in $RenewServers) {\n        $RenewTransportBefore[$server] = (Get-TransportService -Identity $server).InternalTransportCertificateThumbprint\n        $RenewIisBefore[$server] = Get-RenewIisBinding -Server $server\n        Write-RenewLog ('{0}: internal transport certificate {1}; IIS {2}' -f $server, $RenewTransportBefore[$server], ($RenewIisBefore[$server] -join ', '))\n    }\n",
    );
}

/// One step: confirmed, preconditions asserted, run, verified.
fn write_step(out: &mut String, number: usize, step: &Step) {
    let _ = writeln!(out, "\n    # Step {number}: {}", step.id);
    let _ = writeln!(
        out,
        "    if (Confirm-RenewStep -Number {number} -Title {} -Code {}) {{",
        quote(&step.title),
        quote(&step.powershell)
    );
    for pre in &step.preconditions {
        let _ = writeln!(
            out,
            "        Assert-RenewCheck -Description {} -Test {{ {} }}",
            quote(&format!("before: {}", pre.description)),
            pre.powershell
        );
    }
    for line in step.powershell.lines() {
        let _ = writeln!(out, "        {line}");
    }
    if let Some(server) = &step.replaces_transport_on {
        let _ = writeln!(
            out,
            "        $RenewTransportReplaced[{}] = $true",
            quote(server.as_str())
        );
        let _ = writeln!(
            out,
            "        $RenewIisReplaced[{}] = $true",
            quote(server.as_str())
        );
    }
    for check in &step.verify {
        let _ = writeln!(
            out,
            "        Assert-RenewCheck -Description {} -Test {{ {} }}",
            quote(&check.description),
            check.powershell
        );
    }
    let _ = writeln!(out, "        Write-RenewLog 'Step {number}: done'");
    let _ = writeln!(out, "    }}");
}

/// Closes the `try`, restores the bindings (unless a dry run), logs the notes, exits 1 on
/// failure.
fn write_ending(out: &mut String, plan: &Plan) {
    out.push_str("} catch {\n    $RenewFailed = $true\n    Write-RenewLog ('FAILED: {0}' -f $_.Exception.Message)\n}\n\n");
    out.push_str("if (-not $DryRun) {\n    try {\n        Restore-RenewBinding\n    } catch {\n        $RenewFailed = $true\n        Write-RenewLog ('FAILED to restore bindings: {0}' -f $_.Exception.Message)\n    }\n}\n");
    for note in &plan.notes {
        let _ = writeln!(out, "Write-RenewLog {}", quote(&format!("Note: {note}")));
    }
    out.push_str("if ($RenewFailed) {\n    Write-RenewLog 'The renewal stopped; the state above is verified. See the log.'\n    exit 1\n}\nWrite-RenewLog 'Done.'\nexit 0\n");
}

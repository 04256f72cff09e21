//! A plan as a standalone Windows PowerShell 5.1 script: elevated, the Exchange cmdlets loaded
//! the supported way (RemoteExchange.ps1, Connect-ExchangeServer) when not in the Exchange
//! Management Shell, steps already done skipped on a rerun, a `-DryRun` switch, a confirmation per step, the internal
//! transport certificate and IIS bindings recorded first and restored/verified last, every step
//! verified, a log under `<ExchangeInstallPath>\Logging\AuthCertificateRenewal\` (or `%TEMP%`)
//! and exit code 1 on failure.

use std::fmt::Write;

use super::powershell::{self, ServerName, Statement, ThumbRef, quote};
use super::{Plan, Step};

const HEADER: &str = concat!(
    r#"#Requires -RunAsAdministrator
#Requires -Version 5.1
[CmdletBinding()]
param(
    # Show every step and what it would verify; change nothing.
    [switch]$DryRun,
    # Run every step without asking.
    [switch]$Yes
)

$ErrorActionPreference = 'Stop'

"#,
    super::powershell::load_exchange!(),
    r#"
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
    @(Get-ExchangeCertificate -Server $Server | Where-Object { @(Get-RenewServiceNames $_.Services) -contains 'IIS' } | ForEach-Object { Get-RenewThumbprint $_ })
}

# A rerun of this script does nothing that is done: a step whose checks all hold in the live
# state is skipped; one the live state cannot show (a restart) when this script's record says
# it was done. A check naming a certificate this run does not know yet does not hold.
function Test-RenewStepDone {
    param([string]$Id, [object[]]$Needs, [scriptblock[]]$Checks)
    if (@($Checks).Count -eq 0) {
        return ($RenewDone -contains ('step ' + $Id))
    }
    foreach ($value in @($Needs)) {
        if ([string]::IsNullOrEmpty([string]$value)) {
            return $false
        }
    }
    foreach ($check in $Checks) {
        try {
            if (-not (& $check)) {
                return $false
            }
        } catch {
            return $false
        }
    }
    return $true
}

# This plan's record (next to the log): the steps done and the certificates made, so that a
# rerun knows them, as the guided run's journal does.
function Add-RenewRecord {
    param([string]$Line)
    Add-Content -Path $RenewRecordFile -Value $Line
}

function Get-RenewRecorded {
    param([string]$Name)
    $prefix = $Name + '='
    foreach ($line in $RenewDone) {
        if ($line.StartsWith($prefix) -and $line.Length -eq $prefix.Length + 40) {
            return $line.Substring($prefix.Length)
        }
    }
    return $null
}

# The renewal of an internal transport certificate an earlier run made: the server's transport
# certificate now, if it is another one with the same subject.
function Find-RenewTransportSuccessor {
    param([string]$Server, [string]$Old, [string]$Subject)
    $found = [string](Get-TransportService -Identity $Server).InternalTransportCertificateThumbprint
    if ([string]::IsNullOrEmpty($found) -or $found -eq $Old) {
        return $null
    }
    $certificate = Get-ExchangeCertificate -Server $Server -Thumbprint $found -ErrorAction SilentlyContinue
    if ($null -eq $certificate) {
        return $null
    }
    $subjectNow = [string]$certificate.Subject
    if ([string]::IsNullOrEmpty($subjectNow) -and $null -ne $certificate.RawData) {
        $subjectNow = (New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [byte[]]$certificate.RawData)).Subject
    }
    if ($subjectNow -ne $Subject) {
        return $null
    }
    return $found.ToUpperInvariant()
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
"#
);

/// The script for `plan`. Refusals must have been handled by the caller.
pub fn render(plan: &Plan) -> String {
    let mut out = String::from(HEADER);
    out.push_str(powershell::STEP_FUNCTIONS);
    write_variables(&mut out, plan);
    if let Some(server) = &plan.run_on {
        write_run_on_guard(&mut out, server);
    }
    write_recording(&mut out, plan);
    write_rediscovery(&mut out, plan);
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
    let _ = writeln!(out, "$RenewFailed = $false");
    let _ = writeln!(
        out,
        "$RenewRecordFile = Join-Path $RenewLogDirectory {}",
        quote(&format!(
            "AuthCertificateRenewal-{}-{}.done",
            plan.fingerprint,
            plan.created_at.format("%Y%m%d%H%M%S")
        ))
    );
    let _ = writeln!(out, "$RenewDone = @()");
    let _ = writeln!(
        out,
        "if (Test-Path -Path $RenewRecordFile) {{\n    $RenewDone = @(Get-Content -Path $RenewRecordFile)\n}}"
    );
    for slot in slots(plan) {
        let _ = writeln!(out, "$global:{} = $null", ThumbRef::variable(slot));
    }
    out.push('\n');
}

/// The `$global:RenewNew<slot>` variables the plan's steps set.
fn slots(plan: &Plan) -> Vec<u8> {
    let mut slots: Vec<u8> = plan
        .steps
        .iter()
        .flat_map(|s| s.statements.iter())
        .filter_map(|s| match s {
            Statement::Remember(slot, _) => Some(*slot),
            _ => None,
        })
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// A rerun finds what an earlier run of this script made, in the live state first: the new
/// Auth Certificate as AuthConfig's next or current certificate (any thumbprint AuthConfig did
/// not name when planned), a renewed internal transport certificate as the server's transport
/// certificate; then in the record. Its steps' checks then hold and they are skipped: no
/// second certificate, no second emergency rotation.
fn write_rediscovery(out: &mut String, plan: &Plan) {
    let slots = slots(plan);
    if slots.contains(&0) {
        let known: Vec<String> = plan.auth_before.iter().map(|t| quote(t.as_str())).collect();
        let _ = writeln!(
            out,
            "    $renewAuth = Get-AuthConfig\n    foreach ($candidate in @([string]$renewAuth.NextCertificateThumbprint, [string]$renewAuth.CurrentCertificateThumbprint)) {{\n        if (-not $global:RenewNew0 -and -not [string]::IsNullOrEmpty($candidate) -and @({}) -notcontains $candidate) {{\n            $global:RenewNew0 = $candidate.ToUpperInvariant()\n            Write-RenewLog ('AuthConfig already names the new Auth Certificate {{0}} (an earlier run of this script): it is not created again' -f $candidate)\n        }}\n    }}",
            known.join(", ")
        );
    }
    for successor in plan
        .steps
        .iter()
        .filter_map(|s| s.transport_successor.as_ref())
    {
        let _ = writeln!(
            out,
            "    if (-not $global:{0}) {{\n        $global:{0} = Find-RenewTransportSuccessor -Server {1} -Old {2} -Subject {3}\n    }}",
            ThumbRef::variable(successor.slot),
            quote(successor.server.as_str()),
            quote(successor.old.as_str()),
            quote(&successor.subject)
        );
    }
    for slot in slots {
        let _ = writeln!(
            out,
            "    if (-not $global:{0}) {{\n        $global:{0} = Get-RenewRecorded -Name '{0}'\n    }}",
            ThumbRef::variable(slot)
        );
    }
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

/// One step: skipped when already done, else confirmed, preconditions asserted, run,
/// recorded, verified.
fn write_step(out: &mut String, number: usize, step: &Step) {
    let _ = writeln!(out, "\n    # Step {number}: {}", step.id);
    write_done_test(out, number, step);
    let _ = writeln!(
        out,
        "    }} elseif (Confirm-RenewStep -Number {number} -Title {} -Code {}) {{",
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
    for statement in &step.statements {
        if let Statement::Remember(slot, _) = statement {
            let name = ThumbRef::variable(*slot);
            let _ = writeln!(out, "        Add-RenewRecord ('{name}=' + $global:{name})");
        }
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
    let _ = writeln!(
        out,
        "        Add-RenewRecord {}",
        quote(&format!("step {}", step.id))
    );
    let _ = writeln!(out, "        Write-RenewLog 'Step {number}: done'");
    let _ = writeln!(out, "    }}");
}

/// `if (Test-RenewStepDone …) { skipped`: the step's done-checks in the live state (with the
/// certificates they need known), or the record for a step the live state cannot show.
fn write_done_test(out: &mut String, number: usize, step: &Step) {
    let checks: Vec<String> = step
        .done_checks()
        .iter()
        .map(|c| format!("{{ {} }}", c.powershell))
        .collect();
    let needs: Vec<String> = needed_slots(step)
        .into_iter()
        .map(|slot| format!("$global:{}", ThumbRef::variable(slot)))
        .collect();
    let _ = writeln!(
        out,
        "    if (Test-RenewStepDone -Id {} -Needs @({}) -Checks @({})) {{",
        quote(&step.id),
        needs.join(", "),
        checks.join(", ")
    );
    let _ = writeln!(
        out,
        "        Write-RenewLog 'Step {number}: already done (the live state shows it, or this script recorded it): skipped'"
    );
}

/// The new certificates the step's done-checks name.
fn needed_slots(step: &Step) -> Vec<u8> {
    let mut slots: Vec<u8> = step
        .done_checks()
        .iter()
        .filter_map(|c| c.check.thumb_ref())
        .filter_map(|t| match t {
            ThumbRef::New(slot) => Some(*slot),
            ThumbRef::Known(_) => None,
        })
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
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

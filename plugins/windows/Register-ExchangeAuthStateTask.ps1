<#
.SYNOPSIS
    Registers (or removes) the scheduled task that runs Export-ExchangeAuthState.ps1 every hour.

.DESCRIPTION
    Creates the task "ExchangeAuthCert collector" in the Task Scheduler folder \ExchangeAuthCert\.
    It runs

        powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <collector> -OutputPath <path>

    once a few minutes after registration and then every -IntervalMinutes (default 60), as
    SYSTEM or as the account given with -User. A run still going when the next is due is not
    started twice; a run is stopped after 30 minutes.

    On an Exchange server, SYSTEM works: the computer account belongs to Exchange Trusted
    Subsystem. On a machine with only the management tools, give an account with at least
    View-Only Organization Management rights (-User); a group managed service account
    (DOMAIN\name$) needs no password.

    Registering needs an elevated Windows PowerShell (local administrator). An existing task of
    the same name is replaced.

.PARAMETER CollectorPath
    Path of Export-ExchangeAuthState.ps1. Default: the copy next to this script.

.PARAMETER OutputPath
    Where the collector writes the bundle. Default:
    $env:ProgramData\ExchangeAuthCert\exchange-authstate.json.

.PARAMETER User
    Run the task as this account (DOMAIN\user) instead of SYSTEM. An account ending in $ is taken
    as a group managed service account.

.PARAMETER Password
    Password of -User. Asked for when not given (not for a gMSA).

.PARAMETER IntervalMinutes
    Minutes between two runs. Default 60. The check warns when the bundle is older than its
    --max-age (default 26 hours).

.PARAMETER TaskName
    Name of the task. Default "ExchangeAuthCert collector".

.PARAMETER RunNow
    Start the task once right after registering it.

.PARAMETER Unregister
    Remove the task instead of registering it.

.EXAMPLE
    .\Register-ExchangeAuthStateTask.ps1 -RunNow

    Runs the collector hourly as SYSTEM, writing C:\ProgramData\ExchangeAuthCert\exchange-authstate.json,
    and once immediately.

.EXAMPLE
    .\Register-ExchangeAuthStateTask.ps1 -User CONTOSO\svc-exmon -OutputPath \\monitor01\bundles$\contoso.json

    Runs the collector hourly as CONTOSO\svc-exmon (the password is asked for), writing to a share.

.EXAMPLE
    .\Register-ExchangeAuthStateTask.ps1 -Unregister

    Removes the task. The last bundle stays where it is.
#>
[CmdletBinding(DefaultParameterSetName = 'Register', SupportsShouldProcess = $true)]
param(
    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$CollectorPath = (Join-Path -Path $PSScriptRoot -ChildPath 'Export-ExchangeAuthState.ps1'),

    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$OutputPath = (Join-Path -Path $env:ProgramData -ChildPath 'ExchangeAuthCert\exchange-authstate.json'),

    [Parameter(ParameterSetName = 'Register')]
    [string]$User,

    [Parameter(ParameterSetName = 'Register')]
    [System.Security.SecureString]$Password,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateRange(5, 1440)]
    [int]$IntervalMinutes = 60,

    [Parameter(ParameterSetName = 'Register')]
    [switch]$RunNow,

    [Parameter()]
    [ValidateNotNullOrEmpty()]
    [string]$TaskName = 'ExchangeAuthCert collector',

    [Parameter(Mandatory = $true, ParameterSetName = 'Unregister')]
    [switch]$Unregister
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$TaskFolder = '\ExchangeAuthCert\'

function Test-Elevated {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}

function ConvertTo-PlainText {
    # Register-ScheduledTask takes the password as text; keep it in memory as briefly as possible.
    param([System.Security.SecureString]$Secure)
    $pointer = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($Secure)
    try {
        return [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($pointer)
    } finally {
        [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($pointer)
    }
}

if (-not (Test-Elevated)) {
    Write-Error -Message 'Register-ExchangeAuthStateTask: run this script in an elevated Windows PowerShell (Run as administrator).' -ErrorAction Continue
    exit 1
}

if ($Unregister) {
    $existing = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskFolder -ErrorAction SilentlyContinue
    if ($null -eq $existing) {
        Write-Output ('No task "{0}{1}" is registered.' -f $TaskFolder, $TaskName)
        exit 0
    }
    if ($PSCmdlet.ShouldProcess(('{0}{1}' -f $TaskFolder, $TaskName), 'Unregister scheduled task')) {
        try {
            Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskFolder -Confirm:$false -ErrorAction Stop
        } catch {
            Write-Error -Message ('Register-ExchangeAuthStateTask: cannot remove the task: {0}' -f $_.Exception.Message) -ErrorAction Continue
            exit 1
        }
        Write-Output ('Removed the task "{0}{1}".' -f $TaskFolder, $TaskName)
    }
    exit 0
}

try {
    $collector = (Resolve-Path -LiteralPath $CollectorPath -ErrorAction Stop).ProviderPath
} catch {
    Write-Error -Message ('Register-ExchangeAuthStateTask: collector not found: {0}' -f $CollectorPath) -ErrorAction Continue
    exit 1
}
$bundlePath = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutputPath)

$arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}" -OutputPath "{1}"' -f $collector, $bundlePath
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $arguments -WorkingDirectory (Split-Path -Path $collector -Parent)

# Repeat for ten years: an unlimited duration ([TimeSpan]::MaxValue) is refused on Windows Server
# 2016 and later; a long finite one is accepted everywhere.
$trigger = New-ScheduledTaskTrigger -Once -At ((Get-Date).AddMinutes(2)) `
    -RepetitionInterval (New-TimeSpan -Minutes $IntervalMinutes) `
    -RepetitionDuration (New-TimeSpan -Days 3650)

$settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -StartWhenAvailable `
    -ExecutionTimeLimit (New-TimeSpan -Minutes 30) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries

$description = 'Exports the Exchange Auth certificate state to {0} for check_exchange_authcert.' -f $bundlePath

$registration = @{
    TaskName    = $TaskName
    TaskPath    = $TaskFolder
    Action      = $action
    Trigger     = $trigger
    Settings    = $settings
    Description = $description
    Force       = $true
    ErrorAction = 'Stop'
}

$account = 'NT AUTHORITY\SYSTEM'
if ([string]::IsNullOrWhiteSpace($User)) {
    $registration['Principal'] = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
} elseif ($User.EndsWith('$')) {
    $account = $User
    $registration['Principal'] = New-ScheduledTaskPrincipal -UserId $User -LogonType Password -RunLevel Highest
} else {
    $account = $User
    if ($null -eq $Password) {
        $Password = Read-Host -AsSecureString -Prompt ('Password for {0}' -f $User)
    }
    $registration['User'] = $User
    $registration['Password'] = ConvertTo-PlainText $Password
    $registration['RunLevel'] = 'Highest'
}

if (-not $PSCmdlet.ShouldProcess(('{0}{1}' -f $TaskFolder, $TaskName), ('Register scheduled task running as {0}' -f $account))) {
    exit 0
}

try {
    $task = Register-ScheduledTask @registration
} catch {
    Write-Error -Message ('Register-ExchangeAuthStateTask: cannot register the task: {0}' -f $_.Exception.Message) -ErrorAction Continue
    exit 1
} finally {
    $registration.Remove('Password')
}

Write-Output ('Registered "{0}{1}" as {2}: every {3} minutes, bundle {4}.' -f $TaskFolder, $TaskName, $account, $IntervalMinutes, $bundlePath)

if ($RunNow) {
    Start-ScheduledTask -InputObject $task
    Write-Output 'Started the first run; the bundle appears when it finishes (see the task history for the result).'
}
exit 0

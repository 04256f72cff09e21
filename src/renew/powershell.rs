//! The only way PowerShell text is made: validated values, single-quoted with quotes doubled,
//! assembled by a small typed builder. No step is built by concatenating raw input.
//!
//! The subset used here is plain Windows PowerShell 5.1: cmdlet calls with named parameters,
//! assignments of a cmdlet's result to a variable, a two-command pipeline and
//! `Invoke-Command -ComputerName … -ScriptBlock { … }` for other servers.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::Thumbprint;

/// A value from the input that cannot be used safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

/// A server name: DNS name characters only (letters, digits, `-`, `.`), labels of 1 to 63
/// characters, at most 253 in all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ServerName(String);

impl ServerName {
    pub fn parse(text: &str) -> Result<ServerName, ValidationError> {
        let shown = shown(text);
        let valid = !text.is_empty()
            && text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid {
            Ok(ServerName(text.to_string()))
        } else {
            Err(ValidationError(format!(
                "server name {shown} is not a DNS name (letters, digits, '-' and '.' only): refusing to plan"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same server whatever the case or domain suffix (see `Server::key_of`).
    pub fn key(&self) -> String {
        crate::model::Server::key_of(&self.0)
    }
}

impl std::fmt::Display for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A thumbprint re-checked at the boundary: exactly 40 hexadecimal digits.
pub fn thumbprint(text: &str) -> Result<Thumbprint, ValidationError> {
    if text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        Thumbprint::parse(text)
            .ok_or_else(|| ValidationError(format!("thumbprint {text} is invalid")))
    } else {
        Err(ValidationError(format!(
            "thumbprint {} is not 40 hexadecimal digits: refusing to plan",
            shown(text)
        )))
    }
}

/// Free text (friendly names, messages): any printable character, no control characters.
pub fn text(value: &str, what: &str) -> Result<String, ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError(format!(
            "{what} {} contains control characters (line breaks, tabs …): refusing to plan",
            shown(value)
        )));
    }
    if value.chars().count() > 256 {
        return Err(ValidationError(format!(
            "{what} is longer than 256 characters"
        )));
    }
    Ok(value.to_string())
}

/// Loads the Exchange cmdlets the supported way, as MEAC does (CSS-Exchange
/// Shared/Confirm-ExchangeShell.ps1): RemoteExchange.ps1, then Connect-ExchangeServer; nothing
/// inside the Exchange Management Shell, where they are already there. A macro, so that the
/// script's header and the runner's prelude, both constants, take the same text with `concat!`.
macro_rules! load_exchange {
    () => {
        r#"# The Exchange cmdlets the supported way, as MEAC does (CSS-Exchange Shared/Confirm-ExchangeShell.ps1):
# RemoteExchange.ps1, then Connect-ExchangeServer; inside the Exchange Management Shell they are
# already there.
if (-not (Get-Command Get-AuthConfig -ErrorAction SilentlyContinue)) {
    . (Join-Path $env:ExchangeInstallPath 'bin\RemoteExchange.ps1')
    Connect-ExchangeServer -auto -ClientApplication:ManagementShell
}
"#
    };
}
pub(crate) use load_exchange;

/// Exchange service names a certificate can be enabled for.
pub const SERVICES: &[&str] = &[
    "IIS",
    "SMTP",
    "IMAP",
    "POP",
    "UM",
    "UMCallRouter",
    "Federation",
];

/// Services the Auth Certificate must never be enabled for.
pub const FORBIDDEN_FOR_AUTH: &[&str] = &["IIS", "SMTP", "IMAP", "POP"];

pub fn service(name: &str) -> Result<&'static str, ValidationError> {
    SERVICES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(name.trim()))
        .copied()
        .ok_or_else(|| ValidationError(format!("unknown Exchange service {}", shown(name))))
}

/// An input value as an error message shows it: escaped, shortened.
fn shown(text: &str) -> String {
    let escaped: String = text.escape_debug().collect();
    let short: String = escaped.chars().take(80).collect();
    format!("\"{short}\"")
}

/// A PowerShell string value in pure ASCII: one single-quoted literal, or, when the value has
/// non-ASCII characters, `('…' + [char]0x0142 + '…')`.
///
/// Windows PowerShell 5.1 reads a script file without BOM in the ANSI code page (DOMAIN.md §8):
/// the UTF-8 bytes of `ł` (C5 82) read as `Å‚`, and U+201A is a quote character that ends a
/// literal, so a name could end its literal and become code. In ASCII every code page reads the
/// same text. Inside the literal parts only `'` is special and is doubled; nothing else (`$`,
/// backtick, `;`) is interpreted.
pub fn quote(value: &str) -> String {
    if value.chars().all(|c| c.is_ascii() && !is_stray_control(c)) {
        return literal(value);
    }
    // The first part is always a string, so `+` concatenates strings.
    let mut parts = Vec::new();
    let mut run = String::new();
    for c in value.chars() {
        // Validated values hold no control characters; free text (notes, messages) could:
        // a NUL or escape would end up verbatim in a script, so it becomes U+FFFD.
        let c = if is_stray_control(c) { '\u{FFFD}' } else { c };
        if c.is_ascii() {
            run.push(c);
            continue;
        }
        if !run.is_empty() || parts.is_empty() {
            parts.push(literal(&run));
            run.clear();
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            parts.push(format!("[char]0x{unit:04X}"));
        }
    }
    if !run.is_empty() {
        parts.push(literal(&run));
    }
    format!("({})", parts.join(" + "))
}

/// A control character other than tab and line breaks.
fn is_stray_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// A single-quoted literal of an ASCII value without stray control characters.
fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A thumbprint in a step: known when planning, or made by an earlier step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThumbRef {
    Known(Thumbprint),
    /// The certificate created by a step, kept in `$global:RenewNew<slot>` (slot 0: the new
    /// Auth Certificate).
    New(u8),
}

impl ThumbRef {
    pub fn powershell(&self) -> String {
        match self {
            ThumbRef::Known(t) => quote(t.as_str()),
            ThumbRef::New(slot) => format!("$global:{}", Self::variable(*slot)),
        }
    }

    pub fn variable(slot: u8) -> String {
        format!("RenewNew{slot}")
    }

    pub fn describe(&self) -> String {
        match self {
            ThumbRef::Known(t) => t.to_string(),
            ThumbRef::New(0) => "the new Auth Certificate".into(),
            ThumbRef::New(slot) => format!("the new certificate #{slot}"),
        }
    }
}

/// Variables the steps use: fixed names, never from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Cert,
    Old,
    Transport,
}

impl Var {
    fn name(self) -> &'static str {
        match self {
            Var::Cert => "$renewCert",
            Var::Old => "$renewOld",
            Var::Transport => "$renewTransport",
        }
    }
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A validated string, single-quoted.
    Str(String),
    Server(ServerName),
    Thumb(ThumbRef),
    Bool(bool),
    /// A switch parameter (`-Force`).
    Switch,
    /// `-Confirm:$false`.
    SwitchFalse,
    /// `@()`.
    EmptyArray,
    /// `@('a', 'b')`: validated strings, each single-quoted.
    StrList(Vec<String>),
    /// A property of a step variable (`$renewExport.FileData`).
    Property(Var, &'static str),
    Variable(Var),
    /// An instant, as an RFC 3339 UTC literal PowerShell converts to `[datetime]`.
    Date(DateTime<Utc>),
    /// `(Get-Date)`: the instant the cmdlet runs.
    Now,
    /// `((Get-Date).AddHours(n))`: `n` hours after the instant the cmdlet runs (parenthesized:
    /// one argument).
    HoursFromNow(i64),
}

impl Arg {
    fn powershell(&self) -> String {
        match self {
            Arg::Str(s) => quote(s),
            Arg::Server(s) => quote(s.as_str()),
            Arg::Thumb(t) => t.powershell(),
            Arg::Bool(true) => "$true".into(),
            Arg::Bool(false) => "$false".into(),
            Arg::Switch | Arg::SwitchFalse => String::new(),
            Arg::EmptyArray => "@()".into(),
            Arg::StrList(list) => {
                let quoted: Vec<String> = list.iter().map(|s| quote(s)).collect();
                format!("@({})", quoted.join(", "))
            }
            Arg::Property(var, property) => format!("{}.{property}", var.name()),
            Arg::Variable(var) => var.name().into(),
            Arg::Date(at) => quote(&at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Arg::Now => "(Get-Date)".into(),
            Arg::HoursFromNow(hours) => format!("((Get-Date).AddHours({hours}))"),
        }
    }
}

/// One cmdlet call with named parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: &'static str,
    pub params: Vec<(&'static str, Arg)>,
}

impl Command {
    pub fn new(name: &'static str) -> Command {
        Command {
            name,
            params: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: Arg) -> Command {
        self.params.push((name, value));
        self
    }

    pub fn switch(self, name: &'static str) -> Command {
        self.arg(name, Arg::Switch)
    }

    pub fn get(&self, name: &str) -> Option<&Arg> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| a)
    }

    pub fn powershell(&self) -> String {
        let mut out = self.name.to_string();
        for (name, value) in &self.params {
            match value {
                Arg::Switch => out.push_str(&format!(" -{name}")),
                Arg::SwitchFalse => out.push_str(&format!(" -{name}:$false")),
                other => out.push_str(&format!(" -{name} {}", other.powershell())),
            }
        }
        out
    }
}

/// One statement of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Run(Command),
    /// `$var = Command …`
    Assign(Var, Command),
    /// `$var = First … | Second …`
    AssignPipe(Var, Command, Command),
    /// `$global:RenewNew<slot> = Get-RenewThumbprint $var`
    Remember(u8, Var),
    /// `Invoke-Command -ComputerName 'S' -ScriptBlock { … }`
    Remote(ServerName, Vec<Command>),
    /// `Copy-RenewAuthCertificate` (see [`STEP_FUNCTIONS`]): wait up to `wait_seconds` for
    /// the certificate servicelet to replicate `thumbprint` to `target`, else copy it from
    /// `source` the way MEAC does.
    CopyAuth {
        source: ServerName,
        target: ServerName,
        thumbprint: ThumbRef,
        wait_seconds: u32,
    },
    /// `Restore-RenewTransport -Server S -Thumbprint $renewTransport.Internal…` (see
    /// [`STEP_FUNCTIONS`]).
    RestoreTransport(ServerName),
    /// `Set-RenewBackEndCertificate` (see [`STEP_FUNCTIONS`]).
    BindBackEnd {
        server: ServerName,
        thumbprint: ThumbRef,
    },
    /// `Assert-RenewRestarted -Server S` (see [`STEP_FUNCTIONS`]): MSExchangeServiceHost runs
    /// and the OWA/ECP app pools are started on S, or the step fails.
    AssertRestarted(ServerName),
}

/// Defines `Copy-RenewAuthCertificate`, `Restore-RenewTransport` and
/// `Set-RenewBackEndCertificate`, in every script and in the runner's prelude.
///
/// `Restore-RenewTransport`: after `New-ExchangeCertificate`, the recorded internal transport
/// certificate is re-enabled only if it was taken over (MEAC's New-ExchangeAuthCertificate.ps1
/// resets it with Enable-ExchangeCertificate -Force); re-enabling it unconditionally fails when
/// it has expired (DOMAIN.md §8).
///
/// `Set-RenewBackEndCertificate`: the internal transport certificate is bound to the Exchange
/// Back End site (444); `Enable-ExchangeCertificate -Services IIS` would bind the Default Web
/// Site instead (DOMAIN.md §8; MEAC's New-ExchangeAuthCertificate.ps1 leaves IIS out of the
/// transport certificate's services for that reason), so a renewed one is bound there with
/// IIS's own WebAdministration module.
///
/// `Export-ExchangeCertificate` refuses the Auth Certificate since the October 2025 security
/// update (KB5069337, DOMAIN.md §8). MEAC's current source copies it with .NET on the source
/// server inside `Invoke-Command`, in memory, and imports it with `Import-ExchangeCertificate`
/// (CSS-Exchange Shared/CertificateFunctions/Export-CertificateAndPrivateKey.ps1, used by
/// Admin/MonitorExchangeAuthCertificate/ConfigurationAction/Import-ExchangeAuthCertificateToServers.ps1).
/// Within an AD site the certificate servicelet replicates it (Set-AuthConfig), so the
/// function first waits for that and copies only what is still missing.
pub const STEP_FUNCTIONS: &str = r#"
# A certificate's thumbprint: with PowerShell serialization signing and an expired Auth
# Certificate, Get-ExchangeCertificate and New-ExchangeCertificate return objects with RawData
# only (CSS-Exchange Shared/CertificateFunctions/Import-ExchangeCertificateFromRawData.ps1, used
# by MEAC's Get-ExchangeServerCertificate.ps1 and New-ExchangeAuthCertificate.ps1): the
# thumbprint is then the SHA-1 of RawData.
function Get-RenewThumbprint {
    param($Certificate)
    if ($null -eq $Certificate) {
        return $null
    }
    if ($Certificate.Thumbprint) {
        return ([string]$Certificate.Thumbprint).ToUpperInvariant()
    }
    if ($null -eq $Certificate.RawData) {
        return $null
    }
    $sha1 = New-Object System.Security.Cryptography.SHA1CryptoServiceProvider
    ([System.BitConverter]::ToString($sha1.ComputeHash([byte[]]$Certificate.RawData))).Replace('-', '')
}

# After a restart: MSExchangeServiceHost runs and the OWA and ECP app pools are started on the
# server (checked there, through remoting for another server), waiting up to 2 minutes; throws
# otherwise, so that a service that did not come back stops the renewal.
function Assert-RenewRestarted {
    param([string]$Server)
    $probe = {
        $problems = @()
        if ([string](Get-Service -Name 'MSExchangeServiceHost').Status -ne 'Running') {
            $problems += 'MSExchangeServiceHost is not running'
        }
        foreach ($pool in @('MSExchangeOWAAppPool', 'MSExchangeECPAppPool')) {
            if ([string](Get-WebAppPoolState -Name $pool).Value -ne 'Started') {
                $problems += ('app pool {0} is not started' -f $pool)
            }
        }
        $problems
    }
    $problems = @('not checked')
    foreach ($attempt in @(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)) {
        if ($problems.Count -gt 0) {
            if ($attempt -gt 1) {
                Start-Sleep -Seconds 10
            }
            if (($Server -split '\.')[0] -eq $env:COMPUTERNAME) {
                $problems = @(& $probe)
            } else {
                $problems = @(Invoke-Command -ComputerName $Server -ScriptBlock $probe -ErrorAction Stop)
            }
        }
    }
    if ($problems.Count -gt 0) {
        throw ('{0} after the restart: {1}' -f $Server, ($problems -join '; '))
    }
    Write-Output ('{0}: MSExchangeServiceHost runs; the OWA and ECP app pools are started' -f $Server)
}
# Copies an Auth Certificate to a server that lacks it: waits for the certificate servicelet
# (same AD site), then exports it through .NET on the source server (Export-ExchangeCertificate
# refuses the Auth Certificate since KB5069337) and imports it, as MEAC does.
function Copy-RenewAuthCertificate {
    param([string]$Source, [string]$Target, [string]$Thumbprint, [int]$WaitSeconds)
    $deadline = (Get-Date).AddSeconds($WaitSeconds)
    while ($null -eq (Get-ExchangeCertificate -Server $Target -Thumbprint $Thumbprint -ErrorAction SilentlyContinue)) {
        if ((Get-Date) -ge $deadline) {
            Write-Output ('{0} does not hold {1} after {2} s: copying it from {3}' -f $Target, $Thumbprint, $WaitSeconds, $Source)
            $password = ConvertTo-SecureString -String ([guid]::NewGuid().ToString('N') + [guid]::NewGuid().ToString('N')) -AsPlainText -Force
            $export = {
                param([string]$InThumbprint, [SecureString]$InPassword)
                $store = New-Object System.Security.Cryptography.X509Certificates.X509Store('My', 'LocalMachine')
                $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadOnly)
                try {
                    $certificate = $store.Certificates | Where-Object { $_.Thumbprint -eq $InThumbprint }
                    if (-not $certificate) {
                        throw ('Certificate with thumbprint {0} not found in LocalMachine\My' -f $InThumbprint)
                    }
                    if (-not $certificate.HasPrivateKey) {
                        throw ('Certificate with thumbprint {0} has no private key' -f $InThumbprint)
                    }
                    $certificate.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx, $InPassword)
                } finally {
                    $store.Close()
                }
            }
            if (($Source -split '\.')[0] -eq $env:COMPUTERNAME) {
                $pfx = & $export $Thumbprint $password
            } else {
                $pfx = Invoke-Command -ComputerName $Source -ScriptBlock $export -ArgumentList $Thumbprint, $password -ErrorAction Stop
            }
            Import-ExchangeCertificate -Server $Target -FileData ([byte[]]$pfx) -Password $password -PrivateKeyExportable $true -ErrorAction Stop | Out-Null
            return
        }
        Write-Output ('waiting for the certificate servicelet to replicate {0} to {1}' -f $Thumbprint, $Target)
        Start-Sleep -Seconds 15
    }
    Write-Output ('{0} holds {1}' -f $Target, $Thumbprint)
}

# A certificate's services by name: a remote Exchange shell sends the AllowedServices flags as
# a number (IMAP 1, POP 2, UM 4, IIS 8, SMTP 16, Federation 32, UMCallRouter 64).
function Get-RenewServiceNames {
    param($Services)
    $text = [string]$Services
    if ($text -match '^\d+$') {
        $flags = [int]$text
        $names = @()
        foreach ($pair in @(@(1, 'IMAP'), @(2, 'POP'), @(4, 'UM'), @(8, 'IIS'), @(16, 'SMTP'), @(32, 'Federation'), @(64, 'UMCallRouter'))) {
            if ($flags -band $pair[0]) {
                $names += $pair[1]
            }
        }
        return $names
    }
    @($text -split ',\s*')
}

# Re-enables the recorded internal transport certificate for SMTP only when it is no longer the
# transport certificate (New-ExchangeCertificate may take the default SMTP certificate over):
# enabling an expired certificate fails, and what did not change is not redone.
function Restore-RenewTransport {
    param([string]$Server, [string]$Thumbprint)
    if ([string]::IsNullOrEmpty($Thumbprint)) {
        return
    }
    $current = [string](Get-TransportService -Identity $Server).InternalTransportCertificateThumbprint
    if ($current -ne $Thumbprint) {
        Write-Output ('{0}: re-enabling the internal transport certificate {1} for SMTP' -f $Server, $Thumbprint)
        Enable-ExchangeCertificate -Server $Server -Thumbprint $Thumbprint -Services 'SMTP' -Force
    }
}

# Binds the Exchange Back End site (https, port 444) of a server to a certificate, where setup
# bound the internal transport certificate: Enable-ExchangeCertificate -Services IIS binds the
# Default Web Site (front end) instead, so this is done the IIS way.
function Set-RenewBackEndCertificate {
    param([string]$Server, [string]$Thumbprint)
    $bind = {
        param([string]$InThumbprint)
        Import-Module WebAdministration
        $binding = Get-WebBinding -Name 'Exchange Back End' -Protocol 'https' -Port 444
        if ($null -eq $binding) {
            throw 'the Exchange Back End site has no https binding on port 444'
        }
        $binding.AddSslCertificate($InThumbprint, 'My')
    }
    if (($Server -split '\.')[0] -eq $env:COMPUTERNAME) {
        & $bind $Thumbprint
    } else {
        Invoke-Command -ComputerName $Server -ScriptBlock $bind -ArgumentList $Thumbprint -ErrorAction Stop
    }
}
"#;

impl Statement {
    pub fn powershell(&self) -> String {
        match self {
            Statement::Run(c) => c.powershell(),
            Statement::Assign(v, c) => format!("{} = {}", v.name(), c.powershell()),
            Statement::AssignPipe(v, a, b) => {
                format!("{} = {} | {}", v.name(), a.powershell(), b.powershell())
            }
            // With serialization signing and an expired Auth Certificate the Exchange shell
            // returns RawData only (DOMAIN.md §8): Get-RenewThumbprint hashes it then.
            Statement::Remember(slot, v) => {
                format!(
                    "$global:{} = Get-RenewThumbprint {}",
                    ThumbRef::variable(*slot),
                    v.name()
                )
            }
            Statement::AssertRestarted(server) => {
                format!("Assert-RenewRestarted -Server {}", quote(server.as_str()))
            }
            Statement::CopyAuth {
                source,
                target,
                thumbprint,
                wait_seconds,
            } => format!(
                "Copy-RenewAuthCertificate -Source {} -Target {} -Thumbprint {} -WaitSeconds {wait_seconds}",
                quote(source.as_str()),
                quote(target.as_str()),
                thumbprint.powershell()
            ),
            Statement::RestoreTransport(server) => format!(
                "Restore-RenewTransport -Server {} -Thumbprint {}.InternalTransportCertificateThumbprint",
                quote(server.as_str()),
                Var::Transport.name()
            ),
            Statement::BindBackEnd { server, thumbprint } => format!(
                "Set-RenewBackEndCertificate -Server {} -Thumbprint {}",
                quote(server.as_str()),
                thumbprint.powershell()
            ),
            Statement::Remote(server, commands) => {
                let body: Vec<String> = commands.iter().map(Command::powershell).collect();
                format!(
                    "Invoke-Command -ComputerName {} -ScriptBlock {{ {} }}",
                    quote(server.as_str()),
                    body.join("; ")
                )
            }
        }
    }

    /// Every command in the statement, in order.
    pub fn commands(&self) -> Vec<&Command> {
        match self {
            Statement::Run(c) | Statement::Assign(_, c) => vec![c],
            Statement::AssignPipe(_, a, b) => vec![a, b],
            Statement::Remote(_, list) => list.iter().collect(),
            Statement::Remember(..)
            | Statement::CopyAuth { .. }
            | Statement::BindBackEnd { .. }
            | Statement::AssertRestarted(_)
            | Statement::RestoreTransport(_) => Vec::new(),
        }
    }
}

/// Statements as lines of PowerShell.
pub fn render(statements: &[Statement]) -> String {
    statements
        .iter()
        .map(Statement::powershell)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_double_every_quote_character() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("a\u{2019}b"), "('a' + [char]0x2019 + 'b')");
        assert_eq!(quote("\u{142}"), "('' + [char]0x0142)");
        assert_eq!(
            quote("\u{1F600}x"),
            "('' + [char]0xD83D + [char]0xDE00 + 'x')"
        );
        assert_eq!(quote("a\u{0}"), "('a' + [char]0xFFFD)");
        assert_eq!(quote("$(x) `y; z"), "'$(x) `y; z'");
    }

    #[test]
    fn server_names_are_dns_names() {
        assert!(ServerName::parse("EXCH01").is_ok());
        assert!(ServerName::parse("exch01.contoso.lab").is_ok());
        for bad in ["", "a'b", "a b", "a;b", "$(x)", "a\nb", "-a", "a..b", "a`b"] {
            assert!(ServerName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn thumbprints_are_40_hex_digits() {
        assert!(thumbprint(&"A".repeat(40)).is_ok());
        assert!(thumbprint(&"A".repeat(39)).is_err());
        assert!(thumbprint(&format!("{}'", "A".repeat(39))).is_err());
    }

    #[test]
    fn text_refuses_control_characters() {
        assert!(text("Microsoft Exchange", "friendly name").is_ok());
        assert!(text("a\nb", "friendly name").is_err());
    }
}

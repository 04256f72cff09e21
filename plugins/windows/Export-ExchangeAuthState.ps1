<#
.SYNOPSIS
    Exports the Exchange Auth certificate state of the organisation to one JSON bundle for
    check_exchange_authcert.

.DESCRIPTION
    Collects, read-only, what check_exchange_authcert needs to judge the Exchange Server Auth
    (OAuth) certificate and the servers' self-signed certificates:

      - Get-AuthConfig (current, previous and next Auth certificate, effective date);
      - Get-ExchangeServer (name, FQDN, AD site, version, roles) for every Mailbox/Client Access
        server of version 15 (Exchange 2013 to Subscription Edition) that is not an Edge server,
        or for the servers named with -Server;
      - per server, every certificate Get-ExchangeCertificate -Server lists, with its RawData (the
        DER certificate, from which the check reads every fact), services, friendly name, status;
        a server that cannot be queried is recorded as unreachable with the reason;
      - per server, the internal transport certificate thumbprint (Get-TransportService);
      - whether the organisation is hybrid with Exchange Online, by HealthChecker's three signs
        (Invoke-AnalyzerHybridInformation.ps1): a HybridConfiguration object; OAuth to
        Exchange Online (an enabled AzureAD or MicrosoftACS AuthServer and the enabled Exchange
        Online partner application 00000002-0000-0ff1-ce00-000000000000); the dedicated hybrid
        application (an enabled AzureAD AuthServer whose ApplicationIdentifier is a GUID).

    The result is written atomically (temporary file in the same folder, then renamed over the
    target) as UTF-8 JSON, schema "exchange-authcert-bundle" version 1, documented in BUNDLE.md
    next to this script. Nothing in Exchange is changed.

    Runs in the Exchange Management Shell, or in a plain Windows PowerShell 5.1 on a machine with
    the Exchange management tools: the Exchange cmdlets are then loaded the supported way, as
    Microsoft's MonitorExchangeAuthCertificate does (RemoteExchange.ps1, Connect-ExchangeServer).
    With PowerShell serialization signing and an expired Auth Certificate, Get-ExchangeCertificate
    returns RawData only; the thumbprint is then computed from it (SHA-1), so such a server is
    still reported with its certificates.

    Exit codes: 0 bundle written (problems found in Exchange are recorded in the bundle for the
    check to judge); 1 the bundle could not be written; 2 the Exchange cmdlets are not available or
    the server list could not be read (nothing written; the previous bundle stays and grows
    stale, which the check reports).

.PARAMETER OutputPath
    Where to write the bundle. Default:
    $env:ProgramData\ExchangeAuthCert\exchange-authstate.json. The folder is created if missing.

.PARAMETER Server
    Query only these servers (names or FQDNs), for example to split a large organisation between
    several collectors. Default: every Mailbox/Client Access server of version 15 that is not an
    Edge server, as Get-ExchangeServer lists them. A named server that Get-ExchangeServer does not
    know is recorded as unreachable, so the check reports it.

.EXAMPLE
    .\Export-ExchangeAuthState.ps1

    Collects the whole organisation into C:\ProgramData\ExchangeAuthCert\exchange-authstate.json.

.EXAMPLE
    .\Export-ExchangeAuthState.ps1 -OutputPath \\monitor01\bundles$\contoso.json -Verbose

    Writes the bundle to a share the monitoring host reads, showing progress per server.

.EXAMPLE
    .\Export-ExchangeAuthState.ps1 -Server EXCH01, EXCH02 -OutputPath D:\Monitoring\site-a.json

    Collects two servers only.

.NOTES
    Version 1.2.0. Needs read access to the Exchange configuration (View-Only Organization
    Management is enough). Register it as an hourly task with Register-ExchangeAuthStateTask.ps1.
    Windows PowerShell 5.1 or later.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty()]
    [string]$OutputPath = (Join-Path -Path $env:ProgramData -ChildPath 'ExchangeAuthCert\exchange-authstate.json'),

    [Parameter()]
    [string[]]$Server
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$CollectorVersion = '1.2.0'
$BundleSchema = 'exchange-authcert-bundle'
$BundleSchemaVersion = 1
$Invariant = [System.Globalization.CultureInfo]::InvariantCulture

# Windows PowerShell 5.1 defines an ETS Count property on System.Array; with it, an array that was
# ever wrapped in a PSObject serialises as {"value": [...], "Count": n}. The bundle needs plain
# arrays. The change lasts for this session only.
if ($PSVersionTable.PSVersion.Major -lt 6) {
    Remove-TypeData -TypeName System.Array -ErrorAction SilentlyContinue
}

# AllowedServices flags of Exchange, for services that arrive as a number.
$ServiceFlags = [ordered]@{
    IMAP         = 1
    POP          = 2
    UM           = 4
    IIS          = 8
    SMTP         = 16
    Federation   = 32
    UMCallRouter = 64
}

function Get-OneLine {
    # The message of an error record or exception, on one line.
    param($ErrorObject)
    $message = $null
    if ($ErrorObject -is [System.Management.Automation.ErrorRecord]) {
        $message = $ErrorObject.Exception.Message
    } elseif ($ErrorObject -is [System.Exception]) {
        $message = $ErrorObject.Message
    } else {
        $message = [string]$ErrorObject
    }
    if ([string]::IsNullOrWhiteSpace($message)) {
        return 'unknown error'
    }
    return ($message -replace '\s+', ' ').Trim()
}

function Get-PropertyValue {
    # A property of an Exchange object or $null, without tripping StrictMode when a deserialized
    # object (remote Exchange Management Shell) lacks it.
    param($InputObject, [string]$Name)
    if ($null -eq $InputObject) {
        return $null
    }
    $property = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $property) {
        return $null
    }
    # The comma keeps an array (RawData) in one piece instead of unrolling it into the pipeline.
    return , $property.Value
}

function ConvertTo-Text {
    # Text or $null for empty values.
    param($Value)
    if ($null -eq $Value) {
        return $null
    }
    $text = [string]$Value
    if ([string]::IsNullOrWhiteSpace($text)) {
        return $null
    }
    return $text.Trim()
}

function ConvertTo-BundleDate {
    # ISO-8601 in UTC with Z, or $null.
    param($Value)
    if ($null -eq $Value) {
        return $null
    }
    if ($Value -is [System.DateTimeOffset]) {
        return $Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $Invariant)
    }
    if ($Value -isnot [System.DateTime]) {
        $text = ConvertTo-Text $Value
        if ($null -eq $text) {
            return $null
        }
        $parsed = [System.DateTimeOffset]::MinValue
        if (-not [System.DateTimeOffset]::TryParse($text, $Invariant, [System.Globalization.DateTimeStyles]::AssumeUniversal, [ref]$parsed)) {
            throw "cannot read the date '$text'"
        }
        return $parsed.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $Invariant)
    }
    # Kind Utc stays as it is; Local (and Unspecified, which .NET treats as local) is converted.
    return $Value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $Invariant)
}

function ConvertTo-ServiceName {
    # Emits the names of the services a certificate is enabled for (nothing for None).
    param($Services)
    if ($null -eq $Services) {
        return
    }
    # [string], not .ToString(): a deserialized enum converts to its names that way.
    $text = [string]$Services
    $number = 0
    if ([int]::TryParse($text, [ref]$number)) {
        foreach ($entry in $ServiceFlags.GetEnumerator()) {
            if ($number -band $entry.Value) {
                $entry.Key
            }
        }
        return
    }
    foreach ($part in ($text -split ',')) {
        $name = $part.Trim()
        if ($name -and $name -ne 'None') {
            $name
        }
    }
}

function ConvertTo-RoleName {
    # Emits the roles of a server, e.g. Mailbox, ClientAccess. A remote session may hand over the
    # ServerRole flags as a bare number; the Is*Server properties then tell the roles.
    param($ExchangeServer)
    $text = ConvertTo-Text (Get-PropertyValue $ExchangeServer 'ServerRole')
    if ($null -ne $text -and $text -notmatch '^\d+$') {
        foreach ($part in ($text -split ',')) {
            $name = $part.Trim()
            if ($name -and $name -ne 'None') {
                $name
            }
        }
        return
    }
    $flags = [ordered]@{
        IsMailboxServer          = 'Mailbox'
        IsClientAccessServer     = 'ClientAccess'
        IsHubTransportServer     = 'HubTransport'
        IsUnifiedMessagingServer = 'UnifiedMessaging'
        IsEdgeServer             = 'Edge'
    }
    foreach ($entry in $flags.GetEnumerator()) {
        if ([bool](Get-PropertyValue $ExchangeServer $entry.Key)) {
            $entry.Value
        }
    }
}

function Get-SiteName {
    # The AD site name: the last element of contoso.lab/Configuration/Sites/<site>, or the first
    # RDN of a distinguished name.
    param($Site)
    $name = ConvertTo-Text (Get-PropertyValue $Site 'Name')
    if ($null -ne $name -and $Site -isnot [string]) {
        return $name
    }
    $text = ConvertTo-Text $Site
    if ($null -eq $text) {
        return $null
    }
    if ($text -match '^CN=([^,]+),') {
        return $Matches[1]
    }
    $parts = @($text -split '/' | Where-Object { $_ })
    if ($parts.Count -eq 0) {
        return $null
    }
    return $parts[$parts.Count - 1]
}

function Get-MajorVersion {
    # AdminDisplayVersion.Major; a remote session may hand over the version as text only.
    param($ExchangeServer)
    $version = Get-PropertyValue $ExchangeServer 'AdminDisplayVersion'
    $major = Get-PropertyValue $version 'Major'
    if ($null -ne $major) {
        return [int]$major
    }
    $match = [regex]::Match([string]$version, 'Version\s+(\d+)\.')
    if ($match.Success) {
        return [int]$match.Groups[1].Value
    }
    return $null
}

function Import-ExchangeCmdlet {
    # Makes the Exchange cmdlets available: already there in the Exchange Management Shell,
    # otherwise loaded the supported way, as MEAC does (CSS-Exchange
    # Shared/Confirm-ExchangeShell.ps1): RemoteExchange.ps1 from the Exchange installation,
    # then Connect-ExchangeServer -Auto.
    if (Get-Command -Name Get-ExchangeServer -ErrorAction SilentlyContinue) {
        return
    }
    if ($PSVersionTable.PSEdition -eq 'Core') {
        throw 'The Exchange cmdlets are not available, and PowerShell 7 cannot load the Exchange Management Shell. Run this script in Windows PowerShell 5.1 (powershell.exe) or in the Exchange Management Shell.'
    }
    if ([string]::IsNullOrEmpty($env:ExchangeInstallPath)) {
        throw 'The Exchange cmdlets are not available and ExchangeInstallPath is not set. Run this script on a machine with the Exchange management tools, in Windows PowerShell 5.1, or in the Exchange Management Shell.'
    }
    $remoteExchange = Join-Path -Path $env:ExchangeInstallPath -ChildPath 'bin\RemoteExchange.ps1'
    try {
        . $remoteExchange
        Connect-ExchangeServer -auto -ClientApplication:ManagementShell
    } catch {
        throw ('The Exchange cmdlets are not available ({0}: {1}). Run this script in the Exchange Management Shell.' -f $remoteExchange, (Get-OneLine $_))
    }
    if (-not (Get-Command -Name Get-ExchangeServer -ErrorAction SilentlyContinue)) {
        throw 'Connect-ExchangeServer did not make the Exchange cmdlets available. Run this script in the Exchange Management Shell.'
    }
    Write-Verbose "Connected to Exchange through $remoteExchange."
}

function Get-AuthConfigEntry {
    # Returns @{ Config = ordered hashtable or $null; Error = text or $null }.
    try {
        $authConfig = Get-AuthConfig -ErrorAction Stop
        $config = [ordered]@{
            CurrentCertificateThumbprint  = [string](Get-PropertyValue $authConfig 'CurrentCertificateThumbprint')
            PreviousCertificateThumbprint = [string](Get-PropertyValue $authConfig 'PreviousCertificateThumbprint')
            NextCertificateThumbprint     = [string](Get-PropertyValue $authConfig 'NextCertificateThumbprint')
            NextCertificateEffectiveDate  = ConvertTo-BundleDate (Get-PropertyValue $authConfig 'NextCertificateEffectiveDate')
            ServiceName                   = [string](Get-PropertyValue $authConfig 'ServiceName')
            Realm                         = [string](Get-PropertyValue $authConfig 'Realm')
            # Collector 1.1: AD's whenChanged; the check allows for the metadata cache after it.
            WhenChangedUTC                = ConvertTo-BundleDate (Get-PropertyValue $authConfig 'WhenChangedUTC')
        }
        return @{ Config = $config; Error = $null }
    } catch {
        Write-Warning ('Get-AuthConfig failed: {0}' -f (Get-OneLine $_))
        return @{ Config = $null; Error = (Get-OneLine $_) }
    }
}

function Get-HybridEntry {
    # detected: a HybridConfiguration object; collector 1.1 adds HealthChecker's two other signs
    # (Invoke-AnalyzerHybridInformation.ps1). A sign that cannot be read stays $null.
    $entry = [ordered]@{ detected = $null; error = $null; oauth_to_exchange_online = $null; dedicated_application = $null }
    try {
        $hybrid = Get-HybridConfiguration -ErrorAction Stop
        $entry.detected = [bool]($null -ne $hybrid)
    } catch {
        Write-Warning ('Get-HybridConfiguration failed: {0}' -f (Get-OneLine $_))
        $entry.error = Get-OneLine $_
    }
    try {
        $authServers = @(Get-AuthServer -ErrorAction Stop | Where-Object { $_.Enabled -eq $true })
        $evoSts = @($authServers | Where-Object { $null -ne $_.Type -and $_.Type.ToString() -eq 'AzureAD' })
        $acs = @($authServers | Where-Object { $null -ne $_.Type -and $_.Type.ToString() -eq 'MicrosoftACS' })
        $exchangeOnline = @(Get-PartnerApplication -ErrorAction Stop | Where-Object {
                $_.ApplicationIdentifier -eq '00000002-0000-0ff1-ce00-000000000000' -and $_.Enabled -eq $true })
        $guid = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
        $entry.oauth_to_exchange_online = [bool](($evoSts.Count + $acs.Count) -gt 0 -and $exchangeOnline.Count -gt 0)
        $entry.dedicated_application = [bool](@($evoSts | Where-Object { [string]$_.ApplicationIdentifier -match $guid }).Count -gt 0)
    } catch {
        Write-Warning ('Get-AuthServer/Get-PartnerApplication failed: {0}' -f (Get-OneLine $_))
    }
    return $entry
}

function Get-TargetServer {
    # The Get-ExchangeServer objects to query, and entries for named servers Exchange does not know.
    param([string[]]$Names)
    $targets = New-Object System.Collections.Generic.List[object]
    $unknown = New-Object System.Collections.Generic.List[object]
    if ($Names -and $Names.Count -gt 0) {
        foreach ($name in $Names) {
            try {
                foreach ($found in @(Get-ExchangeServer -Identity $name -ErrorAction Stop)) {
                    $targets.Add($found)
                }
            } catch {
                Write-Warning ('Get-ExchangeServer -Identity {0} failed: {1}' -f $name, (Get-OneLine $_))
                $unknown.Add(@{ Name = $name; Error = ('Get-ExchangeServer: {0}' -f (Get-OneLine $_)) })
            }
        }
    } else {
        foreach ($candidate in @(Get-ExchangeServer -ErrorAction Stop)) {
            $isEdge = [bool](Get-PropertyValue $candidate 'IsEdgeServer')
            $isMailbox = [bool](Get-PropertyValue $candidate 'IsMailboxServer')
            $isClientAccess = [bool](Get-PropertyValue $candidate 'IsClientAccessServer')
            if ((Get-MajorVersion $candidate) -eq 15 -and -not $isEdge -and ($isMailbox -or $isClientAccess)) {
                $targets.Add($candidate)
            } else {
                Write-Verbose ('Skipping {0}: not a version 15 Mailbox/Client Access server, or an Edge server.' -f (Get-PropertyValue $candidate 'Name'))
            }
        }
    }
    return @{ Targets = $targets; Unknown = $unknown }
}

function Get-RawDataThumbprint {
    # Upper-case hex SHA-1 of a certificate's DER, which is its thumbprint.
    param([byte[]]$RawData)
    $sha1 = New-Object System.Security.Cryptography.SHA1CryptoServiceProvider
    try {
        return ([System.BitConverter]::ToString($sha1.ComputeHash($RawData))).Replace('-', '')
    } finally {
        $sha1.Dispose()
    }
}

function Get-CertificateEntry {
    # Emits one ordered hashtable per certificate of the list.
    param($Certificates, [string]$ServerName)
    foreach ($certificate in $Certificates) {
        $rawData = Get-PropertyValue $certificate 'RawData'
        if ($null -eq $rawData) {
            Write-Warning ('{0}: a certificate without RawData was skipped.' -f $ServerName)
            continue
        }
        # With PowerShell serialization signing and an expired Auth Certificate the objects
        # arrive with RawData only (CSS-Exchange
        # Shared/CertificateFunctions/Import-ExchangeCertificateFromRawData.ps1, used by MEAC's
        # Get-ExchangeServerCertificate.ps1): the thumbprint is the SHA-1 of RawData, and the
        # check reads every other fact from RawData anyway.
        $thumbprint = ConvertTo-Text (Get-PropertyValue $certificate 'Thumbprint')
        if ($null -eq $thumbprint) {
            $thumbprint = Get-RawDataThumbprint ([byte[]]$rawData)
        }
        [ordered]@{
            thumbprint    = $thumbprint.ToUpperInvariant()
            raw_data      = [System.Convert]::ToBase64String([byte[]]$rawData)
            services      = [string[]]@(ConvertTo-ServiceName (Get-PropertyValue $certificate 'Services'))
            friendly_name = ConvertTo-Text (Get-PropertyValue $certificate 'FriendlyName')
            status        = ConvertTo-Text (Get-PropertyValue $certificate 'Status')
        }
    }
}

function Get-ServerEntry {
    # One ordered hashtable describing a server and its certificate store.
    param($ExchangeServer)
    $name = ConvertTo-Text (Get-PropertyValue $ExchangeServer 'Name')
    $fqdn = ConvertTo-Text (Get-PropertyValue $ExchangeServer 'Fqdn')
    $query = $fqdn
    if ($null -eq $query) {
        $query = $name
    }
    Write-Verbose "Querying the certificates of $name ($query)."

    $reachable = $true
    $errorText = $null
    $certificates = [object[]]@()
    try {
        $found = @(Get-ExchangeCertificate -Server $query -ErrorAction Stop)
        $certificates = [object[]]@(Get-CertificateEntry -Certificates $found -ServerName $name)
    } catch {
        # Listing a whole store has no "not found" case: any failure means the server could not
        # be queried (MEAC's "unreachable").
        $reachable = $false
        $errorText = Get-OneLine $_
        $certificates = [object[]]@()
        Write-Warning ('{0}: Get-ExchangeCertificate failed: {1}' -f $name, $errorText)
    }

    $transportThumbprint = $null
    try {
        $transport = Get-TransportService -Identity $name -ErrorAction Stop
        $transportThumbprint = ConvertTo-Text (Get-PropertyValue $transport 'InternalTransportCertificateThumbprint')
        if ($null -ne $transportThumbprint) {
            $transportThumbprint = $transportThumbprint.ToUpperInvariant()
        }
    } catch {
        Write-Verbose ('{0}: Get-TransportService failed: {1}' -f $name, (Get-OneLine $_))
    }

    return [ordered]@{
        name                                      = $name
        fqdn                                      = $fqdn
        site                                      = Get-SiteName (Get-PropertyValue $ExchangeServer 'Site')
        version                                   = ConvertTo-Text (Get-PropertyValue $ExchangeServer 'AdminDisplayVersion')
        major_version                             = Get-MajorVersion $ExchangeServer
        roles                                     = [string[]]@(ConvertTo-RoleName $ExchangeServer)
        is_edge                                   = [bool](Get-PropertyValue $ExchangeServer 'IsEdgeServer')
        reachable                                 = $reachable
        error                                     = $errorText
        internal_transport_certificate_thumbprint = $transportThumbprint
        certificates                              = $certificates
    }
}

function Get-CollectorHostName {
    try {
        $properties = [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties()
        if ($properties.DomainName) {
            return ('{0}.{1}' -f $properties.HostName, $properties.DomainName)
        }
        return $properties.HostName
    } catch {
        return $env:COMPUTERNAME
    }
}

function Write-BundleFile {
    # Writes the text as UTF-8 without BOM to a temporary file beside the target, then renames it
    # over the target, so a reader never sees a half-written bundle.
    param([string]$Path, [string]$Text)
    $folder = [System.IO.Path]::GetDirectoryName($Path)
    if ($folder -and -not [System.IO.Directory]::Exists($folder)) {
        [void][System.IO.Directory]::CreateDirectory($folder)
    }
    $leaf = [System.IO.Path]::GetFileName($Path)
    $temporary = [System.IO.Path]::Combine($folder, ('.{0}.{1}.tmp' -f $leaf, [guid]::NewGuid().ToString('N')))
    try {
        [System.IO.File]::WriteAllText($temporary, $Text, (New-Object System.Text.UTF8Encoding($false)))
        if ([System.IO.File]::Exists($Path)) {
            try {
                # NullString: a plain $null would reach .NET as "" (an invalid backup file name).
                [System.IO.File]::Replace($temporary, $Path, [System.Management.Automation.Language.NullString]::Value)
            } catch {
                # Some file systems (certain network shares) do not support ReplaceFile.
                Move-Item -LiteralPath $temporary -Destination $Path -Force -ErrorAction Stop
            }
        } else {
            [System.IO.File]::Move($temporary, $Path)
        }
    } finally {
        if ([System.IO.File]::Exists($temporary)) {
            Remove-Item -LiteralPath $temporary -Force -ErrorAction SilentlyContinue
        }
    }
}

# --- Main -------------------------------------------------------------------------------------

# .NET resolves relative paths against the process directory, not the PowerShell location.
$OutputPath = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutputPath)
$collectedAt = [System.DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $Invariant)

try {
    Import-ExchangeCmdlet
    $selection = Get-TargetServer -Names $Server
} catch {
    Write-Error -Message ('Export-ExchangeAuthState: {0}' -f (Get-OneLine $_)) -ErrorAction Continue
    exit 2
}

$authConfig = Get-AuthConfigEntry
$hybrid = Get-HybridEntry

$servers = New-Object System.Collections.Generic.List[object]
foreach ($exchangeServer in $selection.Targets) {
    try {
        $servers.Add((Get-ServerEntry -ExchangeServer $exchangeServer))
    } catch {
        # An unexpected failure for one server must not lose the others.
        $name = ConvertTo-Text (Get-PropertyValue $exchangeServer 'Name')
        Write-Warning ('{0}: {1}' -f $name, (Get-OneLine $_))
        $servers.Add([ordered]@{
                name                                      = $name
                fqdn                                      = ConvertTo-Text (Get-PropertyValue $exchangeServer 'Fqdn')
                site                                      = $null
                version                                   = $null
                major_version                             = $null
                roles                                     = [string[]]@()
                is_edge                                   = $false
                reachable                                 = $false
                error                                     = ('collector failure: {0}' -f (Get-OneLine $_))
                internal_transport_certificate_thumbprint = $null
                certificates                              = [object[]]@()
            })
    }
}
foreach ($unknown in $selection.Unknown) {
    $servers.Add([ordered]@{
            name                                      = $unknown.Name
            fqdn                                      = $null
            site                                      = $null
            version                                   = $null
            major_version                             = $null
            roles                                     = [string[]]@()
            is_edge                                   = $false
            reachable                                 = $false
            error                                     = $unknown.Error
            internal_transport_certificate_thumbprint = $null
            certificates                              = [object[]]@()
        })
}

$bundle = [ordered]@{
    schema            = $BundleSchema
    schema_version    = $BundleSchemaVersion
    collected_at      = $collectedAt
    collected_on      = Get-CollectorHostName
    collector_version = $CollectorVersion
    auth_config       = $authConfig.Config
    auth_config_error = $authConfig.Error
    hybrid            = $hybrid
    servers           = $servers.ToArray()
}

try {
    # -InputObject, not the pipeline: piped arrays are unrolled. Depth 6 reaches the services of
    # a certificate (bundle > servers > server > certificates > certificate > services).
    $json = ConvertTo-Json -InputObject $bundle -Depth 6
    Write-BundleFile -Path $OutputPath -Text $json
} catch {
    Write-Error -Message ('Export-ExchangeAuthState: cannot write {0}: {1}' -f $OutputPath, (Get-OneLine $_)) -ErrorAction Continue
    exit 1
}

Write-Verbose ('Wrote {0} ({1} servers).' -f $OutputPath, $servers.Count)
exit 0

//! Findings: what the judgement says, each with a severity and a stable code.
//!
//! Codes are part of the tool's interface (monitoring rules, the renewal companion and the README
//! table match on them), so they only ever get added, never renamed.

use nagiosplugin::ServiceState;
use serde::Serialize;

use crate::model::Thumbprint;

/// What a finding (or a metric) is about: the part of the organisation a monitoring system
/// shows it under (a Checkmk service, a PRTG channel's concern). Decided by the judgement, so
/// that no renderer routes findings by their code's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// The run as a whole: inputs, AuthConfig, reachability, freshness, hybrid, the published
    /// metadata, CA-issued certificates in the stores.
    Overall,
    /// The current Auth Certificate, and the previous one it replaced (in file mode: the Auth
    /// certificate files).
    AuthCurrent,
    /// The staged next Auth Certificate.
    AuthNext,
    /// One server's store: its self-signed certificates and Auth-named leftovers (the finding
    /// names the server).
    ServerStore,
    /// Certificate files given on the command line that are not judged as Auth Certificates.
    CertificateFiles,
}

/// How bad a finding is. `Info` never changes the service state; it is there so the long output
/// and the JSON report can say things an admin should know (e.g. "previous certificate can be
/// cleared").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Critical,
    Unknown,
}

impl Severity {
    /// Worst first for long output: CRITICAL, WARNING, UNKNOWN, then the informational lines.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Critical => 4,
            Severity::Warning => 3,
            Severity::Unknown => 2,
            Severity::Info => 1,
            Severity::Ok => 0,
        }
    }

    /// The service state this severity gives a check: INFO counts as OK.
    pub fn service_state(self) -> ServiceState {
        match self {
            Severity::Ok | Severity::Info => ServiceState::Ok,
            Severity::Warning => ServiceState::Warning,
            Severity::Critical => ServiceState::Critical,
            Severity::Unknown => ServiceState::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

macro_rules! finding_codes {
    ($($variant:ident = $code:literal, $topic:ident, $severity:literal, $meaning:literal;)*) => {
        /// Every finding the check can report. The README table is checked against this list.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FindingCode { $($variant),* }

        impl FindingCode {
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(FindingCode::$variant => $code),* }
            }

            /// The usual severity, as documented (some are configurable).
            pub fn documented_severity(self) -> &'static str {
                match self { $(FindingCode::$variant => $severity),* }
            }

            pub fn meaning(self) -> &'static str {
                match self { $(FindingCode::$variant => $meaning),* }
            }

            /// What the finding is about, unless the rule that raises it knows better
            /// ([`Finding::on_topic`]).
            pub fn topic(self) -> Topic {
                match self { $(FindingCode::$variant => Topic::$topic),* }
            }
        }
    };
}

finding_codes! {
    CertOk = "cert.ok", CertificateFiles, "OK", "A certificate given with --cert is valid and outside its thresholds.";
    CertExpiring = "cert.expiring", CertificateFiles, "WARNING/CRITICAL", "A certificate's days left breach -w/-c (Auth) or --selfsigned-warning/--selfsigned-critical (others).";
    CertExpired = "cert.expired", CertificateFiles, "CRITICAL", "A certificate's NotAfter has passed.";
    CertNotYetValid = "cert.not_yet_valid", CertificateFiles, "WARNING", "A certificate's NotBefore lies in the future.";
    CertUnusedExpired = "cert.unused_expired", Overall, "INFO", "A CA-issued certificate in a server's store expired and is bound to no service: it can be removed.";
    AuthConfigMissing = "auth.config.missing", Overall, "CRITICAL", "No AuthConfig (or it could not be read), or AuthConfig has no current certificate thumbprint.";
    AuthCurrentNotFound = "auth.current.not_found", AuthCurrent, "CRITICAL", "AuthConfig's current thumbprint is in no server's certificate store (UNKNOWN when no store was given).";
    AuthCurrentMissingOnServers = "auth.current.missing_on_servers", AuthCurrent, "CRITICAL", "Servers that must hold the current Auth Certificate do not (names them).";
    AuthCurrentExpired = "auth.current.expired", AuthCurrent, "CRITICAL", "The current Auth Certificate has expired.";
    AuthCurrentExpiring = "auth.current.expiring", AuthCurrent, "WARNING/CRITICAL", "The current Auth Certificate's days left breach -w/-c (INFO while a staged rotation will take over in time).";
    AuthNextNotStaged = "auth.next.not_staged", AuthNext, "WARNING", "The current certificate expires within --rotation-window and no valid next certificate is staged.";
    AuthNextExpiring = "auth.next.expiring", AuthNext, "WARNING", "The staged next certificate has --next-min-days (120) days or less left, or has expired.";
    AuthNextMissingOnServers = "auth.next.missing_on_servers", AuthNext, "WARNING", "Servers that must hold the staged next certificate do not.";
    AuthNextEffectiveAfterCurrentExpiry = "auth.next.effective_after_current_expiry", AuthNext, "CRITICAL", "The next certificate becomes effective after the current one expires: nothing valid signs in between.";
    AuthNextOverdue = "auth.next.overdue", AuthNext, "WARNING", "The next certificate's effective date passed more than --publish-grace ago and it is still next: the AuthAdmin servicelet is not publishing.";
    AuthPreviousLingering = "auth.previous.lingering", AuthCurrent, "INFO", "A previous Auth Certificate is still set (with its days left).";
    AuthPreviousExpired = "auth.previous.expired", AuthCurrent, "INFO", "The previous Auth Certificate has expired: clear it (Set-AuthConfig -ClearPreviousCertificate).";
    AuthUnreferenced = "auth.unreferenced", ServerStore, "INFO", "A certificate named like the Auth Certificate that AuthConfig does not reference (a leftover).";
    AuthWeakKey = "auth.weak_key", AuthCurrent, "CRITICAL", "An Auth Certificate (AuthConfig's current or next one, or an Auth certificate file) has an RSA key shorter than 2048 bits (HealthChecker: red).";
    AuthWeakSignature = "auth.weak_signature", AuthCurrent, "WARNING", "An Auth Certificate is signed with SHA-1 or MD5 (HealthChecker: yellow).";
    ServersUnreachable = "servers.unreachable", Overall, "UNKNOWN", "A server's certificates could not be queried (configurable with --unreachable-state).";
    ServersNotCollected = "servers.not_collected", Overall, "UNKNOWN", "A listed server that must hold the Auth Certificate has no certificate export: it was not checked (configurable with --unreachable-state).";
    ServersProbeRefused = "servers.probe_refused", ServerStore, "INFO", "--probe-servers: the server's Auth metadata endpoint answered with an error; Exchange cannot serve it when the current Auth Certificate or its private key is missing from that server's store, so the server counts as missing it (auth.current.missing_on_servers). Says what it answered.";
    ServersProbeUnconfirmed = "servers.probe_unconfirmed", ServerStore, "INFO", "--probe-servers: the server's Auth metadata does not publish the current Auth Certificate: cached up to 12 h after a rotation, and an expired certificate is not published; that server is not judged missing.";
    ServersMultipleSites = "servers.multiple_sites", Overall, "INFO", "The servers that must hold the Auth Certificate are in more than one AD site: the certificate servicelet replicates only within a site, so check the other sites after a renewal (MEAC).";
    HybridDetected = "hybrid.detected", Overall, "INFO/WARNING", "A hybrid configuration exists; WARNING while the Auth Certificate changed recently or a rotation is pending: rerun the Hybrid Configuration Wizard.";
    TransportMissing = "transport.missing", ServerStore, "CRITICAL", "The server's internal transport certificate (the thumbprint Exchange records for it) is not in its store (HealthChecker: red).";
    SelfSignedExpired = "selfsigned.expired", ServerStore, "CRITICAL", "A self-signed server certificate (internal transport, back end, WMSvc ...) has expired and is bound to a service (or its services are unknown).";
    SelfSignedExpiring = "selfsigned.expiring", ServerStore, "WARNING/CRITICAL", "A self-signed server certificate's days left breach --selfsigned-warning/--selfsigned-critical.";
    SelfSignedUnusedExpired = "selfsigned.unused_expired", ServerStore, "INFO", "A self-signed certificate expired and is bound to no service: it can be removed.";
    SelfSignedUnbound = "selfsigned.unbound", ServerStore, "INFO", "A self-signed certificate bound to no service (neither the Auth nor the internal transport certificate) nears expiry: nothing uses it, so it needs no renewal (--alert-unbound alerts on it).";
    CertUnbound = "cert.unbound", Overall, "INFO", "A CA-issued certificate in a server's store, bound to no service, nears expiry: nothing uses it (--alert-unbound alerts on it).";
    ExportStale = "export.stale", Overall, "WARNING", "The bundle (or export file) is older than --max-age.";
    MetadataOk = "metadata.ok", Overall, "OK", "A signing certificate published in the Auth metadata document (--metadata) is valid and outside -w/-c.";
    MetadataExpiring = "metadata.expiring", Overall, "WARNING/CRITICAL", "A published signing certificate's days left breach -w/-c (INFO for AuthConfig's current certificate, judged by auth.current.*, for its previous one, or while another published certificate is valid longer).";
    MetadataExpired = "metadata.expired", Overall, "CRITICAL", "A published signing certificate has expired (INFO for AuthConfig's current certificate, judged by auth.current.*, for its previous one, or while another published certificate is valid).";
    MetadataX5tMismatch = "metadata.x5t_mismatch", Overall, "WARNING", "A published key's x5t is not the base64url SHA-1 of its certificate.";
    MetadataCurrentNotPublished = "metadata.current_not_published", Overall, "CRITICAL", "AuthConfig's current certificate is not in the metadata document (WARNING when AuthConfig's next is published instead: the AuthConfig export predates a rotation). Exchange caches the document up to 12 h.";
    MetadataUnexpectedKey = "metadata.unexpected_key", Overall, "WARNING", "The metadata document publishes a certificate that is neither AuthConfig's current nor its previous one.";
    MetadataNoKeys = "metadata.no_keys", Overall, "CRITICAL", "The metadata document publishes no signing certificate: tokens this organisation signs cannot be validated.";
    MetadataHttpError = "metadata.http_error", Overall, "UNKNOWN", "The metadata URL answered with an HTTP error status, too many redirects, a redirect away from https, or a body over 1 MiB (also after decompression).";
    MetadataInvalid = "metadata.invalid", Overall, "UNKNOWN", "The metadata URL answered with something that is not a metadata document (not JSON, no keys list), or a published key could not be decoded.";
    EndpointUnreachable = "endpoint.unreachable", Overall, "UNKNOWN", "A --metadata URL or --tls endpoint could not be reached: DNS, connection, STARTTLS, TLS or timeout (configurable with --unreachable-state).";
    InputInvalid = "input.invalid", Overall, "UNKNOWN", "An input could not be read or understood, or an option is invalid.";
    CheckTimeout = "check.timeout", Overall, "UNKNOWN", "The check did not finish within -t/--timeout.";
    InternalError = "internal.error", Overall, "UNKNOWN", "The check failed internally (a bug: please report it).";
}

impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: FindingCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<Thumbprint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip)]
    pub topic: Topic,
}

impl Finding {
    pub fn new(severity: Severity, code: FindingCode, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            code,
            message: super::one_line(&message.into()),
            thumbprint: None,
            server: None,
            topic: code.topic(),
        }
    }

    pub fn about(mut self, thumbprint: &Thumbprint) -> Finding {
        self.thumbprint = Some(thumbprint.clone());
        self
    }

    /// The finding concerns this server (its store, or its reachability).
    pub fn on_server(mut self, server: &str) -> Finding {
        self.server = Some(server.to_string());
        self
    }

    /// For the codes whose topic depends on where the rule found it (`cert.*`: a file, or a
    /// certificate in a store).
    pub fn on_topic(mut self, topic: Topic) -> Finding {
        self.topic = topic;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for code in FindingCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(code.as_str().contains('.'));
        }
    }
}

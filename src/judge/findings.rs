//! Findings: what the judgement says, each with a severity and a stable code.
//!
//! Codes are part of the tool's interface (monitoring rules, the renewal companion and the README
//! table match on them), so they only ever get added, never renamed.

use serde::Serialize;

use crate::model::Thumbprint;

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
    ($($variant:ident = $code:literal, $severity:literal, $meaning:literal;)*) => {
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
        }
    };
}

finding_codes! {
    CertOk = "cert.ok", "OK", "A certificate given with --cert is valid and outside its thresholds.";
    CertExpiring = "cert.expiring", "WARNING/CRITICAL", "A certificate's days left breach -w/-c (Auth) or --selfsigned-warning/--selfsigned-critical (others).";
    CertExpired = "cert.expired", "CRITICAL", "A certificate's NotAfter has passed.";
    CertNotYetValid = "cert.not_yet_valid", "WARNING", "A certificate's NotBefore lies in the future.";
    CertUnusedExpired = "cert.unused_expired", "INFO", "A CA-issued certificate in a server's store expired and is bound to no service: it can be removed.";
    AuthConfigMissing = "auth.config.missing", "CRITICAL", "No AuthConfig (or it could not be read), or AuthConfig has no current certificate thumbprint.";
    AuthCurrentNotFound = "auth.current.not_found", "CRITICAL", "AuthConfig's current thumbprint is in no server's certificate store (UNKNOWN when no store was given).";
    AuthCurrentMissingOnServers = "auth.current.missing_on_servers", "CRITICAL", "Servers that must hold the current Auth Certificate do not (names them).";
    AuthCurrentExpired = "auth.current.expired", "CRITICAL", "The current Auth Certificate has expired.";
    AuthCurrentExpiring = "auth.current.expiring", "WARNING/CRITICAL", "The current Auth Certificate's days left breach -w/-c (INFO while a staged rotation will take over in time).";
    AuthNextNotStaged = "auth.next.not_staged", "WARNING", "The current certificate expires within --rotation-window and no valid next certificate is staged.";
    AuthNextExpiring = "auth.next.expiring", "WARNING", "The staged next certificate has --next-min-days (120) days or less left, or has expired.";
    AuthNextMissingOnServers = "auth.next.missing_on_servers", "WARNING", "Servers that must hold the staged next certificate do not.";
    AuthNextEffectiveAfterCurrentExpiry = "auth.next.effective_after_current_expiry", "CRITICAL", "The next certificate becomes effective after the current one expires: nothing valid signs in between.";
    AuthNextOverdue = "auth.next.overdue", "WARNING", "The next certificate's effective date passed more than --publish-grace ago and it is still next: the AuthAdmin servicelet is not publishing.";
    AuthPreviousLingering = "auth.previous.lingering", "INFO", "A previous Auth Certificate is still set (with its days left).";
    AuthPreviousExpired = "auth.previous.expired", "INFO", "The previous Auth Certificate has expired: clear it (Set-AuthConfig -ClearPreviousCertificate).";
    AuthUnreferenced = "auth.unreferenced", "INFO", "A certificate named like the Auth Certificate that AuthConfig does not reference (a leftover).";
    ServersUnreachable = "servers.unreachable", "UNKNOWN", "A server's certificates could not be queried (configurable with --unreachable-state).";
    ServersNotCollected = "servers.not_collected", "INFO", "A listed server that must hold the Auth Certificate has no certificate export: it was not checked.";
    HybridDetected = "hybrid.detected", "INFO/WARNING", "A hybrid configuration exists; WARNING while the Auth Certificate changed recently or a rotation is pending: rerun the Hybrid Configuration Wizard.";
    SelfSignedExpired = "selfsigned.expired", "CRITICAL", "A self-signed server certificate (internal transport, back end, WMSvc ...) has expired and is bound to a service (or its services are unknown).";
    SelfSignedExpiring = "selfsigned.expiring", "WARNING/CRITICAL", "A self-signed server certificate's days left breach --selfsigned-warning/--selfsigned-critical.";
    SelfSignedUnusedExpired = "selfsigned.unused_expired", "INFO", "A self-signed certificate expired and is bound to no service: it can be removed.";
    ExportStale = "export.stale", "WARNING", "The bundle (or export file) is older than --max-age.";
    MetadataOk = "metadata.ok", "OK", "A signing certificate published in the Auth metadata document (--metadata) is valid and outside -w/-c.";
    MetadataExpiring = "metadata.expiring", "WARNING/CRITICAL", "A published signing certificate's days left breach -w/-c (INFO for AuthConfig's current certificate, judged by auth.current.*, for its previous one, or while another published certificate is valid longer).";
    MetadataExpired = "metadata.expired", "CRITICAL", "A published signing certificate has expired (INFO for AuthConfig's current certificate, judged by auth.current.*, for its previous one, or while another published certificate is valid).";
    MetadataX5tMismatch = "metadata.x5t_mismatch", "WARNING", "A published key's x5t is not the base64url SHA-1 of its certificate.";
    MetadataCurrentNotPublished = "metadata.current_not_published", "CRITICAL", "AuthConfig's current certificate is not in the metadata document (WARNING when AuthConfig's next is published instead: the AuthConfig export predates a rotation). Exchange caches the document up to 12 h.";
    MetadataUnexpectedKey = "metadata.unexpected_key", "WARNING", "The metadata document publishes a certificate that is neither AuthConfig's current nor its previous one.";
    MetadataNoKeys = "metadata.no_keys", "CRITICAL", "The metadata document publishes no signing certificate: tokens this organisation signs cannot be validated.";
    MetadataHttpError = "metadata.http_error", "UNKNOWN", "The metadata URL answered with an HTTP error status, too many redirects, a redirect away from https, or a body over 1 MiB (also after decompression).";
    MetadataInvalid = "metadata.invalid", "UNKNOWN", "The metadata URL answered with something that is not a metadata document (not JSON, no keys list), or a published key could not be decoded.";
    EndpointUnreachable = "endpoint.unreachable", "UNKNOWN", "A --metadata URL or --tls endpoint could not be reached: DNS, connection, STARTTLS, TLS or timeout (configurable with --unreachable-state).";
    InputInvalid = "input.invalid", "UNKNOWN", "An input could not be read or understood, or an option is invalid.";
    CheckTimeout = "check.timeout", "UNKNOWN", "The check did not finish within -t/--timeout.";
    InternalError = "internal.error", "UNKNOWN", "The check failed internally (a bug: please report it).";
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
}

impl Finding {
    pub fn new(severity: Severity, code: FindingCode, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            code,
            message: super::one_line(&message.into()),
            thumbprint: None,
            server: None,
        }
    }

    pub fn about(mut self, thumbprint: &Thumbprint) -> Finding {
        self.thumbprint = Some(thumbprint.clone());
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

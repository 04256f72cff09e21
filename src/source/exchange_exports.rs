//! Exchange Management Shell exports (`Get-AuthConfig`, `Get-ExchangeCertificate`,
//! `Get-ExchangeServer`) turned into records, whatever way the admin saved them: `Export-Clixml`
//! or `ConvertTo-Json` (Windows PowerShell 5.1 or PowerShell 7), in any encoding Windows writes.
//!
//! The format is read from the content (first character `<` or `{`/`[`), never from the file
//! name. Only what the records need is taken, by property name; everything a certificate says
//! about itself is left in its DER for `model::Certificate` to read, so two exports of the same
//! certificate can never disagree.

use std::path::Path;

use super::psvalue::{PsObject, PsValue, quoted};
use super::records::{AuthConfigRecord, CertificateRecord, ServerRecord};
use super::text_encoding::decode_text;
use super::{SourceError, clixml, powershell_json, read_input_file};
use crate::types::Thumbprint;

/// `Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices` (`[Flags]`).
pub const CERTIFICATE_SERVICES: &[(i64, &str)] = &[
    (0, "None"),
    (1, "IMAP"),
    (2, "POP"),
    (4, "UM"),
    (8, "IIS"),
    (16, "SMTP"),
    (32, "Federation"),
    (64, "UMCallRouter"),
];

/// Exchange's `CertificateStatus`.
pub const CERTIFICATE_STATUS: &[(i64, &str)] = &[
    (0, "Unknown"),
    (1, "Valid"),
    (2, "Revoked"),
    (3, "DateInvalid"),
    (4, "Untrusted"),
    (5, "Invalid"),
    (6, "RevocationCheckFailure"),
    (7, "PendingRequest"),
];

/// `Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole` (`[Flags]`).
pub const SERVER_ROLES: &[(i64, &str)] = &[
    (0, "None"),
    (1, "Cafe"),
    (2, "Mailbox"),
    (4, "ClientAccess"),
    (16, "UnifiedMessaging"),
    (32, "HubTransport"),
    (64, "Edge"),
    (128, "Monitoring"),
    (256, "CentralAdmin"),
    (512, "CentralAdminDatabase"),
    (1024, "DomainController"),
    (2048, "WindowsDeploymentServer"),
    (4096, "ProvisionedServer"),
    (8192, "LanguagePacks"),
    (16384, "FrontendTransport"),
    (32768, "CafeArray"),
    (65536, "FfoWebService"),
    (131072, "OSP"),
    (262144, "ARR"),
    (524288, "ManagementFrontEnd"),
    (1048576, "ManagementBackEnd"),
    (2097152, "SCOM"),
    (4194304, "CentralAdminFrontEnd"),
    (8388608, "NAT"),
    (16777216, "DHCP"),
];

/// Reads `Get-AuthConfig` output: exactly one AuthConfig object.
pub fn read_auth_config(path: &Path) -> Result<AuthConfigRecord, SourceError> {
    let values = read_export(path)?;
    auth_config_from_values(&values).map_err(|reason| SourceError::invalid(path, reason))
}

/// Reads `Get-ExchangeCertificate` output: every object with `RawData`, at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateRecord>, SourceError> {
    let values = read_export(path)?;
    certificates_from_values(&values).map_err(|reason| SourceError::invalid(path, reason))
}

/// Reads `Get-ExchangeServer` output: every top-level object, at least one.
pub fn read_servers(path: &Path) -> Result<Vec<ServerRecord>, SourceError> {
    let values = read_export(path)?;
    servers_from_values(&values).map_err(|reason| SourceError::invalid(path, reason))
}

/// Reads a file and decodes it as CliXml or JSON (by content), in any Windows encoding.
pub fn read_export(path: &Path) -> Result<Vec<PsValue>, SourceError> {
    let bytes = read_input_file(path)?;
    let (_, text) = decode_text(&bytes).map_err(|reason| SourceError::invalid(path, reason))?;
    parse_export(&text).map_err(|reason| SourceError::invalid(path, reason))
}

/// Decodes export text: `<` starts `Export-Clixml`, `{` or `[` starts `ConvertTo-Json`.
pub fn parse_export(text: &str) -> Result<Vec<PsValue>, String> {
    // A second BOM survives `decode_text` when a tool prepended one to an already marked file.
    let text = text.trim_start_matches('\u{feff}');
    match text.trim_start().chars().next() {
        Some('<') => clixml::parse(text),
        Some('{' | '[') => powershell_json::parse(text),
        Some(_) => Err("not an Export-Clixml or ConvertTo-Json document".into()),
        None => {
            Err("holds only white space, not an Export-Clixml or ConvertTo-Json document".into())
        }
    }
}

/// The AuthConfig among decoded values: the one object with `CurrentCertificateThumbprint` (or
/// of type `AuthConfig`).
pub fn auth_config_from_values(values: &[PsValue]) -> Result<AuthConfigRecord, String> {
    let objects = top_level_objects(values);
    let candidates: Vec<&PsObject> = objects
        .iter()
        .copied()
        .filter(|object| {
            object.get("CurrentCertificateThumbprint").is_some() || object.has_type("AuthConfig")
        })
        .collect();
    match candidates.as_slice() {
        [one] => auth_config_from_object(one),
        [] => {
            let hint = if objects.iter().any(|o| o.get("RawData").is_some()) {
                "; it looks like a Get-ExchangeCertificate export"
            } else {
                ""
            };
            Err(format!(
                "holds no AuthConfig object (no CurrentCertificateThumbprint property){hint}"
            ))
        }
        many => Err(format!(
            "holds {} AuthConfig objects, expected 1",
            many.len()
        )),
    }
}

/// One `Get-AuthConfig` object. Empty or null thumbprints are `None`; anything else must be a
/// thumbprint, because a mangled one would otherwise read as "no next certificate".
pub fn auth_config_from_object(object: &PsObject) -> Result<AuthConfigRecord, String> {
    let next_effective = match object.get("NextCertificateEffectiveDate") {
        None => None,
        Some(value) => value
            .datetime_utc()
            .map_err(|e| format!("NextCertificateEffectiveDate: {e}"))?,
    };
    // AD's whenChanged: any change to AuthConfig (staging, publishing, clearing) moves it.
    let changed_at = match object.get("WhenChangedUTC") {
        None => None,
        Some(value) => value
            .datetime_utc()
            .map_err(|e| format!("WhenChangedUTC: {e}"))?,
    };
    Ok(AuthConfigRecord {
        current: thumbprint_property(object, "CurrentCertificateThumbprint")?,
        previous: thumbprint_property(object, "PreviousCertificateThumbprint")?,
        next: thumbprint_property(object, "NextCertificateThumbprint")?,
        next_effective,
        service_name: trimmed_text(object, "ServiceName"),
        realm: trimmed_text(object, "Realm"),
        changed_at,
    })
}

fn thumbprint_property(object: &PsObject, name: &str) -> Result<Option<Thumbprint>, String> {
    let value = match object.get(name) {
        None | Some(PsValue::Null) => return Ok(None),
        Some(value) => value,
    };
    match value.string() {
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => Thumbprint::parse(text).map(Some).ok_or_else(|| {
            format!(
                "{name} {} is not a certificate thumbprint (40 hex digits)",
                quoted(text)
            )
        }),
        None => Err(format!("{name} is {}, not a thumbprint", value.kind())),
    }
}

/// The certificates among decoded values: every object with `RawData`.
pub fn certificates_from_values(values: &[PsValue]) -> Result<Vec<CertificateRecord>, String> {
    let objects: Vec<&PsObject> = top_level_objects(values)
        .into_iter()
        .filter(|object| object.get("RawData").is_some())
        .collect();
    if objects.is_empty() {
        return Err("holds no certificate (no RawData)".into());
    }
    let count = objects.len();
    objects
        .iter()
        .enumerate()
        .map(|(position, object)| {
            certificate_from_object(object).map_err(|e| {
                if count > 1 {
                    format!("certificate {} of {count}: {e}", position + 1)
                } else {
                    e
                }
            })
        })
        .collect()
}

/// One `Get-ExchangeCertificate` object (which must have `RawData`).
pub fn certificate_from_object(object: &PsObject) -> Result<CertificateRecord, String> {
    let der = match object.get("RawData").map(PsValue::bytes) {
        None => return Err("has no RawData".into()),
        Some(Ok(Some(bytes))) if !bytes.is_empty() => bytes.into_owned(),
        Some(Ok(_)) => return Err("RawData is empty".into()),
        Some(Err(e)) => return Err(format!("RawData is {e}")),
    };
    Ok(CertificateRecord {
        server: certificate_server(object),
        services: object
            .get("Services")
            .and_then(|value| value.enum_flags(CERTIFICATE_SERVICES)),
        friendly_name: trimmed_text(object, "FriendlyName"),
        status: object
            .get("Status")
            .and_then(|value| value.enum_name(CERTIFICATE_STATUS)),
        ..CertificateRecord::new(der)
    })
}

/// `SERVER\THUMBPRINT` from `Identity` when the export has it as text (JSON), else
/// `PSComputerName` (the shell's host; see DOMAIN.md §5), kept as written.
fn certificate_server(object: &PsObject) -> Option<String> {
    object
        .text("Identity")
        .and_then(|identity| identity.split_once('\\'))
        .map(|(server, _)| server.trim())
        .filter(|server| !server.is_empty())
        .or_else(|| object.non_empty_text("PSComputerName").map(str::trim))
        .map(str::to_string)
}

/// The servers among decoded values: every top-level object.
pub fn servers_from_values(values: &[PsValue]) -> Result<Vec<ServerRecord>, String> {
    let objects = top_level_objects(values);
    if objects.is_empty() {
        return Err("holds no Exchange server object".into());
    }
    let count = objects.len();
    objects
        .iter()
        .enumerate()
        .map(|(position, object)| {
            server_from_object(object).map_err(|e| {
                if count > 1 {
                    format!("server object {} of {count} {e}", position + 1)
                } else {
                    format!("server object {e}")
                }
            })
        })
        .collect()
}

/// One `Get-ExchangeServer` object.
pub fn server_from_object(object: &PsObject) -> Result<ServerRecord, String> {
    let name = object
        .non_empty_text("Name")
        .map(|name| name.trim().to_string())
        .ok_or_else(|| "has no Name (not a Get-ExchangeServer object)".to_string())?;
    let (version, major_version) = object
        .get("AdminDisplayVersion")
        .map(version_of)
        .unwrap_or_default();
    let roles = object
        .get("ServerRole")
        .and_then(|value| value.enum_flags(SERVER_ROLES))
        .unwrap_or_default();
    let is_edge = object
        .get("IsEdgeServer")
        .and_then(PsValue::bool)
        .unwrap_or(false)
        || roles.iter().any(|role| role.eq_ignore_ascii_case("Edge"));
    Ok(ServerRecord {
        name,
        fqdn: trimmed_text(object, "Fqdn"),
        site: object.get("Site").and_then(site_name),
        version,
        major_version,
        roles,
        is_edge,
    })
}

/// The AD site's name from `Site`: an ADObjectId whose text is
/// `contoso.lab/Configuration/Sites/Default-First-Site-Name` (CliXml, or 5.1 JSON cut off at
/// `-Depth`), or a JSON object with `Name`/`DistinguishedName`.
fn site_name(value: &PsValue) -> Option<String> {
    let text = match value {
        PsValue::Object(object) => object
            .to_string
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .or_else(|| object.non_empty_text("Name"))
            .or_else(|| {
                object
                    .non_empty_text("DistinguishedName")
                    .and_then(|dn| dn.split(',').next())
                    .and_then(|rdn| rdn.split_once('=').map(|(_, name)| name))
            }),
        other => other.string(),
    }?;
    text.trim()
        .rsplit('/')
        .next()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// `AdminDisplayVersion` as text and major version: a CliXml `ServerVersion` object (ToString
/// `Version 15.1 (Build 2507.6)`, Props `Major`...), a JSON object with only the numbers, or text.
fn version_of(value: &PsValue) -> (Option<String>, Option<u32>) {
    match value {
        PsValue::Object(object) => {
            let number = |name: &str| object.get(name).and_then(PsValue::integer);
            let composed = match (
                number("Major"),
                number("Minor"),
                number("Build"),
                number("Revision"),
            ) {
                (Some(major), Some(minor), Some(build), Some(revision)) => Some(format!(
                    "Version {major}.{minor} (Build {build}.{revision})"
                )),
                _ => None,
            };
            let text = object
                .to_string
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_string)
                .or(composed);
            let major = number("Major")
                .and_then(|major| u32::try_from(major).ok())
                .or_else(|| text.as_deref().and_then(major_from_text));
            (text, major)
        }
        other => {
            let text = other
                .string()
                .map(str::trim)
                .filter(|text| !text.is_empty());
            (text.map(str::to_string), text.and_then(major_from_text))
        }
    }
}

/// 15 from `Version 15.1 (Build 2507.6)` (Get-ExchangeServer's AdminDisplayVersion, AD's
/// serialNumber) or `15.1.2507.6`.
pub(crate) fn major_from_text(text: &str) -> Option<u32> {
    let text = text.trim();
    let rest = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("version") => text.get(7..)?.trim_start(),
        _ => text,
    };
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..digits)?.parse().ok()
}

fn trimmed_text(object: &PsObject, name: &str) -> Option<String> {
    object
        .non_empty_text(name)
        .map(|text| text.trim().to_string())
}

/// The objects a document holds: top-level objects, and the items of a top-level collection
/// (`Export-Clixml -InputObject $array` writes one `<Obj>` wrapping an `<LST>`).
fn top_level_objects(values: &[PsValue]) -> Vec<&PsObject> {
    let mut objects = Vec::new();
    for value in values {
        match value {
            PsValue::Object(object) if object.properties.is_empty() => match &object.value {
                Some(PsValue::List(items)) => {
                    objects.extend(items.iter().filter_map(PsValue::as_object));
                }
                _ => objects.push(object),
            },
            PsValue::Object(object) => objects.push(object),
            PsValue::List(items) => objects.extend(items.iter().filter_map(PsValue::as_object)),
            _ => {}
        }
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};
    use std::path::PathBuf;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/css-exchange"
    );

    /// The fixture directory, or `None` (with a note on stderr) when this checkout lacks it.
    fn fixtures() -> Option<PathBuf> {
        let dir = PathBuf::from(FIXTURES);
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("skipped: fixtures not found at {}", dir.display());
            None
        }
    }

    fn thumbprint(text: &str) -> Thumbprint {
        Thumbprint::parse(text).unwrap()
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn utf16le_with_bom(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    use crate::test_support::self_signed_der as certificate;

    fn parse_json(value: &Value) -> Vec<PsValue> {
        parse_export(&value.to_string()).unwrap()
    }

    #[test]
    fn fixture_auth_config() {
        let Some(dir) = fixtures() else { return };
        let record = read_auth_config(&dir.join("GetAuthConfig.xml")).unwrap();
        assert_eq!(
            record.current,
            Some(thumbprint("E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786"))
        );
        assert_eq!(
            record.next,
            Some(thumbprint("BC6BF924D6EF046E64F8D1987DC1D7D2F4C0042A"))
        );
        assert_eq!(
            record.next_effective,
            Some(Utc.with_ymd_and_hms(2023, 2, 3, 14, 16, 2).unwrap())
        );
        assert_eq!(record.previous, None);
        assert_eq!(
            record.service_name.as_deref(),
            Some("00000002-0000-0ff1-ce00-000000000000")
        );
        assert_eq!(record.realm, None);

        let record = read_auth_config(&dir.join("GetAuthConfigNoNextCert.xml")).unwrap();
        assert_eq!(
            record.current,
            Some(thumbprint("B22BD738BED13136D29B7F410CE2993C5313F8FA"))
        );
        assert_eq!((record.next, record.next_effective), (None, None));

        let e16 = read_auth_config(&dir.join("hc-e16-GetAuthConfig.xml")).unwrap();
        assert_eq!(
            e16.current,
            Some(thumbprint("92E196F3C8D3D753FCFC5B7690C3173AA1C0ABE3"))
        );
        let e19 = read_auth_config(&dir.join("hc-e19-GetAuthConfig.xml")).unwrap();
        assert_eq!(
            e19.current,
            Some(thumbprint("C3EDCF181EF4F9B53D01768ECA99564014BCA6E7"))
        );
    }

    #[test]
    fn fixture_certificates() {
        let Some(dir) = fixtures() else { return };
        let records = read_certificates(&dir.join("GetExchangeCertificate.xml")).unwrap();
        assert_eq!(records.len(), 8);
        assert!(
            records
                .iter()
                .all(|r| r.server.as_deref() == Some("e2k16-1.contoso.lab"))
        );
        let thumbprints: Vec<Thumbprint> =
            records.iter().map(|r| Thumbprint::of_der(&r.der)).collect();
        for expected in [
            "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786",
            "BC6BF924D6EF046E64F8D1987DC1D7D2F4C0042A",
            "D003810EBE1624145889D031FBB77ED2BD280FD3",
        ] {
            assert!(thumbprints.contains(&thumbprint(expected)), "{expected}");
        }
        // Only RawData survives Export-Clixml of an ExchangeCertificate.
        assert!(
            records
                .iter()
                .all(|r| r.services.is_none() && r.status.is_none())
        );
        for record in &records {
            crate::model::Certificate::from_der(&record.der).unwrap();
        }

        let broken = read_certificates(&dir.join("GetExchangeCertificateBroken.xml")).unwrap();
        assert_eq!(broken.len(), 5);
        assert!(broken.iter().any(|r| Thumbprint::of_der(&r.der)
            == thumbprint("8BFE845E6DCA42BBDC8F872672CDA1A4E0C3EBF1")));

        for (file, count, host) in [
            (
                "hc-e16-GetExchangeCertificate.xml",
                3,
                "solo-e16a.solo.local",
            ),
            ("hc-e19-GetExchangeCertificate.xml", 3, "solo-e19a.solo.com"),
            ("NewExchangeAuthCertificate.xml", 1, "e2k16-1.contoso.lab"),
            (
                "NewExchangeCertificateDefaultTransport.xml",
                1,
                "e2k16-1.contoso.lab",
            ),
        ] {
            let records = read_certificates(&dir.join(file)).unwrap();
            assert_eq!(records.len(), count, "{file}");
            assert_eq!(records[0].server.as_deref(), Some(host), "{file}");
        }
        let e16 = read_certificates(&dir.join("hc-e16-GetExchangeCertificate.xml")).unwrap();
        assert_eq!(
            Thumbprint::of_der(&e16[0].der),
            thumbprint("92E196F3C8D3D753FCFC5B7690C3173AA1C0ABE3")
        );
        let new = read_certificates(&dir.join("NewExchangeAuthCertificate.xml")).unwrap();
        assert_eq!(
            Thumbprint::of_der(&new[0].der),
            thumbprint("B22BD738BED13136D29B7F410CE2993C5313F8FA")
        );
    }

    #[test]
    fn fixture_servers() {
        let Some(dir) = fixtures() else { return };
        let servers = read_servers(&dir.join("GetExchangeServer.xml")).unwrap();
        assert_eq!(servers.len(), 2);
        let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["E2k16-1", "E2k16-2"]);
        for server in &servers {
            assert_eq!(server.site.as_deref(), Some("Default-First-Site-Name"));
            assert_eq!(server.major_version, Some(15));
            assert_eq!(
                server.version.as_deref(),
                Some("Version 15.1 (Build 2507.18)")
            );
            assert_eq!(server.roles, ["Mailbox"]);
            assert!(!server.is_edge);
        }
        assert_eq!(servers[1].fqdn.as_deref(), Some("E2k16-2.Contoso.lab"));

        // The cross-object <Ref> (OrganizationId of the second server) resolves.
        let values = read_export(&dir.join("GetExchangeServer.xml")).unwrap();
        let second = values[1].as_object().unwrap();
        assert_eq!(
            second.get("OrganizationId"),
            values[0].get("OrganizationId")
        );
        assert!(second.get("OrganizationId").unwrap().as_object().is_some());
        assert_eq!(second.get("Id").and_then(PsValue::string), Some("E2k16-2"));
        let applied = values[0]
            .get("MitigationsAppliedTime")
            .unwrap()
            .datetime_utc()
            .unwrap()
            .unwrap();
        assert_eq!(applied.timestamp_subsec_nanos(), 617_768_700);
    }

    #[test]
    fn fixtures_read_the_same_in_utf16() {
        let Some(dir) = fixtures() else { return };
        let temp = tempfile::tempdir().unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "xml"))
            .collect();
        files.sort();
        assert!(files.len() >= 11, "{files:?}");
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let (_, text) = decode_text(&bytes).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            let utf16 = write(&temp, name, &utf16le_with_bom(&text));
            let original = read_export(&path).unwrap();
            assert_eq!(read_export(&utf16).unwrap(), original, "{name}");
            if name.contains("AuthConfig") {
                assert_eq!(
                    read_auth_config(&utf16).unwrap(),
                    read_auth_config(&path).unwrap()
                );
            } else if name.contains("Server") {
                assert_eq!(read_servers(&utf16).unwrap(), read_servers(&path).unwrap());
            } else {
                assert_eq!(
                    read_certificates(&utf16).unwrap(),
                    read_certificates(&path).unwrap()
                );
            }
        }
    }

    #[test]
    fn auth_config_from_powershell_51_json() {
        let values = parse_json(&json!({
            "CurrentCertificateThumbprint": "e1bdf9ae58c93c75e76c9dd882138fb8ff0fa786",
            "PreviousCertificateThumbprint": "",
            "NextCertificateThumbprint": "BC6BF924D6EF046E64F8D1987DC1D7D2F4C0042A",
            "NextCertificateEffectiveDate": "/Date(1675433762000)/",
            "ServiceName": "00000002-0000-0ff1-ce00-000000000000",
            "Realm": "",
            "ExchangeVersion": "0.20 (15.0.0.0)",
            "Identity": "Auth Configuration",
            "ObjectState": 1
        }));
        let record = auth_config_from_values(&values).unwrap();
        assert_eq!(
            record.current,
            Some(thumbprint("E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786"))
        );
        assert_eq!(record.previous, None);
        assert_eq!(
            record.next_effective,
            Some(Utc.with_ymd_and_hms(2023, 2, 3, 14, 16, 2).unwrap())
        );
        // The raw 5.1 spelling, with escaped slashes, reads the same.
        let raw = r#"{"CurrentCertificateThumbprint":"E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786","NextCertificateEffectiveDate":"\/Date(1675433762000)\/"}"#;
        let record = auth_config_from_values(&parse_export(raw).unwrap()).unwrap();
        assert_eq!(
            record.next_effective,
            Some(Utc.with_ymd_and_hms(2023, 2, 3, 14, 16, 2).unwrap())
        );
    }

    #[test]
    fn auth_config_from_powershell_7_json() {
        let values = parse_json(&json!([{
            "CurrentCertificateThumbprint": "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786",
            "PreviousCertificateThumbprint": null,
            "NextCertificateThumbprint": "",
            "NextCertificateEffectiveDate": "2023-02-03T15:16:02.5+01:00",
            "Realm": "contoso.com"
        }]));
        let record = auth_config_from_values(&values).unwrap();
        assert_eq!(record.next, None);
        assert_eq!(
            record.next_effective.map(|d| d.timestamp_millis()),
            Some(1_675_433_762_500)
        );
        assert_eq!(record.realm.as_deref(), Some("contoso.com"));
        assert_eq!(record.service_name, None);
    }

    #[test]
    fn auth_config_errors() {
        let two = parse_json(&json!([
            {"CurrentCertificateThumbprint": ""},
            {"CurrentCertificateThumbprint": ""}
        ]));
        assert_eq!(
            auth_config_from_values(&two).unwrap_err(),
            "holds 2 AuthConfig objects, expected 1"
        );
        assert_eq!(
            auth_config_from_values(&parse_json(&json!({"Name": "x"}))).unwrap_err(),
            "holds no AuthConfig object (no CurrentCertificateThumbprint property)"
        );
        assert_eq!(
            auth_config_from_values(&parse_json(&json!({"RawData": "AQID"}))).unwrap_err(),
            "holds no AuthConfig object (no CurrentCertificateThumbprint property); it looks like a Get-ExchangeCertificate export"
        );
        assert_eq!(
            auth_config_from_values(&parse_json(&json!({
                "CurrentCertificateThumbprint": "E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786",
                "NextCertificateThumbprint": "BC6BF924 not hex"
            })))
            .unwrap_err(),
            "NextCertificateThumbprint \"BC6BF924 not hex\" is not a certificate thumbprint (40 hex digits)"
        );
        assert_eq!(
            auth_config_from_values(&parse_json(&json!({"CurrentCertificateThumbprint": 5})))
                .unwrap_err(),
            "CurrentCertificateThumbprint is an integer, not a thumbprint"
        );
        assert_eq!(
            auth_config_from_values(&parse_json(&json!({
                "CurrentCertificateThumbprint": "",
                "NextCertificateEffectiveDate": "soon"
            })))
            .unwrap_err(),
            "NextCertificateEffectiveDate: \"soon\" is not a date and time"
        );
    }

    #[test]
    fn auth_config_in_clixml_with_escaped_and_nil_values() {
        let text = r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">
  <Obj RefId="0">
    <TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthConfig</T></TN>
    <Props>
      <S N="CurrentCertificateThumbprint">E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786</S>
      <Nil N="NextCertificateThumbprint" />
      <DT N="NextCertificateEffectiveDate">2023-02-03T08:16:02.1234567-06:00</DT>
    </Props>
  </Obj>
</Objs>"#;
        let record = auth_config_from_values(&parse_export(text).unwrap()).unwrap();
        assert_eq!(record.next, None);
        assert_eq!(
            record.next_effective.map(|d| d.timestamp()),
            Some(
                Utc.with_ymd_and_hms(2023, 2, 3, 14, 16, 2)
                    .unwrap()
                    .timestamp()
            )
        );
        // Identified by type alone, without the property.
        let typed = text.replace(
            r#"<S N="CurrentCertificateThumbprint">E1BDF9AE58C93C75E76C9DD882138FB8FF0FA786</S>"#,
            "",
        );
        let record = auth_config_from_values(&parse_export(&typed).unwrap()).unwrap();
        assert_eq!(record.current, None);
    }

    #[test]
    fn certificates_from_powershell_51_json() {
        let auth = certificate("Microsoft Exchange Server Auth Certificate");
        let transport = certificate("E2K16-1");
        let as_numbers =
            |der: &[u8]| Value::from(der.iter().map(|b| *b as u64).collect::<Vec<_>>());
        let values = parse_json(&json!([
            {
                "Identity": format!("E2K16-1\\{}", Thumbprint::of_der(&auth)),
                "RawData": as_numbers(&auth),
                "Services": 16,
                "Status": 1,
                "FriendlyName": "Microsoft Exchange Server Auth Certificate",
                "PSComputerName": "e2k16-2.contoso.lab",
                "NotAfter": "/Date(1830000000000)/"
            },
            {
                "Identity": format!("E2K16-2\\{}", Thumbprint::of_der(&transport)),
                "RawData": as_numbers(&transport),
                "Services": 27,
                "Status": 3,
                "FriendlyName": ""
            }
        ]));
        let records = certificates_from_values(&values).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].der, auth);
        assert_eq!(
            records[0].server.as_deref(),
            Some("E2K16-1"),
            "Identity wins"
        );
        assert_eq!(
            records[0].services.as_deref(),
            Some(&["SMTP"].map(String::from)[..])
        );
        assert_eq!(records[0].status.as_deref(), Some("Valid"));
        assert_eq!(
            records[0].friendly_name.as_deref(),
            Some("Microsoft Exchange Server Auth Certificate")
        );
        assert_eq!(records[1].der, transport);
        assert_eq!(records[1].server.as_deref(), Some("E2K16-2"));
        assert_eq!(
            records[1].services.as_deref(),
            Some(&["IMAP", "POP", "IIS", "SMTP"].map(String::from)[..])
        );
        assert_eq!(records[1].status.as_deref(), Some("DateInvalid"));
        assert_eq!(records[1].friendly_name, None);
    }

    #[test]
    fn certificates_from_powershell_7_json() {
        let der = certificate("Microsoft Exchange Server Auth Certificate");
        let values = parse_json(&json!({
            "Identity": "no backslash here",
            "RawData": STANDARD.encode(&der),
            "Services": "IIS, SMTP",
            "Status": "Valid",
            "PSComputerName": "e2k19-1.contoso.lab"
        }));
        let records = certificates_from_values(&values).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].der, der);
        assert_eq!(records[0].server.as_deref(), Some("e2k19-1.contoso.lab"));
        assert_eq!(
            records[0].services.as_deref(),
            Some(&["IIS", "SMTP"].map(String::from)[..])
        );
        assert_eq!(records[0].status.as_deref(), Some("Valid"));

        let none = parse_json(&json!({"RawData": STANDARD.encode(&der), "Services": "None"}));
        let records = certificates_from_values(&none).unwrap();
        assert_eq!(records[0].services, Some(vec![]));
        assert_eq!(records[0].server, None);
    }

    #[test]
    fn certificate_services_and_status_as_clixml_enum_objects() {
        let der = certificate("mail.contoso.lab");
        let text = format!(
            r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">
  <Obj RefId="0">
    <TN RefId="0"><T>Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate</T></TN>
    <Props>
      <BA N="RawData">{}</BA>
      <Obj N="Services" RefId="1"><TN RefId="1"><T>Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices</T><T>System.Enum</T></TN><ToString>IMAP, POP, IIS, SMTP</ToString><I32>27</I32></Obj>
      <Obj N="Status" RefId="2"><TN RefId="2"><T>Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateStatus</T></TN><ToString>Valid</ToString><I32>1</I32></Obj>
      <S N="FriendlyName">mail_x005F_x</S>
    </Props>
  </Obj>
  <Obj RefId="3"><TNRef RefId="0" /><Props><S N="Name">not a certificate</S></Props></Obj>
</Objs>"#,
            STANDARD.encode(&der)
        );
        let records = certificates_from_values(&parse_export(&text).unwrap()).unwrap();
        assert_eq!(
            records.len(),
            1,
            "objects without RawData are not certificates"
        );
        assert_eq!(
            records[0].services.as_deref(),
            Some(&["IMAP", "POP", "IIS", "SMTP"].map(String::from)[..])
        );
        assert_eq!(records[0].status.as_deref(), Some("Valid"));
        assert_eq!(records[0].friendly_name.as_deref(), Some("mail_x"));
    }

    #[test]
    fn certificate_errors() {
        assert_eq!(
            certificates_from_values(&parse_json(&json!({"Name": "x"}))).unwrap_err(),
            "holds no certificate (no RawData)"
        );
        assert_eq!(
            certificates_from_values(&parse_json(&json!({"RawData": "not base64!"}))).unwrap_err(),
            "RawData is text that is not valid base64"
        );
        assert_eq!(
            certificates_from_values(&parse_json(&json!([
                {"RawData": "AQID"},
                {"RawData": [1, 300]}
            ])))
            .unwrap_err(),
            "certificate 2 of 2: RawData is a list that holds a value other than 0..255"
        );
        assert_eq!(
            certificates_from_values(&parse_json(&json!({"RawData": null}))).unwrap_err(),
            "RawData is empty"
        );
        assert_eq!(
            certificates_from_values(&parse_json(&json!({"RawData": ""}))).unwrap_err(),
            "RawData is empty"
        );
        assert_eq!(
            certificates_from_values(&parse_json(&json!({"RawData": true}))).unwrap_err(),
            "RawData is a boolean, not binary data"
        );
    }

    #[test]
    fn servers_from_powershell_51_json() {
        let values = parse_json(&json!([
            {
                "Name": "E2K19-1",
                "Fqdn": "e2k19-1.contoso.lab",
                "Site": "contoso.lab/Configuration/Sites/Berlin",
                "AdminDisplayVersion": {"Major": 15, "Minor": 2, "Build": 1544, "Revision": 4,
                                         "FilePatchLevelDescription": null},
                "ServerRole": 6,
                "IsEdgeServer": false
            },
            {
                "Name": "EDGE1",
                "Site": {"Name": "DMZ", "DistinguishedName": "CN=DMZ,CN=Sites,CN=Configuration,DC=contoso,DC=lab"},
                "AdminDisplayVersion": "Version 15.2 (Build 1544.4)",
                "ServerRole": 64
            },
            {
                "Name": "E2K13",
                "Site": {"DistinguishedName": "CN=Paris,CN=Sites,CN=Configuration,DC=contoso,DC=lab"},
                "AdminDisplayVersion": {"Major": 15, "Minor": 0},
                "ServerRole": "Mailbox, ClientAccess"
            }
        ]));
        let servers = servers_from_values(&values).unwrap();
        assert_eq!(servers[0].name, "E2K19-1");
        assert_eq!(servers[0].fqdn.as_deref(), Some("e2k19-1.contoso.lab"));
        assert_eq!(servers[0].site.as_deref(), Some("Berlin"));
        assert_eq!(
            servers[0].version.as_deref(),
            Some("Version 15.2 (Build 1544.4)")
        );
        assert_eq!(servers[0].major_version, Some(15));
        assert_eq!(servers[0].roles, ["Mailbox", "ClientAccess"]);
        assert!(!servers[0].is_edge);

        assert_eq!(servers[1].site.as_deref(), Some("DMZ"));
        assert_eq!(servers[1].major_version, Some(15));
        assert_eq!(servers[1].roles, ["Edge"]);
        assert!(servers[1].is_edge, "Edge role without IsEdgeServer");
        assert_eq!(servers[1].fqdn, None);

        assert_eq!(servers[2].site.as_deref(), Some("Paris"));
        assert_eq!(servers[2].version, None);
        assert_eq!(servers[2].major_version, Some(15));
        assert_eq!(servers[2].roles, ["Mailbox", "ClientAccess"]);
    }

    #[test]
    fn servers_from_powershell_7_json_and_errors() {
        let values = parse_json(&json!({
            "Name": "E2K16-1",
            "AdminDisplayVersion": "15.1 (Build 2507.6)",
            "ServerRole": "Mailbox",
            "IsEdgeServer": true
        }));
        let servers = servers_from_values(&values).unwrap();
        assert_eq!(servers[0].major_version, Some(15));
        assert!(servers[0].is_edge);
        assert_eq!(servers[0].site, None);

        assert_eq!(
            servers_from_values(&parse_json(&json!([{"Name": "a"}, {"Fqdn": "b"}]))).unwrap_err(),
            "server object 2 of 2 has no Name (not a Get-ExchangeServer object)"
        );
        assert_eq!(
            servers_from_values(&parse_json(&json!({"Name": ""}))).unwrap_err(),
            "server object has no Name (not a Get-ExchangeServer object)"
        );
        assert_eq!(
            servers_from_values(&parse_export("[]").unwrap()).unwrap_err(),
            "holds no Exchange server object"
        );
    }

    #[test]
    fn major_version_from_text() {
        assert_eq!(major_from_text("Version 15.1 (Build 2507.6)"), Some(15));
        assert_eq!(major_from_text("version15.2"), Some(15));
        assert_eq!(major_from_text("15.2.1544.4"), Some(15));
        assert_eq!(major_from_text("Version"), None);
        assert_eq!(major_from_text("Vérsion 15"), None);
        assert_eq!(major_from_text(""), None);
    }

    #[test]
    fn a_collection_wrapped_in_one_object_is_unwrapped() {
        let text = r#"<Objs><Obj RefId="0"><TN RefId="0"><T>System.Object[]</T></TN><LST>
            <Obj RefId="1"><Props><S N="Name">A</S></Props></Obj>
            <Obj RefId="2"><Props><S N="Name">B</S></Props></Obj>
        </LST></Obj></Objs>"#;
        let servers = servers_from_values(&parse_export(text).unwrap()).unwrap();
        assert_eq!(servers.len(), 2);
    }

    #[test]
    fn files_are_detected_by_content() {
        let temp = tempfile::tempdir().unwrap();
        let text = write(&temp, "a.xml", b"Hello");
        assert_eq!(
            read_auth_config(&text).unwrap_err().to_string(),
            format!(
                "{}: not an Export-Clixml or ConvertTo-Json document",
                text.display()
            )
        );
        let blank = write(&temp, "b.json", b"\xEF\xBB\xBF \r\n");
        assert!(
            read_certificates(&blank)
                .unwrap_err()
                .to_string()
                .ends_with(
                    "holds only white space, not an Export-Clixml or ConvertTo-Json document"
                )
        );
        let bad_json = write(&temp, "c.xml", b"{\"Name\": }");
        assert_eq!(
            read_servers(&bad_json).unwrap_err().to_string(),
            format!(
                "{}: JSON: expected value at line 1 column 10",
                bad_json.display()
            )
        );
        let truncated = write(&temp, "d.json", b"<Objs><Obj RefId=\"0\">");
        assert_eq!(
            read_servers(&truncated).unwrap_err().to_string(),
            format!(
                "{}: CliXml: unexpected end of document",
                truncated.display()
            )
        );
        let empty = write(&temp, "e.xml", b"");
        assert!(
            read_servers(&empty)
                .unwrap_err()
                .to_string()
                .ends_with("file is empty")
        );
        assert!(
            read_servers(temp.path())
                .unwrap_err()
                .to_string()
                .ends_with("is a directory, not a file")
        );
        // JSON in UTF-16LE (Windows PowerShell 5.1 `ConvertTo-Json > file`).
        let json = write(
            &temp,
            "f.json",
            &utf16le_with_bom(r#"{"Name": "E2K16-1", "ServerRole": 2}"#),
        );
        assert_eq!(read_servers(&json).unwrap()[0].roles, ["Mailbox"]);
        // A doubled BOM.
        let doubled = write(
            &temp,
            "g.json",
            "\u{feff}\u{feff}[{\"Name\": \"x\"}]".as_bytes(),
        );
        assert_eq!(read_servers(&doubled).unwrap()[0].name, "x");
    }

    /// A bundle-sized CliXml export: 500 copies of a real Get-ExchangeServer object (about 55 MB,
    /// most of it SerializationData). Timing is printed, not asserted (debug builds are slow);
    /// run with `--release -- --nocapture` to see the figure that matters.
    #[test]
    fn five_hundred_servers() {
        let Some(dir) = fixtures() else { return };
        let bytes = std::fs::read(dir.join("GetExchangeServer.xml")).unwrap();
        let (_, text) = decode_text(&bytes).unwrap();
        let start = text.find("<Obj RefId=\"0\">").unwrap();
        let end = text.find("<Obj RefId=\"26\">").unwrap();
        let server = text[start..end].trim_end();
        let mut big = String::from("<Objs Version=\"1.1.0.1\">\n");
        for _ in 0..500 {
            big.push_str(server);
            big.push('\n');
        }
        big.push_str("</Objs>");
        let began = std::time::Instant::now();
        let servers = servers_from_values(&parse_export(&big).unwrap()).unwrap();
        eprintln!(
            "500 servers, {} MB of CliXml: {:?}",
            big.len() / 1_000_000,
            began.elapsed()
        );
        assert_eq!(servers.len(), 500);
        assert!(servers.iter().all(|s| s.name == "E2k16-1"));
    }
}

//! Generates synthetic collector bundles (`plugins/windows/BUNDLE.md`) with real DER certificates,
//! for tests, benchmarks and demonstrations without an Exchange organisation.
//!
//! ```text
//! cargo run --release --example make_bundle -- --servers 3 --certs-per-server 5 \
//!     --scenario rotation --now 2026-12-01T00:00:00Z --out samples/bundle-contoso.json
//! ```
//!
//! Every server gets the Auth certificate (`CN=Microsoft Exchange Server Auth Certificate`), its
//! internal transport certificate (`CN=<SERVER>`, services IIS and SMTP), a `WMSvc-SHA2-<SERVER>`
//! certificate, and filler certificates (the organisation's CA-issued `mail.contoso.lab`, then
//! per-server CA-issued and self-signed ones, some expired) up to `--certs-per-server`.
//!
//! Scenarios:
//! - `healthy`: current Auth certificate valid for years, nothing staged;
//! - `expiring`: the current Auth certificate expires 20 days after `--now`, nothing staged;
//! - `missing`: the current Auth certificate is absent from the last server;
//! - `unreachable`: the last server could not be queried;
//! - `rotation`: a next Auth certificate is staged, effective 2 days after `--now`, present on
//!   every server; the current one expires in 40 days.
//!
//! Keys are RSA 2048 with SHA-256 signatures, like the certificates `New-ExchangeCertificate` makes
//! (`--key-type ecdsa` for P-256). RSA key generation is slow, so the RSA keys come from a small pool
//! of fresh keys (`--rsa-keys`) shared round-robin: every certificate is still distinct (subject,
//! serial, dates, its own signature), so parsing and verifying cost what Exchange's would. Keys are
//! fresh at every run, so two runs never give the same bytes.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Months, SecondsFormat, Utc};
use clap::{Parser, ValueEnum};
use exchange_authcert::model::{AUTH_CERTIFICATE_CN, Thumbprint};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

const DOMAIN: &str = "contoso.lab";
const EXCHANGE_VERSION: &str = "Version 15.2 (Build 1544.4)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyType {
    /// RSA 2048, SHA-256 signatures (what Exchange makes).
    Rsa,
    /// ECDSA P-256, SHA-256 signatures (fast to generate, slower to verify).
    Ecdsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Healthy,
    Expiring,
    Missing,
    Unreachable,
    Rotation,
}

/// Writes a synthetic exchange-authcert bundle (schema version 1).
#[derive(Debug, Parser)]
#[command(name = "make_bundle")]
struct Args {
    /// Number of Exchange servers (EXCH01, EXCH02, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9999))]
    servers: u32,
    /// Certificates in each server's store (at least the Auth, transport and WMSvc ones).
    #[arg(long, default_value_t = 20)]
    certs_per_server: usize,
    #[arg(long, value_enum, default_value_t = Scenario::Healthy)]
    scenario: Scenario,
    /// The collection time, RFC 3339 (default: now). Certificate dates are relative to it.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Key algorithm of every certificate.
    #[arg(long, value_enum, default_value_t = KeyType::Rsa)]
    key_type: KeyType,
    /// Size of the pool of RSA keys shared round-robin (each costs ~0.1-1 s to generate).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    rsa_keys: u32,
}

/// A generated certificate and how a server's store lists it.
#[derive(Clone)]
struct StoreEntry {
    der: Vec<u8>,
    services: &'static [&'static str],
    friendly_name: String,
}

impl StoreEntry {
    fn thumbprint(&self) -> Thumbprint {
        Thumbprint::of_der(&self.der)
    }

    fn to_json(&self, now: DateTime<Utc>) -> Value {
        // Exchange calls an expired certificate DateInvalid, self-signed ones Valid.
        let expired = exchange_authcert::model::Certificate::from_der(&self.der)
            .is_ok_and(|cert| cert.is_expired(now));
        let status = if expired { "DateInvalid" } else { "Valid" };
        json!({
            "thumbprint": self.thumbprint().as_str(),
            "raw_data": STANDARD.encode(&self.der),
            "services": self.services,
            "friendly_name": self.friendly_name,
            "status": status,
        })
    }
}

struct Generator {
    ca: Issuer<'static, KeyPair>,
    keys: KeySource,
}

/// Where certificate keys come from: a fresh ECDSA key each, or the next RSA key of the pool.
enum KeySource {
    Ecdsa,
    RsaPool {
        pkcs8: Vec<Vec<u8>>,
        next: std::cell::Cell<usize>,
    },
}

impl KeySource {
    fn new(key_type: KeyType, rsa_keys: u32) -> Result<KeySource, String> {
        match key_type {
            KeyType::Ecdsa => Ok(KeySource::Ecdsa),
            KeyType::Rsa => {
                // Generated on every core: a 2048-bit key takes up to a second.
                let pkcs8 = std::thread::scope(|scope| {
                    let workers: Vec<_> =
                        (0..rsa_keys).map(|_| scope.spawn(new_rsa_pkcs8)).collect();
                    workers
                        .into_iter()
                        .map(|worker| worker.join().map_err(|_| "key generation panicked")?)
                        .collect::<Result<Vec<_>, String>>()
                })?;
                Ok(KeySource::RsaPool {
                    pkcs8,
                    next: std::cell::Cell::new(0),
                })
            }
        }
    }

    fn key(&self) -> Result<KeyPair, String> {
        match self {
            KeySource::Ecdsa => KeyPair::generate().map_err(|e| e.to_string()),
            KeySource::RsaPool { pkcs8, next } => {
                let index = next.get();
                next.set((index + 1) % pkcs8.len());
                let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8[index].as_slice());
                KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

fn new_rsa_pkcs8() -> Result<Vec<u8>, String> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| format!("RSA key generation: {e}"))?;
    Ok(key
        .to_pkcs8_der()
        .map_err(|e| format!("RSA key encoding: {e}"))?
        .as_bytes()
        .to_vec())
}

impl Generator {
    fn new(now: DateTime<Utc>, keys: KeySource) -> Result<Generator, String> {
        let mut params = params(
            &[],
            "Contoso Issuing CA 01",
            now - Duration::days(3 * 365),
            years_after(now - Duration::days(3 * 365), 10),
        )?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = keys.key()?;
        Ok(Generator {
            ca: Issuer::new(params, key),
            keys,
        })
    }

    fn self_signed(&self, params: &CertificateParams) -> Result<Vec<u8>, String> {
        let key = self.keys.key()?;
        Ok(params
            .self_signed(&key)
            .map_err(|e| e.to_string())?
            .der()
            .to_vec())
    }

    fn ca_issued(&self, params: &CertificateParams) -> Result<Vec<u8>, String> {
        let key = self.keys.key()?;
        Ok(params
            .signed_by(&key, &self.ca)
            .map_err(|e| e.to_string())?
            .der()
            .to_vec())
    }

    /// What `New-ExchangeCertificate` makes for the Auth certificate: self-signed, 5 years,
    /// DigitalSignature + KeyEncipherment, serverAuth, CA:false, no SAN.
    fn auth(&self, not_before: DateTime<Utc>) -> Result<StoreEntry, String> {
        let mut params = params(
            &[],
            AUTH_CERTIFICATE_CN,
            not_before,
            years_after(not_before, 5),
        )?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        Ok(StoreEntry {
            der: self.self_signed(&params)?,
            services: &[],
            friendly_name: AUTH_CERTIFICATE_CN.to_string(),
        })
    }
}

/// Subject `CN=<cn>`, the given SANs and validity.
fn params(
    sans: &[String],
    cn: &str,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(sans.to_vec()).map_err(|e| e.to_string())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = to_time(not_before)?;
    params.not_after = to_time(not_after)?;
    Ok(params)
}

fn to_time(date: DateTime<Utc>) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::from_unix_timestamp(date.timestamp()).map_err(|e| e.to_string())
}

fn years_after(date: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    date.checked_add_months(Months::new(12 * years))
        .unwrap_or(date + Duration::days(365 * i64::from(years)))
}

fn rfc3339(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct ServerNames {
    name: String,
    fqdn: String,
    site: &'static str,
}

fn server_names(index: u32, count: u32) -> ServerNames {
    let name = if count < 100 {
        format!("EXCH{:02}", index + 1)
    } else {
        format!("EXCH{:04}", index + 1)
    };
    let fqdn = format!("{}.{DOMAIN}", name.to_ascii_lowercase());
    // Larger organisations span two AD sites.
    let site = if count >= 4 && index >= count.div_ceil(2) {
        "Branch-Office-Site"
    } else {
        "Default-First-Site-Name"
    };
    ServerNames { name, fqdn, site }
}

/// Filler certificate number `k` (from 0) of a server, after the organisation-wide ones.
fn filler(
    generator: &Generator,
    server: &ServerNames,
    k: usize,
    now: DateTime<Utc>,
) -> Result<StoreEntry, String> {
    let host = format!(
        "app{:02}-{}.{DOMAIN}",
        k + 1,
        server.name.to_ascii_lowercase()
    );
    let age = Duration::days(30 + (k as i64 * 97) % 900);
    let not_before = now - age;
    match k % 3 {
        // A CA-issued web certificate, one or two years.
        0 | 1 => {
            let years = 1 + (k as u32 % 2);
            let params = params(
                std::slice::from_ref(&host),
                &host,
                not_before,
                years_after(not_before, years),
            )?;
            Ok(StoreEntry {
                der: generator.ca_issued(&params)?,
                services: &[],
                friendly_name: host,
            })
        }
        // An old self-signed one left behind, often expired.
        _ => {
            let params = params(
                std::slice::from_ref(&server.name),
                &server.name,
                not_before - Duration::days(5 * 365),
                years_after(not_before - Duration::days(5 * 365), 5),
            )?;
            Ok(StoreEntry {
                der: generator.self_signed(&params)?,
                services: &[],
                friendly_name: "Microsoft Exchange".into(),
            })
        }
    }
}

fn generate(args: &Args) -> Result<Value, String> {
    let now = args.now.unwrap_or_else(Utc::now);
    let generator = Generator::new(now, KeySource::new(args.key_type, args.rsa_keys)?)?;

    let (current, next, next_effective) = match args.scenario {
        Scenario::Healthy | Scenario::Missing | Scenario::Unreachable => {
            (generator.auth(now - Duration::days(400))?, None, None)
        }
        Scenario::Expiring => {
            let not_after = now + Duration::days(20);
            let not_before = not_after
                .checked_sub_months(Months::new(60))
                .ok_or("date out of range")?;
            (generator.auth(not_before)?, None, None)
        }
        Scenario::Rotation => {
            let not_after = now + Duration::days(40);
            let not_before = not_after
                .checked_sub_months(Months::new(60))
                .ok_or("date out of range")?;
            let next = generator.auth(now - Duration::hours(20))?;
            (
                generator.auth(not_before)?,
                Some(next),
                Some(now + Duration::days(2)),
            )
        }
    };

    // The organisation's public certificate, the same on every server.
    let public_host = format!("mail.{DOMAIN}");
    let public_params = params(
        &[public_host.clone(), format!("autodiscover.{DOMAIN}")],
        &public_host,
        now - Duration::days(100),
        now + Duration::days(265),
    )?;
    let public = StoreEntry {
        der: generator.ca_issued(&public_params)?,
        services: &["IMAP", "POP", "IIS", "SMTP"],
        friendly_name: format!("{public_host} 2026"),
    };

    let mandatory = 3 + usize::from(next.is_some());
    if args.certs_per_server < mandatory {
        return Err(format!(
            "--certs-per-server must be at least {mandatory} for this scenario \
             (Auth certificates, transport, WMSvc)"
        ));
    }

    let mut servers = Vec::new();
    for index in 0..args.servers {
        let names = server_names(index, args.servers);
        let last = index + 1 == args.servers;
        let installed = now - Duration::days(700 - i64::from(index % 300));

        let mut store = Vec::with_capacity(args.certs_per_server);
        let auth_missing_here = last && args.scenario == Scenario::Missing;
        if !auth_missing_here {
            store.push(current.clone());
        }
        if let Some(next) = &next {
            store.push(next.clone());
        }
        let transport_params = params(
            &[names.name.clone(), names.fqdn.clone()],
            &names.name,
            installed,
            years_after(installed, 5),
        )?;
        let transport = StoreEntry {
            der: generator.self_signed(&transport_params)?,
            services: &["IIS", "SMTP"],
            friendly_name: "Microsoft Exchange".into(),
        };
        let transport_thumbprint = transport.thumbprint();
        store.push(transport);
        let wmsvc_cn = format!("WMSvc-SHA2-{}", names.name);
        let wmsvc_params = params(&[], &wmsvc_cn, installed, years_after(installed, 10))?;
        store.push(StoreEntry {
            der: generator.self_signed(&wmsvc_params)?,
            services: &[],
            friendly_name: "WMSVC-SHA2".into(),
        });
        if store.len() < args.certs_per_server {
            store.push(public.clone());
        }
        let mut k = 0;
        while store.len() < args.certs_per_server {
            store.push(filler(&generator, &names, k, now)?);
            k += 1;
        }

        let unreachable = last && args.scenario == Scenario::Unreachable;
        let certificates: Vec<Value> = if unreachable {
            Vec::new()
        } else {
            store.iter().map(|entry| entry.to_json(now)).collect()
        };
        let error = unreachable.then(|| {
            format!(
                "Connecting to remote server {} failed with the following error message : \
                 WinRM cannot complete the operation. Verify that the specified computer name \
                 is valid, that the computer is accessible over the network.",
                names.fqdn
            )
        });
        servers.push(json!({
            "name": names.name,
            "fqdn": names.fqdn,
            "site": names.site,
            "version": EXCHANGE_VERSION,
            "major_version": 15,
            "roles": ["Mailbox"],
            "is_edge": false,
            "reachable": !unreachable,
            "error": error,
            "internal_transport_certificate_thumbprint": transport_thumbprint.as_str(),
            "certificates": certificates,
        }));
    }

    let first = server_names(0, args.servers);
    Ok(json!({
        "schema": "exchange-authcert-bundle",
        "schema_version": 1,
        "collected_at": rfc3339(now),
        "collected_on": format!("{}.{DOMAIN}", first.name),
        "collector_version": "make_bundle",
        "auth_config": {
            "CurrentCertificateThumbprint": current.thumbprint().as_str(),
            "PreviousCertificateThumbprint": "",
            "NextCertificateThumbprint": next.as_ref().map(|n| n.thumbprint().to_string()).unwrap_or_default(),
            "NextCertificateEffectiveDate": next_effective.map(rfc3339),
            "ServiceName": "00000002-0000-0ff1-ce00-000000000000",
            "Realm": "",
        },
        "auth_config_error": null,
        "hybrid": {"detected": false, "error": null},
        "servers": servers,
    }))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bundle = match generate(&args) {
        Ok(bundle) => bundle,
        Err(reason) => {
            eprintln!("make_bundle: {reason}");
            return ExitCode::FAILURE;
        }
    };
    let mut text = match serde_json::to_string_pretty(&bundle) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("make_bundle: {e}");
            return ExitCode::FAILURE;
        }
    };
    text.push('\n');
    let written = match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| e.to_string())
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("make_bundle: {reason}");
            ExitCode::FAILURE
        }
    }
}

//! Real loopback servers for the agentless tests (`--metadata`, `--tls`): an HTTPS server
//! (rustls) with scripted answers, an SMTP server that answers EHLO and STARTTLS, an
//! implicit-TLS server, and a black hole that accepts and never answers.
//!
//! Everything listens on 127.0.0.1 with a port the OS picks, runs on std threads, and stops on
//! its own: every connection thread ends within a few seconds, and the accept loops end with
//! the test process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha1::{Digest, Sha1};

use super::TestCert;

/// How long a connection thread waits for its peer before it gives up.
const PEER_PATIENCE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Certificates for servers
// ---------------------------------------------------------------------------------------------

/// A CA and a server certificate it issued for `localhost`, `127.0.0.1` and
/// `mail.contoso.test`, for the HTTPS server a verifying client must trust (`--ca-file`).
pub struct ServerIdentity {
    pub ca_pem: String,
    pub chain: Vec<Vec<u8>>,
    pub key_pem: String,
}

pub fn trusted_identity() -> ServerIdentity {
    trusted_identity_for(&["localhost", "127.0.0.1", "mail.contoso.test"])
}

/// A CA and a server certificate it issued for `names` (the first is its CN): one identity for
/// several servers' FQDNs.
pub fn trusted_identity_for(names: &[&str]) -> ServerIdentity {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Contoso Test Root CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, *names.last().expect("a name"));
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = params.signed_by(&key, &issuer).expect("leaf");
    ServerIdentity {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().to_vec(), ca.der().to_vec()],
        key_pem: key.serialize_pem(),
    }
}

/// A self-signed certificate as its own server identity (what Exchange presents on SMTP/444).
pub fn identity_of(cert: &TestCert) -> ServerIdentity {
    ServerIdentity {
        ca_pem: cert.pem(),
        chain: vec![cert.der.clone()],
        key_pem: cert.key_pem.clone(),
    }
}

fn server_config(identity: &ServerIdentity) -> Arc<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = identity
        .chain
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("private key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    Arc::new(config)
}

/// Completes a server-side handshake on `tcp` and waits for the client to go.
fn serve_handshake(config: Arc<rustls::ServerConfig>, mut tcp: TcpStream) {
    let _ = tcp.set_read_timeout(Some(PEER_PATIENCE));
    let _ = tcp.set_write_timeout(Some(PEER_PATIENCE));
    let Ok(mut connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    while connection.is_handshaking() {
        if connection.complete_io(&mut tcp).is_err() {
            return;
        }
    }
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let mut sink = [0u8; 256];
    let _ = stream.read(&mut sink);
}

fn listen() -> (TcpListener, SocketAddr) {
    listen_on("127.0.0.1")
}

fn listen_on(ip: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((ip, 0)).expect("binding a loopback port");
    let address = listener.local_addr().expect("local address");
    (listener, address)
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let (listener, address) = listen();
    drop(listener);
    address.port()
}

/// Accepts connections forever, each handled on its own thread.
fn serve_each(listener: TcpListener, handler: impl Fn(TcpStream) + Send + Sync + 'static) {
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || handler(stream));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------------------------

/// What the HTTPS server answers to one path.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Respond(u16, Vec<(String, String)>, Vec<u8>),
    /// Sends nothing and holds the connection for `PEER_PATIENCE`.
    Hang,
    /// The reply, after a wait (a server far away or busy).
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply::Respond(
            200,
            vec![("Content-Type".into(), "text/json; charset=utf-8".into())],
            body.into(),
        )
    }

    pub fn status(code: u16) -> Reply {
        Reply::Respond(code, Vec::new(), b"error".to_vec())
    }

    pub fn redirect(location: &str) -> Reply {
        Reply::Respond(302, vec![("Location".into(), location.into())], Vec::new())
    }
}

/// Starts an HTTPS server; `route` maps a request path to the reply.
pub fn https_server(
    identity: &ServerIdentity,
    route: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> SocketAddr {
    https_server_on("127.0.0.1", identity, route)
}

/// [`https_server`] on another loopback address (127.0.0.2 ...): one per simulated server.
pub fn https_server_on(
    ip: &str,
    identity: &ServerIdentity,
    route: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> SocketAddr {
    let config = server_config(identity);
    let (listener, address) = listen_on(ip);
    serve_each(listener, move |tcp| {
        let _ = tcp.set_read_timeout(Some(PEER_PATIENCE));
        let _ = tcp.set_write_timeout(Some(PEER_PATIENCE));
        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
            return;
        };
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        let Some(path) = read_request_path(&mut stream) else {
            return;
        };
        let mut reply = route(&path);
        while let Reply::Slow(wait, then) = reply {
            std::thread::sleep(wait);
            reply = *then;
        }
        match reply {
            Reply::Hang => std::thread::sleep(PEER_PATIENCE),
            Reply::Slow(..) => unreachable!("waited for above"),
            Reply::Respond(code, headers, body) => {
                let mut head = format!(
                    "HTTP/1.1 {code} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reason(code),
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
                let _ = stream.flush();
                stream.conn.send_close_notify();
                let _ = stream.conn.complete_io(&mut stream.sock);
            }
        }
    });
    address
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// The path of the request line, after reading the whole head (at most 16 KiB).
fn read_request_path(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next()?;
    line.split_whitespace().nth(1).map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// Metadata documents
// ---------------------------------------------------------------------------------------------

/// Property names as Exchange writes them (`keyinfo`) or as other services do (`keyInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCase {
    Lower,
    Camel,
}

/// base64url SHA-1 of the DER, without padding: what `x5t` must be.
pub fn x5t(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha1::digest(der))
}

/// A metadata document publishing these certificates (with their correct x5t unless one is
/// given).
pub fn metadata_doc(keys: &[(&TestCert, Option<&str>)], case: KeyCase) -> String {
    let keys: Vec<(&[u8], Option<&str>)> = keys
        .iter()
        .map(|(cert, x5t)| (cert.der.as_slice(), *x5t))
        .collect();
    metadata_doc_of(&keys, case)
}

/// [`metadata_doc`] from the certificates' DER.
pub fn metadata_doc_of(keys: &[(&[u8], Option<&str>)], case: KeyCase) -> String {
    let (info, value, kind) = match case {
        KeyCase::Lower => ("keyinfo", "keyvalue", "x509Certificate"),
        KeyCase::Camel => ("keyInfo", "keyValue", "X509Certificate"),
    };
    let keys: Vec<String> = keys
        .iter()
        .map(|(der, thumb)| {
            let thumb = thumb.map_or_else(|| x5t(der), str::to_string);
            format!(
                r#"{{"usage":"signing","{info}":{{"x5t":"{thumb}"}},"{value}":{{"type":"{kind}","value":"{}"}}}}"#,
                base64::engine::general_purpose::STANDARD.encode(der)
            )
        })
        .collect();
    format!(
        r#"{{"id":"_4f0b2c1e-0000-4000-8000-000000000001","version":"1.0","name":"Exchange","realm":"contoso.test","serviceName":"00000002-0000-0ff1-ce00-000000000000","issuer":"00000002-0000-0ff1-ce00-000000000000@contoso.test","allowedAudiences":["00000002-0000-0ff1-ce00-000000000000@contoso.test"],"keys":[{}],"endpoints":[{{"location":"https://mail.contoso.test/autodiscover/metadata/json/1","protocol":"OAuth2","usage":"metadata"}}]}}"#,
        keys.join(",")
    )
}

/// `size` bytes of zeros, gzip-compressed (a few kilobytes for megabytes).
pub fn gzip_bomb(size: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 64 * 1024];
    let mut written = 0;
    while written < size {
        encoder.write_all(&zeros).expect("compressing");
        written += zeros.len();
    }
    encoder.finish().expect("compressing")
}

// ---------------------------------------------------------------------------------------------
// TLS endpoints
// ---------------------------------------------------------------------------------------------

/// A server that starts TLS at once (like 443/444, or SMTPS).
pub fn implicit_tls_server(identity: &ServerIdentity) -> SocketAddr {
    let config = server_config(identity);
    let (listener, address) = listen();
    serve_each(listener, move |tcp| serve_handshake(config.clone(), tcp));
    address
}

/// How the SMTP server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smtp {
    /// Multi-line greeting and EHLO answer offering STARTTLS, 220 to STARTTLS, then TLS.
    Good,
    /// EHLO answer without STARTTLS.
    NoStartTls,
    /// 454 to STARTTLS.
    RefusesStartTls,
    /// 554 greeting (e.g. a blocked client).
    RefusesClient,
}

/// An SMTP server speaking RFC 5321 with STARTTLS (RFC 3207).
pub fn smtp_server(identity: &ServerIdentity, behaviour: Smtp) -> SocketAddr {
    let config = server_config(identity);
    let (listener, address) = listen();
    serve_each(listener, move |tcp| {
        let _ = tcp.set_read_timeout(Some(PEER_PATIENCE));
        let _ = tcp.set_write_timeout(Some(PEER_PATIENCE));
        let Ok(read_half) = tcp.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut writer = &tcp;
        if behaviour == Smtp::RefusesClient {
            let _ = writer.write_all(b"554 5.7.1 mail.contoso.test: access denied\r\n");
            return;
        }
        let _ = writer.write_all(
            b"220-mail.contoso.test Microsoft ESMTP MAIL Service ready\r\n220 at Thu, 26 Nov 2026 22:00:00 +0000\r\n",
        );
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || !line.starts_with("EHLO") {
            return;
        }
        let starttls = if behaviour == Smtp::NoStartTls {
            ""
        } else {
            "250-STARTTLS\r\n"
        };
        let answer = format!(
            "250-mail.contoso.test Hello [127.0.0.1]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n{starttls}250-8BITMIME\r\n250 CHUNKING\r\n"
        );
        let _ = writer.write_all(answer.as_bytes());
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if !line.trim().eq_ignore_ascii_case("STARTTLS") {
            let _ = writer.write_all(b"500 5.3.3 Unrecognized command\r\n");
            return;
        }
        if behaviour == Smtp::RefusesStartTls {
            let _ = writer.write_all(b"454 4.7.0 TLS not available due to temporary reason\r\n");
            return;
        }
        let _ = writer.write_all(b"220 2.0.0 SMTP server ready\r\n");
        drop(reader);
        serve_handshake(config.clone(), tcp);
    });
    address
}

/// An IMAP (`a1 STARTTLS`, RFC 3501) or POP3 (`STLS`, RFC 2595) server that upgrades to TLS.
pub fn line_starttls_server(identity: &ServerIdentity, pop3: bool) -> SocketAddr {
    let config = server_config(identity);
    let (listener, address) = listen();
    serve_each(listener, move |tcp| {
        let _ = tcp.set_read_timeout(Some(PEER_PATIENCE));
        let Ok(read_half) = tcp.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut writer = &tcp;
        let (greeting, answer): (&[u8], &[u8]) = if pop3 {
            (
                b"+OK The Microsoft Exchange POP3 service is ready.\r\n",
                b"+OK Begin TLS negotiation\r\n",
            )
        } else {
            (
                b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n",
                b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK Begin TLS negotiation now.\r\n",
            )
        };
        let _ = writer.write_all(greeting);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let _ = writer.write_all(answer);
        drop(reader);
        serve_handshake(config.clone(), tcp);
    });
    address
}

/// Reads the ClientHello and answers with a fatal `handshake_failure` TLS alert (what a
/// server with no cipher in common sends).
pub fn alert_server() -> SocketAddr {
    let (listener, address) = listen();
    serve_each(listener, |mut tcp| {
        let _ = tcp.set_read_timeout(Some(PEER_PATIENCE));
        let mut hello = [0u8; 512];
        if tcp.read(&mut hello).unwrap_or(0) == 0 {
            return;
        }
        // Record type 21 (alert), TLS 1.2, length 2: level fatal (2), handshake_failure (40).
        let _ = tcp.write_all(&[21, 3, 3, 0, 2, 2, 40]);
        let _ = tcp.flush();
    });
    address
}

/// Accepts connections and never answers (held up to `PEER_PATIENCE` x 2).
pub fn black_hole() -> SocketAddr {
    let (listener, address) = listen();
    serve_each(listener, |tcp| {
        std::thread::sleep(PEER_PATIENCE * 2);
        drop(tcp);
    });
    address
}

/// The report's findings as `code:severity`, in report order.
pub fn finding_codes(json: &serde_json::Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["code"].as_str().unwrap(),
                f["severity"].as_str().unwrap()
            )
        })
        .collect()
}

//! `--tls HOST[:PORT]`: the certificate chain a server presents, fetched without trusting it.
//!
//! The point is to *see* self-signed certificates (Exchange's internal transport certificate on
//! SMTP, the back end on 444), so the handshake uses a verifier that accepts any certificate. The
//! TCP connection, the optional STARTTLS dialogue (SMTP, IMAP, POP3) and the handshake all end
//! by one deadline, and every failure is a [`NetError`] with a one-line reason an admin can act
//! on ("connection refused", "no answer within 2.0 s", "TLS alert: handshake failure").

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Why an endpoint could not be read: one line, without the endpoint (the caller names it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetError(pub String);

pub(crate) fn net_error(text: impl Into<String>) -> NetError {
    let text: String = text.into();
    let line: Vec<&str> = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    NetError(line.join(" ").replace('|', "/"))
}

/// The protocol spoken in clear before the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartTls {
    Smtp,
    Imap,
    Pop3,
}

impl StartTls {
    pub fn as_str(self) -> &'static str {
        match self {
            StartTls::Smtp => "smtp",
            StartTls::Imap => "imap",
            StartTls::Pop3 => "pop3",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            StartTls::Smtp => 25,
            StartTls::Imap => 143,
            StartTls::Pop3 => 110,
        }
    }
}

/// `HOST[:PORT]`, `[v6]:PORT` or a bare IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `text`, with `default_port` when none is given.
    pub fn parse(text: &str, default_port: u16) -> Result<HostPort, String> {
        let text = text.trim();
        let bad = || format!("'{text}' is not HOST[:PORT]");
        if text.is_empty() {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if text.parse::<std::net::Ipv6Addr>().is_ok() {
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(format!("'{text}': port must be a number from 1 to 65535")),
            },
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if host.is_empty() || !host.chars().all(valid) {
            return Err(bad());
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The instant by which every network step must be done; each step gets what is left.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline(Instant::now() + budget)
    }

    /// Time left, or the error to report when none is.
    pub fn remaining(&self, doing: &str) -> Result<Duration, NetError> {
        let left = self.0.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(5) {
            Err(net_error(format!("no time left (-t) {doing}")))
        } else {
            Ok(left)
        }
    }
}

/// Resolves `host:port` within the deadline (the lookup runs in a thread, because the system
/// resolver cannot be interrupted). Addresses are tried in the order the resolver gives them.
pub fn resolve(host: &str, port: u16, deadline: Deadline) -> Result<Vec<SocketAddr>, NetError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let left = deadline.remaining("to resolve the name")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    let name = format!("{host}:{port}");
    let lookup = |sender: std::sync::mpsc::Sender<_>, name: String| {
        let _ = sender.send(name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    };
    let (thread_sender, thread_name) = (sender.clone(), name.clone());
    let spawned = std::thread::Builder::new().spawn(move || lookup(thread_sender, thread_name));
    if spawned.is_err() {
        // No thread to spare (the account's process limit): the lookup runs here, bounded only
        // by the resolver's own timeouts.
        lookup(sender, name);
    }
    match receiver.recv_timeout(left) {
        Ok(Ok(addresses)) if !addresses.is_empty() => Ok(addresses),
        Ok(Ok(_)) => Err(net_error(format!(
            "cannot resolve host '{host}': no address"
        ))),
        Ok(Err(e)) => Err(net_error(format!(
            "cannot resolve host '{host}': {}",
            dns_reason(&e)
        ))),
        Err(_) => Err(net_error(format!(
            "cannot resolve host '{host}': no answer from DNS within {:.1} s",
            left.as_secs_f64()
        ))),
    }
}

fn dns_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    if text.contains("not known") || text.contains("No address") || text.contains("not found") {
        "name not found".into()
    } else {
        text.to_string()
    }
}

/// A TCP connection to the first address that answers, within the deadline.
pub fn connect(addresses: &[SocketAddr], deadline: Deadline) -> Result<TcpStream, NetError> {
    let mut last = net_error("no address to connect to");
    for address in addresses {
        let left = deadline.remaining(&format!("to connect to {address}"))?;
        match TcpStream::connect_timeout(address, left) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if addresses.len() == 1 => last = net_error(io_reason(&e, left)),
            Err(e) => last = net_error(format!("{address}: {}", io_reason(&e, left))),
        }
    }
    Err(last)
}

/// An I/O error as an admin reads it.
pub fn io_reason(error: &std::io::Error, waited: Duration) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset by the peer".into(),
        ErrorKind::ConnectionAborted => "connection aborted".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            format!("no answer within {:.1} s", waited.as_secs_f64())
        }
        ErrorKind::UnexpectedEof => "the peer closed the connection".into(),
        ErrorKind::HostUnreachable => "host unreachable".into(),
        ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_string(),
                None => text,
            }
        }
    }
}

/// How to reach one `--tls` endpoint.
#[derive(Debug, Clone)]
pub struct TlsTarget {
    pub endpoint: HostPort,
    pub starttls: Option<StartTls>,
    /// Server name to send (SNI); the endpoint's host when `None`. An IP address sends none.
    pub sni: Option<String>,
    /// Connect here instead of the endpoint's host (`--connect-to`).
    pub connect_to: Option<HostPort>,
}

impl TlsTarget {
    /// `tls://mail.contoso.com:25 (starttls smtp)`: the origin of the certificates it presents.
    pub fn origin(&self) -> String {
        let mut origin = format!("tls://{}", self.endpoint);
        if let Some(to) = &self.connect_to {
            origin.push_str(&format!(" via {to}"));
        }
        if let Some(starttls) = self.starttls {
            origin.push_str(&format!(" (starttls {})", starttls.as_str()));
        }
        origin
    }
}

/// The DER chain the server presents, leaf first.
pub fn fetch_chain(target: &TlsTarget, deadline: Deadline) -> Result<Vec<Vec<u8>>, NetError> {
    let (host, port) = match &target.connect_to {
        Some(to) => (to.host.as_str(), to.port),
        None => (target.endpoint.host.as_str(), target.endpoint.port),
    };
    let addresses = resolve(host, port, deadline)?;
    let mut stream = connect(&addresses, deadline)?;
    if let Some(protocol) = target.starttls {
        let mut dialogue = Dialogue {
            stream: &mut stream,
            deadline,
        };
        match protocol {
            StartTls::Smtp => dialogue.smtp()?,
            StartTls::Imap => dialogue.imap()?,
            StartTls::Pop3 => dialogue.pop3()?,
        }
    }
    let sni = target.sni.as_deref().unwrap_or(&target.endpoint.host);
    handshake(&mut stream, sni, deadline)
}

// ---------------------------------------------------------------------------------------------
// STARTTLS dialogues
// ---------------------------------------------------------------------------------------------

/// Longest reply line and most lines of one reply accepted from a server.
const MAX_LINE: usize = 4096;
const MAX_REPLY_LINES: usize = 200;

struct Dialogue<'a> {
    stream: &'a mut TcpStream,
    deadline: Deadline,
}

impl Dialogue<'_> {
    /// One CRLF-terminated line, read a byte at a time so that nothing after the line (the
    /// start of the TLS handshake) is consumed.
    fn line(&mut self, waiting_for: &str) -> Result<String, NetError> {
        let mut bytes = Vec::new();
        loop {
            let left = self
                .deadline
                .remaining(&format!("waiting for {waiting_for}"))?;
            let _ = self.stream.set_read_timeout(Some(left));
            let mut byte = [0u8; 1];
            match self.stream.read(&mut byte) {
                Ok(0) => {
                    return Err(net_error(format!(
                        "the server closed the connection while we waited for {waiting_for}"
                    )));
                }
                Ok(_) => {
                    if byte[0] == b'\n' {
                        if bytes.last() == Some(&b'\r') {
                            bytes.pop();
                        }
                        return Ok(String::from_utf8_lossy(&bytes).into_owned());
                    }
                    bytes.push(byte[0]);
                    if bytes.len() > MAX_LINE {
                        return Err(net_error(format!(
                            "the server sent a line longer than {MAX_LINE} bytes while we waited for {waiting_for}"
                        )));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(net_error(format!(
                        "{} while waiting for {waiting_for}",
                        io_reason(&e, left)
                    )));
                }
            }
        }
    }

    fn send(&mut self, command: &str) -> Result<(), NetError> {
        let left = self
            .deadline
            .remaining(&format!("to send {}", command.trim()))?;
        let _ = self.stream.set_write_timeout(Some(left));
        self.stream
            .write_all(command.as_bytes())
            .and_then(|_| self.stream.flush())
            .map_err(|e| {
                net_error(format!(
                    "sending {}: {}",
                    command.trim(),
                    io_reason(&e, left)
                ))
            })
    }

    /// An SMTP reply (RFC 5321 4.2): lines `NNN-text` continued until `NNN text`.
    fn smtp_reply(&mut self, waiting_for: &str) -> Result<(u16, Vec<String>), NetError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line(waiting_for)?;
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                return Err(net_error(format!(
                    "not an SMTP reply while waiting for {waiting_for}: '{}'",
                    shorten(&line)
                )));
            };
            let separator = line.as_bytes().get(3).copied();
            lines.push(line.get(4..).unwrap_or("").to_string());
            match separator {
                Some(b'-') if lines.len() < MAX_REPLY_LINES => {}
                Some(b'-') => {
                    return Err(net_error(format!(
                        "SMTP reply longer than {MAX_REPLY_LINES} lines"
                    )));
                }
                _ => return Ok((code, lines)),
            }
        }
    }

    fn smtp(&mut self) -> Result<(), NetError> {
        let (code, text) = self.smtp_reply("the SMTP greeting")?;
        if code != 220 {
            return Err(net_error(format!(
                "SMTP greeting refused: {code} {}",
                shorten(&text.join(" "))
            )));
        }
        self.send("EHLO check-exchange-authcert\r\n")?;
        let (code, capabilities) = self.smtp_reply("the answer to EHLO")?;
        if code != 250 {
            return Err(net_error(format!(
                "EHLO refused: {code} {}",
                shorten(&capabilities.join(" "))
            )));
        }
        let offers_starttls = capabilities.iter().skip(1).any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case("STARTTLS"))
        });
        if !offers_starttls {
            return Err(net_error(
                "the SMTP server does not offer STARTTLS (not in its EHLO answer)",
            ));
        }
        self.send("STARTTLS\r\n")?;
        let (code, text) = self.smtp_reply("the answer to STARTTLS")?;
        if code != 220 {
            return Err(net_error(format!(
                "STARTTLS refused: {code} {}",
                shorten(&text.join(" "))
            )));
        }
        Ok(())
    }

    fn imap(&mut self) -> Result<(), NetError> {
        let greeting = self.line("the IMAP greeting")?;
        if !starts_with_ignore_case(&greeting, "* OK") {
            return Err(net_error(format!(
                "IMAP greeting is not '* OK': '{}'",
                shorten(&greeting)
            )));
        }
        self.send("a1 STARTTLS\r\n")?;
        for _ in 0..MAX_REPLY_LINES {
            let line = self.line("the answer to STARTTLS")?;
            if line.starts_with("* ") {
                continue;
            }
            if starts_with_ignore_case(&line, "a1 OK") {
                return Ok(());
            }
            return Err(net_error(format!(
                "IMAP STARTTLS refused: '{}'",
                shorten(&line)
            )));
        }
        Err(net_error("IMAP server never answered STARTTLS"))
    }

    fn pop3(&mut self) -> Result<(), NetError> {
        let greeting = self.line("the POP3 greeting")?;
        if !greeting.starts_with("+OK") {
            return Err(net_error(format!(
                "POP3 greeting is not '+OK': '{}'",
                shorten(&greeting)
            )));
        }
        self.send("STLS\r\n")?;
        let answer = self.line("the answer to STLS")?;
        if !answer.starts_with("+OK") {
            return Err(net_error(format!(
                "POP3 STLS refused: '{}'",
                shorten(&answer)
            )));
        }
        Ok(())
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Server text in a reason: printable, and short.
fn shorten(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    match clean.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &clean[..cut]),
        None => clean.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake
// ---------------------------------------------------------------------------------------------

/// Accepts any certificate and remembers the chain; handshake signatures are still checked,
/// so the chain is the one the server holds the key of.
#[derive(Debug)]
struct RecordingVerifier {
    chain: Mutex<Option<Vec<Vec<u8>>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        if let Ok(mut slot) = self.chain.lock() {
            *slot = Some(chain);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn handshake(
    stream: &mut TcpStream,
    sni: &str,
    deadline: Deadline,
) -> Result<Vec<Vec<u8>>, NetError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(RecordingVerifier {
        chain: Mutex::new(None),
        provider: provider.clone(),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| net_error(format!("TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string())
        .map_err(|_| net_error(format!("'{sni}' is not a valid server name for SNI")))?;
    let mut connection = ClientConnection::new(Arc::new(config), name)
        .map_err(|e| net_error(format!("TLS set-up: {e}")))?;
    let result = drive_handshake(&mut connection, stream, deadline);
    let chain = verifier.chain.lock().ok().and_then(|mut c| c.take());
    match (result, chain) {
        (Ok(()), Some(chain)) if !chain.is_empty() => Ok(chain),
        (Ok(()), _) => Err(net_error("the server presented no certificate")),
        (Err(e), _) => Err(e),
    }
}

fn drive_handshake(
    connection: &mut ClientConnection,
    stream: &mut TcpStream,
    deadline: Deadline,
) -> Result<(), NetError> {
    while connection.is_handshaking() {
        if connection.wants_write() {
            let left = deadline.remaining("during the TLS handshake")?;
            let _ = stream.set_write_timeout(Some(left));
            connection
                .write_tls(stream)
                .map_err(|e| net_error(format!("TLS handshake: {}", io_reason(&e, left))))?;
            continue;
        }
        if connection.wants_read() {
            let left = deadline.remaining("during the TLS handshake")?;
            let _ = stream.set_read_timeout(Some(left));
            match connection.read_tls(stream) {
                Ok(0) => {
                    return Err(net_error(
                        "TLS handshake: the server closed the connection (does it speak TLS on this port? use --starttls for SMTP/IMAP/POP3)",
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(net_error(format!("TLS handshake: {}", io_reason(&e, left))));
                }
            }
            if let Err(e) = connection.process_new_packets() {
                // Tell the server why, as a well-behaved client does; ignore failures.
                let _ = connection.write_tls(stream);
                return Err(net_error(format!("TLS handshake: {}", tls_reason(&e))));
            }
            continue;
        }
        break;
    }
    // Flush the final handshake message, then close politely; failures no longer matter.
    while connection.wants_write() {
        if connection.write_tls(stream).is_err() {
            break;
        }
    }
    connection.send_close_notify();
    let _ = connection.write_tls(stream);
    Ok(())
}

/// A rustls error in words an admin knows.
pub fn tls_reason(error: &rustls::Error) -> String {
    match error {
        rustls::Error::AlertReceived(alert) => {
            format!("the server sent a TLS alert: {}", alert_name(*alert))
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not speak TLS here (use --starttls for SMTP/IMAP/POP3 ports)".into()
        }
        rustls::Error::PeerIncompatible(why) => {
            format!(
                "no common TLS version or cipher with the server ({why:?}); TLS 1.2 or 1.3 is needed"
            )
        }
        other => other.to_string(),
    }
}

fn alert_name(alert: rustls::AlertDescription) -> String {
    let debug = format!("{alert:?}");
    let mut words = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let p = |t: &str| HostPort::parse(t, 443);
        assert_eq!(p("mail.contoso.com").unwrap().port, 443);
        assert_eq!(p("mail.contoso.com:25").unwrap().port, 25);
        assert_eq!(p("[::1]:25").unwrap().host, "::1");
        assert_eq!(p("::1").unwrap().port, 443);
        assert_eq!(p("127.0.0.1:444").unwrap().to_string(), "127.0.0.1:444");
        assert_eq!(p("[::1]:25").unwrap().to_string(), "[::1]:25");
        for bad in [
            "",
            "host:",
            "host:0",
            "host:99999",
            "ho st",
            "[::1",
            "a/b:25",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alert_names_are_words() {
        assert_eq!(
            alert_name(rustls::AlertDescription::HandshakeFailure),
            "handshake failure"
        );
    }

    #[test]
    fn shorten_keeps_reasons_one_line() {
        assert_eq!(shorten("a\r\nb"), "a  b");
        assert!(shorten(&"x".repeat(500)).len() < 130);
    }
}

//! One HTTPS GET, the way a monitoring check needs it: verified with webpki roots (plus
//! `--ca-file`) unless `--insecure`, at most [`MAX_REDIRECTS`] redirects and https only, a body
//! of at most [`MAX_BODY_BYTES`] after decompression, everything by one deadline, and every
//! failure a one-line reason that says whether the server could not be reached at all
//! ([`HttpError::Unreachable`]) or answered something unusable ([`HttpError::Http`]).

use std::sync::Arc;

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::tls::{Deadline, HostPort, NetError, io_reason, resolve, tls_reason};

/// The metadata document is a few kilobytes; anything over this is refused.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Redirects followed (https only).
pub const MAX_REDIRECTS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Name resolution, connection, TLS or timeout: the server was not reached.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered, but not with a usable document (status, redirects, size).
    #[error("{0}")]
    Http(String),
}

/// How to reach and trust the server.
#[derive(Debug, Clone, Default)]
pub struct HttpsOptions {
    /// Extra trusted CA certificates (DER), from `--ca-file`.
    pub extra_roots: Vec<Vec<u8>>,
    /// `--insecure`: no certificate verification at all.
    pub insecure: bool,
    /// `--sni NAME`: the name to ask for (SNI, Host, verification) instead of the URL's host;
    /// the connection still goes to the URL's host unless `connect_to` says otherwise.
    pub sni: Option<String>,
    /// `--connect-to ADDRESS[:PORT]`: where the TCP connection goes.
    pub connect_to: Option<HostPort>,
}

/// Sends every lookup through [`resolve`] (bounded by the deadline), and the requested host to
/// `--connect-to` when one is given.
#[derive(Debug)]
struct PinnedResolver {
    pinned_host: String,
    connect_to: Option<HostPort>,
    deadline: Deadline,
}

impl Resolver for PinnedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .ok_or_else(|| ureq::Error::BadUri(uri.to_string()))?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(443);
        let (host, port) = match &self.connect_to {
            Some(to) if host.eq_ignore_ascii_case(&self.pinned_host) => (to.host.as_str(), to.port),
            _ => (host, port),
        };
        let addresses =
            resolve(host, port, self.deadline).map_err(|e| ureq::Error::Other(Box::new(e)))?;
        let mut out = self.empty();
        out.truncate(0);
        for address in addresses.into_iter().take(16) {
            out.push(address);
        }
        Ok(out)
    }
}

/// GETs `url` and returns the body.
pub fn get(url: &str, options: &HttpsOptions, deadline: Deadline) -> Result<Vec<u8>, HttpError> {
    let target = Target::of(url, options)?;
    let budget = deadline
        .remaining("to fetch the document")
        .map_err(|e| HttpError::Unreachable(e.0))?;
    let resolver = PinnedResolver {
        pinned_host: target
            .pinned_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        connect_to: target.connect_to,
        deadline,
    };
    let agent = ureq::Agent::with_parts(
        agent_config(options, budget),
        DefaultConnector::default(),
        resolver,
    );
    let mut response = agent
        .get(&target.request_url)
        .call()
        .map_err(|e| describe(e, budget))?;
    refuse_unusable(&response)?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| describe(e, budget))
}

/// What is asked for and where the connection goes.
struct Target {
    request_url: String,
    /// The host the request names; the resolver sends it to `connect_to`.
    pinned_host: String,
    connect_to: Option<HostPort>,
}

impl Target {
    fn of(url: &str, options: &HttpsOptions) -> Result<Target, HttpError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| HttpError::Http(format!("'{url}' is not a URL")))?;
        if uri.scheme_str() != Some("https") {
            return Err(HttpError::Http("only https:// URLs are fetched".into()));
        }
        let url_host = uri
            .host()
            .ok_or_else(|| HttpError::Http(format!("'{url}' has no host")))?
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        // --sni NAME: ask for NAME, but connect where the URL (or --connect-to) points.
        let Some(name) = &options.sni else {
            return Ok(Target {
                request_url: url.to_string(),
                pinned_host: url_host,
                connect_to: options.connect_to.clone(),
            });
        };
        let authority = match uri.port_u16() {
            Some(port) => format!("{name}:{port}"),
            None => name.clone(),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let connect_to = options.connect_to.clone().or(Some(HostPort {
            host: url_host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
        }));
        Ok(Target {
            request_url: format!("https://{authority}{path}"),
            pinned_host: name.clone(),
            connect_to,
        })
    }
}

/// https only, a bounded number of redirects, the whole exchange within `budget`, and trust as
/// the options say.
fn agent_config(options: &HttpsOptions, budget: std::time::Duration) -> ureq::config::Config {
    let mut tls = ureq::tls::TlsConfig::builder().disable_verification(options.insecure);
    if !options.extra_roots.is_empty() {
        let roots: Vec<ureq::tls::Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .chain(
                options
                    .extra_roots
                    .iter()
                    .map(|der| ureq::tls::Certificate::from_der(der).to_owned()),
            )
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)));
    }
    ureq::Agent::config_builder()
        .https_only(true)
        .http_status_as_error(false)
        .max_redirects(MAX_REDIRECTS)
        .max_redirects_will_error(true)
        .timeout_global(Some(budget))
        .user_agent(concat!(
            "check_exchange_authcert/",
            env!("CARGO_PKG_VERSION")
        ))
        .accept("application/json, text/json, */*")
        .tls_config(tls.build())
        .max_idle_connections(0)
        // Straight to the server: a proxy from the environment would hide which one answered.
        .proxy(None)
        .build()
}

/// An error status (with where a redirect not followed pointed) or a declared body over the
/// limit: refused before the body is read.
fn refuse_unusable(response: &ureq::http::Response<ureq::Body>) -> Result<(), HttpError> {
    let status = response.status();
    if !status.is_success() {
        let reason = status.canonical_reason().unwrap_or("");
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| format!(" to {l}"))
            .unwrap_or_default();
        return Err(HttpError::Http(if status.is_redirection() {
            format!(
                "HTTP {} {reason}: redirect{location} not followed",
                status.as_u16()
            )
        } else {
            format!("HTTP {} {reason}", status.as_u16())
                .trim_end()
                .to_string()
        }));
    }
    if let Some(length) = response.body().content_length()
        && length > MAX_BODY_BYTES
    {
        return Err(HttpError::Http(format!(
            "the body ({length} bytes) is larger than {} KiB: refused",
            MAX_BODY_BYTES / 1024
        )));
    }
    Ok(())
}

/// A ureq error as one line, classified.
fn describe(error: ureq::Error, waited: std::time::Duration) -> HttpError {
    use ureq::Error as E;
    let unreachable = |text: String| HttpError::Unreachable(text);
    match error {
        E::Other(inner) => match inner.downcast::<NetError>() {
            Ok(net) => unreachable(net.0),
            Err(other) => unreachable(other.to_string()),
        },
        E::HostNotFound => unreachable("cannot resolve the host name".into()),
        E::Timeout(_) => unreachable(format!(
            "no complete answer within {:.1} s",
            waited.as_secs_f64()
        )),
        E::Rustls(e) => unreachable(https_tls_reason(&e)),
        E::Tls(text) => unreachable(format!("TLS: {text}")),
        E::Io(e) => io_error(e, waited),
        E::TooManyRedirects => HttpError::Http(format!(
            "more than {MAX_REDIRECTS} redirects (a redirect loop?)"
        )),
        E::RequireHttpsOnly(url) => {
            HttpError::Http(format!("redirected to {url}: only https is followed"))
        }
        E::BodyExceedsLimit(limit) => HttpError::Http(format!(
            "the body is larger than {} KiB (after decompression): refused",
            limit / 1024
        )),
        E::Decompress(kind, e) => HttpError::Http(format!("the {kind} body is corrupt: {e}")),
        E::LargeResponseHeader(_, limit) => HttpError::Http(format!(
            "the response headers are larger than {limit} bytes"
        )),
        E::Protocol(e) => HttpError::Http(format!("not a valid HTTP/1.1 answer: {e}")),
        E::StatusCode(code) => HttpError::Http(format!("HTTP {code}")),
        E::ConnectionFailed => unreachable("connection failed".into()),
        other => HttpError::Http(other.to_string()),
    }
}

fn io_error(error: std::io::Error, waited: std::time::Duration) -> HttpError {
    // ureq wraps its own errors (body limit, decompression, TLS) in io::Error while reading.
    if error.get_ref().is_some_and(|e| e.is::<ureq::Error>()) {
        if let Some(inner) = error.into_inner()
            && let Ok(inner) = inner.downcast::<ureq::Error>()
        {
            return describe(*inner, waited);
        }
        return HttpError::Http("read error".into());
    }
    if let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        return HttpError::Unreachable(https_tls_reason(tls));
    }
    HttpError::Unreachable(io_reason(&error, waited))
}

fn https_tls_reason(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(why) => format!(
            "the server's TLS certificate is not trusted ({}): give its CA with --ca-file PEM, or --insecure",
            certificate_reason(why)
        ),
        other => tls_reason(other),
    }
}

fn certificate_reason(error: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match error {
        C::UnknownIssuer => "unknown issuer".into(),
        C::Expired | C::ExpiredContext { .. } => "expired".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "not valid for this host name".into()
        }
        C::BadSignature => "bad signature".into(),
        other => format!("{other:?}"),
    }
}

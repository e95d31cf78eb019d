//! SMTP, the runtime's one transport that is not HTTP (`.email`), on lettre's async client
//! (tokio, rustls with aws-lc-rs; [decision 0012](../docs/decisions/0012-smtp-lettre.md)).
//!
//! The same policies as an HTTP request, applied here because SMTP does not pass the HTTP
//! layers:
//!
//! - egress: the relay's host is checked with [`EgressPolicy::check_host`], its resolved
//!   addresses filtered with [`EgressPolicy::filter_addrs`], and the connection opened to a
//!   checked address while TLS verifies (and SNI names) the configured host name;
//! - TLS: implicit TLS (`secure`, port 465) or a STARTTLS upgrade, which is required: a relay
//!   that does not offer STARTTLS is refused before any credential or message is sent;
//! - timeouts: the spec's connect timeout for each connection, the total timeout over one
//!   attempt (every command included);
//! - retry: 4xx replies and connection failures, per `policies.retry` (`maxRetries`, backoff);
//!   a connection failure once the message was handed over only with `retryNonIdempotent`,
//!   since the relay may have accepted it;
//! - errors: 534/535 are `auth`, other 5xx `user`, 4xx and connection failures `transient`;
//!   every message passes the instance's redactor and has the password or token removed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use connector_spec::RetryPolicy;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio_util::sync::CancellationToken;

use crate::egress::EgressPolicy;
use crate::error::ActionError;
use crate::secrets::Redactor;

/// Where the relay is and how TLS starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SmtpTarget {
    /// A host name or an IP literal (without brackets).
    pub host: String,
    pub port: u16,
    /// TLS from the first byte; otherwise a STARTTLS upgrade is required.
    pub implicit_tls: bool,
}

/// How the client authenticates after TLS is up.
pub(crate) enum SmtpAuth {
    None,
    /// AUTH PLAIN or LOGIN, whichever the relay offers.
    Password {
        user: String,
        password: String,
    },
    /// AUTH XOAUTH2 with an OAuth access token.
    Xoauth2 {
        user: String,
        token: String,
    },
}

impl SmtpAuth {
    fn secret(&self) -> Option<&str> {
        match self {
            SmtpAuth::None => None,
            SmtpAuth::Password { password, .. } => Some(password),
            SmtpAuth::Xoauth2 { token, .. } => Some(token),
        }
    }

    /// The credential as sent: the secret, and the SASL responses that carry it (AUTH PLAIN's
    /// `\0user\0password`, XOAUTH2's `user=..\x01auth=Bearer ..\x01\x01`), whose base64 forms
    /// a relay may quote back in a reply.
    fn wire_forms(&self) -> Vec<String> {
        match self {
            SmtpAuth::None => Vec::new(),
            SmtpAuth::Password { user, password } => {
                vec![password.clone(), format!("\0{user}\0{password}")]
            }
            SmtpAuth::Xoauth2 { user, token } => vec![
                token.clone(),
                format!("user={user}\x01auth=Bearer {token}\x01\x01"),
            ],
        }
    }
}

/// A message ready for the wire: the envelope (bcc included) and the formatted bytes.
pub(crate) struct Outgoing {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
}

/// The policies one exchange runs under, taken from the instance.
pub(crate) struct SmtpSettings<'a> {
    pub egress: Option<&'a EgressPolicy>,
    /// Extra trusted root certificates (PEM), for tests with a private CA.
    pub extra_roots: Option<&'a str>,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub retry: Option<&'a RetryPolicy>,
    pub redactor: &'a Redactor,
    pub cancel: &'a CancellationToken,
}

/// A failed attempt and whether another may follow.
struct Failure {
    error: ActionError,
    retry: bool,
}

impl Failure {
    fn fatal(error: ActionError) -> Failure {
        Failure {
            error,
            retry: false,
        }
    }
}

/// Deliver `message` (or, with `None`, only connect, secure, authenticate and quit: the
/// connection test). Returns the relay's last reply line.
pub(crate) async fn exchange(
    settings: &SmtpSettings<'_>,
    target: &SmtpTarget,
    auth: &SmtpAuth,
    message: Option<&Outgoing>,
) -> Result<String, ActionError> {
    let scrub = |e: ActionError| scrub(settings.redactor, auth, e);
    let addrs = resolve(settings, target).await.map_err(scrub)?;
    let max_retries = settings.retry.map_or(0, |r| r.max_retries);
    let mut attempt = 0u32;
    loop {
        let one = attempt_once(settings, target, &addrs, auth, message);
        let outcome = tokio::select! {
            r = tokio::time::timeout(settings.total_timeout, one) => r.unwrap_or_else(|_| {
                Err(Failure { error: ActionError::timeout(format!(
                    "the SMTP exchange with {} took longer than {} ms",
                    target.host, settings.total_timeout.as_millis()
                )), retry: message.is_none() || retry_after_data(settings) })
            }),
            _ = settings.cancel.cancelled() => return Err(ActionError::cancelled()),
        };
        match outcome {
            Ok(reply) => return Ok(settings.redactor.redact(&reply)),
            Err(f) if f.retry && attempt < max_retries => {
                let wait = settings.retry.map_or(Duration::ZERO, |r| {
                    crate::client::backoff_delay(&r.backoff, attempt, rand::random::<f64>())
                });
                tracing::debug!(attempt, ?wait, "retrying SMTP after a transient failure");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = settings.cancel.cancelled() => return Err(ActionError::cancelled()),
                }
                attempt += 1;
            }
            Err(f) => return Err(scrub(f.error)),
        }
    }
}

/// The relay's addresses the policy allows: the host is checked first, then each address it
/// resolves to, so nothing connects to a refused address.
async fn resolve(
    settings: &SmtpSettings<'_>,
    target: &SmtpTarget,
) -> Result<Vec<SocketAddr>, ActionError> {
    let literal = target.host.parse::<IpAddr>().ok();
    if let Some(policy) = settings.egress {
        let host = match literal {
            Some(IpAddr::V4(ip)) => url::Host::Ipv4(ip),
            Some(IpAddr::V6(ip)) => url::Host::Ipv6(ip),
            None => url::Host::Domain(target.host.as_str()),
        };
        policy
            .check_host(host)
            .map_err(|e| crate::egress::refused(&e))?;
    }
    if let Some(ip) = literal {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let found: Vec<SocketAddr> = tokio::time::timeout(settings.connect_timeout, lookup)
        .await
        .map_err(|_| ActionError::timeout(format!("resolving {} timed out", target.host)))?
        .map_err(|e| {
            ActionError::connection_failed(format!("cannot resolve {}: {e}", target.host))
        })?
        .collect();
    match settings.egress {
        Some(policy) => policy
            .filter_addrs(&target.host, found)
            .map_err(|e| crate::egress::refused(&e)),
        None if found.is_empty() => Err(ActionError::connection_failed(format!(
            "{} does not resolve",
            target.host
        ))),
        None => Ok(found),
    }
}

/// TLS for `host`: the platform's roots, plus the extra ones of the instance (tests).
fn tls_parameters(host: &str, extra_roots: Option<&str>) -> Result<TlsParameters, ActionError> {
    let mut b = TlsParameters::builder(host.to_string());
    if let Some(pem) = extra_roots {
        let cert = Certificate::from_pem(pem.as_bytes()).map_err(|_| {
            ActionError::user(
                "invalid_certificate",
                "the SMTP root certificate is not PEM",
            )
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls()
        .map_err(|e| ActionError::system("tls_setup_failed", format!("SMTP TLS setup: {e}")))
}

/// One connection: connect, TLS, AUTH, the message (if any), QUIT.
async fn attempt_once(
    settings: &SmtpSettings<'_>,
    target: &SmtpTarget,
    addrs: &[SocketAddr],
    auth: &SmtpAuth,
    message: Option<&Outgoing>,
) -> Result<String, Failure> {
    let tls = tls_parameters(&target.host, settings.extra_roots).map_err(Failure::fatal)?;
    let hello = ClientId::Domain("localhost".into());
    let mut conn = connect(settings, target, addrs, &hello, &tls).await?;
    if !target.implicit_tls {
        if !conn.can_starttls() {
            conn.abort().await;
            return Err(Failure::fatal(ActionError::user(
                "starttls_unavailable",
                format!(
                    "the SMTP server {} does not offer STARTTLS; refusing to send credentials \
                     or mail in clear text (use implicit TLS with `secure` if it supports it)",
                    target.host
                ),
            )));
        }
        conn.starttls(tls, &hello)
            .await
            .map_err(|e| failure(&e, "STARTTLS", true))?;
    }
    authenticate(&mut conn, auth).await?;
    let Some(m) = message else {
        // The connection test: everything up to AUTH worked; QUIT's reply is the answer.
        let bye = conn
            .quit()
            .await
            .map_err(|e| failure(&e, "quitting", true))?;
        return Ok(reply_text(&bye));
    };
    let reply = conn
        .send(&m.envelope, &m.bytes)
        .await
        .map_err(|e| failure(&e, "sending the message", retry_after_data(settings)))?;
    let _ = conn.quit().await;
    Ok(reply_text(&reply))
}

/// A connection failure after the message was handed over may still have delivered it.
fn retry_after_data(settings: &SmtpSettings<'_>) -> bool {
    settings.retry.is_some_and(|r| r.retry_non_idempotent)
}

fn reply_text(r: &lettre::transport::smtp::response::Response) -> String {
    let lines: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), lines.join(" "))
}

/// The first address that accepts a connection (and, for implicit TLS, a handshake).
async fn connect(
    settings: &SmtpSettings<'_>,
    target: &SmtpTarget,
    addrs: &[SocketAddr],
    hello: &ClientId,
    tls: &TlsParameters,
) -> Result<AsyncSmtpConnection, Failure> {
    let mut last = None;
    for addr in addrs {
        let implicit = target.implicit_tls.then(|| tls.clone());
        match AsyncSmtpConnection::connect_tokio1(
            *addr,
            Some(settings.connect_timeout),
            hello,
            implicit,
            None,
        )
        .await
        {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => failure(&e, "connecting", true),
        None => Failure::fatal(ActionError::connection_failed("no address to connect to")),
    })
}

async fn authenticate(conn: &mut AsyncSmtpConnection, auth: &SmtpAuth) -> Result<(), Failure> {
    let (mechanisms, credentials): (&[Mechanism], Credentials) = match auth {
        SmtpAuth::None => return Ok(()),
        SmtpAuth::Password { user, password } => (
            &[Mechanism::Plain, Mechanism::Login],
            Credentials::new(user.clone(), password.clone()),
        ),
        SmtpAuth::Xoauth2 { user, token } => (
            &[Mechanism::Xoauth2],
            Credentials::new(user.clone(), token.clone()),
        ),
    };
    let reply = conn
        .auth(mechanisms, &credentials)
        .await
        .map_err(|e| failure(&e, "authenticating", true))?;
    if reply.is_positive() {
        return Ok(());
    }
    Err(Failure::fatal(ActionError::auth(
        "smtp_auth_failed",
        format!(
            "the SMTP server refused the credentials: {}",
            reply_text(&reply)
        ),
    )))
}

/// Classify a lettre error: 534/535 auth, other 5xx user, 4xx and I/O transient (retried
/// when `io_retry` allows it for I/O), TLS failures user (a certificate the roots do not
/// trust will not change on retry).
fn failure(e: &lettre::transport::smtp::Error, during: &str, io_retry: bool) -> Failure {
    let text = format!("SMTP error while {during}: {e}");
    if let Some(code) = e.status() {
        let n: u16 = code.to_string().parse().unwrap_or(0);
        let error = match n {
            534 | 535 => ActionError::auth("smtp_auth_failed", text),
            400..=499 => ActionError::transient("smtp_transient", text),
            _ => ActionError::user("smtp_rejected", text),
        };
        return Failure {
            retry: (400..=499).contains(&n),
            error: error.with_status(n),
        };
    }
    if e.is_tls() || is_tls_failure(e) {
        return Failure::fatal(ActionError::user("smtp_tls_failed", text));
    }
    if e.is_timeout() {
        return Failure {
            error: ActionError::timeout(text),
            retry: io_retry,
        };
    }
    if e.is_client() {
        // The relay offers no mechanism we can use, or the client refused a value.
        return Failure::fatal(ActionError::user("smtp_client_error", text));
    }
    Failure {
        error: ActionError::connection_failed(text),
        retry: io_retry,
    }
}

/// A rustls error somewhere in the chain (lettre reports a failed handshake, such as an
/// untrusted certificate, as a connection error): retrying will not change it.
fn is_tls_failure(e: &lettre::transport::smtp::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|i| i.is::<rustls::Error>());
        if err.is::<rustls::Error>() || inner {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Remove every known secret and the exchange's own password or token from an error.
fn scrub(redactor: &Redactor, auth: &SmtpAuth, mut e: ActionError) -> ActionError {
    e.message = redactor.with(auth.wire_forms()).redact(&e.message);
    if let Some(secret) = auth.secret().filter(|s| !s.is_empty()) {
        e.message = e.message.replace(secret, crate::secrets::REDACTED);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn an_error_quoting_the_sasl_response_back_is_scrubbed() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            (
                SmtpAuth::Password {
                    user: "mailer".into(),
                    password: "canary-smtp-pass".into(),
                },
                b64("\0mailer\0canary-smtp-pass"),
            ),
            (
                SmtpAuth::Xoauth2 {
                    user: "alerts@example.com".into(),
                    token: "canary-smtp-token".into(),
                },
                b64("user=alerts@example.com\x01auth=Bearer canary-smtp-token\x01\x01"),
            ),
        ];
        for (auth, echoed) in cases {
            let e = ActionError::user("smtp_rejected", format!("535 bad credentials {echoed}"));
            let e = scrub(&Redactor::default(), &auth, e);
            assert!(!e.message.contains(&echoed), "{}", e.message);
            assert!(!e.message.contains("canary"), "{}", e.message);
            assert!(
                e.message.starts_with("535 bad credentials "),
                "{}",
                e.message
            );
        }
    }
}

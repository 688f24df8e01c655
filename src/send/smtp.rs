//! SMTP delivery with lettre 0.11 (tokio, rustls with ring, Mozilla roots plus
//! an optional private CA from `ca_file`).
//!
//! The outbox holds finished RFC 5322 bytes, so this only moves bytes: lettre's
//! `send_raw` with an explicit envelope; the headers go out exactly as composed.
//!
//! Whether a failure is worth retrying is the server's call: a 5xx reply
//! (unknown recipient, rejected content, refused login) is
//! [`SendError::Permanent`] with the server's text; everything else — 4xx,
//! connection refused, timeouts, TLS trouble — is [`SendError::Transient`],
//! and the outbox tries again later.
//!
//! The password or token is fetched (via [`crate::secret`]) when the first
//! mail is sent, not in [`SmtpMailer::new`], so a config check never runs the
//! helper command. OAuth2 access tokens expire after about an hour, so with
//! `token_command` the transport is rebuilt with a fresh token every 30 minutes.

use super::SendError;
use crate::config::{SmtpConfig, Tls};
use crate::secret;
use crate::source::imap::{is_loopback_host, rustls_error_words};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls as LettreTls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_rustls::rustls;
use tracing::debug;

/// lettre's timeout covers each network step (connect, each reply).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Rebuild the transport with a fresh OAuth2 token this often.
const TOKEN_MAX_AGE: Duration = Duration::from_secs(30 * 60);

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Sends mail through one SMTP server.
pub struct SmtpMailer {
    cfg: SmtpConfig,
    tls: LettreTls,
    /// Built on first use (needs the secret); with its build time.
    transport: Mutex<Option<(Transport, Instant)>>,
}

impl SmtpMailer {
    /// Check the settings and prepare TLS; no network and no secret yet.
    /// Errors are configuration mistakes, hence `Permanent`.
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpMailer, SendError> {
        let config_error = |m: String| SendError::Permanent(format!("SMTP configuration: {m}"));
        if cfg.tls == Tls::None && !is_loopback_host(&cfg.host) {
            return Err(config_error(format!(
                "tls = \"none\" would send mail and password unencrypted; it is only allowed for a server \
                 on this machine (localhost, 127.0.0.1, ::1), not for {}: use tls = \"starttls\" or \"implicit\"",
                cfg.host
            )));
        }
        let has_secret = cfg.password_env.is_some()
            || cfg.password_command.is_some()
            || cfg.token_command.is_some();
        if cfg.username.is_some() && !has_secret {
            return Err(config_error(
                "username is set but neither password_env, password_command nor token_command"
                    .into(),
            ));
        }
        if cfg.username.is_none() && has_secret {
            return Err(config_error(
                "a password or token is configured but no username to log in with".into(),
            ));
        }
        let tls = match cfg.tls {
            Tls::None => LettreTls::None,
            mode => {
                let mut params = TlsParameters::builder(cfg.host.clone());
                if let Some(path) = &cfg.ca_file {
                    let pem = std::fs::read(path).map_err(|e| {
                        config_error(format!("cannot read ca_file {}: {e}", path.display()))
                    })?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        config_error(format!(
                            "ca_file {} is not a PEM certificate: {e}",
                            path.display()
                        ))
                    })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| config_error(format!("TLS setup for {} failed: {e}", cfg.host)))?;
                if mode == Tls::Implicit {
                    LettreTls::Wrapper(params)
                } else {
                    LettreTls::Required(params)
                }
            }
        };
        Ok(SmtpMailer {
            cfg: cfg.clone(),
            tls,
            transport: Mutex::new(None),
        })
    }

    /// Deliver finished bytes to `to` with envelope sender `from`.
    pub async fn send_raw(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        let envelope = envelope(from, to)?;
        let transport = self.transport().await?;
        match transport.send_raw(&envelope, raw).await {
            Ok(response) => {
                debug!(code = %response.code(), to = ?to, "SMTP accepted the mail");
                Ok(())
            }
            Err(e) => Err(self.send_error(&e)),
        }
    }

    /// For `mfa-desk check`: connect, (STARTTLS,) log in, and say what happened.
    pub async fn check(&self) -> Result<String, SendError> {
        let transport = self.transport().await?;
        match transport.test_connection().await {
            Ok(true) => Ok(format!(
                "SMTP {}:{} ({}): connected{}",
                self.cfg.host,
                self.cfg.port,
                tls_words(self.cfg.tls),
                match &self.cfg.username {
                    Some(u) => format!(", logged in as {u}"),
                    None => ", no login configured".to_string(),
                }
            )),
            Ok(false) => Err(SendError::Transient(format!(
                "{}: the server did not answer NOOP",
                self.addr()
            ))),
            Err(e) => Err(self.send_error(&e)),
        }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.cfg.host, self.cfg.port)
    }

    /// The pooled transport, built (or rebuilt for a fresh token) as needed.
    async fn transport(&self) -> Result<Transport, SendError> {
        let mut slot = self.transport.lock().await;
        if let Some((t, built)) = slot.as_ref() {
            let stale = self.cfg.token_command.is_some() && built.elapsed() > TOKEN_MAX_AGE;
            if !stale {
                return Ok(t.clone());
            }
        }
        let mut builder = Transport::builder_dangerous(self.cfg.host.as_str())
            .port(self.cfg.port)
            .tls(self.tls.clone())
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &self.cfg.username {
            // A failing helper command is a configuration problem that a retry
            // may fix (a vault briefly locked, a network hiccup for a token):
            // transient, and the outbox gives up after max_age_secs anyway.
            let (secret, mechanisms) = match &self.cfg.token_command {
                Some(cmd) => (secret::resolve_token(cmd).await, vec![Mechanism::Xoauth2]),
                None => (
                    secret::resolve_password(
                        self.cfg.password_env.as_deref(),
                        self.cfg.password_command.as_deref(),
                    )
                    .await,
                    vec![Mechanism::Plain, Mechanism::Login],
                ),
            };
            let secret =
                secret.map_err(|e| SendError::Transient(format!("SMTP login secret: {e}")))?;
            builder = builder
                .credentials(Credentials::new(user.clone(), secret.expose().to_string()))
                .authentication(mechanisms);
        }
        let transport = builder.build();
        *slot = Some((transport.clone(), Instant::now()));
        Ok(transport)
    }

    /// Sort a lettre error into retry-or-not, in words an admin can act on.
    fn send_error(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let addr = self.addr();
        if e.is_permanent() {
            // 5xx: the server's own words say best what is wrong.
            return SendError::Permanent(format!("{addr} refused: {}", error_chain(e)));
        }
        if e.is_transient() {
            return SendError::Transient(format!("{addr} deferred: {}", error_chain(e)));
        }
        if self.cfg.token_command.is_some()
            && e.is_client()
            && error_chain(e).contains("does not expect a challenge")
        {
            // XOAUTH2 reports a refused token as a 334 challenge holding the
            // server's JSON error, which lettre's mechanism cannot answer. A
            // fresh token may work: the next attempt rebuilds the transport.
            if let Ok(mut slot) = self.transport.try_lock() {
                *slot = None;
            }
            return SendError::Transient(format!(
                "the SMTP server {addr} refused the OAuth2 token for {}: it may have expired, lack \
                 the permission to send (SMTP.Send for Microsoft 365, https://mail.google.com/ for \
                 Google), or belong to another user; the next attempt asks token_command for a new one",
                self.cfg.username.as_deref().unwrap_or("(no username)")
            ));
        }
        let io_kind = io_error_kind(e);
        let why = if let Some(tls) = rustls_error(e) {
            rustls_error_words(&self.cfg.host, tls)
        } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
            format!(
                "cannot connect to {addr}: connection refused (is the server running, and is the port right?)"
            )
        } else if e.is_timeout() {
            format!("{addr}: no answer within {} s", SMTP_TIMEOUT.as_secs())
        } else if e.is_tls() {
            format!("TLS with {addr} failed: {}", error_chain(e))
        } else {
            format!("{addr}: {}", error_chain(e))
        };
        // Connection-level trouble drops the pooled connections too: after a
        // server restart they are all dead.
        if let Ok(mut slot) = self.transport.try_lock()
            && self.cfg.token_command.is_none()
        {
            *slot = None;
        }
        SendError::Transient(why)
    }
}

fn envelope(from: &str, to: &[String]) -> Result<Envelope, SendError> {
    let parse = |a: &str| {
        a.trim()
            .parse::<Address>()
            .map_err(|e| SendError::Permanent(format!("`{a}` is not a valid mail address: {e}")))
    };
    let from = if from.trim().is_empty() {
        None // the null sender <>, for bounces
    } else {
        Some(parse(from)?)
    };
    let to = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
    Envelope::new(from, to).map_err(|e| SendError::Permanent(format!("invalid envelope: {e}")))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// The rustls error somewhere in the chain (lettre wraps a failed STARTTLS
/// upgrade as a connection error, with the rustls error inside an io::Error).
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        source = s.source();
    }
    None
}

fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

fn tls_words(tls: Tls) -> &'static str {
    match tls {
        Tls::Implicit => "implicit TLS",
        Tls::Starttls => "STARTTLS",
        Tls::None => "no TLS, loopback only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(host: &str, tls: Tls) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 2525,
            tls,
            username: None,
            password_env: None,
            password_command: None,
            token_command: None,
            ca_file: None,
            max_age_secs: 3600,
            backlog_per_minute: 1200,
        }
    }

    #[test]
    fn plain_text_only_on_loopback() {
        assert!(SmtpMailer::new(&cfg("127.0.0.1", Tls::None)).is_ok());
        let err = SmtpMailer::new(&cfg("smtp.example.com", Tls::None))
            .err()
            .unwrap();
        assert!(err.is_permanent());
        assert!(err.to_string().contains("only allowed"), "{err}");
        assert!(SmtpMailer::new(&cfg("smtp.example.com", Tls::Starttls)).is_ok());
    }

    #[test]
    fn username_needs_a_secret() {
        let mut c = cfg("smtp.example.com", Tls::Implicit);
        c.username = Some("support@example.com".into());
        assert!(SmtpMailer::new(&c).is_err());
        c.password_env = Some("SMTP_PASSWORD".into());
        assert!(SmtpMailer::new(&c).is_ok());
    }

    #[test]
    fn envelope_addresses() {
        assert!(envelope("support@example.com", &["a@example.com".into()]).is_ok());
        assert!(envelope("", &["a@example.com".into()]).is_ok());
        let err = envelope("support@example.com", &["not an address".into()]).unwrap_err();
        assert!(err.is_permanent());
    }

    #[tokio::test]
    async fn refused_connection_is_transient() {
        // Port 9 (discard) on loopback: nothing listens there on a test machine.
        let mut c = cfg("127.0.0.1", Tls::None);
        c.port = 9;
        let m = SmtpMailer::new(&c).unwrap();
        let err = m
            .send_raw(
                "a@example.test",
                &["b@example.test".into()],
                b"Subject: x\r\n\r\nx\r\n",
            )
            .await
            .unwrap_err();
        assert!(!err.is_permanent(), "{err}");
        assert!(err.to_string().contains("connection refused"), "{err}");
    }
}

//! Send: deliver composed mail from the outbox. The outbox rows hold finished
//! RFC 5322 bytes (composed when the inbound mail was committed), so sending
//! is only transport: a folder of `.eml` files or an SMTP server.

pub mod file;
pub mod outbox;
pub mod smtp;

/// Why a mail could not be delivered, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (connection refused, 4xx, timeout).
    #[error("temporary failure, will retry: {0}")]
    Transient(String),
    /// Retrying will not help (5xx: unknown recipient, rejected content).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }
}

/// Where outgoing mail goes.
pub enum Mailer {
    File(file::FileMailer),
    Smtp(Box<smtp::SmtpMailer>),
}

impl Mailer {
    /// The mailer the configuration asks for: a folder of `.eml` files, or
    /// the `[smtp]` server (checked, but not contacted, here).
    pub fn from_config(
        outbox: &crate::config::OutboxConfig,
        smtp: Option<&crate::config::SmtpConfig>,
    ) -> Result<Mailer, SendError> {
        match (outbox, smtp) {
            (crate::config::OutboxConfig::File { path }, _) => {
                Ok(Mailer::File(file::FileMailer::new(path.clone())))
            }
            (crate::config::OutboxConfig::Smtp, Some(cfg)) => {
                Ok(Mailer::Smtp(Box::new(smtp::SmtpMailer::new(cfg)?)))
            }
            (crate::config::OutboxConfig::Smtp, None) => Err(SendError::Permanent(
                "[outbox] kind = \"smtp\" needs an [smtp] section".into(),
            )),
        }
    }

    /// Deliver one finished message to its envelope recipients.
    pub async fn send_raw(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        match self {
            Mailer::File(m) => m.send_raw(from, to, raw),
            Mailer::Smtp(m) => m.send_raw(from, to, raw).await,
        }
    }
}

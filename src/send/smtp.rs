//! SMTP delivery with lettre (tokio, rustls). Owned by the real-mailbox work.

use super::SendError;

pub struct SmtpMailer {}

impl SmtpMailer {
    pub async fn send_raw(&self, _from: &str, _to: &[String], _raw: &[u8]) -> Result<(), SendError> {
        Err(SendError::Permanent("SMTP is not built yet".into()))
    }
}

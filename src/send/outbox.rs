//! Draining the outbox: send what is due, mark it sent only after the server
//! (or the folder) accepted it, retry temporary failures with exponential
//! backoff, and give up on permanent ones (recorded on the ticket).

use super::{Mailer, SendError};
use crate::store::{Store, StoreError};

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// Backoff after the n-th failed attempt: 30 s, 1 min, 2 min … capped at 30 min.
pub fn backoff_secs(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 6) as u32;
    (30_i64 << exp).min(1800)
}

/// Mails sent at once over the SMTP pool: each send waits on the network
/// (a ~40 ms delayed-ACK stall per mail with lettre), so one at a time caps
/// the outbox near 20 mails a second.
const PARALLEL_SENDS: usize = 8;

/// Send every due mail once. `max_age_secs`: a mail still failing after this
/// long is given up on and recorded as failed.
pub async fn drain(
    store: &mut Store,
    mailer: &Mailer,
    now: impl Fn() -> i64,
    max_age_secs: i64,
) -> Result<DrainReport, StoreError> {
    let mut report = DrainReport::default();
    // In chunks, until nothing is due: a retried mail is due again only later.
    loop {
        let chunk = drain_chunk(store, mailer, &now, max_age_secs).await?;
        if chunk == DrainReport::default() {
            return Ok(report);
        }
        report.sent += chunk.sent;
        report.retrying += chunk.retrying;
        report.failed += chunk.failed;
    }
}

/// Send one chunk (up to 100) of due mail, the most urgent first; the
/// service calls this in a loop so it can stop between chunks.
pub async fn drain_chunk(
    store: &mut Store,
    mailer: &Mailer,
    now: &impl Fn() -> i64,
    max_age_secs: i64,
) -> Result<DrainReport, StoreError> {
    use futures_util::StreamExt;
    let mut report = DrainReport::default();
    let due = store.due_mail(now(), 100)?;
    // Send concurrently; record the outcomes one by one (the store is one connection).
    let mut results = futures_util::stream::iter(due)
        .map(|mail| async move {
            let result = mailer
                .send_raw(&mail.mail_from, &mail.rcpt_to, &mail.raw)
                .await;
            (mail, result)
        })
        .buffer_unordered(PARALLEL_SENDS);
    while let Some((mail, result)) = results.next().await {
        match result {
            Ok(()) => {
                store.mark_sent(mail.id, now())?;
                report.sent += 1;
                tracing::info!(to = ?mail.rcpt_to, kind = %mail.kind, ticket = ?mail.ticket_id, "mail sent");
            }
            Err(SendError::Transient(e)) if now() - mail.created_at < max_age_secs => {
                let next = now() + backoff_secs(mail.attempts);
                store.mark_retry(mail.id, next, &e)?;
                report.retrying += 1;
                tracing::warn!(to = ?mail.rcpt_to, error = %e, retry_in_secs = next - now(), "mail not sent yet, will retry");
            }
            Err(err) => {
                let e = err.to_string();
                store.mark_failed(&mail, now(), &e)?;
                report.failed += 1;
                tracing::error!(to = ?mail.rcpt_to, error = %e, ticket = ?mail.ticket_id, "mail given up; recorded on the ticket");
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::backoff_secs;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_secs(0), 30);
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(3), 240);
        assert_eq!(backoff_secs(50), 1800);
    }
}

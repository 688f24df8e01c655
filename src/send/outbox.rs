//! Draining the outbox: send what is due, mark it sent only after the server
//! (or the folder) accepted it, retry temporary failures with exponential
//! backoff, and give up on permanent ones (recorded on the ticket).
//!
//! Order: security alerts, then mail about mail that arrives now, then mail
//! about a backlog found at start-up (see `store::priority`); the backlog's
//! share may be paced ([`Pace`]) so it never fills the relay's queue ahead of
//! the next live reply.

use super::{Mailer, SendError};
use crate::store::{Store, StoreError};
use std::time::{Duration, Instant};

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Backlog mail was due but held back by the [`Pace`]: try again after this.
    pub paced: Option<Duration>,
}

/// A token bucket for backlog mail: `per_minute` on average, in bursts of at
/// most a second's worth. Mail a relay accepts faster than it delivers waits
/// in the relay's queue, where a later live reply would queue behind it.
#[derive(Debug)]
pub struct Pace {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    /// `None` for 0 (no limit).
    pub fn per_minute(n: u32) -> Option<Pace> {
        (n > 0).then(|| Pace {
            per_second: f64::from(n) / 60.0,
            tokens: 1.0,
            last: Instant::now(),
        })
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let burst = self.per_second.max(1.0);
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(burst);
        self.last = now;
    }

    fn try_take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until the next token.
    fn wait(&self) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / self.per_second).max(0.001))
    }
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
        let chunk = drain_chunk(store, mailer, &now, max_age_secs, None).await?;
        if chunk == DrainReport::default() {
            return Ok(report);
        }
        report.sent += chunk.sent;
        report.retrying += chunk.retrying;
        report.failed += chunk.failed;
    }
}

/// Mails taken from the outbox at a time: small, so a live reply committed
/// meanwhile waits for at most one short round, not for a hundred sends.
const CHUNK: usize = 2 * PARALLEL_SENDS;

/// Send one chunk of due mail, the most urgent first, backlog mail only as
/// `pace` allows; the service calls this in a loop so it can stop (and see
/// new, more urgent mail) between chunks.
pub async fn drain_chunk(
    store: &mut Store,
    mailer: &Mailer,
    now: &impl Fn() -> i64,
    max_age_secs: i64,
    pace: Option<&mut Pace>,
) -> Result<DrainReport, StoreError> {
    use futures_util::StreamExt;
    let mut report = DrainReport::default();
    let mut due = store.due_mail(now(), CHUNK)?;
    if let Some(pace) = pace {
        // Backlog mail comes last in `due`: cut where the tokens run out.
        let allowed = due
            .iter()
            .position(|m| crate::store::is_backlog(m.priority) && !pace.try_take())
            .unwrap_or(due.len());
        if allowed < due.len() {
            due.truncate(allowed);
            report.paced = Some(pace.wait());
        }
    }
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
    use super::{Pace, backoff_secs};

    #[test]
    fn the_pace_allows_a_seconds_worth_then_spreads_out() {
        assert!(Pace::per_minute(0).is_none(), "0 means no limit");
        let mut pace = Pace::per_minute(600).expect("10 a second");
        pace.tokens = 10.0;
        let taken = (0..50).filter(|_| pace.try_take()).count();
        assert_eq!(taken, 10, "a burst of at most one second's worth");
        let wait = pace.wait();
        assert!(
            wait > std::time::Duration::ZERO && wait <= std::time::Duration::from_millis(100),
            "{wait:?}"
        );
        // 250 ms later (set, not slept: a busy machine must not change the count).
        pace.last -= std::time::Duration::from_millis(250);
        let taken = (0..50).filter(|_| pace.try_take()).count();
        assert!(
            (2..=4).contains(&taken),
            "about 2.5 tokens after 250 ms, got {taken}"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_secs(0), 30);
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(3), 240);
        assert_eq!(backoff_secs(50), 1800);
    }
}

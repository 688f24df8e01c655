//! The long-running service (`mfa-desk run` against IMAP): watch the mailbox,
//! hand each new mail to the [`Desk`], mark it handled on the server only
//! after its transaction committed, and drain the outbox on a task of its own.
//!
//! Crash safety: a mail is flagged after its commit. A crash between the two
//! leaves it unflagged; on restart it is fetched again, the store recognises
//! its Message-ID, and it is only flagged — never answered twice.

use crate::config::{Config, ImapConfig};
use crate::send::{Mailer, outbox};
use crate::source::imap::ImapSource;
use crate::source::{Fetched, SourceError};
use crate::store::Store;
use crate::worker::{Desk, DeskError, Outcome, Prepared};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How many mails one fetch brings: small, so a huge backlog never sits in memory.
const BATCH: usize = 50;

/// Time-based rules (reminders, presumed solved) and the weekly digest run this often.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Test hook: sleep this long between commit and flag, so a test can kill
/// the process in exactly that window. Unset in production.
fn pause_after_commit() -> Option<Duration> {
    std::env::var("MFA_DESK_TEST_PAUSE_AFTER_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Desk(#[from] DeskError),
    #[error(
        "the mailbox already holds {0} message(s) and mfa-desk has never run on it; \
         it will not answer old mail by surprise. Run `mfa-desk run --backfill` once to \
         import them as history without replies, then start `mfa-desk run`"
    )]
    OldMail(usize),
    #[error("cannot read the mailbox: {0}")]
    Source(#[from] crate::source::SourceError),
    #[error(
        "the worker thread stopped unexpectedly ({0}); this is a bug, please report it with the log"
    )]
    Worker(String),
}

/// How the service treats the mail it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Watch the mailbox until told to stop.
    Serve,
    /// Handle what is there now, send the replies, and return.
    Once,
    /// Record everything there now as history (no replies), mark it handled, return.
    Backfill,
}

/// Run until `shutdown` turns true (or, in `Once`/`Backfill`, until the
/// mailbox is empty). Finishes the mail in hand first.
pub async fn serve(
    mut desk: Desk,
    imap: ImapConfig,
    mailer: Mailer,
    outbox_store: Store,
    mut shutdown: watch::Receiver<bool>,
    mode: Mode,
) -> Result<(), ServiceError> {
    let wake_sender = Arc::new(Notify::new());
    // The sender stops after the worker: it sends what the last mail queued.
    let (stop_sender, sender_stop) = watch::channel(false);
    // Only the service paces a backlog's replies: `--once` is asked to finish.
    let pace = match mode {
        Mode::Serve => desk
            .config
            .smtp
            .as_ref()
            .and_then(|s| outbox::Pace::per_minute(s.backlog_per_minute)),
        Mode::Once | Mode::Backfill => None,
    };
    let sender = tokio::spawn(send_loop(
        outbox_store,
        mailer,
        wake_sender.clone(),
        sender_stop,
        shutdown.clone(),
        max_age(&desk.config),
        pace,
    ));
    let outage_alert_secs = imap.outage_alert_secs;
    let quarantine_folder = imap.quarantine_folder.clone();
    let mut source = ImapSource::new(imap);
    let pause = pause_after_commit();
    let mut outage_alerted = false;
    let mut first = desk.is_new().map_err(DeskError::from)?;
    let mut last_sweep: Option<std::time::Instant> = None;
    let started = std::time::Instant::now();
    let mut handled_total = 0usize;
    // The next batch, fetched while the last one was worked through.
    let mut prefetched: Option<Result<Vec<Fetched>, SourceError>> = None;
    while !*shutdown.borrow() {
        // Time-based rules (presumed solved, reminders) once a minute.
        if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            last_sweep = Some(std::time::Instant::now());
            match desk.sweep(now()) {
                Ok(r) if r.reminders > 0 => wake_sender.notify_one(),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the periodic sweep failed; will retry"),
            }
            match crate::digest::send_due_digest(
                &mut desk.store,
                &desk.config,
                jiff::Timestamp::now(),
            ) {
                Ok(Some(_)) => wake_sender.notify_one(),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot queue the weekly digest; will retry"),
            }
        }
        let fetched = match prefetched.take() {
            Some(result) => result,
            None => source.fetch_unhandled(BATCH).await,
        };
        let batch = match fetched {
            Ok(b) => {
                outage_alerted = false;
                b
            }
            Err(e) if mode != Mode::Serve => {
                // A one-shot run reports the problem instead of waiting for the server.
                source.logout().await;
                stop_sender.send_replace(true);
                let _ = sender.await;
                return Err(ServiceError::Source(e));
            }
            Err(e) => {
                tracing::debug!(error = %e, "mailbox not reachable");
                if let Some(secs) = source.outage_secs()
                    && secs >= outage_alert_secs
                    && !outage_alerted
                {
                    outage_alerted = true;
                    desk.alert_admins_mailbox_down(secs, &e.to_string(), now())?;
                    wake_sender.notify_one();
                }
                // The source backs off by itself; wait a little or for shutdown.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        let empty = batch.is_empty();
        if std::mem::take(&mut first) {
            if !empty && mode != Mode::Backfill {
                source.logout().await;
                return Err(ServiceError::OldMail(batch.len()));
            }
            desk.mark_started(now()).map_err(DeskError::from)?;
        }
        if mode == Mode::Backfill {
            for fetched in &batch {
                desk.import_history(fetched, now())?;
                source.mark_handled(&fetched.source_ref).await?;
            }
            tracing::info!(imported = batch.len(), "old mail recorded as history");
            if empty {
                break;
            }
            continue;
        }
        if !empty {
            // The batch is worked through on a blocking thread (one group
            // commit: see `Store::begin_group`) while the next one is fetched:
            // the IMAP round trips no longer wait for the CPU work, or it for them.
            let stop = shutdown.clone();
            let in_hand: Vec<String> = batch.iter().map(|f| f.source_ref.clone()).collect();
            let work = tokio::task::spawn_blocking(move || {
                let worked = work_through(&mut desk, batch, &stop);
                (desk, worked)
            });
            let (joined, next) = tokio::join!(work, source.fetch_unhandled_except(BATCH, &in_hand));
            let worked;
            (desk, worked) = joined.map_err(|e| ServiceError::Worker(e.to_string()))?;
            prefetched = Some(next);
            handled_total += worked.handled.len();
            // The replies are committed: the sender may go (it is woken once
            // per batch, so it does not fight the worker for the database
            // while a backlog drains).
            if worked.queued {
                wake_sender.notify_one();
            }
            if let Some(d) = pause {
                // (The test's kill lands after the commit, before the flag.)
                tokio::time::sleep(d).await;
            }
            // Only now, after the commit: flag on the server, quarantine.
            if let Err(e) = source.mark_handled_many(&worked.handled).await {
                // Harmless: next time they are fetched again and seen as duplicates.
                tracing::warn!(error = %e, "cannot mark handled mail on the server; will retry");
            }
            if !worked.untouched.is_empty() {
                tracing::info!(
                    count = worked.untouched.len(),
                    "mail left unflagged in the mailbox; it is fetched again"
                );
            }
            for (source_ref, error) in &worked.to_quarantine {
                match source.quarantine(source_ref).await {
                    Ok(()) => {
                        let folder = quarantine_folder.clone();
                        if let Err(a) = desk.alert_admins_quarantined(&folder, error, now()) {
                            tracing::error!(error = %a, "cannot tell the admins about the quarantined mail");
                        }
                        wake_sender.notify_one();
                    }
                    Err(q) => {
                        tracing::error!(error = %q, "cannot quarantine the mail on the server")
                    }
                }
            }
            if worked.store_failed {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        if empty && mode == Mode::Once {
            // The mailbox is done; what follows is the sender finishing the outbox.
            tracing::info!(
                handled = handled_total,
                ms = started.elapsed().as_millis() as u64,
                "mailbox worked through; sending what is left in the outbox"
            );
            break;
        }
        // The wait ends by the next sweep, so reminders and the weekly digest
        // are at most a minute late however quiet the mailbox is.
        let next_sweep = last_sweep.map(|t| t + SWEEP_EVERY);
        if empty
            && !*shutdown.borrow()
            && let Err(e) = source
                .wait_for_new_mail_until(&mut shutdown, next_sweep)
                .await
        {
            tracing::debug!(error = %e, "waiting for mail failed; reconnecting");
        }
    }
    source.logout().await;
    stop_sender.send_replace(true);
    if let Err(e) = sender.await {
        tracing::error!(error = %e, "the sender task ended abnormally");
    }
    tracing::info!("stopped");
    Ok(())
}

/// What became of a batch: committed and to be flagged, to be quarantined,
/// or untouched (left unflagged: fetched again later).
#[derive(Default)]
struct Worked {
    handled: Vec<String>,
    untouched: Vec<String>,
    to_quarantine: Vec<(String, String)>,
    queued: bool,
    store_failed: bool,
}

/// How many prepared mails may wait for the store: enough to keep the
/// preparing thread busy, few enough that a stop wastes little work.
const PREPARE_AHEAD: usize = 8;

/// Handle a batch as one group commit, each mail a savepoint of its own.
/// Nothing here touches the server: the caller flags `handled` only after
/// this returned, i.e. after the commit.
///
/// Parsing, classifying and the secret scan need no store, so a second
/// thread prepares the next mails while this one records the last: on a
/// backlog the two halves run side by side instead of one after the other.
fn work_through(desk: &mut Desk, batch: Vec<Fetched>, stop: &watch::Receiver<bool>) -> Worked {
    let mut worked = Worked::default();
    if let Err(e) = desk.store.begin_group() {
        tracing::error!(error = %e, "cannot open the store; the mail stays in the mailbox and will be retried");
        worked.store_failed = true;
        worked.untouched = batch.into_iter().map(|f| f.source_ref).collect();
        return worked;
    }
    let rules = Arc::clone(&desk.config.rules);
    // How many mails of the batch were dealt with (handled, quarantined, or the one the store refused).
    let mut done = 0;
    std::thread::scope(|scope| {
        let (ready, prepared) = std::sync::mpsc::sync_channel::<Prepared<'_>>(PREPARE_AHEAD);
        let mails = &batch;
        scope.spawn(move || {
            for fetched in mails {
                // The worker stopped taking mail (a stop, a store error): so do we.
                if ready.send(Prepared::new(fetched, &rules)).is_err() {
                    break;
                }
            }
        });
        for p in prepared {
            let source_ref = batch[done].source_ref.clone();
            done += 1;
            match desk.commit(p, now()) {
                Ok(p) => {
                    worked.queued |= p.outcome != Outcome::Duplicate;
                    worked.handled.push(source_ref);
                }
                Err(DeskError::Store(e)) => {
                    // The store refused (disk full, locked): leave the mail on the
                    // server untouched, nothing is lost; try again later.
                    tracing::error!(error = %e, "cannot record a mail; it stays in the mailbox and will be retried");
                    worked.store_failed = true;
                    worked.untouched.push(source_ref);
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, source = %source_ref, "cannot handle a mail; quarantined for a person");
                    worked.to_quarantine.push((source_ref, e.to_string()));
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        // Leaving the loop drops the receiver, which ends the preparing thread.
    });
    if let Err(e) = desk.store.commit_group() {
        tracing::error!(error = %e, "cannot record a batch of mail; it stays in the mailbox and will be retried");
        worked.store_failed = true;
        worked.untouched.append(&mut worked.handled);
    }
    worked
        .untouched
        .extend(batch.into_iter().skip(done).map(|f| f.source_ref));
    worked
}

fn max_age(config: &Config) -> i64 {
    config
        .smtp
        .as_ref()
        .map(|s| s.max_age_secs as i64)
        .unwrap_or(2 * 24 * 3600)
}

/// Drain the outbox whenever woken, and at least every few seconds for
/// retries, a chunk at a time. `worker_done`: the worker has stopped; the
/// sender then finishes what is due (`--once`), or, if a stop was requested
/// (`stop`: SIGTERM), returns after the chunk in hand: the rest stays in the
/// store for the next start.
async fn send_loop(
    mut store: Store,
    mailer: Mailer,
    wake: Arc<Notify>,
    mut worker_done: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    max_age_secs: i64,
    mut pace: Option<outbox::Pace>,
) {
    loop {
        let mut paced = None;
        let chunk = outbox::drain_chunk(&mut store, &mailer, &now, max_age_secs, pace.as_mut());
        let busy = match chunk.await {
            Ok(r) => {
                paced = r.paced;
                if r.sent + r.retrying + r.failed > 0 {
                    tracing::debug!(
                        sent = r.sent,
                        retrying = r.retrying,
                        failed = r.failed,
                        "outbox chunk sent"
                    );
                }
                r.sent + r.failed > 0
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox; will retry");
                false
            }
        };
        let done = *worker_done.borrow();
        if done && (*stop.borrow() || !busy) {
            return;
        }
        if busy {
            continue;
        }
        // Held back by the pace: back when the next backlog mail may go, or
        // at once when live mail is queued.
        let wait = paced.unwrap_or(Duration::from_secs(5));
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = worker_done.changed() => {}
        }
    }
}

//! Store: the SQLite database (WAL) of messages, tickets, their event log,
//! the outbox of mail to send, and the Message-IDs that thread conversations.
//!
//! Everything one inbound message causes is written in one transaction
//! ([`Store::begin`] → [`Tx`] → [`Tx::commit`]): either all of it is there
//! or none of it is, so a crash never leaves a reply without its ticket.

mod schema;

use crate::ticket::{Priority, Status, Ticket};
use crate::verdict::{Category, Language};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database {path} was written by a newer mfa-desk (schema {found}, this one knows {known}); upgrade mfa-desk"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error(
        "another mfa-desk is already running on {path} (one worker per mailbox); stop it first, or point this one at another [store] path"
    )]
    Locked { path: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database holds a value this version cannot read: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long an address whose mail bounced for good gets no automatic mail.
pub const SUPPRESS_AFTER_BOUNCE_SECS: i64 = 30 * 86_400;

pub struct Store {
    conn: Connection,
    /// A group is open ([`Store::begin_group`]): each [`Store::begin`] is then
    /// a savepoint inside one transaction, committed by [`Store::commit_group`].
    in_group: bool,
}

/// An inbound message as recorded.
#[derive(Debug, Clone)]
pub struct MessageRecord<'a> {
    pub dedup_key: &'a str,
    pub source_ref: &'a str,
    pub ticket_id: Option<i64>,
    pub from_addr: &'a str,
    pub subject: &'a str,
    pub new_text: &'a str,
    pub category: Category,
    pub action: &'a str,
    pub language: Language,
    pub confidence: f32,
    pub matched: &'a [String],
    pub problems: &'a [String],
    pub raw: Option<&'a [u8]>,
    pub received_at: i64,
}

/// A ticket to create.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub requester: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub category: Category,
    pub language: Language,
    pub status: Status,
    pub priority: Priority,
    pub owner: Option<&'a str>,
    pub now: i64,
}

/// A mail waiting in (or gone from) the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMail {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub message_id: String,
    pub kind: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub created_at: i64,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
    /// The sender's order: lower goes first (see [`priority`]).
    pub priority: i64,
}

/// Where a mail stands in the sender's queue, lowest first: security alerts,
/// then everything else about mail that arrives now, then the same two for
/// mail that was already waiting when mfa-desk started (a backlog after an
/// outage must not push today's replies to the back of the line).
pub fn priority(kind: &str, backlog: bool) -> i64 {
    let alert = kind == "security_alert";
    match (backlog, alert) {
        (false, true) => 0,
        (false, false) => 1,
        (true, true) => 2,
        (true, false) => 3,
    }
}

/// Whether a [`priority`] is that of mail about a backlog.
pub fn is_backlog(priority: i64) -> bool {
    priority >= 2
}

/// One line of a ticket's history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub detail: serde_json::Value,
}

/// Which tickets `queue` lists.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// `None`: every status except resolved.
    pub status: Option<Status>,
    pub owner: Option<String>,
    pub category: Option<Category>,
}

impl Store {
    /// Open (or create) the database file, readable by its owner only, and
    /// bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        create_private(path).map_err(|source| StoreError::Folder {
            path: path.display().to_string(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let mut store = Store {
            conn,
            in_group: false,
        };
        store.prepare(&path.display().to_string())?;
        Ok(store)
    }

    /// A throw-away database for tests.
    pub fn open_in_memory() -> Result<Store> {
        let mut store = Store {
            conn: Connection::open_in_memory()?,
            in_group: false,
        };
        store.prepare(":memory:")?;
        Ok(store)
    }

    fn prepare(&mut self, path: &str) -> Result<()> {
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement is prepared once and reused (prepare_cached): parsing
        // the SQL again for each mail was a tenth of a backlog's CPU.
        self.conn.set_prepared_statement_cache_capacity(64);
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before it returns. The source flags a
        // mail on the server right after its commit; with NORMAL, a power
        // loss or OS crash may roll back a commit whose mail is already
        // flagged, and that mail would be lost (and a sent mail resent).
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: path.to_string(),
                found: version,
                known,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Start the transaction that records one inbound message and all it causes.
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        let tx = if self.in_group {
            Inner::Savepoint(self.conn.savepoint()?)
        } else {
            Inner::Transaction(
                self.conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?,
            )
        };
        Ok(Tx { tx })
    }

    /// Group commit for a batch of mail: until [`Store::commit_group`], every
    /// [`Store::begin`]…[`Tx::commit`] is a savepoint of one transaction, so
    /// each mail's effects still stand or fall together, while the batch costs
    /// one commit instead of one per mail (the WAL writes of a commit per mail
    /// were a seventh of a backlog's time). Nothing of the group is visible,
    /// or durable, before `commit_group`: the caller marks the batch's mail
    /// handled on the server only after it.
    pub fn begin_group(&mut self) -> Result<()> {
        if !self.in_group {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_group = true;
        }
        Ok(())
    }

    /// Commit everything since [`Store::begin_group`]. On an error the whole
    /// group is rolled back: none of its mail counts as handled.
    pub fn commit_group(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.in_group) {
            return Ok(());
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            // SQLite may already have rolled back (disk full); make sure.
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Whether a message with this key was already recorded.
    pub fn seen(&self, dedup_key: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM messages WHERE dedup_key = ?1")?
            .query_row([dedup_key], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn ticket(&self, id: i64) -> Result<Option<Ticket>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1"
            ))?
            .query_row([id], row_to_ticket)
            .optional()?
            .transpose()
    }

    /// The ticket one of these Message-IDs belongs to (sent or received by
    /// us), trying the last id first; with the id's audience.
    pub fn ticket_by_thread_ids(&self, ids: &[String]) -> Result<Option<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ticket_id, audience FROM thread_ids WHERE message_id = ?1")?;
        for id in ids.iter().rev() {
            if let Some(hit) = stmt
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
            {
                return Ok(Some(hit));
            }
        }
        Ok(None)
    }

    /// Tickets in the queue, most urgent and oldest first.
    pub fn queue(&self, filter: &QueueFilter) -> Result<Vec<Ticket>> {
        let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        match filter.status {
            Some(s) => {
                sql.push_str(" AND status = ?");
                args.push(s.as_str().into());
            }
            None => sql.push_str(" AND status != 'resolved'"),
        }
        if let Some(o) = &filter.owner {
            sql.push_str(" AND owner = ?");
            args.push(o.clone());
        }
        if let Some(c) = filter.category {
            sql.push_str(" AND category = ?");
            args.push(c.as_str().into());
        }
        sql.push_str(
            " ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, created_at, id",
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), row_to_ticket)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Guide tickets nobody answered since `before` (to presume solved).
    pub fn silent_since(&self, before: i64) -> Result<Vec<Ticket>> {
        self.tickets_where(
            "status = 'awaiting_feedback' AND updated_at <= ?1",
            params![before],
        )
    }

    /// Open tickets still without a first answer whose target (hours per
    /// priority) has passed at `now`, and that have not been reminded.
    pub fn overdue(
        &self,
        now: i64,
        urgent_h: f64,
        high_h: f64,
        normal_h: f64,
        low_h: f64,
    ) -> Result<Vec<Ticket>> {
        self.tickets_where(
            "status = 'open' AND first_response_at IS NULL
             AND created_at + CAST(3600 * CASE priority WHEN 'urgent' THEN ?2 WHEN 'high' THEN ?3
                                                         WHEN 'normal' THEN ?4 ELSE ?5 END AS INTEGER) <= ?1
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.ticket_id = tickets.id AND e.kind = 'reminder')",
            params![now, urgent_h, high_h, normal_h, low_h],
        )
    }

    fn tickets_where(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Ticket>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {clause} ORDER BY id"
        ))?;
        let rows = stmt.query_map(args, row_to_ticket)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// A ticket's history, oldest first.
    pub fn events(&self, ticket_id: i64) -> Result<Vec<Event>> {
        events_of(&self.conn, ticket_id)
    }

    /// Outbox mail due for a (re)try at `now`, oldest first.
    ///
    /// Alerts go first, then mail queued in the last five minutes, then the
    /// rest, each in queue order: a backlog of old replies (after an outage,
    /// a first start) must not keep the employee who writes now waiting.
    pub fn due_mail(&self, now: i64, limit: usize) -> Result<Vec<OutboxMail>> {
        // Ids first, straight off the `outbox_queue` index; then the rows:
        // sorting a long queue with its mail bytes was a tenth of a drain.
        let ids: Vec<i64> = self
            .conn
            .prepare_cached(
                "SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL
                 AND next_attempt_at <= ?1 ORDER BY priority, id LIMIT ?2",
            )?
            .query_map(params![now, limit as i64], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            due.extend(self.outbox_where("id = ?1", params![id])?);
        }
        Ok(due)
    }

    /// Outbox mail of one ticket (or all when `None`), including sent and failed.
    pub fn outbox_for(&self, ticket_id: Option<i64>) -> Result<Vec<OutboxMail>> {
        match ticket_id {
            Some(t) => self.outbox_where("ticket_id = ?1 ORDER BY id", params![t]),
            None => self.outbox_where("1=1 ORDER BY id", params![]),
        }
    }

    /// Mail that could not be delivered and was given up on.
    pub fn failed_mail(&self) -> Result<Vec<OutboxMail>> {
        self.outbox_where("failed_at IS NOT NULL ORDER BY id", params![])
    }

    fn outbox_where(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<OutboxMail>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, ticket_id, message_id, kind, mail_from, rcpt_to, raw, created_at, attempts, sent_at, failed_at, last_error, priority FROM outbox WHERE {clause}"
        ))?;
        let rows = stmt.query_map(args, |r| {
            let rcpt: String = r.get(5)?;
            Ok(OutboxMail {
                id: r.get(0)?,
                ticket_id: r.get(1)?,
                message_id: r.get(2)?,
                kind: r.get(3)?,
                mail_from: r.get(4)?,
                rcpt_to: serde_json::from_str(&rcpt).unwrap_or_default(),
                raw: r.get(6)?,
                created_at: r.get(7)?,
                attempts: r.get(8)?,
                sent_at: r.get(9)?,
                failed_at: r.get(10)?,
                last_error: r.get(11)?,
                priority: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn mark_sent(&self, outbox_id: i64, now: i64) -> Result<()> {
        self.conn.prepare_cached("UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1")?.execute(params![outbox_id, now],
        )?;
        Ok(())
    }

    pub fn mark_retry(&self, outbox_id: i64, next_attempt_at: i64, error: &str) -> Result<()> {
        self.conn.prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1")?.execute(params![outbox_id, next_attempt_at, error],
        )?;
        Ok(())
    }

    /// Give up on a mail, and write the failure into its ticket's history.
    pub fn mark_failed(&mut self, mail: &OutboxMail, now: i64, error: &str) -> Result<()> {
        let tx = self.begin()?;
        tx.tx.prepare_cached("UPDATE outbox SET attempts = attempts + 1, failed_at = ?2, last_error = ?3 WHERE id = ?1")?.execute(params![mail.id, now, error],
        )?;
        if error.contains("permanent") {
            for r in &mail.rcpt_to {
                tx.suppress(
                    r,
                    now + SUPPRESS_AFTER_BOUNCE_SECS,
                    "permanent delivery failure",
                )?;
            }
        }
        if let Some(t) = mail.ticket_id {
            tx.add_event(
                t,
                now,
                "delivery_failed",
                "mfa-desk",
                &serde_json::json!({"to": mail.rcpt_to, "kind": mail.kind, "error": error}),
            )?;
        }
        tx.commit()
    }

    /// A fact about the installation, e.g. `mailbox_started`.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        meta_get(&self.conn, key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        meta_set(&self.conn, key, value)
    }

    /// Drop the raw bytes of mail older than `before` (received, and sent or
    /// given up). Returns how many mails were purged.
    pub fn purge_raw(&self, before: i64) -> Result<usize> {
        let inbound = self
            .conn
            .prepare_cached(
                "UPDATE messages SET raw = NULL WHERE raw IS NOT NULL AND received_at < ?1",
            )?
            .execute([before])?;
        let outbound = self
            .conn
            .prepare_cached(
                "UPDATE outbox SET raw = x'' WHERE length(raw) > 0 AND created_at < ?1
               AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)",
            )?
            .execute([before])?;
        Ok(inbound + outbound)
    }

    /// Counts for the run summary and tests.
    pub fn count(&self, table: &str) -> Result<i64> {
        let table = match table {
            "messages" | "tickets" | "events" | "outbox" => table,
            other => return Err(StoreError::Corrupt(format!("no table {other}"))),
        };
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM {table}"))?
            .query_row([], |r| r.get(0))?)
    }

    /// Raw SQL access for reports (digest) and tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// The write half: everything one inbound message changes.
pub struct Tx<'a> {
    tx: Inner<'a>,
}

/// A transaction of its own, or a savepoint inside a group
/// ([`Store::begin_group`]); either rolls back when dropped uncommitted.
enum Inner<'a> {
    Transaction(rusqlite::Transaction<'a>),
    Savepoint(rusqlite::Savepoint<'a>),
}

impl std::ops::Deref for Inner<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Inner::Transaction(t) => t,
            Inner::Savepoint(s) => s,
        }
    }
}

impl Tx<'_> {
    /// Record an inbound message. Returns `false` when it was already recorded
    /// (the uniqueness on Message-ID is what makes a second reply impossible).
    pub fn insert_message(&self, m: &MessageRecord<'_>) -> Result<bool> {
        let n = self.tx.prepare_cached("INSERT INTO messages (dedup_key, source_ref, ticket_id, from_addr, subject, new_text, category, action, language, confidence, matched, problems, raw, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT(dedup_key) DO NOTHING")?.execute(params![
                m.dedup_key,
                m.source_ref,
                m.ticket_id,
                m.from_addr,
                m.subject,
                m.new_text,
                m.category.as_str(),
                m.action,
                m.language.as_str(),
                m.confidence as f64,
                serde_json::to_string(m.matched).unwrap_or_default(),
                serde_json::to_string(m.problems).unwrap_or_default(),
                m.raw,
                m.received_at,
            ],
        )?;
        Ok(n == 1)
    }

    pub fn create_ticket(&self, t: &NewTicket<'_>) -> Result<i64> {
        self.tx.prepare_cached("INSERT INTO tickets (requester, requester_name, subject, category, language, status, priority, owner, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)")?.execute(params![
                t.requester,
                t.requester_name,
                t.subject,
                t.category.as_str(),
                t.language.as_str(),
                t.status.as_str(),
                t.priority.as_str(),
                t.owner,
                t.now,
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Read a ticket inside the transaction (sees this transaction's writes).
    pub fn ticket(&self, id: i64) -> Result<Option<Ticket>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1"
            ))?
            .query_row([id], row_to_ticket)
            .optional()?
            .transpose()
    }

    /// Write a ticket's changed fields back.
    pub fn save_ticket(&self, t: &Ticket) -> Result<()> {
        self.tx.prepare_cached("UPDATE tickets SET status = ?2, priority = ?3, owner = ?4, resolution = ?5, category = ?6,
                 updated_at = ?7, first_response_at = ?8, resolved_at = ?9 WHERE id = ?1")?.execute(params![
                t.id,
                t.status.as_str(),
                t.priority.as_str(),
                t.owner,
                t.resolution,
                t.category.as_str(),
                t.updated_at,
                t.first_response_at,
                t.resolved_at,
            ],
        )?;
        Ok(())
    }

    pub fn add_event(
        &self,
        ticket_id: i64,
        at: i64,
        kind: &str,
        actor: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        self.tx.prepare_cached("INSERT INTO events (ticket_id, at, kind, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![ticket_id, at, kind, actor, detail.to_string()],
        )?;
        Ok(())
    }

    /// Put a finished mail in the outbox and remember its Message-ID for threading.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_mail(
        &self,
        ticket_id: Option<i64>,
        message_id: &str,
        kind: &str,
        audience: &str,
        mail_from: &str,
        rcpt_to: &[String],
        raw: &[u8],
        now: i64,
        backlog: bool,
    ) -> Result<()> {
        self.tx.prepare_cached("INSERT INTO outbox (ticket_id, message_id, kind, mail_from, rcpt_to, raw, created_at, next_attempt_at, priority)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)")?.execute(params![
                ticket_id,
                message_id,
                kind,
                mail_from,
                serde_json::to_string(rcpt_to).unwrap_or_default(),
                raw,
                now,
                priority(kind, backlog)
            ],
        )?;
        if let Some(t) = ticket_id {
            self.remember_thread_id(message_id, t, "out", audience)?;
        }
        Ok(())
    }

    /// Remember that a Message-ID belongs to a ticket, so replies to it thread.
    pub fn remember_thread_id(
        &self,
        message_id: &str,
        ticket_id: i64,
        direction: &str,
        audience: &str,
    ) -> Result<()> {
        self.tx.prepare_cached("INSERT OR IGNORE INTO thread_ids (message_id, ticket_id, direction, audience) VALUES (?1, ?2, ?3, ?4)")?.execute(params![message_id, ticket_id, direction, audience],
        )?;
        Ok(())
    }

    /// The Message-IDs of a ticket's conversation with one audience
    /// (`requester`, or `admin:<address>`), oldest first.
    pub fn thread_ids(&self, ticket_id: i64, audience: &str) -> Result<Vec<String>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT message_id FROM thread_ids WHERE ticket_id = ?1 AND audience = ?2 ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![ticket_id, audience], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// A ticket's history, oldest first, as this transaction sees it.
    pub fn events(&self, ticket_id: i64) -> Result<Vec<Event>> {
        events_of(&self.tx, ticket_id)
    }

    /// Automatic mails (`kinds`) queued to `recipient` since `since`, optionally
    /// only those of one ticket: what the reply limits count.
    pub fn auto_mail_count(&self, recipient: &str, since: i64, ticket: Option<i64>) -> Result<i64> {
        let rcpt = serde_json::to_string(&[recipient]).unwrap_or_default();
        Ok(self
            .tx
            .prepare_cached(
                "SELECT count(*) FROM outbox WHERE rcpt_to = ?1 AND created_at >= ?2
               AND kind IN ('guide', 'ack') AND (?3 IS NULL OR ticket_id = ?3)",
            )?
            .query_row(params![rcpt, since, ticket], |r| r.get(0))?)
    }

    /// Whether `address` gets no automatic mail at `now`, and why.
    pub fn suppressed(&self, address: &str, now: i64) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT reason FROM suppressed WHERE address = ?1 AND until > ?2")?
            .query_row(params![address.to_ascii_lowercase(), now], |r| r.get(0))
            .optional()?)
    }

    pub fn suppress(&self, address: &str, until: i64, reason: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO suppressed (address, until, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT(address) DO UPDATE SET until = max(until, ?2), reason = ?3",
            )?
            .execute(params![address.to_ascii_lowercase(), until, reason])?;
        Ok(())
    }

    /// The ticket of a recent mail from `from` with the same subject and text
    /// (a sender repeating themselves, or a script gone wild).
    pub fn recent_twin(
        &self,
        from: &str,
        subject: &str,
        text: &str,
        since: i64,
    ) -> Result<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT ticket_id FROM messages WHERE from_addr = ?1 AND subject = ?2 AND new_text = ?3
                   AND received_at >= ?4 AND ticket_id IS NOT NULL ORDER BY id DESC LIMIT 1")?.query_row(params![from, subject, text, since],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A fact about the installation, read inside the transaction.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        meta_get(&self.tx, key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        meta_set(&self.tx, key, value)
    }

    pub fn commit(self) -> Result<()> {
        match self.tx {
            Inner::Transaction(t) => t.commit()?,
            Inner::Savepoint(s) => s.commit()?,
        }
        Ok(())
    }
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn events_of(conn: &Connection, ticket_id: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, kind, actor, detail FROM events WHERE ticket_id = ?1 ORDER BY at, id",
    )?;
    let rows = stmt.query_map([ticket_id], |r| {
        let detail: String = r.get(3)?;
        Ok(Event {
            at: r.get(0)?,
            kind: r.get(1)?,
            actor: r.get(2)?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

const TICKET_COLUMNS: &str = "id, requester, requester_name, subject, category, language, status, priority, owner, resolution, created_at, updated_at, first_response_at, resolved_at";

/// A row to a `Ticket`; the inner `Result` reports values this version cannot read.
fn row_to_ticket(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Ticket>> {
    let category: String = r.get(4)?;
    let language: String = r.get(5)?;
    let status: String = r.get(6)?;
    let priority: String = r.get(7)?;
    let parsed = (|| -> std::result::Result<_, String> {
        Ok((
            category.parse::<Category>()?,
            language.parse::<Language>()?,
            status.parse::<Status>()?,
            priority.parse::<Priority>()?,
        ))
    })();
    let (category, language, status, priority) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(StoreError::Corrupt(e))),
    };
    Ok(Ok(Ticket {
        id: r.get(0)?,
        requester: r.get(1)?,
        requester_name: r.get(2)?,
        subject: r.get(3)?,
        category,
        language,
        status,
        priority,
        owner: r.get(8)?,
        resolution: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        first_response_at: r.get(12)?,
        resolved_at: r.get(13)?,
    }))
}

/// Held while a worker runs: a second `mfa-desk run` on the same store
/// refuses to start instead of answering the same mail twice.
#[derive(Debug)]
pub struct WorkerLock {
    _file: std::fs::File,
}

impl WorkerLock {
    /// Take the lock next to the database (`<db>.lock`). The OS releases it
    /// when the process ends, however it ends.
    pub fn acquire(db: &Path) -> Result<WorkerLock> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Folder {
                path: path.display().to_string(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(WorkerLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: db.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Folder {
                path: path.display().to_string(),
                source,
            }),
        }
    }
}

/// Create the file with mode 0600 if it does not exist: tickets hold personal data.
fn create_private(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_worker_on_the_same_store_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("desk.sqlite3");
        let first = WorkerLock::acquire(&db).expect("first worker");
        let err = WorkerLock::acquire(&db).expect_err("second worker must be refused");
        assert!(err.to_string().contains("already running"), "{err}");
        drop(first);
        WorkerLock::acquire(&db).expect("free again once the first is gone");
    }

    #[test]
    fn the_database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("desk.sqlite3");
        Store::open(&db).expect("open");
        let mode = std::fs::metadata(&db).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_commit_is_on_disk_before_the_mail_is_flagged() {
        // A power loss cannot be staged in a test; what makes it safe can be
        // checked: WAL with synchronous = FULL (2), so every commit is
        // fsynced before the source flags the mail on the server.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("desk.sqlite3")).expect("open");
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal_mode");
        let sync: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("synchronous");
        assert_eq!((mode.as_str(), sync), ("wal", 2));
    }

    #[test]
    fn alerts_then_live_mail_then_the_backlog_leave_the_outbox() {
        let mut store = Store::open_in_memory().expect("store");
        let tx = store.begin().expect("tx");
        let to = ["a@example.co.jp".to_string()];
        // (id, kind, queued at, about mail that waited while mfa-desk was down)
        for (id, kind, at, backlog) in [
            ("old-guide-1", "guide", 0, true),
            ("old-alert", "security_alert", 1, true),
            ("old-guide-2", "guide", 2, true),
            ("live-guide", "guide", 3, false),
            ("live-alert", "security_alert", 4, false),
            ("later", "guide", 2000, false),
        ] {
            tx.queue_mail(None, id, kind, "requester", "s@x", &to, b"x", at, backlog)
                .expect("queue");
        }
        tx.commit().expect("commit");
        let order = |store: &Store| -> Vec<String> {
            store
                .due_mail(1000, 10)
                .expect("due")
                .into_iter()
                .map(|m| m.message_id)
                .collect()
        };
        assert_eq!(
            order(&store),
            [
                "live-alert",
                "live-guide",
                "old-alert",
                "old-guide-1",
                "old-guide-2"
            ],
            "not yet due: `later`"
        );
        // A mail waiting for a retry steps aside; the rest keep their order.
        let live = store.due_mail(1000, 10).expect("due")[1].id;
        store
            .mark_retry(live, 1500, "421 try later")
            .expect("retry");
        assert_eq!(
            order(&store),
            ["live-alert", "old-alert", "old-guide-1", "old-guide-2"]
        );
    }

    #[test]
    fn a_message_is_recorded_once() {
        let mut store = Store::open_in_memory().expect("store");
        let rec = MessageRecord {
            dedup_key: "a@b",
            source_ref: "x",
            ticket_id: None,
            from_addr: "a@b",
            subject: "s",
            new_text: "t",
            category: Category::Other,
            action: "queue",
            language: Language::En,
            confidence: 0.5,
            matched: &[],
            problems: &[],
            raw: None,
            received_at: 0,
        };
        let tx = store.begin().expect("tx");
        assert!(tx.insert_message(&rec).expect("insert"));
        assert!(!tx.insert_message(&rec).expect("insert again"));
        tx.commit().expect("commit");
        assert!(store.seen("a@b").expect("seen"));
    }
}

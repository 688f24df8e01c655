//! The IMAP mailbox: async-imap 0.12 on tokio, TLS by tokio-rustls (ring,
//! Mozilla roots plus an optional private CA from `ca_file`).
//!
//! What "unhandled" means: a message in the watched folder that does not carry
//! our keyword `$MfaDesk` (or, with `processed_folder`, any message still in
//! the folder, since handled mail is moved out). `\Seen` is never trusted: a
//! person reading the mailbox in a mail client sets it too. Bodies are fetched
//! with `BODY.PEEK[]`, so fetching changes nothing on the server; only
//! [`ImapSource::mark_handled`], called after the store has committed, does.
//!
//! Robustness, each point learned from async-imap's issue tracker (see
//! shared/notes/rust-stack.md §3):
//! - async-imap has no command timeouts: every command runs under
//!   `tokio::time::timeout`, and after a timeout or I/O error the session is
//!   dropped (a half-read response would poison the next command);
//! - every FETCH/STORE stream is drained, bodies are fetched a few at a time,
//!   and only UIDs we asked for are accepted;
//! - the unsolicited-response channel is never relied on to learn about new
//!   mail (it silently drops when full): we search by keyword every time;
//! - UIDVALIDITY is tracked; when it changes the folder is simply re-scanned,
//!   and the store's Message-ID uniqueness keeps replies from repeating.
//!
//! Outages: a dropped connection is retried once at once (a restarted server
//! is usually back), then with exponential backoff from 1 s to 60 s. The
//! outage is logged once when it starts (warn) and once when it ends (info,
//! with its duration); [`ImapSource::outage_secs`] lets the worker alert the
//! admins when it lasts too long.

use super::{Fetched, SourceError};
use crate::config::{ImapConfig, Tls};
use crate::secret::{self, Secret};
use async_imap::error::Error as ImapError;
use async_imap::types::{Flag, UnsolicitedResponse};
use futures_util::TryStreamExt;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tracing::{debug, info, warn};

/// TCP connect plus TLS handshake plus greeting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Any single command (LOGIN, SELECT, SEARCH, STORE, MOVE, IDLE/DONE…).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// One UID FETCH of a batch of bodies, drained: bodies can be megabytes.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Bodies per UID FETCH: large responses are where async-imap is weakest (#66).
const FETCH_BATCH: usize = 5;
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Keyword set on handled mail (with `\Seen`).
pub const HANDLED_KEYWORD: &str = "$MfaDesk";
/// Keyword set on quarantined mail when it cannot be moved.
pub const QUARANTINE_KEYWORD: &str = "$MfaDeskQuarantine";

/// Reads mail from one IMAP folder. See the module docs.
pub struct ImapSource {
    cfg: ImapConfig,
    conn: Option<Conn>,
    outage: Option<Outage>,
    /// When a working connection broke; the start of an outage if the
    /// reconnect then fails.
    lost_at: Option<Instant>,
    /// UIDVALIDITY seen at the last SELECT, to notice a renumbering.
    uid_validity: Option<u32>,
    /// Built on first use (reads `ca_file`).
    tls: Option<TlsConnector>,
    /// What the first search found waiting: see [`Waiting`].
    waiting: Option<Waiting>,
    /// Unix seconds when this source was made (the service's start).
    started: i64,
}

/// The mail that was already waiting when mfa-desk started (a backlog after
/// an outage), found by the first search and handed out from memory. Later
/// searches only look above `top`, at mail that arrived since, which goes
/// first: searching the whole folder for every batch of a 50,000-mail backlog
/// cost the server more than fetching did, and new mail waited behind it.
struct Waiting {
    uid_validity: u32,
    /// The highest UID of the first search: mail above it is live.
    top: u32,
    /// Not yet marked handled (or quarantined).
    left: BTreeSet<u32>,
}

/// A logged-in session with the folder selected.
struct Conn {
    session: async_imap::Session<ImapStream>,
    uid_validity: u32,
    can_idle: bool,
    can_move: bool,
    can_uidplus: bool,
    /// The server announced new messages (EXISTS/RECENT) after our last search.
    new_mail_hint: bool,
    /// The last search found more than one batch: a backlog is draining and
    /// the session has not idled, so the server may not have shown it new
    /// mail yet (a server without IDLE never has: see `fetch_unhandled`).
    draining: bool,
}

struct Outage {
    since: Instant,
    next_try: Instant,
    delay: Duration,
    last_error: String,
}

/// Why an operation on an open session failed, which decides its fate.
enum OpError {
    /// The connection is unusable (I/O error, timeout, garbled response): drop it.
    Conn(String),
    /// The server said NO/BAD; the session is still fine.
    Server(String),
}

impl ImapSource {
    /// Remember the configuration; nothing is connected yet.
    pub fn new(cfg: ImapConfig) -> ImapSource {
        ImapSource {
            cfg,
            conn: None,
            outage: None,
            lost_at: None,
            uid_validity: None,
            tls: None,
            waiting: None,
            started: jiff::Timestamp::now().as_second(),
        }
    }

    /// How long the mailbox has been unreachable, or `None` while it is fine.
    pub fn outage_secs(&self) -> Option<u64> {
        self.outage.as_ref().map(|o| o.since.elapsed().as_secs())
    }

    /// Up to `limit` messages not yet marked handled: mail that arrived while
    /// mfa-desk was running first, then what was already waiting when it
    /// started, each oldest (lowest UID) first: a new mail is never queued
    /// behind a backlog of thousands found at start-up.
    /// Connects or reconnects as needed; while the mailbox is unreachable this
    /// fails quickly (the outage is already logged; the next try waits for the
    /// backoff, which [`ImapSource::wait_for_new_mail`] sleeps through).
    pub async fn fetch_unhandled(&mut self, limit: usize) -> Result<Vec<Fetched>, SourceError> {
        self.fetch_unhandled_except(limit, &[]).await
    }

    /// [`ImapSource::fetch_unhandled`], leaving out `in_hand` (mail fetched
    /// before and still being worked through: the service fetches the next
    /// batch while the last one is not yet flagged).
    pub async fn fetch_unhandled_except(
        &mut self,
        limit: usize,
        in_hand: &[String],
    ) -> Result<Vec<Fetched>, SourceError> {
        let in_hand: HashSet<(u32, u32)> =
            in_hand.iter().filter_map(|r| parse_ref(r).ok()).collect();
        let criteria = if self.cfg.processed_folder.is_some() {
            // Handled mail leaves the folder, so everything left is ours to do.
            format!("UNDELETED UNKEYWORD {QUARANTINE_KEYWORD}")
        } else {
            format!("UNDELETED UNKEYWORD {HANDLED_KEYWORD} UNKEYWORD {QUARANTINE_KEYWORD}")
        };
        let mut waiting = self.waiting.take();
        let margin = i64::try_from(self.cfg.live_margin_secs).unwrap_or(i64::MAX);
        let since = self.started.saturating_sub(margin);
        let fetched = self
            .with_conn("fetching mail", async |c: &mut Conn| {
                // Announcements before this search are covered by it.
                drain_unsolicited(c);
                c.new_mail_hint = false;
                if c.draining || !c.can_idle {
                    // A server syncs its view of the folder between commands, not
                    // before a SEARCH: without this, mail that came during the
                    // last batch (or, on a server without IDLE, during the poll
                    // wait) would be seen one batch, or one poll, late.
                    timed(COMMAND_TIMEOUT, "NOOP", c.session.noop()).await?;
                }
                if waiting
                    .as_ref()
                    .is_some_and(|w| w.uid_validity != c.uid_validity)
                {
                    // The folder was renumbered: what we knew is void.
                    waiting = None;
                }
                let range = waiting
                    .as_ref()
                    .map(|w| format!("UID {}:* ", w.top.saturating_add(1)))
                    .unwrap_or_default();
                let found = timed(
                    COMMAND_TIMEOUT,
                    "UID SEARCH",
                    c.session.uid_search(format!("{range}{criteria}")),
                )
                .await?;
                let mut found: Vec<u32> = found
                    .into_iter()
                    .filter(|&uid| !in_hand.contains(&(c.uid_validity, uid)))
                    .collect();
                found.sort_unstable();
                let w = match waiting.as_mut() {
                    Some(w) => {
                        // `n:*` also matches the highest UID when it is below n.
                        found.retain(|&uid| uid > w.top);
                        w
                    }
                    None => {
                        // The first search (per UIDVALIDITY) draws the line between
                        // mail that was waiting when mfa-desk started and mail since.
                        let top = backlog_line(c, &found, since).await?;
                        let left = found.iter().copied().filter(|&uid| uid <= top).collect();
                        found.retain(|&uid| uid > top);
                        waiting.insert(Waiting {
                            uid_validity: c.uid_validity,
                            top,
                            left,
                        })
                    }
                };
                let top = w.top;
                let waiting = w
                    .left
                    .iter()
                    .copied()
                    .filter(|&uid| !in_hand.contains(&(c.uid_validity, uid)));
                let uids = live_first(found, waiting, limit);
                c.draining = uids.len() == limit;
                let mut out = Vec::with_capacity(uids.len());
                for batch in uids.chunks(FETCH_BATCH) {
                    let fetches = uid_fetch(c, batch, "(UID BODY.PEEK[])", FETCH_TIMEOUT).await?;
                    let mut got: Vec<(u32, Vec<u8>)> = Vec::new();
                    for f in &fetches {
                        // Servers may answer with UIDs we did not ask for (the
                        // `n:*` pitfall) and interleave flag-only FETCHes from
                        // other clients: keep only requested UIDs with a body.
                        let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                            continue;
                        };
                        if batch.contains(&uid) && !got.iter().any(|(u, _)| *u == uid) {
                            got.push((uid, body.to_vec()));
                        }
                    }
                    if got.len() < batch.len() {
                        // Expunged since the search (or handled by another
                        // client), or a cut-off response: a mail that still
                        // exists unflagged is found by a later search.
                        debug!(
                            asked = batch.len(),
                            got = got.len(),
                            "UID FETCH returned fewer bodies"
                        );
                    }
                    // In the order asked for (see `live_first`), not UID order.
                    got.sort_by_key(|(u, _)| batch.iter().position(|b| b == u));
                    out.extend(got.into_iter().map(|(uid, raw)| Fetched {
                        source_ref: format!("imap:{}:{}", c.uid_validity, uid),
                        raw,
                        backlog: uid <= top,
                    }));
                }
                note_unsolicited(c);
                Ok(out)
            })
            .await;
        self.waiting = waiting;
        fetched
    }

    /// Mark a message handled: keyword `$MfaDesk` + `\Seen`, then, with
    /// `processed_folder`, move it there (created if missing).
    pub async fn mark_handled(&mut self, source_ref: &str) -> Result<(), SourceError> {
        self.mark_handled_many(&[source_ref.to_string()]).await
    }

    /// [`ImapSource::mark_handled`] for several messages in one UID STORE
    /// (and one MOVE): one round trip for a whole batch of a backlog.
    pub async fn mark_handled_many(&mut self, source_refs: &[String]) -> Result<(), SourceError> {
        let Some(first) = source_refs.first() else {
            return Ok(());
        };
        let (validity, _) = parse_ref(first)?;
        let mut uids = Vec::with_capacity(source_refs.len());
        for r in source_refs {
            let (v, uid) = parse_ref(r)?;
            if v != validity {
                return Err(SourceError::Imap(format!(
                    "`{r}` belongs to another UIDVALIDITY than `{first}`; mark them separately"
                )));
            }
            uids.push(uid);
        }
        let set = uid_set(&uids);
        let processed = self
            .cfg
            .processed_folder
            .as_deref()
            .map(encode_mailbox_name);
        self.with_conn("marking mail handled", async |c: &mut Conn| {
            check_validity(c, validity, first)?;
            store(
                c,
                &set,
                &format!("+FLAGS.SILENT (\\Seen {HANDLED_KEYWORD})"),
            )
            .await?;
            if let Some(folder) = &processed {
                move_to(c, &set, folder).await?;
            }
            note_unsolicited(c);
            Ok(())
        })
        .await?;
        self.no_longer_waiting(validity, &uids);
        Ok(())
    }

    /// Mail marked handled or quarantined leaves the start-up backlog.
    fn no_longer_waiting(&mut self, validity: u32, uids: &[u32]) {
        if let Some(w) = self.waiting.as_mut()
            && w.uid_validity == validity
        {
            for uid in uids {
                w.left.remove(uid);
            }
        }
    }

    /// Put a message aside for the admins: move it to the quarantine folder
    /// (created if missing); if that is impossible, flag it `$MfaDeskQuarantine`,
    /// which keeps it out of [`ImapSource::fetch_unhandled`] as well.
    pub async fn quarantine(&mut self, source_ref: &str) -> Result<(), SourceError> {
        let (validity, uid) = parse_ref(source_ref)?;
        let folder = encode_mailbox_name(&self.cfg.quarantine_folder);
        let shown = self.cfg.quarantine_folder.clone();
        self.with_conn("quarantining mail", async |c: &mut Conn| {
            check_validity(c, validity, source_ref)?;
            // Keyword first: if the move fails half-way the mail is still set aside.
            let set = uid.to_string();
            store(c, &set, &format!("+FLAGS.SILENT ({QUARANTINE_KEYWORD})")).await?;
            match move_to(c, &set, &folder).await {
                Ok(()) => {}
                Err(OpError::Server(why)) => {
                    warn!(folder = %shown, error = %why, "cannot move mail to the quarantine folder; it stays flagged {QUARANTINE_KEYWORD} in place");
                }
                Err(e) => return Err(e),
            }
            note_unsolicited(c);
            Ok(())
        })
        .await?;
        self.no_longer_waiting(validity, &[uid]);
        Ok(())
    }

    /// Wait until new mail may have arrived: IDLE when the server offers it
    /// (re-issued every `idle_renew_secs`), otherwise `poll_interval_secs`. While the
    /// mailbox is unreachable, waits out the reconnect backoff instead.
    /// Returns early when `shutdown` becomes true.
    pub async fn wait_for_new_mail(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        self.wait_for_new_mail_until(shutdown, None).await
    }

    /// [`ImapSource::wait_for_new_mail`], returning by `deadline` at the
    /// latest (the service's once-a-minute work: reminders, the digest).
    pub async fn wait_for_new_mail_until(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        deadline: Option<Instant>,
    ) -> Result<(), SourceError> {
        if *shutdown.borrow() {
            return Ok(());
        }
        let cap = |until: Instant| deadline.map_or(until, |d| until.min(d));
        if self.conn.is_none() {
            if self.outage.is_none() && self.ensure_connected().await.is_ok() {
                // Connected: fall through to IDLE below.
            } else {
                let until = self
                    .outage
                    .as_ref()
                    .map(|o| o.next_try)
                    .unwrap_or_else(Instant::now);
                sleep_or_shutdown(tokio::time::Instant::from_std(cap(until)), shutdown).await;
                return Ok(());
            }
        }
        let Some(mut c) = self.conn.take() else {
            return Ok(());
        };
        note_unsolicited(&mut c);
        if c.new_mail_hint {
            // Mail arrived while we were busy: no need to wait.
            self.conn = Some(c);
            return Ok(());
        }
        if !c.can_idle {
            self.conn = Some(c);
            let until = Instant::now() + Duration::from_secs(self.cfg.poll_interval_secs.max(1));
            sleep_or_shutdown(tokio::time::Instant::from_std(cap(until)), shutdown).await;
            return Ok(());
        }
        let renew_at = Instant::now() + Duration::from_secs(self.cfg.idle_renew_secs.max(1));
        // At least a second of IDLE: DONE and IDLE again in a tight loop helps nobody.
        let renew = cap(renew_at)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        match idle(c, renew, shutdown).await {
            Ok(c) => self.conn = Some(c),
            Err(why) => self.connection_broke(&why),
        }
        Ok(())
    }

    /// For `mfa-desk check`: connect afresh, log in, select the folder, and
    /// describe what was found. Errors are plain words for an admin.
    pub async fn check(&mut self) -> Result<String, SourceError> {
        self.logout().await;
        let c = match self.open().await {
            Ok(c) => c,
            Err(msg) => return Err(SourceError::Imap(msg)),
        };
        self.conn = Some(c);
        self.recovered();
        let criteria =
            format!("UNDELETED UNKEYWORD {HANDLED_KEYWORD} UNKEYWORD {QUARANTINE_KEYWORD}");
        let pending = self
            .with_conn("counting unhandled mail", async |c: &mut Conn| {
                let found = timed(
                    COMMAND_TIMEOUT,
                    "UID SEARCH",
                    c.session.uid_search(&criteria),
                )
                .await?;
                Ok((found.len(), c.can_idle, c.can_move, c.uid_validity))
            })
            .await?;
        let (unhandled, idle, mv, validity) = pending;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        Ok(format!(
            "IMAP {user}@{host}:{port} ({tls}): logged in, folder {folder} selected (UIDVALIDITY {validity}), \
             {unhandled} message(s) not yet handled; IDLE: {idle}, MOVE: {mv}",
            user = self.cfg.username,
            host = self.cfg.host,
            port = self.cfg.port,
            tls = tls_words(self.cfg.tls),
            folder = self.cfg.folder,
            idle = yes_no(idle),
            mv = yes_no(mv),
        ))
    }

    /// Say goodbye politely (bounded by a timeout) and drop the connection.
    pub async fn logout(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.session.logout()).await;
        }
    }

    // ----- connection management -------------------------------------------

    /// Run `op` on a live session. A broken connection is reconnected and the
    /// operation tried once more (all our operations are idempotent).
    async fn with_conn<T>(
        &mut self,
        what: &str,
        mut op: impl AsyncFnMut(&mut Conn) -> Result<T, OpError>,
    ) -> Result<T, SourceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.ensure_connected().await?;
            let Some(c) = self.conn.as_mut() else {
                return Err(SourceError::Imap(format!("{what}: not connected")));
            };
            match op(c).await {
                Ok(v) => return Ok(v),
                Err(OpError::Server(msg)) => {
                    return Err(SourceError::Imap(format!("{what}: {msg}")));
                }
                Err(OpError::Conn(msg)) => {
                    self.connection_broke(&msg);
                    if attempt >= 2 {
                        return Err(SourceError::Imap(format!("{what}: {msg}")));
                    }
                }
            }
        }
    }

    /// Connect unless connected; respects the backoff during an outage.
    async fn ensure_connected(&mut self) -> Result<(), SourceError> {
        if self.conn.is_some() {
            return Ok(());
        }
        if let Some(o) = &self.outage
            && Instant::now() < o.next_try
        {
            return Err(SourceError::Imap(format!(
                "mailbox {} unreachable for {} s ({}); next try in {} s",
                self.label(),
                o.since.elapsed().as_secs(),
                o.last_error,
                o.next_try
                    .saturating_duration_since(Instant::now())
                    .as_secs()
                    + 1,
            )));
        }
        match self.open().await {
            Ok(c) => {
                self.conn = Some(c);
                self.recovered();
                Ok(())
            }
            Err(msg) => {
                self.connect_failed(&msg);
                Err(SourceError::Imap(msg))
            }
        }
    }

    fn connection_broke(&mut self, why: &str) {
        // Dropping the session closes the socket; a half-read response must
        // never meet the next command.
        self.conn = None;
        self.lost_at.get_or_insert_with(Instant::now);
        info!(mailbox = %self.label(), reason = %why, "IMAP connection lost; reconnecting");
    }

    fn connect_failed(&mut self, msg: &str) {
        let now = Instant::now();
        match &mut self.outage {
            None => {
                let since = self.lost_at.take().unwrap_or(now);
                warn!(mailbox = %self.label(), error = %msg,
                    "IMAP mailbox unreachable; retrying every 1 s up to every 60 s");
                self.outage = Some(Outage {
                    since,
                    next_try: now + BACKOFF_MIN,
                    delay: BACKOFF_MIN,
                    last_error: msg.to_string(),
                });
            }
            Some(o) => {
                o.delay = (o.delay * 2).min(BACKOFF_MAX);
                o.next_try = now + o.delay;
                o.last_error = msg.to_string();
                debug!(error = %msg, next_try_secs = o.delay.as_secs(), "IMAP still unreachable");
            }
        }
    }

    fn recovered(&mut self) {
        self.lost_at = None;
        if let Some(o) = self.outage.take() {
            info!(mailbox = %self.label(), outage_secs = o.since.elapsed().as_secs_f32(),
                "IMAP mailbox reachable again");
        }
    }

    fn label(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.cfg.username, self.cfg.host, self.cfg.port, self.cfg.folder
        )
    }

    /// Connect, (STARTTLS,) log in, check capabilities, select the folder.
    /// Errors are sentences for an admin.
    async fn open(&mut self) -> Result<Conn, String> {
        let cfg = &self.cfg;
        let addr = format!("{}:{}", cfg.host, cfg.port);
        if cfg.tls == Tls::None && !is_loopback_host(&cfg.host) {
            return Err(format!(
                "tls = \"none\" would send the password unencrypted; it is only allowed for a server \
                 on this machine (localhost, 127.0.0.1, ::1), not for {}: use tls = \"implicit\" or \"starttls\"",
                cfg.host
            ));
        }
        // The secret first: a broken password_command is a config error, no
        // reason to bother the server.
        let credential = match &cfg.token_command {
            Some(cmd) => Credential::Token(
                secret::resolve_token(cmd)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => Credential::Password(
                secret::resolve_password(
                    cfg.password_env.as_deref(),
                    cfg.password_command.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?,
            ),
        };
        let tls = if cfg.tls == Tls::None {
            None
        } else {
            Some(self.tls_connector()?)
        };
        let cfg = &self.cfg;

        let client = tokio::time::timeout(CONNECT_TIMEOUT, connect(cfg, &addr, tls))
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to {addr}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )
            })??;

        let login = async {
            match &credential {
                Credential::Password(pw) => client.login(&cfg.username, pw.expose()).await,
                Credential::Token(token) => {
                    let auth = XOAuth2 {
                        user: cfg.username.clone(),
                        token: token.clone(),
                        sent: false,
                    };
                    client.authenticate("XOAUTH2", auth).await
                }
            }
        };
        let mut session = match tokio::time::timeout(COMMAND_TIMEOUT, login).await {
            Err(_) => {
                return Err(format!(
                    "{addr}: the server did not answer the login within {} s",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Ok(Ok(s)) => s,
            Ok(Err((e, _client))) => return Err(login_error_words(cfg, &credential, e)),
        };

        let caps = tokio::time::timeout(COMMAND_TIMEOUT, session.capabilities())
            .await
            .map_err(|_| format!("{addr}: CAPABILITY got no answer"))?
            .map_err(|e| format!("{addr}: CAPABILITY failed: {}", imap_error_words(&e)))?;
        let (can_idle, can_move, can_uidplus) = (
            caps.has_str("IDLE"),
            caps.has_str("MOVE"),
            caps.has_str("UIDPLUS"),
        );

        let folder = encode_mailbox_name(&cfg.folder);
        let mailbox = match tokio::time::timeout(COMMAND_TIMEOUT, session.select(&folder)).await {
            Err(_) => return Err(format!("{addr}: SELECT {} got no answer", cfg.folder)),
            Ok(Ok(m)) => m,
            Ok(Err(ImapError::No(text))) => {
                return Err(format!(
                    "the folder `{}` does not exist for {} (or cannot be opened); check `folder` in the config \
                     (the server said: {})",
                    cfg.folder,
                    cfg.username,
                    server_text(&text)
                ));
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "{addr}: SELECT {} failed: {}",
                    cfg.folder,
                    imap_error_words(&e)
                ));
            }
        };
        if cfg.processed_folder.is_none() && !keywords_allowed(&mailbox.permanent_flags) {
            return Err(format!(
                "the folder `{}` does not let us store the keyword {HANDLED_KEYWORD}; set processed_folder \
                 so handled mail is moved instead",
                cfg.folder
            ));
        }
        let uid_validity = mailbox.uid_validity.unwrap_or(0);
        if let Some(old) = self.uid_validity
            && old != uid_validity
        {
            warn!(mailbox = %self.label(), old, new = uid_validity,
                "UIDVALIDITY changed: the server renumbered the folder; re-scanning it \
                 (mail already answered is recognised by its Message-ID)");
        }
        self.uid_validity = Some(uid_validity);
        debug!(mailbox = %self.label(), uid_validity, exists = mailbox.exists, can_idle, can_move, "IMAP connected");
        Ok(Conn {
            session,
            uid_validity,
            can_idle,
            can_move,
            can_uidplus,
            new_mail_hint: false,
            draining: false,
        })
    }

    fn tls_connector(&mut self) -> Result<TlsConnector, String> {
        if let Some(t) = &self.tls {
            return Ok(t.clone());
        }
        let connector = tls_connector(self.cfg.ca_file.as_deref())?;
        self.tls = Some(connector.clone());
        Ok(connector)
    }
}

/// Build a rustls connector: Mozilla's roots plus the PEM certificates in `ca_file`.
/// The ring provider is named explicitly so no process-wide default is needed.
pub(crate) fn tls_connector(ca_file: Option<&std::path::Path>) -> Result<TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| format!("ca_file {} is not valid PEM: {e}", path.display()))?;
            roots.add(cert).map_err(|e| {
                format!(
                    "ca_file {} holds an unusable certificate: {e}",
                    path.display()
                )
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            ));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup failed: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

enum Credential {
    Password(Secret),
    Token(Secret),
}

/// SASL XOAUTH2 (Google, Microsoft): `user=…^Aauth=Bearer …^A^A`.
struct XOAuth2 {
    user: String,
    token: Secret,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            // A second challenge carries the server's JSON error; the protocol
            // wants an empty answer, after which the server says NO.
            return String::new();
        }
        self.sent = true;
        format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.user,
            self.token.expose()
        )
    }
}

/// TCP (+TLS) up to a client that has read the greeting.
async fn connect(
    cfg: &ImapConfig,
    addr: &str,
    tls: Option<TlsConnector>,
) -> Result<async_imap::Client<ImapStream>, String> {
    let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| connect_error_words(addr, &e))?;
    let _ = tcp.set_nodelay(true);
    match (cfg.tls, tls) {
        (Tls::Implicit, Some(tls)) => {
            let stream = handshake(&tls, &cfg.host, tcp).await?;
            let mut client = async_imap::Client::new(ImapStream::Tls(Box::new(stream)));
            read_greeting(&mut client, addr).await?;
            Ok(client)
        }
        (Tls::Starttls, Some(tls)) => {
            let mut client = async_imap::Client::new(ImapStream::Plain(tcp));
            read_greeting(&mut client, addr).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| format!("{addr}: the server refused STARTTLS ({}); try tls = \"implicit\" on port 993", imap_error_words(&e)))?;
            let ImapStream::Plain(tcp) = client.into_inner() else {
                return Err(format!("{addr}: internal error: STARTTLS on a TLS stream"));
            };
            // No second greeting after STARTTLS (RFC 3501 §6.2.1).
            let stream = handshake(&tls, &cfg.host, tcp).await?;
            Ok(async_imap::Client::new(ImapStream::Tls(Box::new(stream))))
        }
        _ => {
            let mut client = async_imap::Client::new(ImapStream::Plain(tcp));
            read_greeting(&mut client, addr).await?;
            Ok(client)
        }
    }
}

async fn handshake(
    tls: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| format!("`{host}` is not a valid host name for TLS"))?;
    tls.connect(name, tcp)
        .await
        .map_err(|e| tls_error_words(host, &e))
}

async fn read_greeting(
    client: &mut async_imap::Client<ImapStream>,
    addr: &str,
) -> Result<(), String> {
    use async_imap::imap_proto::{Response, Status};
    match client.read_response().await {
        Ok(Some(resp)) => match resp.parsed() {
            Response::Data {
                status: Status::Ok | Status::PreAuth,
                ..
            } => Ok(()),
            Response::Data {
                status: Status::Bye,
                outcome,
                ..
            } => Err(format!(
                "{addr}: the server refused the connection: {}",
                outcome.information.as_deref().unwrap_or("BYE")
            )),
            other => Err(format!(
                "{addr}: unexpected greeting {other:?}: is this an IMAP port?"
            )),
        },
        Ok(None) => Err(format!(
            "{addr}: the server closed the connection before greeting"
        )),
        Err(e) => Err(format!(
            "{addr}: cannot read the greeting: {e} (is this an IMAP port? is tls right?)"
        )),
    }
}

/// IDLE until the server reports something, the renew period passes, or
/// shutdown. Consumes the session (async-imap's IDLE does) and gives it back.
async fn idle(
    c: Conn,
    renew: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Conn, String> {
    let Conn {
        session,
        uid_validity,
        can_idle,
        can_move,
        can_uidplus,
        new_mail_hint: _,
        draining: _,
    } = c;
    let mut handle = session.idle();
    match tokio::time::timeout(COMMAND_TIMEOUT, handle.init()).await {
        Err(_) => return Err("IDLE got no answer".into()),
        Ok(Err(e)) => return Err(format!("IDLE failed: {}", imap_error_words(&e))),
        Ok(Ok(())) => {}
    }
    let started = Instant::now();
    debug!("IDLE: waiting for new mail");
    let outcome = {
        let (fut, stop) = handle.wait_with_timeout(renew);
        tokio::pin!(fut);
        let mut stop = Some(stop);
        loop {
            tokio::select! {
                r = &mut fut => break r,
                changed = shutdown.changed(), if stop.is_some() => {
                    if changed.is_err() || *shutdown.borrow_and_update() {
                        // Dropping the StopSource ends the wait (ManualInterrupt).
                        stop = None;
                    }
                }
            }
        }
    };
    match outcome {
        Ok(async_imap::extensions::idle::IdleResponse::NewData(resp)) => {
            debug!(after_ms = started.elapsed().as_millis() as u64, response = ?resp.parsed(), "IDLE: server reported a change");
        }
        Ok(other) => debug!(?other, "IDLE ended"),
        // The connection broke while idling (e.g. the server restarted).
        Err(e) => {
            return Err(format!(
                "connection lost during IDLE: {}",
                imap_error_words(&e)
            ));
        }
    }
    // A closed connection also ends the wait as "ManualInterrupt"; DONE then
    // fails, which is how a restarted server is noticed.
    let session = match tokio::time::timeout(COMMAND_TIMEOUT, handle.done()).await {
        Err(_) => return Err("DONE (end of IDLE) got no answer".into()),
        Ok(Err(e)) => {
            return Err(format!(
                "connection lost during IDLE: {}",
                imap_error_words(&e)
            ));
        }
        Ok(Ok(s)) => s,
    };
    Ok(Conn {
        session,
        uid_validity,
        can_idle,
        can_move,
        can_uidplus,
        new_mail_hint: false,
        draining: false,
    })
}

async fn sleep_or_shutdown(until: tokio::time::Instant, shutdown: &mut watch::Receiver<bool>) {
    let sleep = tokio::time::sleep_until(until);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow_and_update() {
                    return;
                }
            }
        }
    }
}

// ----- commands on an open session -------------------------------------------

/// Run one command (or command + stream drain) under a timeout, sorting
/// failures into "drop the connection" and "the server said no".
async fn timed<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, ImapError>>,
) -> Result<T, OpError> {
    let started = Instant::now();
    let result = tokio::time::timeout(limit, fut).await;
    // At debug level: where a slow cycle spends its time (server or us).
    debug!(
        command = what,
        ms = started.elapsed().as_millis() as u64,
        "IMAP command"
    );
    match result {
        Err(_) => Err(OpError::Conn(format!(
            "{what}: no answer within {} s",
            limit.as_secs()
        ))),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(what, e)),
    }
}

fn classify(what: &str, e: ImapError) -> OpError {
    match e {
        ImapError::No(text) | ImapError::Bad(text) => {
            OpError::Server(format!("{what}: {}", server_text(&text)))
        }
        ImapError::Validate(v) => OpError::Server(format!("{what}: {v}")),
        other => OpError::Conn(format!("{what}: {}", imap_error_words(&other))),
    }
}

/// `1,5,9`: a UID set for a command.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `UID FETCH` of `items` for `uids`, the response drained to the end
/// (leftovers would poison the next command).
async fn uid_fetch(
    c: &mut Conn,
    uids: &[u32],
    items: &str,
    limit: Duration,
) -> Result<Vec<async_imap::types::Fetch>, OpError> {
    let set = uid_set(uids);
    let session = &mut c.session;
    timed(limit, "UID FETCH", async {
        let stream = session.uid_fetch(&set, items).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await
}

async fn store(c: &mut Conn, set: &str, change: &str) -> Result<(), OpError> {
    let session = &mut c.session;
    timed(COMMAND_TIMEOUT, "UID STORE", async {
        let stream = session.uid_store(set, change).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await
    .map(|_| ())
}

/// Move one message to `folder` (already mUTF-7 encoded), creating the folder
/// when the server says it does not exist. Without MOVE: COPY, `\Deleted`,
/// and UID EXPUNGE when UIDPLUS allows expunging just this message.
async fn move_to(c: &mut Conn, set: &str, folder: &str) -> Result<(), OpError> {
    match move_once(c, set, folder).await {
        Err(OpError::Server(first)) => {
            // Typically "[TRYCREATE] Mailbox doesn't exist": create and retry once.
            match timed(COMMAND_TIMEOUT, "CREATE", c.session.create(folder)).await {
                Ok(()) => info!(folder, "created IMAP folder"),
                Err(OpError::Server(_)) => return Err(OpError::Server(first)),
                Err(e) => return Err(e),
            }
            move_once(c, set, folder).await
        }
        other => other,
    }
}

async fn move_once(c: &mut Conn, set: &str, folder: &str) -> Result<(), OpError> {
    if c.can_move {
        return timed(COMMAND_TIMEOUT, "UID MOVE", c.session.uid_mv(set, folder)).await;
    }
    timed(COMMAND_TIMEOUT, "UID COPY", c.session.uid_copy(set, folder)).await?;
    store(c, set, "+FLAGS.SILENT (\\Deleted)").await?;
    if c.can_uidplus {
        let session = &mut c.session;
        timed(COMMAND_TIMEOUT, "UID EXPUNGE", async {
            let stream = session.uid_expunge(set).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    // Without UIDPLUS the copy stays \Deleted in place (our search skips it):
    // a plain EXPUNGE would also purge mail a person deleted on purpose.
    Ok(())
}

/// Forget queued unsolicited responses (they are only hints).
fn drain_unsolicited(c: &mut Conn) {
    while c.session.unsolicited_responses.try_recv().is_ok() {}
}

/// Note whether the server announced new mail since the last search.
fn note_unsolicited(c: &mut Conn) {
    while let Ok(r) = c.session.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            c.new_mail_hint = true;
        }
    }
}

/// Mails whose delivery time the first search looks at (the highest UIDs).
const LIVE_PROBE: usize = 200;

/// The highest UID in `found` (sorted) of mail that was already waiting
/// before `since`: mail delivered after it (in the minutes of a restart, or
/// between the start and this first search) is live, not a backlog. Looks at
/// the INTERNALDATE of the newest [`LIVE_PROBE`] mails only.
async fn backlog_line(c: &mut Conn, found: &[u32], since: i64) -> Result<u32, OpError> {
    if found.is_empty() {
        return Ok(0);
    }
    let probe = &found[found.len().saturating_sub(LIVE_PROBE)..];
    let dates = uid_fetch(c, probe, "(UID INTERNALDATE)", COMMAND_TIMEOUT).await?;
    let young: HashSet<u32> = dates
        .iter()
        .filter(|f| f.internal_date().is_some_and(|d| d.timestamp() > since))
        .filter_map(|f| f.uid)
        .collect();
    Ok(line_below_young(found, probe.len(), &young))
}

/// The highest UID of `found` below its run of `young` UIDs at the top (only
/// the last `probed` were looked at); 0 when every mail is young.
fn line_below_young(found: &[u32], probed: usize, young: &HashSet<u32>) -> u32 {
    let unprobed = found.len() - probed;
    let mut k = found.len();
    while k > unprobed && young.contains(&found[k - 1]) {
        k -= 1;
    }
    if k == 0 { 0 } else { found[k - 1] }
}

/// The next mail to handle: live mail (`live`, found by this search, lowest
/// UID first) ahead of what was waiting at start (lowest UID first); at most
/// `limit`.
fn live_first(mut live: Vec<u32>, waiting: impl Iterator<Item = u32>, limit: usize) -> Vec<u32> {
    live.truncate(limit);
    let room = limit - live.len();
    live.extend(waiting.take(room));
    live
}

fn check_validity(c: &Conn, validity: u32, source_ref: &str) -> Result<(), OpError> {
    if c.uid_validity == validity {
        Ok(())
    } else {
        Err(OpError::Server(format!(
            "{source_ref} is stale: the folder's UIDVALIDITY is now {} (the server renumbered it); \
             the message will be fetched again under its new number",
            c.uid_validity
        )))
    }
}

fn parse_ref(source_ref: &str) -> Result<(u32, u32), SourceError> {
    let bad = || {
        SourceError::Imap(format!(
            "`{source_ref}` is not an IMAP reference (imap:<uidvalidity>:<uid>)"
        ))
    };
    let rest = source_ref.strip_prefix("imap:").ok_or_else(bad)?;
    let (v, u) = rest.split_once(':').ok_or_else(bad)?;
    Ok((v.parse().map_err(|_| bad())?, u.parse().map_err(|_| bad())?))
}

fn keywords_allowed(permanent: &[Flag<'_>]) -> bool {
    // No PERMANENTFLAGS at all means the server did not say: assume yes.
    permanent.is_empty()
        || permanent.iter().any(|f| match f {
            Flag::MayCreate => true,
            Flag::Custom(k) => k.eq_ignore_ascii_case(HANDLED_KEYWORD),
            _ => false,
        })
}

/// True for host names that can only mean this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Mailbox names go on the wire in modified UTF-7 (RFC 3501 §5.1.3); async-imap
/// only quotes them. ASCII names pass through unchanged (except `&`).
pub fn encode_mailbox_name(name: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    fn flush(out: &mut String, pending: &mut Vec<u16>) {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            let chars = chunk.len() + 1; // 1 byte → 2 chars, 2 → 3, 3 → 4; no padding
            for i in 0..chars {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    }
    let mut out = String::with_capacity(name.len());
    let mut pending = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut out, &mut pending);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

// ----- plain words for errors ---------------------------------------------

fn tls_words(tls: Tls) -> &'static str {
    match tls {
        Tls::Implicit => "implicit TLS",
        Tls::Starttls => "STARTTLS",
        Tls::None => "no TLS, loopback only",
    }
}

/// async-imap formats NO/BAD as `code: Some(..), info: Some("text")`; keep the text.
fn server_text(raw: &str) -> String {
    if let Some(start) = raw.find("info: Some(\"") {
        let text = &raw[start + "info: Some(\"".len()..];
        let text = text.strip_suffix("\")").unwrap_or(text);
        return text.replace("\\\"", "\"");
    }
    raw.to_string()
}

fn imap_error_words(e: &ImapError) -> String {
    match e {
        ImapError::No(t) | ImapError::Bad(t) => server_text(t),
        ImapError::ConnectionLost => "the server closed the connection".into(),
        ImapError::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

fn login_error_words(cfg: &ImapConfig, cred: &Credential, e: ImapError) -> String {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    match (e, cred) {
        (ImapError::No(text), Credential::Password(_)) => format!(
            "the IMAP server {addr} refused the login for {}: the password is wrong (or the user name, \
             or the account is locked or may not use IMAP). The server said: {}",
            cfg.username,
            server_text(&text)
        ),
        (ImapError::No(text), Credential::Token(_)) => format!(
            "the IMAP server {addr} refused the OAuth2 token for {}: it may have expired, lack the IMAP \
             scope, or belong to another user. The server said: {}",
            cfg.username,
            server_text(&text)
        ),
        (ImapError::Bad(text), _) => format!(
            "the IMAP server {addr} rejected the login command (plain-text login may be disabled: use TLS). \
             The server said: {}",
            server_text(&text)
        ),
        (other, _) => format!("{addr}: login failed: {}", imap_error_words(&other)),
    }
}

pub(crate) fn connect_error_words(addr: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => format!(
            "cannot connect to {addr}: connection refused (is the server running, and is the port right?)"
        ),
        ErrorKind::TimedOut => {
            format!("cannot connect to {addr}: timed out (firewall? wrong host?)")
        }
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            format!("cannot connect to {addr}: the host or network is unreachable")
        }
        _ if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
            format!("cannot connect to {addr}: the host name does not resolve ({e})")
        }
        _ => format!("cannot connect to {addr}: {e}"),
    }
}

pub(crate) fn tls_error_words(host: &str, e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(inner) => rustls_error_words(host, inner),
        None => format!("TLS with {host} failed: {e}"),
    }
}

/// A rustls failure in words an admin can act on (shared with SMTP).
pub(crate) fn rustls_error_words(host: &str, e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let why = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the server's certificate is not valid for the name `{host}` (it was issued for another \
                 host name); set host to a name the certificate names"
            ),
            C::UnknownIssuer => {
                "the server's certificate is signed by an unknown authority; if the server \
                 uses a private CA, set ca_file to that CA's PEM certificate"
                    .to_string()
            }
            C::Expired | C::ExpiredContext { .. } => {
                "the server's certificate has expired".to_string()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (is this machine's clock right?)"
                    .to_string()
            }
            other => format!("the server's certificate was refused: {other:?}"),
        },
        rustls::Error::InvalidMessage(_) => {
            "the server did not speak TLS (is this a plain-text port? try tls = \"starttls\")"
                .to_string()
        }
        other => other.to_string(),
    };
    format!("TLS with {host} failed: {why}")
}

// ----- the stream: plain TCP or TLS ------------------------------------------

/// async-imap needs one concrete stream type; STARTTLS switches between these.
enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for ImapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImapStream::Plain(_) => "ImapStream::Plain",
            ImapStream::Tls(_) => "ImapStream::Tls",
        })
    }
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names_in_modified_utf7() {
        assert_eq!(encode_mailbox_name("INBOX"), "INBOX");
        assert_eq!(encode_mailbox_name("MFA/Processed"), "MFA/Processed");
        assert_eq!(encode_mailbox_name("A&B"), "A&-B");
        // RFC 3501 §5.1.3 example: 台北 → &U,BTFw-
        assert_eq!(
            encode_mailbox_name("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode_mailbox_name("処理済み"), "&UeZ0Bm4IMH8-");
    }

    #[test]
    fn new_mail_goes_ahead_of_a_backlog() {
        let waiting = || [2, 4, 9].into_iter();
        // 10 and 12 came since the start: they go first, then the oldest waiting.
        assert_eq!(live_first(vec![10, 12], waiting(), 4), vec![10, 12, 2, 4]);
        assert_eq!(live_first(vec![10, 12], waiting(), 2), vec![10, 12]);
        assert_eq!(live_first(vec![], waiting(), 10), vec![2, 4, 9]);
        assert_eq!(
            live_first(vec![], std::iter::empty(), 10),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn mail_delivered_just_before_the_start_is_live() {
        let found = [3, 5, 8, 9, 12];
        let young = |u: &[u32]| u.iter().copied().collect::<HashSet<u32>>();
        assert_eq!(line_below_young(&found, 5, &young(&[])), 12, "all old");
        assert_eq!(line_below_young(&found, 5, &young(&[9, 12])), 8);
        assert_eq!(line_below_young(&found, 5, &young(&found)), 0, "all young");
        // Only the run at the top counts (dates out of UID order: copies, moves).
        assert_eq!(line_below_young(&found, 5, &young(&[5, 12])), 9);
        // Young beyond what was probed is not assumed.
        assert_eq!(line_below_young(&found, 2, &young(&found)), 8);
    }

    #[test]
    fn refs_round_trip() {
        assert_eq!(parse_ref("imap:1795562840:42").unwrap(), (1795562840, 42));
        assert!(parse_ref("/tmp/x.eml").is_err());
        assert!(parse_ref("imap:1:x").is_err());
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "imap.example.com",
            "10.0.0.1",
            "localhost.example.com",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn server_text_is_extracted() {
        assert_eq!(
            server_text(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(server_text("plain"), "plain");
    }

    #[test]
    fn xoauth2_string() {
        use async_imap::Authenticator;
        let mut a = XOAuth2 {
            user: "support@example.com".into(),
            token: Secret::new("ya29.tok"),
            sent: false,
        };
        assert_eq!(
            a.process(b""),
            "user=support@example.com\x01auth=Bearer ya29.tok\x01\x01"
        );
        assert_eq!(a.process(b"{\"status\":\"401\"}"), "");
    }
}

//! The worker: wires the steps together for one message — parse, classify,
//! find the thread, tell admins from employees, decide, render, and commit it
//! all in one transaction. This is the only place that knows their order.

mod admin;
pub mod outgoing;
mod sweep;

pub use sweep::SweepReport;

use crate::classify::{Rules, classify};
use crate::config::{Admin, Config};
use crate::parse::{Inbound, parse};
use crate::privacy::notice::Found as Secrets;
use crate::privacy::{Masked, mask_secrets, otp_qr_attachments};
use crate::reply::compose::{AutoSubmitted, ComposeError};
use crate::reply::templates::{Guides, TemplateError, admin_extra, context};
use crate::source::Fetched;
use crate::store::{MessageRecord, NewTicket, Store, StoreError, Tx};
use crate::ticket::{Priority, Status, Ticket, tag};
use crate::verdict::{Action, Category, Verdict};
use crate::workflow::hours::Schedule;
use crate::workflow::sender::{Sender, identify};
use crate::workflow::thread::{self, Secret};
use crate::workflow::{self, Audience, Decision, MailKind, MailPlan};
use outgoing::{Letter, Post, REQUESTER};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error("{0}")]
    Invalid(String),
}

/// What happened to one message, for the log line and the run summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub ticket: Option<i64>,
    pub category: Category,
    pub outcome: Outcome,
    pub millis: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A guide went to the employee (maybe with an admin notice).
    Answered,
    /// No guide: acknowledged and queued for a person.
    Queued,
    /// Added to an existing ticket.
    FollowUp,
    /// An admin's reply: relayed to the employee and/or commands applied.
    AdminReply,
    /// Auto-generated: recorded, not answered.
    Ignored,
    /// Already recorded earlier: nothing done.
    Duplicate,
    /// Could not be handled normally; a ticket for a person holds it.
    NeedsPerson,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Queued => "queued",
            Outcome::FollowUp => "follow_up",
            Outcome::AdminReply => "admin_reply",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::NeedsPerson => "needs_person",
        }
    }
}

/// The help desk: config, guides and store, ready to take mail.
pub struct Desk {
    pub config: Config,
    pub guides: Guides,
    pub store: Store,
    secret: Secret,
    schedule: Schedule,
}

/// The ticket a mail threads into, and whether it answers a Message-ID
/// mfa-desk issued to its sender.
struct Found {
    ticket: Option<Ticket>,
    issued_to_sender: bool,
}

impl Desk {
    /// Ready the desk: the install secret (made at first start) signs the
    /// Message-IDs and markers that thread conversations.
    pub fn new(config: Config, guides: Guides, store: Store) -> Result<Desk, DeskError> {
        let secret = match store.meta("install_secret")? {
            Some(hex) => hex,
            None => {
                let hex = format!("{}{}", outgoing::random_hex(), outgoing::random_hex());
                store.set_meta("install_secret", &hex)?;
                hex
            }
        };
        let schedule = Schedule::from_config(&config.hours, &config.support.timezone)
            .map_err(|m| DeskError::Invalid(format!("[hours] {m}")))?;
        Ok(Desk {
            secret: Secret::new(secret.into_bytes()),
            schedule,
            config,
            guides,
            store,
        })
    }

    /// Handle one fetched mail. On `Ok`, its effects are committed and the
    /// source may mark it handled.
    pub fn process(&mut self, fetched: &Fetched, now: i64) -> Result<Processed, DeskError> {
        let prepared = Prepared::new(fetched, &self.config.rules);
        self.commit(prepared, now)
    }

    /// The store's part of handling a mail: find its thread, tell admins
    /// from employees, decide, render, and commit it all in one transaction.
    pub fn commit(&mut self, prepared: Prepared<'_>, now: i64) -> Result<Processed, DeskError> {
        let Prepared {
            fetched,
            mut inbound,
            key,
            mut verdict,
            scan,
            started,
        } = prepared;
        if self.store.seen(&key)? {
            return Ok(Processed {
                ticket: None,
                category: Category::Other,
                outcome: Outcome::Duplicate,
                millis: started.elapsed().as_millis(),
            });
        }
        if self.is_own_mail(&inbound) {
            // Our own mail coming back (a forward rule, a misrouted copy): never answer it.
            verdict = Verdict::new(
                Category::AutoGenerated,
                verdict.language,
                1.0,
                vec!["sender:mfa-desk itself".into()],
            );
        }
        let found = self.find_thread(&inbound)?;
        let sender = identify(
            &inbound,
            &self.config.support.admins,
            found.issued_to_sender,
            self.config.security.authserv_id.as_deref(),
        );
        // Secrets the employee pasted never reach the store, the admins or a log.
        // An admin's words go to the employee as written (a temporary access
        // code, say); everybody else's are masked.
        let secrets = if matches!(sender, Sender::Admin(_)) {
            Secrets::default()
        } else {
            scan.apply(&mut inbound)
        };
        let kept;
        let fetched = if secrets.qr_images.is_empty() {
            fetched
        } else {
            // The raw mail holds the authenticator's secret: keep none of it.
            kept = Fetched {
                source_ref: fetched.source_ref.clone(),
                raw: Vec::new(),
                backlog: fetched.backlog,
            };
            &kept
        };
        let result = match (&sender, found.ticket) {
            (Sender::Admin(admin), Some(ticket)) => {
                self.commit_admin(fetched, &key, &inbound, &verdict, &ticket, admin, now)
            }
            (Sender::UnverifiedAdmin(admin), thread) => {
                tracing::warn!(from = %inbound.from_addr, "mail with an admin's address could not be verified; treated as an employee's");
                self.commit_employee(
                    fetched,
                    &key,
                    &inbound,
                    &verdict,
                    thread,
                    Some(admin),
                    &secrets,
                    now,
                )
            }
            (_, thread) => self.commit_employee(
                fetched, &key, &inbound, &verdict, thread, None, &secrets, now,
            ),
        };
        let (ticket, outcome) = match result {
            Ok(v) => v,
            Err(DeskError::Store(e)) => return Err(DeskError::Store(e)),
            // A guide that fails to render must not lose the mail: a person gets it.
            Err(e) => {
                tracing::error!(error = %e, from = %inbound.from_addr, "cannot answer this mail; queued for a person");
                let ticket =
                    self.commit_for_person(fetched, &key, &inbound, &verdict, &e.to_string(), now)?;
                (Some(ticket), Outcome::NeedsPerson)
            }
        };
        let processed = Processed {
            ticket,
            category: verdict.category,
            outcome,
            millis: started.elapsed().as_millis(),
        };
        tracing::info!(
            ticket = %processed.ticket.map(tag).unwrap_or_else(|| "-".into()),
            category = %verdict.category,
            action = %verdict.action,
            outcome = processed.outcome.as_str(),
            ms = processed.millis as u64,
            "message handled"
        );
        Ok(processed)
    }

    /// Mail that mfa-desk itself sent: from the support address, or carrying
    /// the ticket header every mail of ours has.
    fn is_own_mail(&self, inbound: &Inbound) -> bool {
        inbound
            .from_addr
            .eq_ignore_ascii_case(&self.config.support.address)
            || inbound.header("x-mfa-desk-ticket").is_some()
    }

    /// The ticket a mail belongs to (see `workflow::thread` for the order).
    fn find_thread(&self, inbound: &Inbound) -> Result<Found, StoreError> {
        let from = &inbound.from_addr;
        let mut ids: Vec<String> = inbound.references.clone();
        ids.extend(inbound.in_reply_to.iter().cloned());
        // Newest reference first: that is the mail being answered.
        for id in ids.iter().rev() {
            if let Some(t) = thread::verify_message_id(&self.secret, id, from) {
                if let Some(ticket) = self.store.ticket(t)? {
                    return Ok(Found {
                        ticket: Some(ticket),
                        issued_to_sender: true,
                    });
                }
            } else if !id.starts_with("mfa-")
                && let Some((t, _)) = self.store.ticket_by_thread_ids(std::slice::from_ref(id))?
            {
                // An id we received (an employee's earlier mail): a plain lookup.
                return Ok(Found {
                    ticket: self.store.ticket(t)?,
                    issued_to_sender: false,
                });
            }
        }
        let all_text = format!("{}\n{}", inbound.new_text, inbound.quoted_text);
        if let Some(t) = thread::find_marker(&self.secret, &all_text)
            && let Some(ticket) = self.store.ticket(t)?
        {
            return Ok(Found {
                ticket: Some(ticket),
                issued_to_sender: false,
            });
        }
        if let Some(t) = thread::subject_tag(&inbound.subject)
            && let Some(ticket) = self.store.ticket(t)?
            && (ticket.requester.eq_ignore_ascii_case(from) || self.config.admin(from).is_some())
        {
            return Ok(Found {
                ticket: Some(ticket),
                issued_to_sender: false,
            });
        }
        Ok(Found {
            ticket: None,
            issued_to_sender: false,
        })
    }

    /// An employee's mail (or anybody's who is not a verified admin).
    #[allow(clippy::too_many_arguments)]
    fn commit_employee(
        &mut self,
        fetched: &Fetched,
        key: &str,
        inbound: &Inbound,
        verdict: &Verdict,
        thread: Option<Ticket>,
        unverified_admin: Option<&Admin>,
        secrets: &Secrets,
        now: i64,
    ) -> Result<(Option<i64>, Outcome), DeskError> {
        let mut decision = workflow::decide(inbound, verdict, thread.as_ref());
        if secrets.needs_reenrolment() {
            // The authenticator's secret left the phone: an admin must reset it.
            if let Decision::Open { status, mails, .. } | Decision::FollowUp { status, mails, .. } =
                &mut decision
            {
                *status = Status::Open;
                if !mails.iter().any(|m| m.to == Audience::Admins) {
                    mails.push(MailPlan {
                        kind: MailKind::AdminNotify,
                        to: Audience::Admins,
                    });
                }
            }
        }
        let Desk {
            config,
            guides,
            store,
            secret,
            schedule,
        } = self;
        let tx = store.begin()?;
        if matches!(decision, Decision::Ignore { .. }) {
            for addr in workflow::bounce::failed_recipients(&fetched.raw) {
                tracing::info!(address = %addr, "mail to this address bounced; no automatic mail to it for 30 days");
                tx.suppress(
                    &addr,
                    now + crate::store::SUPPRESS_AFTER_BOUNCE_SECS,
                    "bounced",
                )?;
            }
        }
        // The same mail again from the same sender: one ticket, one answer.
        if let Decision::Open { .. } = decision
            && let Some(twin) = tx.recent_twin(
                &inbound.from_addr,
                &inbound.subject,
                &inbound.new_text,
                now - config.limits.repeat_window_secs,
            )?
            && let Some(t) = tx.ticket(twin)?
        {
            decision = Decision::FollowUp {
                ticket_id: t.id,
                status: t.status,
                resolution: t.resolution.clone(),
                event: "repeated_mail",
                mails: vec![],
            };
        }
        let (ticket_id, outcome) = match &decision {
            Decision::Ignore { reason } => {
                // A bounce or auto-reply to one of our mails belongs on its ticket's record.
                if let Some(t) = &thread {
                    tx.add_event(
                        t.id,
                        now,
                        "auto_reply_received",
                        &inbound.from_addr,
                        &serde_json::json!({"reason": reason}),
                    )?;
                }
                (None, Outcome::Ignored)
            }
            Decision::Open {
                status, priority, ..
            } => {
                let owner = if *status == Status::Open {
                    next_owner(config, &tx, verdict.category)?
                } else {
                    None
                };
                let id = tx.create_ticket(&new_ticket(
                    inbound,
                    verdict,
                    *status,
                    *priority,
                    owner.as_deref(),
                    now,
                ))?;
                tx.add_event(
                    id,
                    now,
                    "opened",
                    &inbound.from_addr,
                    &serde_json::json!({
                        "category": verdict.category, "action": verdict.action,
                        "confidence": verdict.confidence, "matched": verdict.matched,
                        "problems": inbound.problems, "owner": owner,
                    }),
                )?;
                let outcome = if verdict.category.has_guide() {
                    Outcome::Answered
                } else {
                    Outcome::Queued
                };
                (Some(id), outcome)
            }
            Decision::FollowUp {
                ticket_id,
                status,
                resolution,
                event,
                ..
            } => {
                if let Some(mut t) = tx.ticket(*ticket_id)? {
                    // Back to the people: someone must own it.
                    if *status == Status::Open && t.owner.is_none() {
                        t.owner = next_owner(config, &tx, t.category)?;
                    }
                    t.status = *status;
                    t.resolution = resolution.clone();
                    t.updated_at = now;
                    t.resolved_at = (*status == Status::Resolved).then_some(now);
                    if *event == "security_alert" {
                        t.priority = Priority::Urgent;
                    }
                    tx.save_ticket(&t)?;
                }
                tx.add_event(
                    *ticket_id,
                    now,
                    event,
                    &inbound.from_addr,
                    &serde_json::json!({"text": inbound.new_text, "category": verdict.category}),
                )?;
                (Some(*ticket_id), Outcome::FollowUp)
            }
        };
        if !tx.insert_message(&record(key, fetched, inbound, verdict, ticket_id, now))? {
            // Another run recorded it between our check and now: do nothing twice.
            return Ok((None, Outcome::Duplicate));
        }
        let post = Post {
            config,
            secret,
            tx: &tx,
            now,
            backlog: fetched.backlog,
        };
        if let Some(t) = ticket_id
            && let Some(ticket) = tx.ticket(t)?
        {
            if let Some(mid) = &inbound.message_id {
                tx.remember_thread_id(mid, t, "in", REQUESTER)?;
            }
            let mut plans: Vec<MailPlan> = decision.mails().to_vec();
            // A receipt ("we got it") to an address that got automatic mail from
            // us minutes ago is how auto-responders with fresh subjects loop; a
            // person still gets the ticket, the sender only misses the receipt.
            if plans.iter().any(|p| p.kind == MailKind::AckOther)
                && tx.auto_mail_count(&ticket.requester, now - 600, None)? > 0
            {
                plans.retain(|p| p.kind != MailKind::AckOther);
                tx.add_event(t, now, "receipt_withheld", "mfa-desk", &serde_json::json!({"why": "automatic mail sent to this address in the last 10 minutes"}))?;
            }
            if plans.iter().any(|p| p.to == Audience::Requester)
                && let Some(why) = auto_reply_blocked(&tx, config, &ticket, now)?
            {
                // Past the limits a person answers instead: no mail loop can run.
                plans.retain(|p| p.to != Audience::Requester);
                let first_time = !tx.events(t)?.iter().any(|e| e.kind == "auto_reply_limited");
                tx.add_event(
                    t,
                    now,
                    "auto_reply_limited",
                    "mfa-desk",
                    &serde_json::json!({"why": why}),
                )?;
                if ticket.status != Status::Open {
                    let mut open = ticket.clone();
                    open.status = Status::Open;
                    open.updated_at = now;
                    tx.save_ticket(&open)?;
                }
                if first_time && !plans.iter().any(|p| p.to == Audience::Admins) {
                    plans.push(MailPlan {
                        kind: MailKind::AdminNotify,
                        to: Audience::Admins,
                    });
                }
                tracing::warn!(ticket = %ticket.tag(), why = %why, "automatic reply withheld");
            }
            let history = history_text(&tx, t)?;
            for plan in &plans {
                let notice = crate::privacy::notice::notice(secrets, ticket.language);
                send_plan(
                    &post, guides, schedule, &ticket, inbound, verdict, plan, &history, &notice,
                )?;
            }
        }
        if let Some(admin) = unverified_admin {
            warn_unverified(&post, admin, inbound, ticket_id)?;
        }
        tx.commit()?;
        Ok((ticket_id, outcome))
    }

    /// Record a mail as history without answering it (`run --backfill`):
    /// the mail that was in the mailbox before mfa-desk was switched on.
    pub fn import_history(&mut self, fetched: &Fetched, now: i64) -> Result<bool, DeskError> {
        let inbound = parse(&fetched.raw);
        let verdict = classify(&inbound, &self.config.rules);
        let key = inbound.dedup_key();
        let tx = self.store.begin()?;
        let new = tx.insert_message(&record(&key, fetched, &inbound, &verdict, None, now))?;
        tx.commit()?;
        Ok(new)
    }

    /// Whether mfa-desk has never watched this mailbox (first start).
    pub fn is_new(&self) -> Result<bool, StoreError> {
        Ok(self.store.meta("mailbox_started")?.is_none() && self.store.count("messages")? == 0)
    }

    /// Remember that the mailbox is watched from now on: mail that arrives
    /// later is new mail, to be answered.
    pub fn mark_started(&self, now: i64) -> Result<(), StoreError> {
        if self.store.meta("mailbox_started")?.is_none() {
            self.store.set_meta("mailbox_started", &now.to_string())?;
        }
        Ok(())
    }

    /// Tell the admins the mailbox has been unreachable (mfa-desk cannot see
    /// new mail, so employees get no answer until it is fixed).
    pub fn alert_admins_mailbox_down(
        &mut self,
        secs: u64,
        error: &str,
        now: i64,
    ) -> Result<(), DeskError> {
        let text = format!(
            "mfa-desk has not been able to read the support mailbox for {} minutes.\n\n\
             The last error was: {error}\n\n\
             Until this is fixed, employees who write to {} get no answer.\n\
             Check the mailbox server and the [mailbox] settings, then run `mfa-desk check`.\n",
            secs / 60,
            self.config.support.address
        );
        self.alert_admins(
            "mailbox_down",
            "[mfa-desk] The support mailbox is unreachable",
            &text,
            now,
        )
    }

    /// Tell the admins a mail could not be handled and was put aside on the
    /// server, so a person reads it there.
    pub fn alert_admins_quarantined(
        &mut self,
        folder: &str,
        error: &str,
        now: i64,
    ) -> Result<(), DeskError> {
        let text = format!(
            "mfa-desk could not handle a mail in the support mailbox and put it aside\n\
             in the folder \"{folder}\" (or flagged it $MfaDeskQuarantine).\n\n\
             What went wrong: {error}\n\n\
             Please read it there and answer the employee from your mail client.\n"
        );
        self.alert_admins(
            "quarantined",
            "[mfa-desk] A mail could not be handled",
            &text,
            now,
        )
    }

    fn alert_admins(
        &mut self,
        kind: &str,
        subject: &str,
        text: &str,
        now: i64,
    ) -> Result<(), DeskError> {
        let tx = self.store.begin()?;
        let post = Post {
            config: &self.config,
            secret: &self.secret,
            tx: &tx,
            now,
            backlog: false,
        };
        for admin in &self.config.support.admins {
            post.to_admin(
                None,
                admin,
                &Letter {
                    kind,
                    subject,
                    text,
                    html: None,
                    auto: AutoSubmitted::AutoGenerated,
                },
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// When the normal path failed: keep the mail and open a ticket a person will see.
    fn commit_for_person(
        &mut self,
        fetched: &Fetched,
        key: &str,
        inbound: &Inbound,
        verdict: &Verdict,
        why: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let tx = self.store.begin()?;
        let id = tx.create_ticket(&new_ticket(
            inbound,
            verdict,
            Status::Open,
            Priority::for_category(verdict.category),
            None,
            now,
        ))?;
        tx.add_event(
            id,
            now,
            "needs_person",
            "mfa-desk",
            &serde_json::json!({"why": why, "problems": inbound.problems}),
        )?;
        tx.insert_message(&record(key, fetched, inbound, verdict, Some(id), now))?;
        tx.commit()?;
        Ok(id)
    }
}

/// The part of handling a mail that needs no store and no other mail:
/// parse, classify, look for secrets. It is pure, so a batch is prepared on
/// another thread while the store records the mails before it.
pub struct Prepared<'a> {
    fetched: &'a Fetched,
    inbound: Inbound,
    key: String,
    verdict: Verdict,
    scan: SecretScan,
    started: Instant,
}

impl<'a> Prepared<'a> {
    pub fn new(fetched: &'a Fetched, rules: &Rules) -> Prepared<'a> {
        let started = Instant::now();
        let inbound = parse(&fetched.raw);
        let key = inbound.dedup_key();
        let verdict = classify(&inbound, rules);
        let scan = SecretScan::new(&inbound, &fetched.raw);
        Prepared {
            fetched,
            inbound,
            key,
            verdict,
            scan,
            started,
        }
    }
}

/// One-time codes, passwords and recovery codes found in the mail's texts
/// (masked copies), and enrolment QR codes among its images. Found before
/// it is known who sent the mail; applied unless a verified admin did.
struct SecretScan {
    /// Subject, new text and quoted text, masked.
    masked: [Masked; 3],
    qr_images: Vec<String>,
}

impl SecretScan {
    fn new(inbound: &Inbound, raw: &[u8]) -> SecretScan {
        SecretScan {
            masked: [
                mask_secrets(&inbound.subject),
                mask_secrets(&inbound.new_text),
                mask_secrets(&inbound.quoted_text),
            ],
            qr_images: otp_qr_attachments(raw),
        }
    }

    /// Put the masked texts in what is kept of the mail, and say so.
    fn apply(self, inbound: &mut Inbound) -> Secrets {
        let mut found = Secrets::default();
        let texts = [
            &mut inbound.subject,
            &mut inbound.new_text,
            &mut inbound.quoted_text,
        ];
        for (text, m) in texts.into_iter().zip(self.masked) {
            for kind in m.found {
                if !found.masked.contains(&kind) {
                    found.masked.push(kind);
                }
            }
            *text = m.text;
        }
        found.qr_images = self.qr_images;
        if !found.masked.is_empty() {
            inbound.problems.push(format!(
                "the mail held a {}; it was masked in everything mfa-desk keeps",
                found.masked.join(", ")
            ));
        }
        if !found.qr_images.is_empty() {
            inbound.problems.push(format!(
                "the mail held an enrolment QR code ({}); the raw mail was not kept and the employee must enrol again",
                found.qr_images.join(", ")
            ));
        }
        found
    }
}

/// Why no automatic mail may go to the ticket's employee now, if so:
/// the address bounced, or the reply limits (per ticket, per recipient,
/// per day) are reached.
fn auto_reply_blocked(
    tx: &Tx<'_>,
    config: &Config,
    ticket: &Ticket,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let to = &ticket.requester;
    if let Some(reason) = tx.suppressed(to, now)? {
        return Ok(Some(format!(
            "{to} gets no automatic mail for now ({reason})"
        )));
    }
    let l = &config.limits;
    let checks = [
        (
            tx.auto_mail_count(to, now - 600, Some(ticket.id))?,
            l.per_ticket_10min,
            "on this ticket in 10 minutes",
        ),
        (
            tx.auto_mail_count(to, now - 600, None)?,
            l.per_recipient_10min,
            "in 10 minutes",
        ),
        (
            tx.auto_mail_count(to, now - 86_400, None)?,
            l.per_recipient_day,
            "in a day",
        ),
    ];
    Ok(checks
        .iter()
        .find(|(n, max, _)| n >= max)
        .map(|(n, _, span)| format!("{n} automatic replies to {to} {span}")))
}

/// Round robin among the admins on duty; a category can be pinned to one.
fn next_owner(
    config: &Config,
    tx: &Tx<'_>,
    category: Category,
) -> Result<Option<String>, StoreError> {
    if let Some(pinned) = config.routing.pin.get(category.as_str()) {
        return Ok(Some(pinned.clone()));
    }
    let on_duty: Vec<&Admin> = config.support.admins.iter().filter(|a| a.on_duty).collect();
    if on_duty.is_empty() {
        return Ok(None);
    }
    let last: usize = tx
        .meta("round_robin")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let next = last.wrapping_add(1) % on_duty.len();
    tx.set_meta("round_robin", &next.to_string())?;
    Ok(Some(on_duty[next].address.clone()))
}

/// Render and post one planned mail.
#[allow(clippy::too_many_arguments)]
fn send_plan(
    post: &Post<'_>,
    guides: &Guides,
    schedule: &Schedule,
    ticket: &Ticket,
    inbound: &Inbound,
    verdict: &Verdict,
    plan: &MailPlan,
    history: &str,
    notice: &str,
) -> Result<(), DeskError> {
    let config = post.config;
    let follow_up = plan.to == Audience::Admins && ticket.created_at != post.now;
    let guide_subject = ticket
        .category
        .has_guide()
        .then(|| format!("{} ({})", ticket.category, ticket.tag()));
    let mut ctx = context(
        &config.support,
        &config.mfa,
        &ticket.tag(),
        ticket.requester_name.as_deref(),
        &ticket.subject,
        admin_extra(
            verdict,
            &ticket.requester,
            &inbound.new_text,
            guide_subject.as_deref(),
            follow_up,
        ),
    );
    add_hours(&mut ctx, schedule, post.now);
    if let Some(obj) = ctx.as_object_mut() {
        obj.insert(
            "history".into(),
            serde_json::Value::String(history.to_string()),
        );
    }
    match plan.to {
        Audience::Requester => {
            let r = guides.render(plan.kind.template(), ticket.language, &ctx)?;
            // What happened to a secret they sent comes first: it is what they must act on.
            let text = if notice.is_empty() {
                r.text
            } else {
                format!("{notice}\n\n{}", r.text)
            };
            post.to_requester(
                ticket,
                &Letter {
                    kind: plan.kind.as_str(),
                    subject: &r.subject,
                    text: &text,
                    html: r.html.as_deref(),
                    auto: AutoSubmitted::AutoReplied,
                },
            )
        }
        Audience::Admins => {
            let r = guides.render_admin(plan.kind.template(), &ctx)?;
            // Alerts go to everyone at once; other notices to the owner.
            let everyone = plan.kind == MailKind::SecurityAlert || ticket.owner.is_none();
            for admin in config.support.admins.iter().filter(|a| {
                if everyone {
                    a.on_duty || plan.kind == MailKind::SecurityAlert
                } else {
                    ticket
                        .owner
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(&a.address))
                }
            }) {
                post.to_admin(
                    Some(ticket),
                    admin,
                    &Letter {
                        kind: plan.kind.as_str(),
                        subject: &r.subject,
                        text: &r.text,
                        html: r.html.as_deref(),
                        auto: AutoSubmitted::AutoGenerated,
                    },
                )?;
            }
            Ok(())
        }
    }
}

/// Out-of-hours values for the templates (`hours.closed`, `hours.next_open_*`).
fn add_hours(ctx: &mut serde_json::Value, schedule: &Schedule, now: i64) {
    let at = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let closed = !schedule.is_open(at);
    let next = schedule.next_open(at);
    const JA_DAYS: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];
    let ja_day = JA_DAYS[next.weekday().to_monday_zero_offset() as usize];
    if let Some(obj) = ctx.as_object_mut() {
        obj.insert(
            "hours".into(),
            serde_json::json!({
                "closed": closed,
                "next_open_ja": format!("{}月{}日({}) {}", next.month(), next.day(), ja_day, next.strftime("%-H:%M")),
                "next_open_en": next.strftime("%a %-d %b, %-H:%M").to_string(),
            }),
        );
    }
}

/// The ticket's history as lines for the admin notices.
fn history_text(tx: &Tx<'_>, ticket: i64) -> Result<String, StoreError> {
    Ok(tx
        .events(ticket)?
        .iter()
        .map(|e| {
            let when = jiff::Timestamp::from_second(e.at)
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            format!("{when}  {:<22} {}", e.kind, e.actor)
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A mail claimed an admin's address but proved nothing: tell the admins.
fn warn_unverified(
    post: &Post<'_>,
    admin: &Admin,
    inbound: &Inbound,
    ticket: Option<i64>,
) -> Result<(), DeskError> {
    let text = format!(
        "A mail arrived with the From address of {} <{}>, but mfa-desk could not verify it:\n\
         it does not answer a notice mfa-desk sent to that admin, and no trusted\n\
         Authentication-Results header confirms it. It was treated as an employee's mail:\n\
         no command was run and nothing was relayed.{}\n\n\
         Subject: {}\n\n\
         If you sent it, answer the ticket by replying to the notice mfa-desk sent you.\n\
         If you did not, someone may be forging an admin's address.\n",
        admin.name,
        admin.address,
        ticket
            .map(|t| format!(" It was filed under {}.", tag(t)))
            .unwrap_or_default(),
        inbound.subject.replace(['\r', '\n'], " "),
    );
    for a in &post.config.support.admins {
        post.to_admin(
            None,
            a,
            &Letter {
                kind: "unverified_admin",
                subject: "[mfa-desk] A mail with an admin's address could not be verified",
                text: &text,
                html: None,
                auto: AutoSubmitted::AutoGenerated,
            },
        )?;
    }
    Ok(())
}

/// The ticket a mail opens: its sender, subject, category and language.
fn new_ticket<'a>(
    inbound: &'a Inbound,
    verdict: &Verdict,
    status: Status,
    priority: Priority,
    owner: Option<&'a str>,
    now: i64,
) -> NewTicket<'a> {
    NewTicket {
        requester: &inbound.from_addr,
        requester_name: inbound.from_name.as_deref(),
        subject: &inbound.subject,
        category: verdict.category,
        language: verdict.language,
        status,
        priority,
        owner,
        now,
    }
}

fn record<'a>(
    key: &'a str,
    fetched: &'a Fetched,
    inbound: &'a Inbound,
    verdict: &'a Verdict,
    ticket_id: Option<i64>,
    now: i64,
) -> MessageRecord<'a> {
    MessageRecord {
        dedup_key: key,
        source_ref: &fetched.source_ref,
        ticket_id,
        from_addr: &inbound.from_addr,
        subject: &inbound.subject,
        new_text: &inbound.new_text,
        category: verdict.category,
        action: verdict.action.as_str(),
        language: verdict.language,
        confidence: verdict.confidence,
        matched: &verdict.matched,
        problems: &inbound.problems,
        raw: (!fetched.raw.is_empty()).then_some(&fetched.raw[..]),
        received_at: now,
    }
}

/// Whether the verdict says this is machine mail (never acted upon).
fn is_machine(verdict: &Verdict) -> bool {
    verdict.action == Action::Ignore
}

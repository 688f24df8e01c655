//! The worker: wires the steps together for one message — parse, classify,
//! find the thread, decide, render, and commit it all in one transaction.
//! This is the only place that knows the order of the steps.

use crate::classify::classify;
use crate::config::Config;
use crate::parse::{Inbound, parse};
use crate::reply::compose::{AutoSubmitted, ComposeError, Draft, compose};
use crate::reply::templates::{Guides, TemplateError, admin_extra, context};
use crate::source::Fetched;
use crate::store::{MessageRecord, NewTicket, Store, StoreError, Tx};
use crate::ticket::{Status, Ticket, parse_tag, tag};
use crate::verdict::{Category, Verdict};
use crate::workflow::{self, Audience, Decision, MailKind, MailPlan};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
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
}

impl Desk {
    pub fn new(config: Config, guides: Guides, store: Store) -> Desk {
        Desk {
            config,
            guides,
            store,
        }
    }

    /// Handle one fetched mail. On `Ok`, its effects are committed and the
    /// source may mark it handled.
    pub fn process(&mut self, fetched: &Fetched, now: i64) -> Result<Processed, DeskError> {
        let started = Instant::now();
        let inbound = parse(&fetched.raw);
        let key = inbound.dedup_key();
        if self.store.seen(&key)? {
            return Ok(Processed {
                ticket: None,
                category: Category::Other,
                outcome: Outcome::Duplicate,
                millis: started.elapsed().as_millis(),
            });
        }
        let verdict = classify(&inbound, &self.config.rules);
        let thread = self.find_thread(&inbound)?;
        let decision = workflow::decide(&inbound, &verdict, thread.as_ref());
        let result = self.commit(fetched, &inbound, &verdict, &decision, now);
        let (ticket, outcome) = match result {
            Ok(v) => v,
            Err(DeskError::Store(e)) => return Err(DeskError::Store(e)),
            // A guide that fails to render must not lose the mail: a person gets it.
            Err(e) => {
                tracing::error!(error = %e, from = %inbound.from_addr, "cannot answer this mail; queued for a person");
                let ticket =
                    self.commit_for_person(fetched, &inbound, &verdict, &e.to_string(), now)?;
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

    /// The ticket a mail belongs to: by the Message-IDs it answers first, then
    /// by the `[MFA-n]` tag, which counts only from the ticket's own requester
    /// (anyone can quote a tag; see zammad#5064).
    fn find_thread(&self, inbound: &Inbound) -> Result<Option<Ticket>, StoreError> {
        let mut ids: Vec<String> = inbound.references.clone();
        ids.extend(inbound.in_reply_to.iter().cloned());
        if let Some((id, _audience)) = self.store.ticket_by_thread_ids(&ids)? {
            return self.store.ticket(id);
        }
        if let Some(id) = subject_tag(&inbound.subject)
            && let Some(t) = self.store.ticket(id)?
            && t.requester.eq_ignore_ascii_case(&inbound.from_addr)
        {
            return Ok(Some(t));
        }
        Ok(None)
    }

    fn commit(
        &mut self,
        fetched: &Fetched,
        inbound: &Inbound,
        verdict: &Verdict,
        decision: &Decision,
        now: i64,
    ) -> Result<(Option<i64>, Outcome), DeskError> {
        let Desk {
            config,
            guides,
            store,
        } = self;
        let tx = store.begin()?;
        let (ticket_id, outcome) = match decision {
            Decision::Ignore { .. } => (None, Outcome::Ignored),
            Decision::Open {
                status, priority, ..
            } => {
                let id = tx.create_ticket(&NewTicket {
                    requester: &inbound.from_addr,
                    requester_name: inbound.from_name.as_deref(),
                    subject: &inbound.subject,
                    category: verdict.category,
                    language: verdict.language,
                    status: *status,
                    priority: *priority,
                    owner: None,
                    now,
                })?;
                tx.add_event(
                    id,
                    now,
                    "opened",
                    &inbound.from_addr,
                    &serde_json::json!({
                        "category": verdict.category, "action": verdict.action,
                        "confidence": verdict.confidence, "matched": verdict.matched,
                        "problems": inbound.problems,
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
                    t.status = *status;
                    t.resolution = resolution.clone();
                    t.updated_at = now;
                    t.resolved_at = (*status == Status::Resolved).then_some(now);
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
        let inserted = tx.insert_message(&record(
            &inbound.dedup_key(),
            fetched,
            inbound,
            verdict,
            ticket_id,
            now,
        ))?;
        if !inserted {
            // Another run recorded it between our check and now: do nothing twice.
            return Ok((None, Outcome::Duplicate));
        }
        if let (Some(t), Some(mid)) = (ticket_id, &inbound.message_id) {
            tx.remember_thread_id(mid, t, "in", "requester")?;
        }
        if let Some(t) = ticket_id {
            let ticket = tx.ticket(t)?;
            if let Some(ticket) = ticket {
                for plan in decision.mails() {
                    queue_mail(config, guides, &tx, &ticket, inbound, verdict, plan, now)?;
                }
            }
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
        let support = &self.config.support;
        let to: Vec<String> = support.admins.iter().map(|a| a.address.clone()).collect();
        let message_id = new_message_id(0, &support.address);
        let from = format!("{} <{}>", quoted_name(&support.team_name), support.address);
        let text = format!(
            "mfa-desk has not been able to read the support mailbox for {} minutes.\n\n\
             The last error was: {error}\n\n\
             Until this is fixed, employees who write to {} get no answer.\n\
             Check the mailbox server and the [mailbox] settings, then run `mfa-desk check`.\n",
            secs / 60,
            support.address
        );
        let raw = compose(&Draft {
            from: &from,
            to: &to,
            subject: "[mfa-desk] The support mailbox is unreachable",
            text: &text,
            html: None,
            message_id: &message_id,
            in_reply_to: None,
            references: &[],
            auto_submitted: AutoSubmitted::AutoGenerated,
            extra_headers: &[],
        })?;
        let tx = self.store.begin()?;
        tx.queue_mail(
            None,
            &message_id,
            "mailbox_down",
            "admins",
            &support.address,
            &to,
            &raw,
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// When the normal path failed: keep the mail and open a ticket a person will see.
    fn commit_for_person(
        &mut self,
        fetched: &Fetched,
        inbound: &Inbound,
        verdict: &Verdict,
        why: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let tx = self.store.begin()?;
        let id = tx.create_ticket(&NewTicket {
            requester: &inbound.from_addr,
            requester_name: inbound.from_name.as_deref(),
            subject: &inbound.subject,
            category: verdict.category,
            language: verdict.language,
            status: Status::Open,
            priority: crate::ticket::Priority::for_category(verdict.category),
            owner: None,
            now,
        })?;
        tx.add_event(
            id,
            now,
            "needs_person",
            "mfa-desk",
            &serde_json::json!({"why": why, "problems": inbound.problems}),
        )?;
        tx.insert_message(&record(
            &inbound.dedup_key(),
            fetched,
            inbound,
            verdict,
            Some(id),
            now,
        ))?;
        tx.commit()?;
        Ok(id)
    }
}

/// Render, compose and queue one planned mail inside the transaction.
#[allow(clippy::too_many_arguments)]
fn queue_mail(
    config: &Config,
    guides: &Guides,
    tx: &Tx<'_>,
    ticket: &Ticket,
    inbound: &Inbound,
    verdict: &Verdict,
    plan: &MailPlan,
    now: i64,
) -> Result<(), DeskError> {
    let support = &config.support;
    let follow_up = !matches!(plan.kind, MailKind::SecurityAlert)
        && ticket.created_at != now
        && plan.to == Audience::Admins;
    let guide_subject = ticket.category.has_guide().then(|| ticket.subject.clone());
    let extra = admin_extra(
        verdict,
        &ticket.requester,
        &inbound.new_text,
        guide_subject.as_deref(),
        follow_up,
    );
    let ctx = context(
        support,
        &config.mfa,
        &ticket.tag(),
        ticket.requester_name.as_deref(),
        &inbound.subject,
        extra,
    );
    let (rendered, to): (_, Vec<String>) = match plan.to {
        Audience::Requester => (
            guides.render(plan.kind.template(), ticket.language, &ctx)?,
            vec![ticket.requester.clone()],
        ),
        Audience::Admins => (
            guides.render_admin(plan.kind.template(), &ctx)?,
            support.admins.iter().map(|a| a.address.clone()).collect(),
        ),
    };
    let subject = tagged_subject(&ticket.tag(), &rendered.subject);
    let message_id = new_message_id(ticket.id, &support.address);
    let (in_reply_to, references) = match plan.to {
        Audience::Requester => {
            let mut refs = inbound.references.clone();
            refs.extend(inbound.message_id.clone());
            (inbound.message_id.clone(), refs)
        }
        Audience::Admins => (None, vec![]),
    };
    let from = format!("{} <{}>", quoted_name(&support.team_name), support.address);
    let auto_submitted = if plan.kind.is_auto_reply() {
        AutoSubmitted::AutoReplied
    } else {
        AutoSubmitted::AutoGenerated
    };
    let raw = compose(&Draft {
        from: &from,
        to: &to,
        subject: &subject,
        text: &rendered.text,
        html: rendered.html.as_deref(),
        message_id: &message_id,
        in_reply_to: in_reply_to.as_deref(),
        references: &references,
        auto_submitted,
        extra_headers: &[("X-MFA-Desk-Ticket".to_string(), ticket.tag())],
    })?;
    tx.queue_mail(
        Some(ticket.id),
        &message_id,
        plan.kind.as_str(),
        plan.to.as_str(),
        &support.address,
        &to,
        &raw,
        now,
    )?;
    Ok(())
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
        raw: Some(&fetched.raw),
        received_at: now,
    }
}

/// A display name as an RFC 5322 quoted string (team names hold parentheses).
fn quoted_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    format!("\"{}\"", clean.replace('\\', ""))
}

/// `[MFA-12]` anywhere in a subject.
pub fn subject_tag(subject: &str) -> Option<i64> {
    let start = subject.find("[MFA-")?;
    let rest = &subject[start + 1..];
    let end = rest.find(']')?;
    parse_tag(&rest[..end])
}

/// The subject with the ticket tag once, and no piled-up prefixes.
pub fn tagged_subject(tag: &str, subject: &str) -> String {
    let one_line: String = subject
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    if one_line.contains(&format!("[{tag}]")) {
        one_line.trim().to_string()
    } else {
        format!("[{tag}] {}", one_line.trim())
    }
}

/// A fresh, unguessable Message-ID (128 random bits) naming its ticket.
pub fn new_message_id(ticket: i64, support_address: &str) -> String {
    let domain = support_address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("mfa-desk.invalid");
    let mut bytes = [0u8; 16];
    // getrandom failing means the OS has no entropy source: fall back to time
    // and pid, still unique, and log it loudly.
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("the operating system gave no random bytes; Message-IDs are less secret");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("mfa-{ticket}.{hex}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags_are_found_and_not_piled_up() {
        assert_eq!(subject_tag("Re: [MFA-12] コードが届かない"), Some(12));
        assert_eq!(subject_tag("no tag"), None);
        assert_eq!(tagged_subject("MFA-12", "Re: [MFA-12] x"), "Re: [MFA-12] x");
        assert_eq!(
            tagged_subject("MFA-3", "x\r\nBcc: evil@x"),
            "[MFA-3] x  Bcc: evil@x"
        );
    }

    #[test]
    fn message_ids_are_unique() {
        let a = new_message_id(1, "support@example.co.jp");
        let b = new_message_id(1, "support@example.co.jp");
        assert_ne!(a, b);
        assert!(a.ends_with("@example.co.jp"));
    }
}

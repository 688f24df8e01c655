//! An admin's reply to a ticket (by mail) or an admin's command (by CLI):
//! the same commands, the same code, the same record.

use super::outgoing::{Letter, Post, admin_audience, reply_subject};
use super::{Desk, DeskError, Outcome, is_machine, record};
use crate::config::Admin;
use crate::parse::Inbound;
use crate::reply::compose::AutoSubmitted;
use crate::reply::templates::{Guides, context};
use crate::source::Fetched;
use crate::store::Tx;
use crate::ticket::{Ticket, parse_tag};
use crate::verdict::Verdict;
use crate::workflow::admin::{AdminChange, apply};
use crate::workflow::commands::{self, HELP};
use crate::workflow::hours::Schedule;

impl Desk {
    /// A verified admin's mail in a ticket's thread: commands change the
    /// ticket, the new text (quotes removed) goes to the employee.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_admin(
        &mut self,
        fetched: &Fetched,
        key: &str,
        inbound: &Inbound,
        verdict: &Verdict,
        ticket: &Ticket,
        admin: &Admin,
        now: i64,
    ) -> Result<(Option<i64>, Outcome), DeskError> {
        let Desk {
            config,
            guides,
            store,
            secret,
            schedule,
        } = self;
        let tx = store.begin()?;
        if !tx.insert_message(&record(
            key,
            fetched,
            inbound,
            verdict,
            Some(ticket.id),
            now,
        ))? {
            return Ok((None, Outcome::Duplicate));
        }
        // An admin's out-of-office answering our notice is not an answer.
        if is_machine(verdict) {
            tx.add_event(
                ticket.id,
                now,
                "auto_reply_received",
                &admin.address,
                &serde_json::json!({}),
            )?;
            tx.commit()?;
            return Ok((Some(ticket.id), Outcome::Ignored));
        }
        if let Some(mid) = &inbound.message_id {
            tx.remember_thread_id(mid, ticket.id, "in", &admin_audience(&admin.address))?;
        }
        let post = Post {
            config,
            secret,
            tx: &tx,
            now,
            backlog: fetched.backlog,
        };
        match apply_and_relay(
            guides,
            schedule,
            &post,
            &tx,
            ticket,
            admin,
            &inbound.new_text,
            now,
        )? {
            Ok(_) => {}
            Err(problem) => {
                tx.add_event(
                    ticket.id,
                    now,
                    "admin_command_rejected",
                    &admin.address,
                    &serde_json::json!({"problem": problem}),
                )?;
                let text = format!(
                    "Your reply to {} was not applied, and nothing was sent to the employee:\n\n\
                     {problem}\n\n\
                     Commands go on lines of their own at the very top of your reply:\n\n{HELP}\n\n\
                     Reply to the ticket's notice again with the corrected commands.\n",
                    ticket.tag()
                );
                post.to_admin(
                    Some(ticket),
                    admin,
                    &Letter {
                        kind: "command_help",
                        subject: &format!("Re: [{}] Command not understood", ticket.tag()),
                        text: &text,
                        html: None,
                        auto: AutoSubmitted::AutoReplied,
                    },
                )?;
            }
        }
        tx.commit()?;
        Ok((Some(ticket.id), Outcome::AdminReply))
    }

    /// `mfa-desk resolve|assign|note|…` from a shell: the same commands as
    /// by mail, acting as `actor` (an admin's name or address).
    pub fn admin_command(
        &mut self,
        ticket: &str,
        actor: &str,
        text: &str,
        now: i64,
    ) -> Result<Ticket, DeskError> {
        let id = parse_tag(ticket).ok_or_else(|| {
            DeskError::Invalid(format!(
                "`{ticket}` is not a ticket number; write it like MFA-12"
            ))
        })?;
        let current = self.store.ticket(id)?.ok_or_else(|| {
            DeskError::Invalid(format!(
                "there is no ticket {ticket}; `mfa-desk queue` lists them"
            ))
        })?;
        let admin = crate::workflow::admin::find_admin(&self.config.support.admins, actor)
            .cloned()
            .ok_or_else(|| {
                DeskError::Invalid(format!(
                    "`{actor}` is not one of the admins in the config ([[support.admins]])"
                ))
            })?;
        let Desk {
            config,
            guides,
            store,
            secret,
            schedule,
        } = self;
        let tx = store.begin()?;
        let post = Post {
            config,
            secret,
            tx: &tx,
            now,
            backlog: false,
        };
        let change = apply_and_relay(guides, schedule, &post, &tx, &current, &admin, text, now)?
            .map_err(DeskError::Invalid)?;
        tx.commit()?;
        Ok(change.ticket)
    }
}

/// Parse commands, apply them, save, and relay the text. `Ok(Err(..))`
/// is a problem the admin must fix (unknown command), said in plain words.
#[allow(clippy::too_many_arguments)]
fn apply_and_relay(
    guides: &Guides,
    schedule: &Schedule,
    post: &Post<'_>,
    tx: &Tx<'_>,
    ticket: &Ticket,
    admin: &Admin,
    text: &str,
    now: i64,
) -> Result<Result<AdminChange, String>, DeskError> {
    let parsed = match commands::parse(text) {
        Ok(p) => p,
        Err(bad) => {
            return Ok(Err(format!(
                "Unknown or incomplete command: {}",
                bad.join(", ")
            )));
        }
    };
    let change = match apply(ticket, admin, &parsed, &post.config.support.admins, now) {
        Ok(c) => c,
        Err(problem) => return Ok(Err(problem)),
    };
    tx.save_ticket(&change.ticket)?;
    for (kind, detail) in &change.events {
        tx.add_event(ticket.id, now, kind, &admin.address, detail)?;
    }
    if let Some(words) = &change.relay {
        let mut ctx = context(
            &post.config.support,
            &post.config.mfa,
            &ticket.tag(),
            ticket.requester_name.as_deref(),
            &ticket.subject,
            serde_json::json!({"relay": {"text": words}}),
        );
        super::add_hours(&mut ctx, schedule, now);
        let r = guides.render("relay", ticket.language, &ctx)?;
        post.to_requester(
            &change.ticket,
            &Letter {
                kind: "admin_reply",
                subject: &reply_subject(&ticket.tag(), &r.subject),
                text: &r.text,
                html: r.html.as_deref(),
                // A person wrote it: not an automatic reply (RFC 3834).
                auto: AutoSubmitted::No,
            },
        )?;
    }
    Ok(Ok(change))
}

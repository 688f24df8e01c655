//! Outgoing mail, written inside the inbound message's transaction: render
//! the template, compose RFC 5322 bytes, give it a verifiable Message-ID,
//! thread it into the right conversation, and put it in the outbox.

use super::DeskError;
use crate::config::{Admin, Config};
use crate::reply::compose::{AutoSubmitted, Draft, compose};
use crate::reply::templates::one_line;
use crate::store::Tx;
use crate::ticket::Ticket;
use crate::workflow::thread::{self, Secret};

/// Everything needed to post mail from inside one transaction.
pub struct Post<'a> {
    pub config: &'a Config,
    pub secret: &'a Secret,
    pub tx: &'a Tx<'a>,
    pub now: i64,
    /// Mail about a backlog mail (see `Fetched::backlog`) queues behind live mail.
    pub backlog: bool,
}

/// One mail to write: the words are decided, the envelope is not.
pub struct Letter<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    pub auto: AutoSubmitted,
}

/// The audience key under which a conversation's Message-IDs are kept.
pub fn admin_audience(admin: &str) -> String {
    format!("admin:{}", admin.to_ascii_lowercase())
}

pub const REQUESTER: &str = "requester";

impl Post<'_> {
    /// A mail to the ticket's employee, threaded after the last mail of
    /// their conversation.
    pub fn to_requester(&self, ticket: &Ticket, letter: &Letter<'_>) -> Result<(), DeskError> {
        self.send(Some(ticket), &ticket.requester, REQUESTER, letter)
    }

    /// A mail to one admin about a ticket, threaded with the earlier notices
    /// that admin got about it.
    pub fn to_admin(
        &self,
        ticket: Option<&Ticket>,
        admin: &Admin,
        letter: &Letter<'_>,
    ) -> Result<(), DeskError> {
        self.send(
            ticket,
            &admin.address,
            &admin_audience(&admin.address),
            letter,
        )
    }

    fn send(
        &self,
        ticket: Option<&Ticket>,
        to: &str,
        audience: &str,
        letter: &Letter<'_>,
    ) -> Result<(), DeskError> {
        let support = &self.config.support;
        let domain = support
            .address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("mfa-desk.invalid");
        let ticket_id = ticket.map(|t| t.id).unwrap_or(0);
        let message_id = thread::message_id(self.secret, ticket_id, to, &random_hex(), domain);
        let (subject, text, references) = match ticket {
            Some(t) => {
                let earlier = self.tx.thread_ids(t.id, audience)?;
                let text = format!(
                    "{}\n\n{}\n",
                    letter.text.trim_end(),
                    thread::marker(self.secret, t.id)
                );
                (tagged_subject(&t.tag(), letter.subject), text, earlier)
            }
            None => (
                one_line(letter.subject),
                letter.text.to_string(),
                Vec::new(),
            ),
        };
        // Long threads: the first and the last few ids are what clients use.
        let references: Vec<String> = if references.len() > 12 {
            let mut r = vec![references[0].clone()];
            r.extend(references[references.len() - 11..].iter().cloned());
            r
        } else {
            references
        };
        let from = format!("{} <{}>", quoted_name(&support.team_name), support.address);
        let recipients = [to.to_string()];
        let tag = ticket.map(|t| t.tag());
        let extra: Vec<(String, String)> = tag
            .iter()
            .map(|t| ("X-MFA-Desk-Ticket".to_string(), t.clone()))
            .collect();
        let raw = compose(&Draft {
            from: &from,
            to: &recipients,
            subject: &subject,
            text: &text,
            html: letter.html,
            message_id: &message_id,
            in_reply_to: references.last().map(String::as_str),
            references: &references,
            auto_submitted: letter.auto,
            extra_headers: &extra,
        })?;
        self.tx.queue_mail(
            ticket.map(|t| t.id),
            &message_id,
            letter.kind,
            audience,
            &support.address,
            &recipients,
            &raw,
            self.now,
            self.backlog,
        )?;
        Ok(())
    }
}

/// A display name as an RFC 5322 quoted string (team names hold parentheses).
fn quoted_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    format!("\"{clean}\"")
}

/// The subject without another ticket's `[MFA-n]` tag: a mail that quoted
/// somebody else's tag ("Re: [MFA-1] I have the same problem") opened a
/// ticket of its own, and its employee must not see, or answer under, the
/// other ticket's number.
fn without_other_tags(tag: &str, subject: &str) -> String {
    let mut out = String::new();
    let mut rest = subject;
    while let Some(at) = rest.find("[MFA-") {
        let after = &rest[at + 5..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let is_tag = digits > 0 && after[digits..].starts_with(']');
        let token = &rest[at..at + 5 + digits + usize::from(is_tag)];
        out.push_str(&rest[..at]);
        if !is_tag || token[1..token.len() - 1] == *tag {
            out.push_str(token);
        }
        rest = &rest[at + token.len()..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The subject with the ticket tag exactly once, on one line.
pub fn tagged_subject(tag: &str, subject: &str) -> String {
    let flat = without_other_tags(tag, &one_line(subject));
    if flat.contains(&format!("[{tag}]")) {
        flat
    } else {
        format!("[{tag}] {flat}").trim_end().to_string()
    }
}

/// The subject of a reply in a ticket's thread: `Re: [MFA-12] <topic>`,
/// never `Re: RE: AW: …`.
pub fn reply_subject(tag: &str, subject: &str) -> String {
    let base = thread::base_subject(&without_other_tags(tag, &one_line(subject)));
    format!("Re: [{tag}] {base}").trim_end().to_string()
}

/// 128 random bits, hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source: still unique (time and pid), logged loudly.
        tracing::error!("the operating system gave no random bytes; Message-IDs are less secret");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_carry_the_tag_once() {
        assert_eq!(
            tagged_subject("MFA-3", "[MFA-3] 機種変更の手順"),
            "[MFA-3] 機種変更の手順"
        );
        assert_eq!(tagged_subject("MFA-3", "Phone lost"), "[MFA-3] Phone lost");
        assert_eq!(
            tagged_subject("MFA-3", "x\r\nBcc: evil@x"),
            "[MFA-3] x Bcc: evil@x"
        );
        assert_eq!(
            reply_subject("MFA-12", "RE: AW: Re[2]: [MFA-12] コード"),
            "Re: [MFA-12] コード"
        );
    }

    #[test]
    fn another_tickets_tag_is_dropped() {
        assert_eq!(
            tagged_subject("MFA-2", "Code help (Re: [MFA-1] I have the same problem)"),
            "[MFA-2] Code help (Re: I have the same problem)"
        );
        assert_eq!(
            tagged_subject("MFA-12", "[MFA-1] [MFA-12] x [MFA-] [MFA-3 ref:ab]"),
            "[MFA-12] x [MFA-] [MFA-3 ref:ab]"
        );
        assert_eq!(
            reply_subject("MFA-2", "Re: [MFA-1] same"),
            "Re: [MFA-2] same"
        );
        assert_eq!(
            tagged_subject("MFA-3", "[MFA-3] 機種変更"),
            "[MFA-3] 機種変更"
        );
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_hex(), random_hex());
        assert_eq!(random_hex().len(), 32);
    }
}

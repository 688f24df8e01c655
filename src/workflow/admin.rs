//! What an admin's reply (or a CLI command) does to a ticket: apply the
//! commands in order, and decide whether the text goes to the employee.
//! Pure: the worker commits the result.

use super::commands::{Command, Parsed};
use crate::config::Admin;
use crate::ticket::{Status, Ticket};

/// The changed ticket, the history lines to add, and the text to relay.
#[derive(Debug, Clone)]
pub struct AdminChange {
    pub ticket: Ticket,
    pub events: Vec<(&'static str, serde_json::Value)>,
    /// The admin's words for the employee; `None` for notes and bare commands.
    pub relay: Option<String>,
}

/// Apply an admin's commands and text to `ticket`. Errors name what is
/// wrong in plain words (an unknown admin in `#assign`).
pub fn apply(
    ticket: &Ticket,
    actor: &Admin,
    parsed: &Parsed,
    admins: &[Admin],
    now: i64,
) -> Result<AdminChange, String> {
    let mut t = ticket.clone();
    let mut events = Vec::new();
    let mut is_note = false;
    for c in &parsed.commands {
        match c {
            Command::Note => is_note = true,
            Command::Resolve => {
                t.status = Status::Resolved;
                t.resolution = Some("admin".into());
                t.resolved_at = Some(now);
                events.push(("resolved", serde_json::json!({})));
            }
            Command::Reopen => {
                t.status = Status::Open;
                t.resolution = None;
                t.resolved_at = None;
                events.push(("reopened", serde_json::json!({})));
            }
            Command::Wait => {
                t.status = Status::Waiting;
                events.push(("waiting", serde_json::json!({})));
            }
            Command::Priority(p) => {
                events.push(("priority", serde_json::json!({"from": t.priority, "to": p})));
                t.priority = *p;
            }
            Command::Assign(who) => {
                let Some(admin) = find_admin(admins, who) else {
                    let names: Vec<String> = admins
                        .iter()
                        .map(|a| format!("{} <{}>", a.name, a.address))
                        .collect();
                    return Err(format!(
                        "`#assign {who}`: no admin of that name or address (admins: {})",
                        names.join(", ")
                    ));
                };
                t.owner = Some(admin.address.clone());
                events.push(("assigned", serde_json::json!({"owner": admin.address})));
            }
        }
    }
    let text = parsed.text.trim();
    let relay = if is_note {
        if !text.is_empty() {
            events.push(("note", serde_json::json!({"text": text})));
        }
        None
    } else if text.is_empty() {
        None
    } else {
        // A person answered: that is the first response, if none came before.
        t.first_response_at.get_or_insert(now);
        if t.owner.is_none() {
            t.owner = Some(actor.address.clone());
        }
        events.push(("admin_reply", serde_json::json!({"text": text})));
        Some(text.to_string())
    };
    t.updated_at = now;
    Ok(AdminChange {
        ticket: t,
        events,
        relay,
    })
}

/// An admin by name (case-insensitive, spaces ignored), address, or the
/// address's local part.
pub fn find_admin<'a>(admins: &'a [Admin], who: &str) -> Option<&'a Admin> {
    let squash = |s: &str| s.split_whitespace().collect::<String>().to_lowercase();
    let w = squash(who);
    admins.iter().find(|a| {
        squash(&a.name) == w
            || a.address.eq_ignore_ascii_case(who.trim())
            || a.address
                .split('@')
                .next()
                .is_some_and(|l| l.eq_ignore_ascii_case(who.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::Priority;
    use crate::verdict::{Category, Language};
    use crate::workflow::commands::parse;

    fn admins() -> Vec<Admin> {
        vec![
            Admin {
                name: "佐藤 健".into(),
                address: "sato@example.co.jp".into(),
                on_duty: true,
            },
            Admin {
                name: "Alex Morgan".into(),
                address: "alex.morgan@example.co.jp".into(),
                on_duty: true,
            },
        ]
    }

    fn ticket() -> Ticket {
        Ticket {
            id: 3,
            requester: "taro@example.co.jp".into(),
            requester_name: None,
            subject: "s".into(),
            category: Category::PhoneLost,
            language: Language::Ja,
            status: Status::Open,
            priority: Priority::Urgent,
            owner: None,
            resolution: None,
            created_at: 0,
            updated_at: 0,
            first_response_at: None,
            resolved_at: None,
        }
    }

    #[test]
    fn a_reply_is_relayed_and_is_the_first_response() {
        let p = parse("Please call me at 10:00.").unwrap();
        let c = apply(&ticket(), &admins()[1], &p, &admins(), 100).unwrap();
        assert_eq!(c.relay.as_deref(), Some("Please call me at 10:00."));
        assert_eq!(c.ticket.first_response_at, Some(100));
        assert_eq!(c.ticket.owner.as_deref(), Some("alex.morgan@example.co.jp"));
    }

    #[test]
    fn a_note_is_not_relayed() {
        let p = parse("#note\nCalled him, identity checked.").unwrap();
        let c = apply(&ticket(), &admins()[0], &p, &admins(), 100).unwrap();
        assert!(c.relay.is_none());
        assert_eq!(c.events[0].0, "note");
        assert_eq!(c.ticket.first_response_at, None);
    }

    #[test]
    fn commands_change_the_ticket_in_order() {
        let p = parse("#assign alex morgan\n#priority low\n#resolve").unwrap();
        let c = apply(&ticket(), &admins()[0], &p, &admins(), 100).unwrap();
        assert_eq!(c.ticket.owner.as_deref(), Some("alex.morgan@example.co.jp"));
        assert_eq!(c.ticket.priority, Priority::Low);
        assert_eq!(c.ticket.status, Status::Resolved);
        assert_eq!(c.ticket.resolution.as_deref(), Some("admin"));
        assert!(c.relay.is_none());
    }

    #[test]
    fn assigning_a_stranger_is_refused() {
        let p = parse("#assign bob").unwrap();
        let err = apply(&ticket(), &admins()[0], &p, &admins(), 100).unwrap_err();
        assert!(err.contains("no admin"), "{err}");
    }
}

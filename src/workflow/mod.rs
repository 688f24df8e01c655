//! Workflow: what happens to a ticket when a mail arrives. A pure function of
//! the message, the classifier's verdict, the ticket it threads into (if any)
//! and the time; it returns a [`Decision`] that the worker commits.
//!
//! Every business rule lives here so it is tested with no network and no disk.

pub mod admin;
pub mod bounce;
pub mod commands;
pub mod feedback;
pub mod hours;
pub mod sender;
pub mod thread;

use crate::parse::Inbound;
use crate::ticket::{Priority, Status, Ticket};
use crate::verdict::{Action, Category, Verdict};
use feedback::Feedback;

/// A mail to write, decided here and rendered by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPlan {
    pub kind: MailKind,
    pub to: Audience,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The guide for a category, to the employee.
    Guide(Category),
    /// "We received it; a person will answer", to the employee.
    AckOther,
    /// "This ticket needs a person", to the admins.
    AdminNotify,
    /// "Possible attack / lost phone: act now", to the admins, at any hour.
    SecurityAlert,
}

impl MailKind {
    /// The template name under `replies/`.
    pub fn template(self) -> &'static str {
        match self {
            MailKind::Guide(c) => c.as_str(),
            MailKind::AckOther => "ack_other",
            MailKind::AdminNotify => "notify",
            MailKind::SecurityAlert => "security_alert",
        }
    }

    /// Mail to employees is automatic (RFC 3834 `auto-replied`); to admins it is a notice.
    pub fn is_auto_reply(self) -> bool {
        matches!(self, MailKind::Guide(_) | MailKind::AckOther)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Guide(_) => "guide",
            MailKind::AckOther => "ack",
            MailKind::AdminNotify => "admin_notify",
            MailKind::SecurityAlert => "security_alert",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Requester,
    Admins,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Requester => "requester",
            Audience::Admins => "admins",
        }
    }
}

/// What to do with one inbound mail.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Record it, answer nothing (auto-generated mail, or a duplicate notice).
    Ignore { reason: String },
    /// Open a new ticket.
    Open {
        status: Status,
        priority: Priority,
        mails: Vec<MailPlan>,
    },
    /// Add the mail to an existing ticket and change it.
    FollowUp {
        ticket_id: i64,
        status: Status,
        resolution: Option<String>,
        event: &'static str,
        mails: Vec<MailPlan>,
    },
}

impl Decision {
    pub fn mails(&self) -> &[MailPlan] {
        match self {
            Decision::Ignore { .. } => &[],
            Decision::Open { mails, .. } | Decision::FollowUp { mails, .. } => mails,
        }
    }
}

/// Decide. `thread` is the ticket this mail belongs to, found by the worker
/// from its references or subject tag.
pub fn decide(inbound: &Inbound, verdict: &Verdict, thread: Option<&Ticket>) -> Decision {
    if verdict.action == Action::Ignore {
        return Decision::Ignore {
            reason: format!("auto-generated ({})", verdict.matched.join(", ")),
        };
    }
    match thread {
        Some(ticket) => follow_up(inbound, verdict, ticket),
        None => open(verdict),
    }
}

fn open(verdict: &Verdict) -> Decision {
    let c = verdict.category;
    let mut mails = Vec::new();
    let status = match verdict.action {
        Action::AutoReply => {
            mails.push(to_requester(MailKind::Guide(c)));
            Status::AwaitingFeedback
        }
        Action::AutoReplyAndQueue => {
            mails.push(to_requester(MailKind::Guide(c)));
            mails.push(admin_mail(c));
            Status::Open
        }
        Action::SecurityAlert => {
            mails.push(to_requester(MailKind::Guide(c)));
            mails.push(admin_mail(c));
            Status::Open
        }
        Action::Queue | Action::Ignore => {
            mails.push(to_requester(MailKind::AckOther));
            mails.push(admin_mail(c));
            Status::Open
        }
    };
    Decision::Open {
        status,
        priority: Priority::for_category(c),
        mails,
    }
}

/// Attacks and lost phones get the alert (any hour); the rest a notification.
fn admin_mail(c: Category) -> MailPlan {
    let kind = match c {
        Category::UnexpectedPrompt | Category::PhoneLost => MailKind::SecurityAlert,
        _ => MailKind::AdminNotify,
    };
    MailPlan {
        kind,
        to: Audience::Admins,
    }
}

fn to_requester(kind: MailKind) -> MailPlan {
    MailPlan {
        kind,
        to: Audience::Requester,
    }
}

fn follow_up(inbound: &Inbound, verdict: &Verdict, ticket: &Ticket) -> Decision {
    let notify = MailPlan {
        kind: MailKind::AdminNotify,
        to: Audience::Admins,
    };
    // A new attack report inside an old thread must still raise the alarm.
    if verdict.category == Category::UnexpectedPrompt
        && ticket.category != Category::UnexpectedPrompt
    {
        return Decision::FollowUp {
            ticket_id: ticket.id,
            status: Status::Open,
            resolution: None,
            event: "security_alert",
            mails: vec![
                to_requester(MailKind::Guide(Category::UnexpectedPrompt)),
                admin_mail(Category::UnexpectedPrompt),
            ],
        };
    }
    // Only the employee who asked can close their ticket by saying it is
    // solved: from anyone else (a forged admin From carrying the tag, a
    // colleague the guide was forwarded to) it goes to a person instead.
    let from_requester = inbound.from_addr.eq_ignore_ascii_case(&ticket.requester);
    match (ticket.status, feedback::read(&inbound.new_text)) {
        (Status::AwaitingFeedback, Feedback::Solved) if from_requester => Decision::FollowUp {
            ticket_id: ticket.id,
            status: Status::Resolved,
            resolution: Some("self_service".into()),
            event: "feedback_solved",
            mails: vec![],
        },
        (Status::AwaitingFeedback, Feedback::NotSolved) => Decision::FollowUp {
            ticket_id: ticket.id,
            status: Status::Open,
            resolution: None,
            event: "feedback_not_solved",
            mails: vec![notify],
        },
        // "Thanks!" after a ticket was closed needs nobody.
        (Status::Resolved, Feedback::Solved) => Decision::FollowUp {
            ticket_id: ticket.id,
            status: Status::Resolved,
            resolution: ticket.resolution.clone(),
            event: "employee_reply",
            mails: vec![],
        },
        (Status::Resolved, _) => Decision::FollowUp {
            ticket_id: ticket.id,
            status: Status::Open,
            resolution: None,
            event: "reopened_by_employee",
            mails: vec![notify],
        },
        // Any other answer to a guide, or news on a ticket a person handles:
        // it goes to the people.
        _ => Decision::FollowUp {
            ticket_id: ticket.id,
            status: Status::Open,
            resolution: None,
            event: "employee_reply",
            mails: vec![notify],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Language;

    fn verdict(c: Category) -> Verdict {
        Verdict::new(c, Language::En, 0.9, vec!["x".into()])
    }

    fn inbound(text: &str) -> Inbound {
        Inbound {
            new_text: text.into(),
            ..Inbound::default()
        }
    }

    fn ticket(status: Status, category: Category) -> Ticket {
        Ticket {
            id: 7,
            requester: "a@example.co.jp".into(),
            requester_name: None,
            subject: "s".into(),
            category,
            language: Language::Ja,
            status,
            priority: Priority::Normal,
            owner: None,
            resolution: None,
            created_at: 0,
            updated_at: 0,
            first_response_at: None,
            resolved_at: None,
        }
    }

    #[test]
    fn auto_generated_is_never_answered() {
        let d = decide(&inbound(""), &verdict(Category::AutoGenerated), None);
        assert!(matches!(d, Decision::Ignore { .. }));
        assert!(d.mails().is_empty());
    }

    #[test]
    fn guide_waits_for_feedback_without_bothering_admins() {
        let d = decide(&inbound(""), &verdict(Category::CodeNotReceived), None);
        let Decision::Open { status, mails, .. } = d else {
            panic!("expected a new ticket");
        };
        assert_eq!(status, Status::AwaitingFeedback);
        assert_eq!(
            mails,
            vec![to_requester(MailKind::Guide(Category::CodeNotReceived))]
        );
    }

    #[test]
    fn lost_phone_alerts_admins_at_top_priority() {
        let d = decide(&inbound(""), &verdict(Category::PhoneLost), None);
        let Decision::Open {
            status,
            priority,
            mails,
        } = d
        else {
            panic!("expected a new ticket");
        };
        assert_eq!((status, priority), (Status::Open, Priority::Urgent));
        assert!(
            mails
                .iter()
                .any(|m| m.kind == MailKind::SecurityAlert && m.to == Audience::Admins)
        );
        assert!(
            mails
                .iter()
                .any(|m| m.kind == MailKind::Guide(Category::PhoneLost))
        );
    }

    #[test]
    fn other_is_acknowledged_and_queued() {
        let d = decide(&inbound(""), &verdict(Category::Other), None);
        let Decision::Open { status, mails, .. } = d else {
            panic!("expected a new ticket");
        };
        assert_eq!(status, Status::Open);
        assert_eq!(mails[0].kind, MailKind::AckOther);
        assert_eq!(mails[1].kind, MailKind::AdminNotify);
    }

    fn from_requester(text: &str) -> Inbound {
        Inbound {
            from_addr: "A@example.co.jp".into(),
            ..inbound(text)
        }
    }

    #[test]
    fn solved_feedback_from_anyone_else_goes_to_a_person() {
        let t = ticket(Status::AwaitingFeedback, Category::CodeNotReceived);
        let mut forged = inbound("Solved, thanks, it works now.");
        forged.from_addr = "admin@example.co.jp".into();
        let d = decide(&forged, &verdict(Category::Other), Some(&t));
        let Decision::FollowUp { status, mails, .. } = d else {
            panic!("expected a follow-up");
        };
        assert_eq!(status, Status::Open);
        assert_eq!(mails[0].kind, MailKind::AdminNotify);
    }

    #[test]
    fn solved_feedback_closes_as_self_service() {
        let t = ticket(Status::AwaitingFeedback, Category::CodeNotReceived);
        let d = decide(
            &from_requester("解決しました"),
            &verdict(Category::Other),
            Some(&t),
        );
        assert_eq!(
            d,
            Decision::FollowUp {
                ticket_id: 7,
                status: Status::Resolved,
                resolution: Some("self_service".into()),
                event: "feedback_solved",
                mails: vec![],
            }
        );
    }

    #[test]
    fn not_solved_feedback_goes_to_admins() {
        let t = ticket(Status::AwaitingFeedback, Category::CodeNotReceived);
        let d = decide(
            &inbound("It did not work."),
            &verdict(Category::Other),
            Some(&t),
        );
        let Decision::FollowUp { status, mails, .. } = d else {
            panic!("expected a follow-up");
        };
        assert_eq!(status, Status::Open);
        assert_eq!(mails[0].kind, MailKind::AdminNotify);
    }

    #[test]
    fn attack_inside_an_old_thread_still_alerts() {
        let t = ticket(Status::Resolved, Category::SetupHelp);
        let d = decide(&inbound(""), &verdict(Category::UnexpectedPrompt), Some(&t));
        assert!(d.mails().iter().any(|m| m.kind == MailKind::SecurityAlert));
    }
}

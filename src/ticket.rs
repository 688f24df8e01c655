//! The ticket: one employee's problem, from first mail to resolution.
//! Plain data; the store persists it and the workflow decides its changes.

use crate::verdict::{Category, Language};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A guide was sent; we wait for the employee to say whether it helped.
    AwaitingFeedback,
    /// A person must act: in the admins' queue.
    Open,
    /// An admin answered and waits for the employee.
    Waiting,
    /// Done (by the guide, by presumption after silence, or by an admin).
    Resolved,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::AwaitingFeedback,
        Status::Open,
        Status::Waiting,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingFeedback => "awaiting_feedback",
            Status::Open => "open",
            Status::Waiting => "waiting",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status `{s}` (known: awaiting_feedback, open, waiting, resolved)")
            })
    }
}

/// How fast a person must look at a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// The starting priority of a ticket of this category.
    pub fn for_category(c: Category) -> Priority {
        match c {
            Category::UnexpectedPrompt | Category::PhoneLost => Priority::Urgent,
            Category::LockedOut | Category::TokenProblem => Priority::High,
            _ => Priority::Normal,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "urgent" => Ok(Priority::Urgent),
            "high" => Ok(Priority::High),
            "normal" => Ok(Priority::Normal),
            "low" => Ok(Priority::Low),
            _ => Err(format!(
                "unknown priority `{s}` (known: urgent, high, normal, low)"
            )),
        }
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub category: Category,
    pub language: Language,
    pub status: Status,
    pub priority: Priority,
    pub owner: Option<String>,
    pub resolution: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

impl Ticket {
    /// The tag employees and admins see, e.g. `MFA-12`.
    pub fn tag(&self) -> String {
        tag(self.id)
    }
}

pub fn tag(id: i64) -> String {
    format!("MFA-{id}")
}

/// Parse `MFA-12`, `mfa-12` or `12` into a ticket number.
pub fn parse_tag(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s
        .strip_prefix("MFA-")
        .or_else(|| s.strip_prefix("mfa-"))
        .unwrap_or(s);
    digits.parse().ok().filter(|n: &i64| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_both_ways() {
        assert_eq!(tag(12), "MFA-12");
        assert_eq!(parse_tag("MFA-12"), Some(12));
        assert_eq!(parse_tag("12"), Some(12));
        assert_eq!(parse_tag("MFA-x"), None);
        assert_eq!(parse_tag("MFA-0"), None);
    }
}

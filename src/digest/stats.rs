//! The digest's figures, computed from the store for one ISO week (and the
//! week before, for comparison). A read-only, deterministic function of the
//! store, the week, the settings and the `now` passed in.
//!
//! Definitions (the digest prints them too, so admins read the same thing):
//!
//! - *messages received*: inbound mail recorded in the week, by the category
//!   the classifier gave it; *tickets opened*: tickets created in the week.
//! - *self-service*: tickets resolved in the week, split into resolved by the
//!   guide alone (resolution `self_service` or `presumed_solved`) and
//!   resolved by a person (anything else); the rate is guide / all resolved.
//! - *sent to a person*: tickets that entered the admins' queue in the week
//!   (opened with an action that needs a person, or a "not solved"
//!   answer, or a failure that needs a person).
//! - *first response*: for tickets first answered by a person in the week,
//!   from entering the queue (or creation) to that answer; *time to
//!   resolve*: for tickets resolved in the week that a person handled, from
//!   creation to resolution. Median and 90th percentile by nearest rank.
//! - *missed target*: a queued ticket whose first-response deadline
//!   (queue entry + the target of its priority) fell in the week, has
//!   passed, and was not met.
//! - *open queue* / *waiting*: tickets now `open` / `waiting`, oldest first.
//! - *security*: every `unexpected_prompt` and `phone_lost` ticket opened in
//!   the week, with its state now.
//! - *repeat writers*: senders of three or more messages in the four weeks
//!   ending with the week (admins, support@ and auto-generated mail aside).
//! - *missing guides*: the commonest terms (English words, Japanese
//!   kanji/katakana bigrams, counted once per mail) and sample subjects of
//!   the mail classified `other`.
//! - *admin load*: per admin, distinct tickets with an event by them in the
//!   week, or owned by them and first answered or resolved in the week.

use super::{DigestError, Week};
use crate::config::{Admin, Config, Targets};
use crate::parse::normalize;
use crate::store::Store;
use crate::ticket::{Priority, Status, tag};
use crate::verdict::Category;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use rusqlite::params;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many rows a list in the digest shows at most (the count is always whole).
pub const LIST_LIMIT: usize = 25;
/// How many terms and sample subjects the missing-guides section shows.
pub const TERMS: usize = 10;
pub const SAMPLE_SUBJECTS: usize = 5;
/// Messages in four weeks that make a writer a repeat writer.
pub const REPEAT_MESSAGES: i64 = 3;

/// What the computation needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tz: TimeZone,
    pub targets: Targets,
    pub admins: Vec<Admin>,
    pub support_address: String,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, DigestError> {
        Ok(Settings {
            tz: super::time_zone(config)?,
            targets: config.digest.targets,
            admins: config.support.admins.clone(),
            support_address: config.support.address.clone(),
        })
    }

    /// The first-response target of a priority, in seconds.
    pub fn target_secs(&self, p: Priority) -> i64 {
        let hours = match p {
            Priority::Urgent => self.targets.urgent_hours,
            Priority::High => self.targets.high_hours,
            Priority::Normal => self.targets.normal_hours,
            Priority::Low => self.targets.low_hours,
        };
        (hours * 3600.0).round() as i64
    }

    fn is_staff(&self, address: &str) -> bool {
        address.eq_ignore_ascii_case(&self.support_address)
            || self
                .admins
                .iter()
                .any(|a| a.address.eq_ignore_ascii_case(address))
    }
}

/// A figure this week and the week before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Compare<T> {
    pub this: T,
    pub previous: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryCount {
    pub category: Category,
    pub count: Compare<i64>,
}

/// Tickets resolved in a week, by who solved them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Resolved {
    /// Resolution `self_service`: the employee said the guide solved it.
    pub self_service: i64,
    /// Resolution `presumed_solved`: no answer after the guide.
    pub presumed_solved: i64,
    /// Resolved by a person (resolution `admin` or anything else).
    pub person: i64,
}

impl Resolved {
    pub fn guide(&self) -> i64 {
        self.self_service + self.presumed_solved
    }
    pub fn total(&self) -> i64 {
        self.guide() + self.person
    }
    /// Guide-solved share in whole percent; `None` when nothing was resolved.
    pub fn rate_percent(&self) -> Option<i64> {
        let total = self.total();
        (total > 0).then(|| (self.guide() * 100 + total / 2) / total)
    }
}

/// A set of durations, summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Durations {
    pub count: usize,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

impl Durations {
    pub fn of(mut secs: Vec<i64>) -> Durations {
        secs.sort_unstable();
        Durations {
            count: secs.len(),
            median_secs: nearest_rank(&secs, 50),
            p90_secs: nearest_rank(&secs, 90),
        }
    }
}

/// The p-th percentile by nearest rank: the smallest value with at least p %
/// of the values at or below it (always one of the values, no interpolation).
pub fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A ticket as a digest row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketRow {
    pub id: i64,
    pub tag: String,
    pub subject: String,
    pub requester: String,
    pub category: Category,
    pub status: Status,
    pub priority: Priority,
    pub owner: Option<String>,
    pub resolution: Option<String>,
    pub created_at: i64,
    /// Open queue: since creation; waiting: since the last change.
    pub age_secs: i64,
}

/// A ticket whose first response came late, or not yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missed {
    pub ticket: TicketRow,
    pub target_secs: i64,
    /// Queue entry to first response; `None`: still unanswered.
    pub response_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Writer {
    pub address: String,
    pub messages: i64,
    pub tickets: i64,
    pub last_subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub term: String,
    /// Mails of the week classified `other` that contain it.
    pub mails: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminLoad {
    pub name: String,
    pub address: String,
    pub handled: Compare<i64>,
    /// Open or waiting tickets they own now.
    pub owns_open: i64,
}

/// Messages of one local day, per category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `2026-11-16`.
    pub date: String,
    pub counts: BTreeMap<Category, i64>,
}

/// Everything the weekly digest shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub week: Week,
    pub previous_week: Week,
    /// Monday and Sunday of the week, `2026-11-16`.
    pub first_day: String,
    pub last_day: String,
    pub time_zone: String,
    /// The instant the figures were taken (queue ages are as of this).
    pub now: i64,
    pub messages: Compare<i64>,
    pub messages_by_category: Vec<CategoryCount>,
    pub tickets_opened: Compare<i64>,
    pub tickets_by_category: Vec<CategoryCount>,
    pub resolved: Compare<Resolved>,
    pub sent_to_person: Compare<i64>,
    pub first_response: Compare<Durations>,
    pub time_to_resolve: Compare<Durations>,
    pub missed_targets: Vec<Missed>,
    pub missed_previous: i64,
    pub open_queue: Vec<TicketRow>,
    pub open_total: usize,
    pub waiting: Vec<TicketRow>,
    pub waiting_total: usize,
    pub security: Vec<TicketRow>,
    pub security_previous: i64,
    pub repeat_writers: Vec<Writer>,
    pub other_messages: Compare<i64>,
    pub missing_terms: Vec<Term>,
    pub missing_subjects: Vec<String>,
    pub admin_load: Vec<AdminLoad>,
    /// Open or waiting tickets nobody owns.
    pub unowned_open: i64,
    pub days: Vec<Day>,
}

impl Digest {
    /// Nothing at all happened in the week.
    pub fn is_quiet(&self) -> bool {
        self.messages.this == 0 && self.tickets_opened.this == 0 && self.resolved.this.total() == 0
    }
}

/// `[start, end)` as Unix seconds.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
}

impl Window {
    fn of(week: Week, tz: &TimeZone) -> Result<Window, DigestError> {
        Ok(Window {
            start: week.start(tz)?.as_second(),
            end: week.end(tz)?.as_second(),
        })
    }
    fn has(&self, t: i64) -> bool {
        (self.start..self.end).contains(&t)
    }
}

/// A ticket as loaded for the computation.
struct Row {
    ticket: TicketRow,
    updated_at: i64,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    /// When it entered the admins' queue, if it ever did.
    queued_at: Option<i64>,
}

/// Compute the digest of `week` as of `now`.
pub fn compute(
    store: &Store,
    week: Week,
    settings: &Settings,
    now: Timestamp,
) -> Result<Digest, DigestError> {
    let tz = &settings.tz;
    let previous = week.previous();
    let this_w = Window::of(week, tz)?;
    let prev_w = Window::of(previous, tz)?;
    let now_s = now.as_second();
    let conn = store.connection();

    let rows = load_tickets(store, now_s)?;

    // Messages per category, both weeks, in one pass over the two weeks.
    let mut msg_counts: BTreeMap<Category, Compare<i64>> = BTreeMap::new();
    let mut days: Vec<Day> = Vec::new();
    let day_starts: Vec<i64> = week
        .days()
        .iter()
        .map(|d| {
            d.to_zoned(tz.clone())
                .and_then(|z| z.start_of_day())
                .map(|z| z.timestamp().as_second())
        })
        .collect::<Result<_, _>>()?;
    for d in week.days() {
        days.push(Day {
            date: d.to_string(),
            counts: BTreeMap::new(),
        });
    }
    {
        let mut stmt = conn.prepare_cached(
            "SELECT category, received_at FROM messages WHERE received_at >= ?1 AND received_at < ?2",
        )?;
        let mut q = stmt.query(params![prev_w.start, this_w.end])?;
        while let Some(r) = q.next()? {
            let cat: String = r.get(0)?;
            let at: i64 = r.get(1)?;
            // A category this version does not know is counted as `other`.
            let cat = cat.parse().unwrap_or(Category::Other);
            let c = msg_counts.entry(cat).or_default();
            if this_w.has(at) {
                c.this += 1;
                let i = day_starts.partition_point(|s| *s <= at).saturating_sub(1);
                if let Some(day) = days.get_mut(i) {
                    *day.counts.entry(cat).or_default() += 1;
                }
            } else if prev_w.has(at) {
                c.previous += 1;
            }
        }
    }
    let messages_by_category = Category::ALL
        .iter()
        .map(|c| CategoryCount {
            category: *c,
            count: msg_counts.get(c).copied().unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    let messages = sum(&messages_by_category);
    let other_messages = msg_counts
        .get(&Category::Other)
        .copied()
        .unwrap_or_default();

    // Tickets opened, resolved, queued, answered.
    let mut opened: BTreeMap<Category, Compare<i64>> = BTreeMap::new();
    let mut resolved = Compare::<Resolved>::default();
    let mut sent_to_person = Compare::<i64>::default();
    let mut frt = (Vec::new(), Vec::new());
    let mut ttr = (Vec::new(), Vec::new());
    let mut missed_targets = Vec::new();
    let mut missed_previous = 0;
    let mut security = Vec::new();
    let mut security_previous = 0;
    let mut open_queue = Vec::new();
    let mut waiting = Vec::new();
    for row in &rows {
        let t = &row.ticket;
        if this_w.has(t.created_at) {
            opened.entry(t.category).or_default().this += 1;
        } else if prev_w.has(t.created_at) {
            opened.entry(t.category).or_default().previous += 1;
        }
        if let Some(at) = row.resolved_at.filter(|_| t.status == Status::Resolved) {
            let slot = if this_w.has(at) {
                Some(&mut resolved.this)
            } else if prev_w.has(at) {
                Some(&mut resolved.previous)
            } else {
                None
            };
            if let Some(r) = slot {
                match t.resolution.as_deref() {
                    Some("self_service") => r.self_service += 1,
                    Some("presumed_solved") => r.presumed_solved += 1,
                    _ => r.person += 1,
                }
            }
            let by_person = row.first_response_at.is_some()
                || !matches!(
                    t.resolution.as_deref(),
                    Some("self_service" | "presumed_solved")
                );
            if by_person {
                let secs = (at - t.created_at).max(0);
                if this_w.has(at) {
                    ttr.0.push(secs);
                } else if prev_w.has(at) {
                    ttr.1.push(secs);
                }
            }
        }
        if let Some(q) = row.queued_at {
            if this_w.has(q) {
                sent_to_person.this += 1;
            } else if prev_w.has(q) {
                sent_to_person.previous += 1;
            }
        }
        let from = row.queued_at.unwrap_or(t.created_at);
        if let Some(fr) = row.first_response_at {
            let secs = (fr - from).max(0);
            if this_w.has(fr) {
                frt.0.push(secs);
            } else if prev_w.has(fr) {
                frt.1.push(secs);
            }
        }
        if let Some(q) = row.queued_at {
            let target = settings.target_secs(t.priority);
            let deadline = q + target;
            // Closed before the deadline (or answered in time) is not a miss.
            let closed_in_time = row.resolved_at.is_some_and(|r| r <= deadline);
            let missed = deadline <= now_s
                && !closed_in_time
                && row.first_response_at.is_none_or(|fr| fr > deadline);
            if missed && this_w.has(deadline) {
                missed_targets.push(Missed {
                    ticket: t.clone(),
                    target_secs: target,
                    response_secs: row.first_response_at.map(|fr| (fr - q).max(0)),
                });
            } else if missed && prev_w.has(deadline) {
                missed_previous += 1;
            }
        }
        if matches!(t.category, Category::UnexpectedPrompt | Category::PhoneLost) {
            if this_w.has(t.created_at) {
                security.push(t.clone());
            } else if prev_w.has(t.created_at) {
                security_previous += 1;
            }
        }
        match t.status {
            Status::Open => open_queue.push(t.clone()),
            Status::Waiting => {
                let mut w = t.clone();
                w.age_secs = (now_s - row.updated_at).max(0);
                waiting.push(w);
            }
            _ => {}
        }
    }
    let tickets_by_category = Category::ALL
        .iter()
        .map(|c| CategoryCount {
            category: *c,
            count: opened.get(c).copied().unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    let tickets_opened = sum(&tickets_by_category);
    missed_targets.sort_by_key(|m| (m.ticket.created_at, m.ticket.id));
    security.sort_by_key(|t| (t.created_at, t.id));
    open_queue.sort_by_key(|t| (t.created_at, t.id));
    waiting.sort_by_key(|t| (std::cmp::Reverse(t.age_secs), t.id));
    let open_total = open_queue.len();
    let waiting_total = waiting.len();
    let unowned_open = rows
        .iter()
        .filter(|r| matches!(r.ticket.status, Status::Open | Status::Waiting))
        .filter(|r| {
            r.ticket
                .owner
                .as_deref()
                .is_none_or(|o| o.trim().is_empty())
        })
        .count() as i64;
    open_queue.truncate(LIST_LIMIT);
    waiting.truncate(LIST_LIMIT);

    let repeat_writers = repeat_writers(store, settings, this_w.end)?;
    let (missing_terms, missing_subjects) = missing_guides(store, &this_w)?;
    let admin_load = admin_load(store, settings, &rows, &this_w, &prev_w)?;

    Ok(Digest {
        week,
        previous_week: previous,
        first_day: week.monday().to_string(),
        last_day: week
            .days()
            .last()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        time_zone: tz.iana_name().unwrap_or("UTC").to_string(),
        now: now_s,
        messages,
        messages_by_category,
        tickets_opened,
        tickets_by_category,
        resolved,
        sent_to_person,
        first_response: Compare {
            this: Durations::of(frt.0),
            previous: Durations::of(frt.1),
        },
        time_to_resolve: Compare {
            this: Durations::of(ttr.0),
            previous: Durations::of(ttr.1),
        },
        missed_targets,
        missed_previous,
        open_queue,
        open_total,
        waiting,
        waiting_total,
        security,
        security_previous,
        repeat_writers,
        other_messages,
        missing_terms,
        missing_subjects,
        admin_load,
        unowned_open,
        days,
    })
}

fn sum(rows: &[CategoryCount]) -> Compare<i64> {
    rows.iter().fold(Compare::default(), |acc, r| Compare {
        this: acc.this + r.count.this,
        previous: acc.previous + r.count.previous,
    })
}

/// Every ticket, with the moment it entered the admins' queue.
fn load_tickets(store: &Store, now: i64) -> Result<Vec<Row>, DigestError> {
    let conn = store.connection();
    // Entering the queue: an `opened` event whose action needs a person, a
    // "not solved" answer, a reopening, a failure handed to a person, or any
    // other employee reply (which moves a guide ticket to the people, but
    // leaves a ticket the guide solved alone where it is: see below). The
    // earliest one counts: the first-response clock starts there.
    let mut queued: HashMap<i64, i64> = HashMap::new();
    let mut replied: HashMap<i64, i64> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT ticket_id, kind = 'employee_reply', MIN(at) FROM events
             WHERE kind IN ('feedback_not_solved', 'needs_person', 'reopened_by_employee', 'employee_reply')
                OR (kind = 'opened' AND json_valid(detail)
                    AND json_extract(detail, '$.action') IN ('auto_reply_and_queue', 'security_alert', 'queue'))
             GROUP BY ticket_id, kind = 'employee_reply'",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let (id, reply, at): (i64, bool, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let map = if reply { &mut replied } else { &mut queued };
            map.insert(id, at);
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, requester, subject, category, status, priority, owner, resolution,
                created_at, updated_at, first_response_at, resolved_at
         FROM tickets",
    )?;
    let mut q = stmt.query([])?;
    let mut rows = Vec::new();
    while let Some(r) = q.next()? {
        let id: i64 = r.get(0)?;
        let category: String = r.get(3)?;
        let status: String = r.get(4)?;
        let priority: String = r.get(5)?;
        let (Ok(category), Ok(status), Ok(priority)) = (
            category.parse::<Category>(),
            status.parse::<Status>(),
            priority.parse::<Priority>(),
        ) else {
            // A row a newer version wrote: leave it out rather than fail the report.
            tracing::warn!(
                ticket = id,
                "digest: skipping a ticket this version cannot read"
            );
            continue;
        };
        let created_at: i64 = r.get(8)?;
        let resolution: Option<String> = r.get(7)?;
        // A "thanks" after the guide solved it is not a request for a person.
        let guide_solved = matches!(
            resolution.as_deref(),
            Some("self_service" | "presumed_solved")
        );
        let reply = replied.get(&id).copied().filter(|_| !guide_solved);
        let queued_at = match (queued.get(&id).copied(), reply) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        rows.push(Row {
            ticket: TicketRow {
                id,
                tag: tag(id),
                requester: r.get(1)?,
                subject: r.get(2)?,
                category,
                status,
                priority,
                owner: r.get(6)?,
                resolution,
                created_at,
                age_secs: (now - created_at).max(0),
            },
            updated_at: r.get(9)?,
            first_response_at: r.get(10)?,
            resolved_at: r.get(11)?,
            queued_at,
        });
    }
    Ok(rows)
}

/// Senders of [`REPEAT_MESSAGES`] or more messages in the four weeks before `end`.
fn repeat_writers(
    store: &Store,
    settings: &Settings,
    end: i64,
) -> Result<Vec<Writer>, DigestError> {
    let start = end - 28 * 24 * 3600;
    let mut stmt = store.connection().prepare_cached(
        // `subject` next to MAX(received_at) is SQLite's bare-column rule:
        // it comes from the newest row of the group (one pass, no subquery).
        "SELECT lower(from_addr), count(*), count(DISTINCT ticket_id), subject, MAX(received_at)
         FROM messages
         WHERE received_at >= ?1 AND received_at < ?2 AND category != 'auto_generated'
         GROUP BY lower(from_addr) HAVING count(*) >= ?3
         ORDER BY count(*) DESC, lower(from_addr)",
    )?;
    let rows = stmt.query_map(params![start, end, REPEAT_MESSAGES], |r| {
        Ok(Writer {
            address: r.get(0)?,
            messages: r.get(1)?,
            tickets: r.get(2)?,
            last_subject: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        })
    })?;
    let mut out = Vec::new();
    for w in rows {
        let w = w?;
        if !settings.is_staff(&w.address) {
            out.push(w);
        }
    }
    out.truncate(LIST_LIMIT);
    Ok(out)
}

/// The commonest terms and some subjects of the week's mail classified `other`.
fn missing_guides(store: &Store, w: &Window) -> Result<(Vec<Term>, Vec<String>), DigestError> {
    let mut stmt = store.connection().prepare_cached(
        "SELECT subject, new_text FROM messages
         WHERE category = 'other' AND received_at >= ?1 AND received_at < ?2
         ORDER BY received_at DESC, id DESC",
    )?;
    let rows = stmt.query_map(params![w.start, w.end], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut subjects: Vec<String> = Vec::new();
    let mut seen_subjects = BTreeSet::new();
    for row in rows {
        let (subject, text) = row?;
        for term in terms(&format!("{subject}\n{text}")) {
            *counts.entry(term).or_default() += 1;
        }
        let clean = crate::reply::templates::one_line(&subject);
        let clean: String = clean.chars().take(80).collect();
        if subjects.len() < SAMPLE_SUBJECTS
            && !clean.is_empty()
            && seen_subjects.insert(normalize(&clean))
        {
            subjects.push(clean);
        }
    }
    let mut terms: Vec<Term> = counts
        .into_iter()
        .map(|(term, mails)| Term { term, mails })
        .collect();
    terms.sort_by(|a, b| b.mails.cmp(&a.mails).then_with(|| a.term.cmp(&b.term)));
    terms.truncate(TERMS);
    Ok((terms, subjects))
}

/// Words that say nothing about the problem: greetings, mail chrome, and
/// words every MFA mail has.
const STOP_WORDS: &[&str] = &[
    "about",
    "after",
    "again",
    "also",
    "and",
    "any",
    "are",
    "been",
    "but",
    "can",
    "cannot",
    "com",
    "could",
    "dear",
    "did",
    "does",
    "don",
    "for",
    "from",
    "get",
    "had",
    "has",
    "have",
    "hello",
    "help",
    "here",
    "how",
    "http",
    "https",
    "into",
    "its",
    "just",
    "know",
    "let",
    "like",
    "mail",
    "mfa",
    "not",
    "now",
    "off",
    "our",
    "please",
    "regards",
    "same",
    "should",
    "since",
    "some",
    "team",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "this",
    "today",
    "use",
    "using",
    "was",
    "way",
    "what",
    "when",
    "which",
    "will",
    "with",
    "would",
    "www",
    "you",
    "your",
    "yesterday",
    "support",
    "best",
    "all",
    "one",
    "out",
    "who",
    "why",
    "she",
    "her",
    "his",
    "him",
    "they",
    "were",
    "being",
];

/// Kanji bigrams that are mail politeness or chrome, not content.
const STOP_BIGRAMS: &[&str] = &[
    "世話", "失礼", "連絡", "確認", "質問", "件名", "本日", "以上", "部署", "担当", "情報", "何卒",
    "先日", "今回", "問合",
];

/// Katakana words every support mail has.
const STOP_KATAKANA: &[&str] = &["システム", "サポート", "メール", "ヘルプ", "デスク"];

/// The terms of a text, each once: English words of three or more letters;
/// for Japanese, katakana words whole (loanwords: プリンター, ケーブル) and
/// bigrams of kanji runs (hiragana is mostly grammar). Compared after
/// [`normalize`] (width and case folded).
pub fn terms(text: &str) -> BTreeSet<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Latin,
        Kanji,
        Katakana,
        Other,
    }
    let kind = |c: char| {
        if c.is_ascii_alphanumeric() {
            Kind::Latin
        } else if is_kanji(c) {
            Kind::Kanji
        } else if is_katakana(c) {
            Kind::Katakana
        } else {
            Kind::Other
        }
    };
    let text = normalize(text);
    let mut out = BTreeSet::new();
    let mut run: Vec<char> = Vec::new();
    let mut run_kind = Kind::Other;
    let flush = |run: &mut Vec<char>, k: Kind, out: &mut BTreeSet<String>| {
        let word: String = run.iter().collect();
        match k {
            Kind::Latin => {
                if run.len() >= 3
                    && !run.iter().all(|c| c.is_ascii_digit())
                    && !STOP_WORDS.contains(&word.as_str())
                {
                    out.insert(word);
                }
            }
            Kind::Katakana => {
                if run.len() >= 2 && !STOP_KATAKANA.contains(&word.as_str()) {
                    out.insert(word);
                }
            }
            Kind::Kanji => {
                for pair in run.windows(2) {
                    let bigram: String = pair.iter().collect();
                    if !STOP_BIGRAMS.contains(&bigram.as_str()) {
                        out.insert(bigram);
                    }
                }
            }
            Kind::Other => {}
        }
        run.clear();
    };
    for c in text.chars() {
        let k = kind(c);
        if k != run_kind {
            flush(&mut run, run_kind, &mut out);
            run_kind = k;
        }
        if k != Kind::Other {
            run.push(c);
        }
    }
    flush(&mut run, run_kind, &mut out);
    out
}

fn is_kanji(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '々')
}

fn is_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | '\u{31F0}'..='\u{31FF}')
}

/// Tickets each admin handled in the two weeks.
fn admin_load(
    store: &Store,
    settings: &Settings,
    rows: &[Row],
    this_w: &Window,
    prev_w: &Window,
) -> Result<Vec<AdminLoad>, DigestError> {
    // (actor, ticket) of every event in the two weeks, lower-cased once.
    let mut by_actor: HashMap<String, (BTreeSet<i64>, BTreeSet<i64>)> = HashMap::new();
    let mut stmt = store.connection().prepare_cached(
        "SELECT lower(actor), ticket_id, at FROM events WHERE at >= ?1 AND at < ?2",
    )?;
    let mut q = stmt.query(params![prev_w.start, this_w.end])?;
    while let Some(r) = q.next()? {
        let actor: String = r.get(0)?;
        let ticket: i64 = r.get(1)?;
        let at: i64 = r.get(2)?;
        let e = by_actor.entry(actor).or_default();
        if this_w.has(at) {
            e.0.insert(ticket);
        } else {
            e.1.insert(ticket);
        }
    }
    let mut out = Vec::new();
    for admin in &settings.admins {
        let address = admin.address.to_lowercase();
        let owns = |r: &Row| {
            r.ticket.owner.as_deref().is_some_and(|o| {
                o.eq_ignore_ascii_case(&admin.address) || o.trim() == admin.name.trim()
            })
        };
        let (mut this, mut previous) = by_actor.get(&address).cloned().unwrap_or_default();
        for r in rows.iter().filter(|r| owns(r)) {
            for at in [r.first_response_at, r.resolved_at].into_iter().flatten() {
                if this_w.has(at) {
                    this.insert(r.ticket.id);
                } else if prev_w.has(at) {
                    previous.insert(r.ticket.id);
                }
            }
        }
        let owns_open = rows
            .iter()
            .filter(|r| matches!(r.ticket.status, Status::Open | Status::Waiting) && owns(r))
            .count() as i64;
        out.push(AdminLoad {
            name: admin.name.clone(),
            address: admin.address.clone(),
            handled: Compare {
                this: this.len() as i64,
                previous: previous.len() as i64,
            },
            owns_open,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(nearest_rank(&v, 50), Some(50));
        assert_eq!(nearest_rank(&v, 90), Some(90));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn terms_fold_width_and_skip_grammar() {
        let t = terms(
            "ＶＰＮ が つながらない VPN vpn the printer プリンター印刷 お世話になっております",
        );
        assert!(t.contains("vpn"), "{t:?}");
        assert!(t.contains("printer"));
        assert!(!t.contains("the"));
        assert!(t.contains("印刷"), "{t:?}");
        assert!(t.contains("プリンター"), "{t:?}");
        assert!(!t.contains("プリ"));
        assert!(!t.contains("世話"));
        assert!(!t.iter().any(|x| x.contains('つ')));
    }
}

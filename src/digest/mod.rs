//! The weekly digest: one mail a week that tells the admins whether MFA
//! support is healthy (traffic, self-service rate, response times, the open
//! queue, security cases, repeat writers, the guides that are missing).
//!
//! - [`stats`] computes a [`Digest`] from the store for one ISO week in the
//!   configured time zone: a pure read, the clock is passed in.
//! - [`render`] turns it into subject, text and HTML through the templates in
//!   `replies/digest/<lang>/`, and into a multipart mail with the chart inline.
//! - [`chart`] draws the one chart (messages per category per day) as a PNG.
//!
//! This module holds the week arithmetic, the schedule ([`due_period`]) and
//! the exactly-once sending ([`send_due_digest`]): the `digests` table has
//! one row per week, inserted in the same transaction as the outbox row, so
//! whichever attempt commits first wins and every later one is a no-op.

pub mod chart;
pub mod cli;
pub mod render;
pub mod stats;

pub use stats::{Digest, Settings, compute};

use crate::config::Config;
use crate::reply::compose::ComposeError;
use crate::reply::templates::TemplateError;
use crate::store::{Store, StoreError};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error while building the digest: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error("cannot build the digest mail: {0}")]
    Mail(String),
    #[error("cannot draw the digest chart: {0}")]
    Chart(String),
    #[error("`{0}` is not an ISO week; write it like 2026-W47")]
    Week(String),
    #[error("time zone `{zone}`: {message}")]
    TimeZone { zone: String, message: String },
    #[error("[digest] schedule: {0}")]
    Schedule(String),
    #[error("date arithmetic failed: {0}")]
    Time(#[from] jiff::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An ISO 8601 week, e.g. `2026-W47`: Monday to Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    year: i16,
    week: i8,
}

impl Week {
    /// The week `week` of ISO year `year`, if it exists (W53 only in long years).
    pub fn new(year: i16, week: i8) -> Result<Week, DigestError> {
        jiff::civil::ISOWeekDate::new(year, week, Weekday::Monday)
            .map(|_| Week { year, week })
            .map_err(|_| DigestError::Week(format!("{year:04}-W{week:02}")))
    }

    /// The week a calendar day belongs to.
    pub fn containing(date: Date) -> Week {
        let iso = date.iso_week_date();
        Week {
            year: iso.year(),
            week: iso.week(),
        }
    }

    /// The week an instant falls in, on the wall clock of `tz`.
    pub fn of(at: Timestamp, tz: &TimeZone) -> Week {
        Week::containing(at.to_zoned(tz.clone()).date())
    }

    pub fn year(self) -> i16 {
        self.year
    }

    pub fn number(self) -> i8 {
        self.week
    }

    /// Its Monday.
    pub fn monday(self) -> Date {
        // Both parts were validated on construction.
        jiff::civil::ISOWeekDate::new(self.year, self.week, Weekday::Monday)
            .map(|d| d.date())
            .unwrap_or(Date::MIN)
    }

    /// Monday to Sunday.
    pub fn days(self) -> Vec<Date> {
        let monday = self.monday();
        (0..7)
            .filter_map(|i| monday.checked_add(i.days()).ok())
            .collect()
    }

    pub fn previous(self) -> Week {
        Week::containing(self.monday().checked_sub(7.days()).unwrap_or(Date::MIN))
    }

    pub fn next(self) -> Week {
        Week::containing(self.monday().checked_add(7.days()).unwrap_or(Date::MAX))
    }

    /// Monday 00:00 in `tz` (the first instant of the day, should midnight
    /// not exist there).
    pub fn start(self, tz: &TimeZone) -> Result<Timestamp, DigestError> {
        Ok(self
            .monday()
            .to_zoned(tz.clone())?
            .start_of_day()?
            .timestamp())
    }

    /// The next Monday 00:00 in `tz`: the week is `[start, end)`, which is
    /// 167 or 169 hours long in a week with a daylight-saving switch.
    pub fn end(self, tz: &TimeZone) -> Result<Timestamp, DigestError> {
        self.next().start(tz)
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl serde::Serialize for Week {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Week {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Week, DigestError> {
        let bad = || DigestError::Week(s.to_string());
        let (year, week) = s
            .trim()
            .split_once(['W', 'w'])
            .ok_or_else(bad)
            .map(|(y, w)| (y.trim_end_matches('-'), w))?;
        let year: i16 = year.parse().map_err(|_| bad())?;
        let week: i8 = week.parse().map_err(|_| bad())?;
        Week::new(year, week).map_err(|_| bad())
    }
}

/// When the digest goes out: a weekday and a wall-clock time in the
/// configured time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub weekday: Weekday,
    pub time: Time,
}

impl Schedule {
    /// From `[digest] day` and `time`; the message says what is wrong.
    pub fn from_config(digest: &crate::config::Digest) -> Result<Schedule, String> {
        let weekday = match digest.day.trim().to_ascii_lowercase().as_str() {
            "monday" | "mon" => Weekday::Monday,
            "tuesday" | "tue" => Weekday::Tuesday,
            "wednesday" | "wed" => Weekday::Wednesday,
            "thursday" | "thu" => Weekday::Thursday,
            "friday" | "fri" => Weekday::Friday,
            "saturday" | "sat" => Weekday::Saturday,
            "sunday" | "sun" => Weekday::Sunday,
            other => {
                return Err(format!(
                    "[digest] day `{other}` is not a day of the week (monday … sunday)"
                ));
            }
        };
        let time = digest
            .time
            .trim()
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
            .and_then(|(h, m)| Time::new(h, m, 0, 0).ok())
            .ok_or_else(|| {
                format!(
                    "[digest] time `{}` is not a time of day; write it like \"09:00\"",
                    digest.time
                )
            })?;
        Ok(Schedule { weekday, time })
    }

    /// The moment in `week` at which the digest of the week before goes out.
    /// A time that does not exist that day (a spring-forward gap) moves
    /// forward by the gap, as a wall clock would.
    pub fn slot(&self, week: Week, tz: &TimeZone) -> Result<Timestamp, DigestError> {
        let offset = i64::from(self.weekday.to_monday_zero_offset());
        let day = week.monday().checked_add(offset.days())?;
        Ok(day.to_datetime(self.time).to_zoned(tz.clone())?.timestamp())
    }
}

/// How long after its slot a digest counts as late (the service was down or
/// busy): short enough that a real outage is reported, long enough that a
/// slow poll loop is not.
pub const LATE_AFTER: SignedDuration = SignedDuration::from_mins(15);

/// Which week's digest is due at `now`, if any, and whether it is late.
///
/// The digest of a week goes out at the scheduled slot in the week after it.
/// The week due is the one whose slot is the latest one not after `now`; it
/// is due unless `last_sent` is that week or a later one. Only the most
/// recent week is ever due: after a long outage the admins get one late
/// digest, not a pile of stale ones.
pub fn due_period(
    now: Timestamp,
    schedule: &Schedule,
    tz: &TimeZone,
    last_sent: Option<Week>,
) -> Option<(Week, bool)> {
    let current = Week::of(now, tz);
    let this_slot = schedule.slot(current, tz).ok()?;
    let (week, slot) = if now >= this_slot {
        (current.previous(), this_slot)
    } else {
        let before = current.previous();
        (before.previous(), schedule.slot(before, tz).ok()?)
    };
    if last_sent.is_some_and(|last| last >= week) {
        return None;
    }
    let late = now.duration_since(slot) > LATE_AFTER;
    Some((week, late))
}

/// The time zone of `[support] timezone`.
pub fn time_zone(config: &Config) -> Result<TimeZone, DigestError> {
    TimeZone::get(&config.support.timezone).map_err(|e| DigestError::TimeZone {
        zone: config.support.timezone.clone(),
        message: e.to_string(),
    })
}

/// The newest week a digest was queued for.
pub fn last_sent(store: &Store) -> Result<Option<Week>, DigestError> {
    let mut stmt = store
        .connection()
        .prepare("SELECT week FROM digests ORDER BY week DESC")?;
    let weeks = stmt.query_map([], |r| r.get::<_, String>(0))?;
    // Rows are written by this module only; one that does not parse is
    // skipped rather than blocking every future digest.
    let mut newest: Option<Week> = None;
    for w in weeks {
        if let Ok(week) = w?.parse::<Week>() {
            newest = newest.max(Some(week));
        }
    }
    Ok(newest)
}

/// Whether a digest for `week` was queued, and when.
pub fn sent_at(store: &Store, week: Week) -> Result<Option<(i64, bool)>, DigestError> {
    Ok(store
        .connection()
        .prepare_cached("SELECT sent_at, late FROM digests WHERE week = ?1")?
        .query_row([week.to_string()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? != 0))
        })
        .optional()?)
}

/// The service loop's hook: if a digest is due at `now` and was not queued
/// yet, compute, render and queue it (exactly once per week, also across
/// restarts and concurrent processes). Returns the week queued, e.g.
/// `Some("2026-W47")`, or `None` when nothing was due.
///
/// On a brand-new installation (no digest ever sent, no mail received
/// before the end of the week due) nothing is sent: there is nothing to
/// report about a week before mfa-desk was running.
pub fn send_due_digest(
    store: &mut Store,
    config: &Config,
    now: Timestamp,
) -> Result<Option<String>, DigestError> {
    if !config.digest.enabled {
        return Ok(None);
    }
    let tz = time_zone(config)?;
    let schedule = Schedule::from_config(&config.digest).map_err(DigestError::Schedule)?;
    let last = last_sent(store)?;
    let Some((week, late)) = due_period(now, &schedule, &tz, last) else {
        return Ok(None);
    };
    if last.is_none() && !has_mail_before(store, week.end(&tz)?)? {
        return Ok(None);
    }
    let mail = render::build_mail(store, config, week, now, late)?;
    let queued = queue(store, week, &mail, now, late, false)?;
    if queued {
        tracing::info!(week = %week, late, to = ?mail.to, "weekly digest queued");
    }
    Ok(queued.then(|| week.to_string()))
}

/// `mfa-desk digest --send`: queue the digest of `week` (default: the last
/// complete week) now, whether or not it was sent before. The week is
/// recorded as sent, so the schedule does not send it a second time.
/// Returns the Message-ID queued.
pub fn send_now(
    store: &mut Store,
    config: &Config,
    week: Option<Week>,
    now: Timestamp,
) -> Result<(Week, String), DigestError> {
    let tz = time_zone(config)?;
    let week = week.unwrap_or_else(|| Week::of(now, &tz).previous());
    let mail = render::build_mail(store, config, week, now, false)?;
    queue(store, week, &mail, now, false, true)?;
    Ok((week, mail.message_id))
}

/// What `mfa-desk digest --preview` wrote.
#[derive(Debug, Clone)]
pub struct Preview {
    pub week: Week,
    pub html: PathBuf,
    pub text: PathBuf,
    pub chart: PathBuf,
    pub subject: String,
}

/// `mfa-desk digest --preview [--week W] --out DIR`: write `digest.html`
/// (its chart referenced as `chart.png` beside it), `digest.txt` and
/// `chart.png` to `out`. Reads the store only.
pub fn preview(
    store: &Store,
    config: &Config,
    week: Option<Week>,
    now: Timestamp,
    out: &Path,
) -> Result<Preview, DigestError> {
    let tz = time_zone(config)?;
    let week = week.unwrap_or_else(|| Week::of(now, &tz).previous());
    let settings = Settings::from_config(config)?;
    let digest = compute(store, week, &settings, now)?;
    let templates = render::DigestTemplates::load(&config.replies_dir)?;
    let rendered = templates.render(&digest, config, false, "chart.png")?;
    let png = chart::draw(&digest)?;
    std::fs::create_dir_all(out).map_err(|source| DigestError::Write {
        path: out.display().to_string(),
        source,
    })?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, DigestError> {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|source| DigestError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    };
    Ok(Preview {
        week,
        html: write("digest.html", rendered.html.as_bytes())?,
        text: write("digest.txt", rendered.text.as_bytes())?,
        chart: write("chart.png", &png)?,
        subject: rendered.subject,
    })
}

/// Whether any mail was received before `until`.
fn has_mail_before(store: &Store, until: Timestamp) -> Result<bool, DigestError> {
    Ok(store
        .connection()
        .prepare_cached("SELECT 1 FROM messages WHERE received_at < ?1 LIMIT 1")?
        .query_row([until.as_second()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Record the week and put the mail in the outbox, in one IMMEDIATE
/// transaction. Returns `false` (and writes nothing) when the week was
/// already recorded, unless `always` (a manual `--send`), which queues the
/// mail anyway and keeps the first record.
fn queue(
    store: &mut Store,
    week: Week,
    mail: &render::DigestMail,
    now: Timestamp,
    late: bool,
    always: bool,
) -> Result<bool, DigestError> {
    // The store's `Tx` has no way to write this table, so the transaction is
    // opened on the connection directly. IMMEDIATE takes the write lock
    // first: a second process waits (busy timeout), then sees the row.
    let tx =
        rusqlite::Transaction::new_unchecked(store.connection(), TransactionBehavior::Immediate)?;
    let recorded = tx.prepare_cached("INSERT INTO digests (week, sent_at, late) VALUES (?1, ?2, ?3) ON CONFLICT(week) DO NOTHING")?.execute(params![week.to_string(), now.as_second(), late as i64],
    )? == 1;
    if !recorded && !always {
        // Dropping rolls back (there is nothing to undo).
        return Ok(false);
    }
    // The same columns as `store::Tx::queue_mail` writes for mail without a
    // ticket; the sender drains it like any other.
    tx.prepare_cached("INSERT INTO outbox (ticket_id, message_id, kind, mail_from, rcpt_to, raw, created_at, next_attempt_at)
         VALUES (NULL, ?1, 'digest', ?2, ?3, ?4, ?5, ?5)")?.execute(params![
            mail.message_id,
            mail.envelope_from,
            serde_json::to_string(&mail.to).unwrap_or_default(),
            mail.raw,
            now.as_second(),
        ],
    )?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_parse_print_and_step() {
        let w: Week = "2026-W47".parse().expect("week");
        assert_eq!(w.to_string(), "2026-W47");
        assert_eq!(w.monday(), jiff::civil::date(2026, 11, 16));
        assert_eq!(w.previous().to_string(), "2026-W46");
        assert_eq!(
            "2026-W01"
                .parse::<Week>()
                .map(|w| w.previous().to_string())
                .ok(),
            Some("2025-W52".to_string())
        );
        assert!("2026-W54".parse::<Week>().is_err());
        assert!("2026-11".parse::<Week>().is_err());
        assert_eq!(
            "2020w53".parse::<Week>().map(|w| w.to_string()).ok(),
            Some("2020-W53".into())
        );
    }
}

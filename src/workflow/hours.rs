//! Support hours: when a person is there to answer, in the company's time
//! zone, with its holidays. Urgent mail is alerted at any hour; the rest is
//! told when a person will look at it.

use crate::config::Hours;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Debug, Clone)]
pub struct Schedule {
    tz: TimeZone,
    days: Vec<Weekday>,
    start: Time,
    end: Time,
    holidays: Vec<Date>,
}

impl Schedule {
    /// Check and convert `[hours]`; errors say which value is wrong.
    pub fn from_config(hours: &Hours, timezone: &str) -> Result<Schedule, String> {
        let tz = TimeZone::get(timezone)
            .map_err(|_| format!("time zone `{timezone}` is not known (e.g. Asia/Tokyo)"))?;
        let days = hours
            .days
            .iter()
            .map(|d| weekday(d).ok_or_else(|| format!("days: `{d}` is not a day (mon … sun)")))
            .collect::<Result<Vec<_>, _>>()?;
        let time = |s: &str, key: &str| {
            Time::strptime("%H:%M", s).map_err(|_| format!("{key}: `{s}` is not a time like 09:00"))
        };
        let start = time(&hours.start, "start")?;
        let end = time(&hours.end, "end")?;
        if end <= start {
            return Err(format!(
                "end {} is not after start {}",
                hours.end, hours.start
            ));
        }
        let holidays = hours
            .holidays
            .iter()
            .map(|d| {
                d.parse::<Date>()
                    .map_err(|_| format!("holidays: `{d}` is not a date like 2026-01-01"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule {
            tz,
            days,
            start,
            end,
            holidays,
        })
    }

    fn working_day(&self, d: Date) -> bool {
        self.days.contains(&d.weekday()) && !self.holidays.contains(&d)
    }

    /// Whether a person is at work at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let z = at.to_zoned(self.tz.clone());
        let t = z.time();
        self.working_day(z.date()) && t >= self.start && t < self.end
    }

    /// When the next working period starts (`at` itself when open).
    pub fn next_open(&self, at: Timestamp) -> Zoned {
        let z = at.to_zoned(self.tz.clone());
        if self.is_open(at) {
            return z;
        }
        let mut day = z.date();
        if self.working_day(day) && z.time() < self.start {
            return self.at_start(day).unwrap_or(z);
        }
        // A year of holidays at most; past that the config is wrong, say now.
        for _ in 0..370 {
            let Ok(next) = day.tomorrow() else { break };
            day = next;
            if self.working_day(day) {
                return self.at_start(day).unwrap_or(z);
            }
        }
        z
    }

    fn at_start(&self, day: Date) -> Option<Zoned> {
        day.to_datetime(self.start).to_zoned(self.tz.clone()).ok()
    }
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> Schedule {
        let hours = Hours {
            holidays: vec!["2026-11-23".into()],
            ..Hours::default()
        };
        Schedule::from_config(&hours, "Asia/Tokyo").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn open_on_a_weekday_in_tokyo() {
        // 2026-11-25 is a Wednesday; 10:00 JST = 01:00 UTC.
        assert!(tokyo().is_open(ts("2026-11-25T01:00:00Z")));
        // 19:00 JST.
        assert!(!tokyo().is_open(ts("2026-11-25T10:00:00Z")));
    }

    #[test]
    fn friday_night_waits_for_monday_and_holidays_are_skipped() {
        // Friday 2026-11-20 20:00 JST → Monday 23 is a holiday → Tuesday 24 09:00.
        let next = tokyo().next_open(ts("2026-11-20T11:00:00Z"));
        assert_eq!(next.date().to_string(), "2026-11-24");
        assert_eq!(next.time().to_string(), "09:00:00");
    }

    #[test]
    fn early_morning_opens_the_same_day() {
        // Wednesday 07:00 JST.
        let next = tokyo().next_open(ts("2026-11-24T22:00:00Z"));
        assert_eq!(next.date().to_string(), "2026-11-25");
    }

    #[test]
    fn bad_values_are_named() {
        let bad = Hours {
            days: vec!["funday".into()],
            ..Hours::default()
        };
        assert!(
            Schedule::from_config(&bad, "Asia/Tokyo")
                .unwrap_err()
                .contains("funday")
        );
        assert!(Schedule::from_config(&Hours::default(), "Mars/Base").is_err());
    }
}

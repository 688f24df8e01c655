//! Rendering the digest: the templates in `replies/digest/<lang>/`
//! (`digest.subject.hbs`, `digest.txt.hbs`, `digest.html.hbs`), a context of
//! ready-formatted values built from a [`Digest`], and the mail itself:
//!
//! ```text
//! multipart/alternative
//! ├── text/plain                 reads well on its own
//! └── multipart/related
//!     ├── text/html              tables, inline CSS, <img src="cid:…">
//!     └── image/png              the chart, Content-ID referenced above
//! ```
//!
//! The templates get every number already formatted (durations, deltas,
//! percentages, localized names), so they only decide layout and wording.
//! Like the guides, they are rendered in strict mode: a misspelt value fails.

use super::stats::{Compare, Digest, Durations, TicketRow};
use super::{DigestError, Settings, Week, chart, compute};
use crate::config::Config;
use crate::reply::templates::{TemplateError, one_line};
use crate::store::Store;
use crate::ticket::{Priority, Status};
use crate::verdict::{Category, Language};
use handlebars::Handlebars;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The three parts of a rendered digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDigest {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The digest templates of both languages.
pub struct DigestTemplates {
    /// Subject and text: no escaping.
    text: Handlebars<'static>,
    /// HTML: HTML escaping.
    html: Handlebars<'static>,
    dir: PathBuf,
}

impl std::fmt::Debug for DigestTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestTemplates")
            .field("dir", &self.dir)
            .finish()
    }
}

const PARTS: [(&str, bool); 3] = [("subject", false), ("txt", false), ("html", true)];

impl DigestTemplates {
    /// Load `replies_dir/digest/{ja,en}/digest.{subject,txt,html}.hbs`; every
    /// one must exist.
    pub fn load(replies_dir: &Path) -> Result<DigestTemplates, TemplateError> {
        let dir = replies_dir.join("digest");
        let mut t = DigestTemplates {
            text: registry(true),
            html: registry(false),
            dir: dir.clone(),
        };
        for lang in [Language::Ja, Language::En] {
            for (part, is_html) in PARTS {
                let path = dir.join(lang.as_str()).join(format!("digest.{part}.hbs"));
                let file = path.display().to_string();
                let source = std::fs::read_to_string(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        TemplateError::Missing {
                            file: file.clone(),
                            why: "the weekly digest needs a subject, a text and an HTML template in each language".into(),
                        }
                    } else {
                        TemplateError::Read {
                            path: file.clone(),
                            source: e,
                        }
                    }
                })?;
                let registry = if is_html { &mut t.html } else { &mut t.text };
                registry
                    .register_template_string(&name(lang, part), source)
                    .map_err(|e| {
                        let (line, column) = e.pos().unwrap_or((1, 1));
                        TemplateError::Syntax {
                            file: file.clone(),
                            line,
                            column,
                            message: e.reason().to_string(),
                        }
                    })?;
            }
        }
        Ok(t)
    }

    /// Render the digest in the configured language. `chart_src` is where
    /// the HTML finds the chart: `cid:…` in the mail, `chart.png` in a preview.
    pub fn render(
        &self,
        d: &Digest,
        config: &Config,
        late: bool,
        chart_src: &str,
    ) -> Result<RenderedDigest, TemplateError> {
        let lang = config.digest.language;
        let ctx = context(d, config, lang, late, chart_src);
        self.render_ctx(lang, &ctx)
    }

    fn render_ctx(&self, lang: Language, ctx: &Value) -> Result<RenderedDigest, TemplateError> {
        let one = |part: &str, is_html: bool| -> Result<String, TemplateError> {
            let registry = if is_html { &self.html } else { &self.text };
            registry
                .render(&name(lang, part), ctx)
                .map_err(|e| TemplateError::Render {
                    file: self
                        .dir
                        .join(lang.as_str())
                        .join(format!("digest.{part}.hbs"))
                        .display()
                        .to_string(),
                    line: e.line_no,
                    message: e.reason().to_string(),
                })
        };
        let subject = one_line(&one("subject", false)?);
        if subject.is_empty() {
            return Err(TemplateError::EmptySubject {
                file: self
                    .dir
                    .join(lang.as_str())
                    .join("digest.subject.hbs")
                    .display()
                    .to_string(),
            });
        }
        Ok(RenderedDigest {
            subject,
            text: one("txt", false)?,
            html: one("html", true)?,
        })
    }

    /// Render both languages against `d` (`late` both ways): what
    /// `mfa-desk check` can call to catch a broken digest template at start-up
    /// rather than on Monday morning.
    pub fn check(&self, d: &Digest, config: &Config) -> Result<(), Vec<TemplateError>> {
        let mut problems = Vec::new();
        for lang in [Language::Ja, Language::En] {
            for late in [false, true] {
                if let Err(e) = self.render_ctx(lang, &context(d, config, lang, late, "cid:chart"))
                {
                    problems.push(e);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn name(lang: Language, part: &str) -> String {
    format!("{}/digest.{part}", lang.as_str())
}

fn registry(text: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    if text {
        hb.register_escape_fn(handlebars::no_escape);
    }
    hb
}

/// A digest ready for the outbox.
#[derive(Debug, Clone)]
pub struct DigestMail {
    pub week: Week,
    pub message_id: String,
    pub envelope_from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// Compute, render and compose the digest of `week`.
pub fn build_mail(
    store: &Store,
    config: &Config,
    week: Week,
    now: Timestamp,
    late: bool,
) -> Result<DigestMail, DigestError> {
    let settings = Settings::from_config(config)?;
    let digest = compute(store, week, &settings, now)?;
    let templates = DigestTemplates::load(&config.replies_dir)?;
    compose_mail(&digest, &templates, config, late)
}

/// The admins and the extra `[digest] recipients`, each once.
pub fn recipients(config: &Config) -> Vec<String> {
    let mut to: Vec<String> = Vec::new();
    let all = config
        .support
        .admins
        .iter()
        .map(|a| a.address.trim().to_string())
        .chain(
            config
                .digest
                .recipients
                .iter()
                .map(|r| r.trim().to_string()),
        );
    for addr in all {
        if !addr.is_empty() && !to.iter().any(|t| t.eq_ignore_ascii_case(&addr)) {
            to.push(addr);
        }
    }
    to
}

/// Build the multipart mail of a computed digest.
pub fn compose_mail(
    d: &Digest,
    templates: &DigestTemplates,
    config: &Config,
    late: bool,
) -> Result<DigestMail, DigestError> {
    let support = &config.support;
    let domain = support
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "mfa-desk.invalid".into());
    let token = crate::worker::outgoing::random_hex();
    let message_id = format!("mfa-digest-{}.{token}@{domain}", d.week);
    let cid = format!("chart-{}.{token}@{domain}", d.week);
    let rendered = templates.render(d, config, late, &format!("cid:{cid}"))?;
    let png = chart::draw(d)?;

    let bad = |field: &str, value: &str| {
        DigestError::Mail(format!(
            "the {field} address `{value}` is not a valid mail address"
        ))
    };
    let from_text = format!("{} <{}>", quoted_name(&support.team_name), support.address);
    let from: Mailbox = from_text.parse().map_err(|_| bad("From", &from_text))?;
    let to = recipients(config);
    if to.is_empty() {
        return Err(DigestError::Mail("the digest has no recipient".into()));
    }
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(rendered.subject.clone())
        .message_id(Some(format!("<{message_id}>")))
        // An automatic report: out-of-office replies and loops stay away (RFC 3834).
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("Precedence", "bulk"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"))
        .raw_header(raw("X-MFA-Desk-Digest", &d.week.to_string()));
    for addr in &to {
        let mailbox: Mailbox = addr.parse().map_err(|_| bad("To", addr))?;
        builder = builder.to(mailbox);
    }
    let png_type = ContentType::parse("image/png").map_err(|e| DigestError::Mail(e.to_string()))?;
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(rendered.text.clone()))
        .multipart(
            MultiPart::related()
                .singlepart(SinglePart::html(rendered.html.clone()))
                .singlepart(
                    Attachment::new_inline_with_name(cid, "chart.png".into()).body(png, png_type),
                ),
        );
    let message = builder
        .multipart(body)
        .map_err(|e| DigestError::Mail(e.to_string()))?;
    Ok(DigestMail {
        week: d.week,
        message_id,
        envelope_from: support.address.clone(),
        to,
        subject: rendered.subject,
        raw: message.formatted(),
    })
}

fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
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

/// What a category is called in the digest and the FAQ.
pub fn category_label(c: Category, lang: Language) -> &'static str {
    match (lang, c) {
        (Language::Ja, Category::CodeNotReceived) => "認証コードが届かない",
        (Language::Ja, Category::PhoneChanged) => "スマートフォンの機種変更",
        (Language::Ja, Category::PhoneLost) => "スマートフォンの紛失・盗難",
        (Language::Ja, Category::TokenProblem) => "セキュリティキー・トークンの不具合",
        (Language::Ja, Category::UnexpectedPrompt) => "身に覚えのない承認要求",
        (Language::Ja, Category::LockedOut) => "サインインできない（ロック）",
        (Language::Ja, Category::SetupHelp) => "初期設定",
        (Language::Ja, Category::Other) => "その他",
        (Language::Ja, Category::AutoGenerated) => "自動送信メール",
        (Language::En, Category::CodeNotReceived) => "Code not received",
        (Language::En, Category::PhoneChanged) => "Changed phone",
        (Language::En, Category::PhoneLost) => "Lost or stolen phone",
        (Language::En, Category::TokenProblem) => "Security key / token problem",
        (Language::En, Category::UnexpectedPrompt) => "Unexpected sign-in prompt",
        (Language::En, Category::LockedOut) => "Locked out",
        (Language::En, Category::SetupHelp) => "Setting up",
        (Language::En, Category::Other) => "Other",
        (Language::En, Category::AutoGenerated) => "Auto-generated mail",
    }
}

fn status_label(s: Status, lang: Language) -> &'static str {
    match (lang, s) {
        (Language::Ja, Status::AwaitingFeedback) => "ガイド送付済み（返答待ち）",
        (Language::Ja, Status::Open) => "対応待ち",
        (Language::Ja, Status::Waiting) => "社員の返信待ち",
        (Language::Ja, Status::Resolved) => "解決済み",
        (Language::En, Status::AwaitingFeedback) => "guide sent, awaiting feedback",
        (Language::En, Status::Open) => "open",
        (Language::En, Status::Waiting) => "waiting on employee",
        (Language::En, Status::Resolved) => "resolved",
    }
}

fn priority_label(p: Priority, lang: Language) -> &'static str {
    match (lang, p) {
        (Language::Ja, Priority::Urgent) => "緊急",
        (Language::Ja, Priority::High) => "高",
        (Language::Ja, Priority::Normal) => "通常",
        (Language::Ja, Priority::Low) => "低",
        (Language::En, p) => p.as_str(),
    }
}

/// `2 d 4 h`, `3 h 20 min`, `45 min` (ja: `2日4時間`, `3時間20分`, `45分`).
pub fn duration(secs: i64, lang: Language) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let ja = lang == Language::Ja;
    // Two units at most, and no zero remainder ("1 h", not "1 h 0 min").
    match (d, h, m) {
        (0, 0, m) if ja => format!("{m}分"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) if ja => format!("{h}時間"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) if ja => format!("{h}時間{m}分"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) if ja => format!("{d}日"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) if ja => format!("{d}日{h}時間"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn opt_duration(secs: Option<i64>, lang: Language) -> String {
    secs.map(|s| duration(s, lang))
        .unwrap_or_else(|| "—".into())
}

/// `+3`, `−2`, `±0`.
fn delta(this: i64, previous: i64) -> String {
    match this - previous {
        0 => "±0".into(),
        d if d > 0 => format!("+{d}"),
        d => format!("−{}", -d),
    }
}

fn compare(c: Compare<i64>) -> Value {
    // Not `this`: handlebars reads `x.this` as `x` itself.
    json!({"current": c.this, "previous": c.previous, "delta": delta(c.this, c.previous)})
}

fn local_time(t: i64, tz: &TimeZone) -> String {
    Timestamp::from_second(t)
        .map(|ts| {
            ts.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

fn durations(c: Compare<Durations>, lang: Language) -> Value {
    json!({
        "count": c.this.count,
        "median": opt_duration(c.this.median_secs, lang),
        "p90": opt_duration(c.this.p90_secs, lang),
        "previous_count": c.previous.count,
        "previous_median": opt_duration(c.previous.median_secs, lang),
        "previous_p90": opt_duration(c.previous.p90_secs, lang),
    })
}

fn ticket_row(t: &TicketRow, lang: Language, tz: &TimeZone) -> Value {
    json!({
        "tag": t.tag,
        "subject": one_line(&t.subject),
        "requester": t.requester,
        "category": category_label(t.category, lang),
        "category_slug": t.category.as_str(),
        "status": status_label(t.status, lang),
        "priority": priority_label(t.priority, lang),
        "urgent": t.priority == Priority::Urgent,
        "owner": t.owner.clone().filter(|o| !o.trim().is_empty()).unwrap_or_else(|| "—".into()),
        "resolution": t.resolution.clone().unwrap_or_default(),
        "created": local_time(t.created_at, tz),
        "age": duration(t.age_secs, lang),
    })
}

/// Everything the digest templates may use (see `replies/digest/README.md`).
pub fn context(d: &Digest, config: &Config, lang: Language, late: bool, chart_src: &str) -> Value {
    let tz = TimeZone::get(&d.time_zone).unwrap_or(TimeZone::UTC);
    let categories: Vec<Value> = d
        .messages_by_category
        .iter()
        .zip(&d.tickets_by_category)
        .filter(|(m, t)| m.count.this + m.count.previous + t.count.this + t.count.previous > 0)
        .map(|(m, t)| {
            json!({
                "name": category_label(m.category, lang),
                "slug": m.category.as_str(),
                "color": chart::color_hex(m.category),
                "messages": compare(m.count),
                "tickets": compare(t.count),
            })
        })
        .collect();
    let rate = |r: &super::stats::Resolved| {
        r.rate_percent()
            .map(|p| format!("{p}%"))
            .unwrap_or_else(|| "—".into())
    };
    let rows =
        |v: &[TicketRow]| -> Vec<Value> { v.iter().map(|t| ticket_row(t, lang, &tz)).collect() };
    json!({
        "lang": lang.as_str(),
        "week": d.week.to_string(),
        "previous_week": d.previous_week.to_string(),
        "first_day": d.first_day,
        "last_day": d.last_day,
        "time_zone": d.time_zone,
        "generated": local_time(d.now, &tz),
        "late": late,
        "quiet": d.is_quiet(),
        "support": {
            "team_name": config.support.team_name,
            "address": config.support.address,
            "company": config.support.company,
        },
        "chart": {
            "src": chart_src,
            "width": chart::WIDTH,
            "height": chart::HEIGHT,
        },
        "messages": compare(d.messages),
        "tickets": compare(d.tickets_opened),
        "categories": categories,
        "resolved": {
            "guide": d.resolved.this.guide(),
            "self_service": d.resolved.this.self_service,
            "presumed_solved": d.resolved.this.presumed_solved,
            "person": d.resolved.this.person,
            "total": d.resolved.this.total(),
            "rate": rate(&d.resolved.this),
            "previous_guide": d.resolved.previous.guide(),
            "previous_person": d.resolved.previous.person,
            "previous_rate": rate(&d.resolved.previous),
        },
        "sent_to_person": compare(d.sent_to_person),
        "first_response": durations(d.first_response, lang),
        "time_to_resolve": durations(d.time_to_resolve, lang),
        "targets": {
            "urgent": duration(settings_secs(config.digest.targets.urgent_hours), lang),
            "high": duration(settings_secs(config.digest.targets.high_hours), lang),
            "normal": duration(settings_secs(config.digest.targets.normal_hours), lang),
            "low": duration(settings_secs(config.digest.targets.low_hours), lang),
        },
        "missed": {
            "count": d.missed_targets.len(),
            "previous": d.missed_previous,
            "delta": delta(d.missed_targets.len() as i64, d.missed_previous),
            "rows": d.missed_targets.iter().map(|m| {
                let mut row = ticket_row(&m.ticket, lang, &tz);
                row["target"] = json!(duration(m.target_secs, lang));
                row["response"] = json!(m.response_secs.map(|s| duration(s, lang)));
                row
            }).collect::<Vec<_>>(),
        },
        "open_queue": {
            "total": d.open_total,
            "more": d.open_total.saturating_sub(d.open_queue.len()),
            "rows": rows(&d.open_queue),
        },
        "waiting": {
            "total": d.waiting_total,
            "more": d.waiting_total.saturating_sub(d.waiting.len()),
            "rows": rows(&d.waiting),
        },
        "security": {
            "count": d.security.len(),
            "previous": d.security_previous,
            "rows": rows(&d.security),
        },
        "repeat_writers": d.repeat_writers.iter().map(|w| json!({
            "address": w.address,
            "messages": w.messages,
            "tickets": w.tickets,
            "last_subject": one_line(&w.last_subject),
        })).collect::<Vec<_>>(),
        "missing": {
            "other": compare(d.other_messages),
            "terms": d.missing_terms.iter().map(|t| json!({"term": t.term, "mails": t.mails})).collect::<Vec<_>>(),
            "subjects": d.missing_subjects,
        },
        "admins": d.admin_load.iter().map(|a| json!({
            "name": a.name,
            "address": a.address,
            "handled": a.handled.this,
            "handled_previous": a.handled.previous,
            "delta": delta(a.handled.this, a.handled.previous),
            "owns_open": a.owns_open,
        })).collect::<Vec<_>>(),
        "unowned_open": d.unowned_open,
    })
}

fn settings_secs(hours: f64) -> i64 {
    (hours * 3600.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_deltas_read_well() {
        assert_eq!(duration(45 * 60, Language::En), "45 min");
        assert_eq!(duration(3 * 3600 + 20 * 60, Language::En), "3 h 20 min");
        assert_eq!(duration(2 * 86_400 + 4 * 3600, Language::Ja), "2日4時間");
        assert_eq!(duration(3600, Language::Ja), "1時間");
        assert_eq!(duration(86_400, Language::En), "1 d");
        assert_eq!(delta(5, 3), "+2");
        assert_eq!(delta(3, 5), "−2");
        assert_eq!(delta(1, 1), "±0");
    }
}

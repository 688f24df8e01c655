//! The weekly digest: every figure from a store with known traffic (fixed
//! clock, Asia/Tokyo), the rendered mail, exactly-once sending across
//! restarts, and the schedule in a zone without and with daylight saving.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use mail_parser::MimeHeaders;
use mfa_desk::config::Config;
use mfa_desk::digest::{self, Schedule, Settings, Week, due_period, send_due_digest};
use mfa_desk::store::{MessageRecord, NewTicket, Store};
use mfa_desk::ticket::{Priority, Status};
use mfa_desk::verdict::{Category, Language};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A config like the shipped one, with its store in `dir`.
fn config(dir: &Path, language: &str) -> Config {
    let text = format!(
        r#"
rules = {rules:?}
replies = {replies:?}

[mailbox]
kind = "folder"
path = "inbox"

[store]
path = "desk.sqlite3"

[outbox]
kind = "file"
path = "outbox"

[support]
team_name = "情報システム部 (IT support)"
company = "Example株式会社"
address = "support@example.co.jp"
emergency_phone = "03-1234-5678"
timezone = "Asia/Tokyo"
hours_ja = "平日 9:00〜18:00"
hours_en = "weekdays 9:00-18:00 (Japan time)"
response_time_ja = "1営業日以内"
response_time_en = "within one business day"

[[support.admins]]
name = "佐藤 健"
address = "sato@example.co.jp"

[[support.admins]]
name = "Alex Morgan"
address = "alex.morgan@example.co.jp"

[mfa]
app_name = "Microsoft Authenticator"
portal_url = "https://mysignins.microsoft.com/security-info"
help_url = "https://support.microsoft.com/"

[digest]
language = "{language}"
recipients = ["cio@example.co.jp", "SATO@example.co.jp"]
"#,
        rules = Path::new(ROOT)
            .join("config/rules.toml")
            .display()
            .to_string(),
        replies = Path::new(ROOT).join("replies").display().to_string(),
    );
    Config::from_toml(&text, &dir.join("mfa-desk.toml")).expect("test config is valid")
}

/// Seconds of a Tokyo wall-clock time, e.g. `t("2026-11-16T10:00")`.
fn t(local: &str) -> i64 {
    ts(local).as_second()
}

fn ts(local: &str) -> Timestamp {
    format!("{local}[Asia/Tokyo]")
        .parse::<Zoned>()
        .expect("test time")
        .timestamp()
}

struct Traffic<'a> {
    store: &'a mut Store,
    n: usize,
}

impl Traffic<'_> {
    fn message(
        &mut self,
        from: &str,
        subject: &str,
        text: &str,
        cat: Category,
        at: i64,
        ticket: Option<i64>,
    ) {
        self.n += 1;
        let key = format!("m{}", self.n);
        let tx = self.store.begin().expect("begin");
        tx.insert_message(&MessageRecord {
            dedup_key: &key,
            source_ref: &key,
            ticket_id: ticket,
            from_addr: from,
            subject,
            new_text: text,
            category: cat,
            action: cat.action().as_str(),
            language: Language::En,
            confidence: 0.9,
            matched: &[],
            problems: &[],
            raw: None,
            received_at: at,
        })
        .expect("message");
        tx.commit().expect("commit");
    }

    /// A ticket opened by a mail, as the worker writes it.
    fn open(&mut self, from: &str, subject: &str, text: &str, cat: Category, at: i64) -> i64 {
        let status = if cat.action().needs_person() {
            Status::Open
        } else {
            Status::AwaitingFeedback
        };
        let tx = self.store.begin().expect("begin");
        let id = tx
            .create_ticket(&NewTicket {
                requester: from,
                requester_name: None,
                subject,
                category: cat,
                language: Language::En,
                status,
                priority: Priority::for_category(cat),
                owner: None,
                now: at,
            })
            .expect("ticket");
        tx.add_event(
            id,
            at,
            "opened",
            from,
            &serde_json::json!({"category": cat, "action": cat.action()}),
        )
        .expect("event");
        tx.commit().expect("commit");
        self.message(from, subject, text, cat, at, Some(id));
        id
    }

    fn event(&mut self, id: i64, at: i64, kind: &str, actor: &str) {
        let tx = self.store.begin().expect("begin");
        tx.add_event(id, at, kind, actor, &serde_json::json!({}))
            .expect("event");
        tx.commit().expect("commit");
    }

    fn update(&mut self, id: i64, at: i64, f: impl FnOnce(&mut mfa_desk::ticket::Ticket)) {
        let tx = self.store.begin().expect("begin");
        let mut ticket = tx.ticket(id).expect("read").expect("exists");
        ticket.updated_at = at;
        f(&mut ticket);
        tx.save_ticket(&ticket).expect("save");
        tx.commit().expect("commit");
    }

    fn resolve(&mut self, id: i64, at: i64, resolution: &str, actor: &str) {
        let kind = match resolution {
            "self_service" => "feedback_solved",
            "presumed_solved" => "presumed_solved",
            _ => "resolved",
        };
        self.event(id, at, kind, actor);
        self.update(id, at, |t| {
            t.status = Status::Resolved;
            t.resolution = Some(resolution.into());
            t.resolved_at = Some(at);
        });
    }

    fn first_response(&mut self, id: i64, at: i64, admin: &str, owner: &str) {
        self.event(id, at, "admin_reply", admin);
        self.update(id, at, |t| {
            t.first_response_at = Some(at);
            t.owner = Some(owner.into());
        });
    }
}

const SATO: &str = "sato@example.co.jp";
const ALEX: &str = "alex.morgan@example.co.jp";
const CAROL: &str = "carol@example.co.jp";

/// Week 2026-W46 (9–15 Nov) and 2026-W47 (16–22 Nov), Tokyo time.
fn known_traffic(store: &mut Store) {
    let mut tr = Traffic { store, n: 0 };
    // W45: Carol's first mail (no ticket; counts only for repeat writers).
    tr.message(
        CAROL,
        "VPN again",
        "VPN",
        Category::Other,
        t("2026-11-04T10:00"),
        None,
    );

    // ---- W46 ----
    let p1 = tr.open(
        "dan@example.co.jp",
        "code",
        "no code",
        Category::CodeNotReceived,
        t("2026-11-10T10:00"),
    );
    tr.resolve(
        p1,
        t("2026-11-11T10:00"),
        "self_service",
        "dan@example.co.jp",
    );
    let p2 = tr.open(
        "erin@example.co.jp",
        "locked",
        "locked out",
        Category::LockedOut,
        t("2026-11-11T09:00"),
    );
    // High target 4 h, answered after 5 h: missed in W46.
    tr.first_response(p2, t("2026-11-11T14:00"), ALEX, ALEX);
    tr.resolve(p2, t("2026-11-12T15:00"), "admin", ALEX);
    let p3 = tr.open(
        CAROL,
        "VPN broken",
        "vpn",
        Category::Other,
        t("2026-11-12T10:00"),
    );
    tr.first_response(p3, t("2026-11-12T12:00"), SATO, SATO);
    tr.resolve(p3, t("2026-11-13T10:00"), "admin", SATO);

    // ---- W47 ----
    let t1 = tr.open(
        "alice@example.co.jp",
        "code",
        "no code",
        Category::CodeNotReceived,
        t("2026-11-16T10:00"),
    );
    tr.message(
        "alice@example.co.jp",
        "Re: code",
        "解決しました",
        Category::CodeNotReceived,
        t("2026-11-17T09:00"),
        Some(t1),
    );
    tr.resolve(
        t1,
        t("2026-11-17T09:00"),
        "self_service",
        "alice@example.co.jp",
    );
    // A "thanks" afterwards does not put a guide-solved ticket in the queue.
    tr.event(
        t1,
        t("2026-11-17T09:05"),
        "employee_reply",
        "alice@example.co.jp",
    );
    let t2 = tr.open(
        "bob@example.co.jp",
        "new phone",
        "changed phone",
        Category::PhoneChanged,
        t("2026-11-16T11:00"),
    );
    tr.resolve(t2, t("2026-11-22T12:00"), "presumed_solved", "mfa-desk");
    let t3 = tr.open(
        "frank@example.co.jp",
        "lost phone",
        "lost it",
        Category::PhoneLost,
        t("2026-11-17T09:00"),
    );
    tr.first_response(t3, t("2026-11-17T09:30"), SATO, SATO);
    tr.resolve(t3, t("2026-11-18T09:00"), "admin", SATO);
    let t4 = tr.open(
        "gina@example.co.jp",
        "approve?",
        "prompt I did not make",
        Category::UnexpectedPrompt,
        t("2026-11-18T08:00"),
    );
    tr.first_response(t4, t("2026-11-18T10:00"), ALEX, "Alex Morgan");
    tr.update(t4, t("2026-11-18T10:00"), |t| t.status = Status::Waiting);
    tr.open(
        "hank@example.co.jp",
        "VPN client crashes on startup",
        "The VPN client crashes when I start it. VPN version 5.",
        Category::Other,
        t("2026-11-19T10:00"),
    );
    tr.open(
        CAROL,
        "VPNに接続できない",
        "自宅からVPNに接続できません。",
        Category::Other,
        t("2026-11-20T10:00"),
    );
    let t7 = tr.open(
        "ivy@example.co.jp",
        "setup",
        "how to set up",
        Category::SetupHelp,
        t("2026-11-21T10:00"),
    );
    tr.message(
        "ivy@example.co.jp",
        "Re: setup",
        "did not help",
        Category::SetupHelp,
        t("2026-11-22T10:00"),
        Some(t7),
    );
    tr.event(
        t7,
        t("2026-11-22T10:00"),
        "feedback_not_solved",
        "ivy@example.co.jp",
    );
    tr.update(t7, t("2026-11-22T10:00"), |t| t.status = Status::Open);
    tr.message(
        "mailer-daemon@example.co.jp",
        "Undeliverable",
        "bounce",
        Category::AutoGenerated,
        t("2026-11-22T12:00"),
        None,
    );
}

fn settings() -> Settings {
    let cfg = config(Path::new("/nonexistent"), "en");
    Settings::from_config(&cfg).expect("settings")
}

fn week(s: &str) -> Week {
    s.parse().expect("week")
}

#[test]
fn every_figure_of_a_known_week() {
    let mut store = Store::open_in_memory().expect("store");
    known_traffic(&mut store);
    let now = ts("2026-11-23T09:00");
    let d = digest::compute(&store, week("2026-W47"), &settings(), now).expect("digest");

    assert_eq!(d.week.to_string(), "2026-W47");
    assert_eq!(
        (d.first_day.as_str(), d.last_day.as_str()),
        ("2026-11-16", "2026-11-22")
    );

    // Messages, per category, against the week before.
    assert_eq!((d.messages.this, d.messages.previous), (10, 3));
    let msgs = |c: Category| {
        let row = d
            .messages_by_category
            .iter()
            .find(|r| r.category == c)
            .expect("row");
        (row.count.this, row.count.previous)
    };
    assert_eq!(msgs(Category::CodeNotReceived), (2, 1));
    assert_eq!(msgs(Category::PhoneChanged), (1, 0));
    assert_eq!(msgs(Category::PhoneLost), (1, 0));
    assert_eq!(msgs(Category::UnexpectedPrompt), (1, 0));
    assert_eq!(msgs(Category::LockedOut), (0, 1));
    assert_eq!(msgs(Category::SetupHelp), (2, 0));
    assert_eq!(msgs(Category::Other), (2, 1));
    assert_eq!(msgs(Category::AutoGenerated), (1, 0));

    // Tickets opened per category.
    assert_eq!((d.tickets_opened.this, d.tickets_opened.previous), (7, 3));
    let opened = |c: Category| {
        let row = d
            .tickets_by_category
            .iter()
            .find(|r| r.category == c)
            .expect("row");
        (row.count.this, row.count.previous)
    };
    assert_eq!(opened(Category::Other), (2, 1));
    assert_eq!(opened(Category::LockedOut), (0, 1));
    assert_eq!(opened(Category::AutoGenerated), (0, 0));

    // Self-service: T1 (said solved), T2 (presumed), T3 (admin) this week;
    // P1 (said solved), P2 and P3 (admin) the week before.
    assert_eq!(d.resolved.this.self_service, 1);
    assert_eq!(d.resolved.this.presumed_solved, 1);
    assert_eq!(d.resolved.this.person, 1);
    assert_eq!(d.resolved.this.rate_percent(), Some(67));
    assert_eq!(
        (d.resolved.previous.guide(), d.resolved.previous.person),
        (1, 2)
    );
    assert_eq!(d.resolved.previous.rate_percent(), Some(33));
    assert_eq!((d.sent_to_person.this, d.sent_to_person.previous), (5, 2));

    // First response from queue entry: T3 30 min, T4 2 h; P3 2 h, P2 5 h.
    let fr = d.first_response;
    assert_eq!(
        (fr.this.count, fr.this.median_secs, fr.this.p90_secs),
        (2, Some(1800), Some(7200))
    );
    assert_eq!(
        (fr.previous.median_secs, fr.previous.p90_secs),
        (Some(7200), Some(18_000))
    );
    // Time to resolve, tickets a person handled: T3 24 h; P3 24 h, P2 30 h.
    let ttr = d.time_to_resolve;
    assert_eq!(
        (ttr.this.count, ttr.this.median_secs, ttr.this.p90_secs),
        (1, Some(86_400), Some(86_400))
    );
    assert_eq!(
        (ttr.previous.median_secs, ttr.previous.p90_secs),
        (Some(86_400), Some(108_000))
    );

    // Missed targets: T4 (urgent, answered after 2 h), T5 and T6 (normal,
    // unanswered). T3 was answered in time; T7's deadline is not past yet.
    let missed: Vec<(&str, Option<i64>)> = d
        .missed_targets
        .iter()
        .map(|m| (m.ticket.tag.as_str(), m.response_secs))
        .collect();
    assert_eq!(
        missed,
        vec![("MFA-7", Some(7200)), ("MFA-8", None), ("MFA-9", None)]
    );
    assert_eq!(d.missed_targets[0].target_secs, 3600);
    assert_eq!(d.missed_previous, 1);

    // The queue now: oldest first, with ages as of `now`; T4 waits on the employee.
    let queue: Vec<(&str, i64)> = d
        .open_queue
        .iter()
        .map(|t| (t.tag.as_str(), t.age_secs))
        .collect();
    assert_eq!(
        queue,
        vec![
            ("MFA-8", 4 * 86_400 - 3600),
            ("MFA-9", 3 * 86_400 - 3600),
            ("MFA-10", 2 * 86_400 - 3600),
        ]
    );
    assert_eq!(d.open_total, 3);
    assert_eq!(d.waiting.len(), 1);
    assert_eq!(d.waiting[0].tag, "MFA-7");
    assert_eq!(
        d.waiting[0].age_secs,
        t("2026-11-23T09:00") - t("2026-11-18T10:00")
    );
    assert_eq!(d.unowned_open, 3);

    // Security: every unexpected_prompt and phone_lost ticket of the week, with its state.
    let sec: Vec<(&str, Category, Status)> = d
        .security
        .iter()
        .map(|t| (t.tag.as_str(), t.category, t.status))
        .collect();
    assert_eq!(
        sec,
        vec![
            ("MFA-6", Category::PhoneLost, Status::Resolved),
            ("MFA-7", Category::UnexpectedPrompt, Status::Waiting),
        ]
    );
    assert_eq!(d.security_previous, 0);

    // Carol wrote in W45, W46 and W47: three mails, two tickets.
    assert_eq!(d.repeat_writers.len(), 1);
    let carol = &d.repeat_writers[0];
    assert_eq!(
        (carol.address.as_str(), carol.messages, carol.tickets),
        (CAROL, 3, 2)
    );
    assert_eq!(carol.last_subject, "VPNに接続できない");

    // Missing guides: "vpn" in both `other` mails, then the rest once each.
    assert_eq!((d.other_messages.this, d.other_messages.previous), (2, 1));
    let terms: Vec<(&str, i64)> = d
        .missing_terms
        .iter()
        .map(|t| (t.term.as_str(), t.mails))
        .collect();
    assert_eq!(terms[0], ("vpn", 2));
    assert!(
        terms.contains(&("接続", 1)) && terms.contains(&("crashes", 1)),
        "{terms:?}"
    );
    assert!(
        !terms.iter().any(|(t, _)| *t == "the" || *t == "when"),
        "{terms:?}"
    );
    assert_eq!(
        d.missing_subjects,
        vec!["VPNに接続できない", "VPN client crashes on startup"]
    );

    // Per-admin load: by event actor, and by owner given as address or name.
    let load: Vec<(&str, i64, i64, i64)> = d
        .admin_load
        .iter()
        .map(|a| {
            (
                a.address.as_str(),
                a.handled.this,
                a.handled.previous,
                a.owns_open,
            )
        })
        .collect();
    assert_eq!(load, vec![(SATO, 1, 1, 0), (ALEX, 1, 1, 1)]);

    // The chart's data: messages per local day.
    let day = |date: &str, c: Category| {
        d.days
            .iter()
            .find(|x| x.date == date)
            .and_then(|x| x.counts.get(&c).copied())
            .unwrap_or(0)
    };
    assert_eq!(d.days.len(), 7);
    assert_eq!(day("2026-11-16", Category::CodeNotReceived), 1);
    assert_eq!(day("2026-11-17", Category::CodeNotReceived), 1);
    assert_eq!(day("2026-11-22", Category::SetupHelp), 1);
    assert_eq!(day("2026-11-22", Category::AutoGenerated), 1);
    let total: i64 = d.days.iter().flat_map(|x| x.counts.values()).sum();
    assert_eq!(total, 10);
}

#[test]
fn an_empty_week_has_no_rates_and_no_percentiles() {
    let store = Store::open_in_memory().expect("store");
    let d = digest::compute(
        &store,
        week("2026-W47"),
        &settings(),
        ts("2026-11-23T09:00"),
    )
    .expect("digest");
    assert!(d.is_quiet());
    assert_eq!(d.resolved.this.rate_percent(), None);
    assert_eq!(d.first_response.this.median_secs, None);
    assert!(d.open_queue.is_empty() && d.missing_terms.is_empty());
    let png = digest::chart::draw(&d).expect("an empty chart still draws");
    assert!(png.starts_with(b"\x89PNG"));
}

/// The digest mail: alternative(text, related(html, png)), the HTML
/// pointing at the PNG's Content-ID, every recipient once.
#[test]
fn the_mail_is_text_plus_html_with_the_chart_inline() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "en");
    let mut store = Store::open_in_memory().expect("store");
    known_traffic(&mut store);
    let mail = digest::render::build_mail(
        &store,
        &cfg,
        week("2026-W47"),
        ts("2026-11-23T09:00"),
        false,
    )
    .expect("mail");
    assert_eq!(
        mail.to,
        vec![SATO.to_string(), ALEX.into(), "cio@example.co.jp".into()]
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .expect("parses");
    assert!(
        parsed.subject().unwrap_or("").contains("2026-W47"),
        "{:?}",
        parsed.subject()
    );
    let text = parsed.body_text(0).expect("text part");
    assert!(
        text.contains("Mails received ........... 10 / 3 / +7"),
        "{text}"
    );
    assert!(
        text.contains("Self-service rate ........ 67% / 33%"),
        "{text}"
    );
    assert!(text.contains("MFA-8 age 3 d 23 h"), "{text}");
    assert!(!text.contains("late"), "not late: {text}");
    let html = parsed.body_html(0).expect("html part");
    assert!(!html.to_lowercase().contains("<script"), "no JavaScript");
    let img = parsed
        .attachments()
        .find(|a| {
            a.content_type()
                .is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png"))
        })
        .expect("the chart is attached");
    assert!(img.contents().starts_with(b"\x89PNG"));
    let cid = img.content_id().expect("the chart has a Content-ID");
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
    let raw = String::from_utf8_lossy(&mail.raw);
    assert!(raw.contains("multipart/alternative") && raw.contains("multipart/related"));
    assert!(raw.contains("Auto-Submitted: auto-generated"));
}

#[test]
fn the_japanese_digest_renders_too() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "ja");
    let mut store = Store::open_in_memory().expect("store");
    known_traffic(&mut store);
    let mail =
        digest::render::build_mail(&store, &cfg, week("2026-W47"), ts("2026-11-24T12:00"), true)
            .expect("mail");
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .expect("parses");
    assert!(parsed.subject().unwrap_or("").contains("週次レポート"));
    assert!(parsed.subject().unwrap_or("").contains("遅延送信"));
    let text = parsed.body_text(0).expect("text");
    assert!(text.contains("遅れて送信されています"), "{text}");
    assert!(text.contains("身に覚えのない承認要求"), "{text}");
    // Both languages' templates render with the same digest.
    let templates = digest::render::DigestTemplates::load(&cfg.replies_dir).expect("load");
    let d = digest::compute(
        &store,
        week("2026-W47"),
        &settings(),
        ts("2026-11-24T12:00"),
    )
    .expect("digest");
    templates
        .check(&d, &cfg)
        .expect("every digest template renders");
}

fn digest_rows(store: &Store) -> Vec<(String, i64)> {
    let conn = store.connection();
    let mut stmt = conn
        .prepare("SELECT week, late FROM digests ORDER BY week")
        .expect("sql");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

fn digest_mails(store: &Store) -> usize {
    store
        .outbox_for(None)
        .expect("outbox")
        .iter()
        .filter(|m| m.kind == "digest")
        .count()
}

#[test]
fn each_week_is_queued_exactly_once_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "en");
    let path: PathBuf = cfg.store.path.clone();
    {
        let mut store = Store::open(&path).expect("store");
        known_traffic(&mut store);
        // W46's digest, on time at its slot.
        assert_eq!(
            send_due_digest(&mut store, &cfg, ts("2026-11-16T09:00"))
                .expect("ok")
                .as_deref(),
            Some("2026-W46")
        );
        // Before the next slot: nothing.
        assert_eq!(
            send_due_digest(&mut store, &cfg, ts("2026-11-23T08:59")).expect("ok"),
            None
        );
        // At the slot: W47, on time.
        assert_eq!(
            send_due_digest(&mut store, &cfg, ts("2026-11-23T09:00"))
                .expect("ok")
                .as_deref(),
            Some("2026-W47")
        );
        // The same minute again: nothing.
        assert_eq!(
            send_due_digest(&mut store, &cfg, ts("2026-11-23T09:00")).expect("ok"),
            None
        );
    }
    // A restart (a new handle on the same file), twice in the same minute.
    for _ in 0..2 {
        let mut store = Store::open(&path).expect("reopen");
        assert_eq!(
            send_due_digest(&mut store, &cfg, ts("2026-11-23T09:00")).expect("ok"),
            None
        );
    }
    // Two handles at once (two processes): still one.
    let mut a = Store::open(&path).expect("a");
    let mut b = Store::open(&path).expect("b");
    assert_eq!(
        send_due_digest(&mut a, &cfg, ts("2026-11-25T10:00")).expect("ok"),
        None
    );
    assert_eq!(
        send_due_digest(&mut b, &cfg, ts("2026-11-25T10:00")).expect("ok"),
        None
    );
    assert_eq!(digest_mails(&a), 2);
    assert_eq!(
        digest_rows(&a),
        vec![("2026-W46".to_string(), 0), ("2026-W47".to_string(), 0)]
    );
    // Next week's slot brings the next week's digest.
    assert_eq!(
        send_due_digest(&mut b, &cfg, ts("2026-11-30T09:01"))
            .expect("ok")
            .as_deref(),
        Some("2026-W48")
    );
    assert_eq!(digest_mails(&a), 3);
}

#[test]
fn a_digest_missed_while_down_is_sent_late_on_start_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "en");
    let mut store = Store::open(&cfg.store.path).expect("store");
    known_traffic(&mut store);
    // Down over Monday morning; started on Tuesday at noon.
    assert_eq!(
        send_due_digest(&mut store, &cfg, ts("2026-11-24T12:00"))
            .expect("ok")
            .as_deref(),
        Some("2026-W47")
    );
    assert_eq!(digest_rows(&store), vec![("2026-W47".to_string(), 1)]);
    let mail = store
        .outbox_for(None)
        .expect("outbox")
        .into_iter()
        .find(|m| m.kind == "digest")
        .expect("queued");
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .expect("parses");
    assert!(parsed.subject().unwrap_or("").contains("(sent late)"));
    assert!(
        parsed
            .body_text(0)
            .expect("text")
            .contains("this digest is late")
    );
    assert_eq!(
        send_due_digest(&mut store, &cfg, ts("2026-11-24T12:01")).expect("ok"),
        None
    );
}

#[test]
fn a_new_installation_sends_no_digest_about_the_time_before_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "en");
    let mut store = Store::open(&cfg.store.path).expect("store");
    assert_eq!(
        send_due_digest(&mut store, &cfg, ts("2026-11-23T09:00")).expect("ok"),
        None
    );
    assert_eq!(digest_mails(&store), 0);
}

#[test]
fn the_preview_writes_html_text_and_chart() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "en");
    let mut store = Store::open_in_memory().expect("store");
    known_traffic(&mut store);
    let out = dir.path().join("preview");
    let p = digest::preview(
        &store,
        &cfg,
        Some(week("2026-W47")),
        ts("2026-11-23T09:00"),
        &out,
    )
    .expect("preview");
    let html = std::fs::read_to_string(&p.html).expect("html");
    assert!(html.contains("src=\"chart.png\""));
    assert!(
        std::fs::read(&p.chart)
            .expect("png")
            .starts_with(b"\x89PNG")
    );
    assert!(
        std::fs::read_to_string(&p.text)
            .expect("txt")
            .contains("WEEK 2026-W47")
    );
    // Nothing was queued or recorded by a preview.
    assert_eq!(digest_mails(&store), 0);
    assert!(digest_rows(&store).is_empty());
}

fn schedule(day: &str, time: &str) -> Schedule {
    let d = mfa_desk::config::Digest {
        day: day.into(),
        time: time.into(),
        ..Default::default()
    };
    Schedule::from_config(&d).expect("schedule")
}

fn utc(s: &str) -> Timestamp {
    s.parse().expect("utc time")
}

#[test]
fn the_schedule_in_tokyo() {
    let tz = TimeZone::get("Asia/Tokyo").expect("tz");
    let s = schedule("monday", "09:00");
    // Monday 2026-11-23 09:00 JST is 00:00 UTC.
    assert_eq!(
        due_period(utc("2026-11-22T23:59:59Z"), &s, &tz, Some(week("2026-W46"))),
        None
    );
    assert_eq!(
        due_period(utc("2026-11-23T00:00:00Z"), &s, &tz, Some(week("2026-W46"))),
        Some((week("2026-W47"), false))
    );
    assert_eq!(
        due_period(utc("2026-11-23T00:15:00Z"), &s, &tz, Some(week("2026-W46"))),
        Some((week("2026-W47"), false))
    );
    assert_eq!(
        due_period(utc("2026-11-23T00:16:00Z"), &s, &tz, Some(week("2026-W46"))),
        Some((week("2026-W47"), true))
    );
    assert_eq!(
        due_period(utc("2026-11-23T00:00:00Z"), &s, &tz, Some(week("2026-W47"))),
        None
    );
    // Down for two weeks: only the latest week is due, late.
    assert_eq!(
        due_period(utc("2026-12-01T03:00:00Z"), &s, &tz, Some(week("2026-W46"))),
        Some((week("2026-W48"), true))
    );
    // Before the slot on Monday, last week's digest is not due yet; the one before is (if unsent).
    assert_eq!(
        due_period(utc("2026-11-22T23:00:00Z"), &s, &tz, None),
        Some((week("2026-W46"), true))
    );
    // A year boundary: 2026-W53 exists (2026 ends on a Thursday).
    assert_eq!(
        due_period(utc("2027-01-04T00:00:00Z"), &s, &tz, None),
        Some((week("2026-W53"), false))
    );
    // The week is 7 × 24 h in Tokyo.
    let w = week("2026-W47");
    assert_eq!(
        w.end(&tz)
            .expect("end")
            .duration_since(w.start(&tz).expect("start"))
            .as_hours(),
        168
    );
}

#[test]
fn the_schedule_across_daylight_saving_in_berlin_and_new_york() {
    let berlin = TimeZone::get("Europe/Berlin").expect("tz");
    let s = schedule("monday", "09:00");
    // Clocks go forward on Sunday 2026-03-29: W13 is 167 hours long.
    let w13 = week("2026-W13");
    assert_eq!(
        w13.start(&berlin).expect("start"),
        utc("2026-03-22T23:00:00Z")
    );
    assert_eq!(w13.end(&berlin).expect("end"), utc("2026-03-29T22:00:00Z"));
    // 09:00 is 08:00 UTC before the switch and 07:00 UTC after it.
    assert_eq!(
        s.slot(w13, &berlin).expect("slot"),
        utc("2026-03-23T08:00:00Z")
    );
    assert_eq!(
        s.slot(w13.next(), &berlin).expect("slot"),
        utc("2026-03-30T07:00:00Z")
    );
    let last = Some(week("2026-W12"));
    assert_eq!(
        due_period(utc("2026-03-30T06:59:59Z"), &s, &berlin, Some(w13)),
        None
    );
    assert_eq!(
        due_period(utc("2026-03-30T06:59:59Z"), &s, &berlin, last),
        None
    );
    assert_eq!(
        due_period(utc("2026-03-30T07:00:00Z"), &s, &berlin, last),
        Some((w13, false))
    );
    // Clocks go back on Sunday 2026-10-25: W43 is 169 hours long.
    let w43 = week("2026-W43");
    assert_eq!(
        w43.end(&berlin)
            .expect("end")
            .duration_since(w43.start(&berlin).expect("start"))
            .as_hours(),
        169
    );

    // A slot inside the spring-forward gap (New York, Sunday 2026-03-08
    // 02:30 does not exist) moves forward to 03:30 EDT.
    let ny = TimeZone::get("America/New_York").expect("tz");
    let sunday = schedule("sunday", "02:30");
    let w10 = week("2026-W10");
    assert_eq!(
        sunday.slot(w10, &ny).expect("slot"),
        utc("2026-03-08T07:30:00Z")
    );
    assert_eq!(
        due_period(
            utc("2026-03-08T07:29:00Z"),
            &sunday,
            &ny,
            Some(week("2026-W08"))
        ),
        None
    );
    assert_eq!(
        due_period(
            utc("2026-03-08T07:30:00Z"),
            &sunday,
            &ny,
            Some(week("2026-W08"))
        ),
        Some((week("2026-W09"), false))
    );
}

#[test]
fn a_bad_schedule_stops_the_config() {
    let dir = tempfile::tempdir().expect("tmp");
    let ok = config(dir.path(), "en");
    assert_eq!(ok.digest.day, "monday");
    for (day, time) in [("mondy", "09:00"), ("monday", "9"), ("monday", "25:00")] {
        let d = mfa_desk::config::Digest {
            day: day.into(),
            time: time.into(),
            ..Default::default()
        };
        assert!(Schedule::from_config(&d).is_err(), "{day} {time}");
    }
}

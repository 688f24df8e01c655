//! A whole support conversation by mail, through the real worker and store
//! (file outbox, no network): employee → guide → "did not help" → admin
//! notice → the admin's reply from Outlook, Gmail or Thunderbird → relayed
//! to the employee without the quoted history → `#resolve`. And the
//! forgeries that must change nothing.

use mail_parser::MessageParser;
use mfa_desk::config::Config;
use mfa_desk::reply::templates::Guides;
use mfa_desk::source::Fetched;
use mfa_desk::store::{OutboxMail, Store};
use mfa_desk::ticket::Status;
use mfa_desk::worker::{Desk, Outcome};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const ADMIN: &str = "sato@example.co.jp";
const EMPLOYEE: &str = "taro.yamada@example.co.jp";

fn desk() -> Desk {
    let mut config = Config::load(&Path::new(ROOT).join("config/mfa-desk.toml")).expect("config");
    config.security.authserv_id = Some("mx.example.co.jp".into());
    let guides = Guides::load(&config.replies_dir).expect("templates");
    Desk::new(config, guides, Store::open_in_memory().expect("store")).expect("desk")
}

/// Working hours in Tokyo (Wednesday 2026-11-25 10:00 JST), and later.
const T0: i64 = 1_795_568_400;

fn deliver(desk: &mut Desk, raw: &str, at: i64) -> mfa_desk::worker::Processed {
    let raw = raw.replace('\n', "\r\n");
    desk.process(
        &Fetched {
            source_ref: format!("test:{at}"),
            raw: raw.into_bytes(),
            backlog: false,
        },
        at,
    )
    .expect("processed")
}

fn outbox(desk: &Desk) -> Vec<OutboxMail> {
    desk.store.outbox_for(None).expect("outbox")
}

struct Mail {
    message_id: String,
    subject: String,
    text: String,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    auto_submitted: Option<String>,
}

fn read(m: &OutboxMail) -> Mail {
    let msg = MessageParser::default()
        .parse(&m.raw[..])
        .expect("parse outgoing");
    Mail {
        message_id: msg.message_id().unwrap_or_default().to_string(),
        subject: msg.subject().unwrap_or_default().to_string(),
        text: msg.body_text(0).unwrap_or_default().to_string(),
        in_reply_to: msg
            .in_reply_to()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        references: msg
            .references()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        auto_submitted: msg
            .header_raw("Auto-Submitted")
            .map(|s| s.trim().to_string()),
    }
}

/// The mails sent since `before`, to `to`.
fn sent_to(desk: &Desk, before: usize, to: &str) -> Vec<Mail> {
    outbox(desk)[before..]
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == to))
        .map(read)
        .collect()
}

fn employee_asks(desk: &mut Desk, lang: &str) -> Mail {
    let (subject, body) = if lang == "ja" {
        (
            "認証コードが届きません",
            "お疲れ様です。山田です。\nログインしようとすると、SMSの認証コードが届きません。\n何度か再送しましたが来ません。",
        )
    } else {
        (
            "The verification code never arrives",
            "Hi,\nwhen I sign in, the SMS verification code never arrives.\nI tried resending it several times.",
        )
    };
    let first = deliver(
        desk,
        &format!(
            "From: Taro Yamada <{EMPLOYEE}>\nTo: support@example.co.jp\nSubject: {subject}\nMessage-ID: <ask-{lang}@mail.example.co.jp>\nDate: Wed, 25 Nov 2026 10:00:00 +0900\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n"
        ),
        T0,
    );
    assert_eq!(
        first.outcome,
        Outcome::Answered,
        "{lang}: the first mail gets a guide"
    );
    let guide = sent_to(desk, 0, EMPLOYEE).pop().expect("guide sent");
    assert_eq!(
        guide.in_reply_to,
        vec![format!("ask-{lang}@mail.example.co.jp")]
    );
    assert!(guide.subject.contains("[MFA-1]"), "{}", guide.subject);
    assert_eq!(guide.auto_submitted.as_deref(), Some("auto-replied"));
    guide
}

/// The employee answers the guide: it did not help.
fn not_solved(desk: &mut Desk, guide: &Mail, lang: &str) -> Mail {
    let before = outbox(desk).len();
    let text = if lang == "ja" {
        "解決しませんでした。まだコードが届きません。"
    } else {
        "It did not work, still no code."
    };
    deliver(
        desk,
        &format!(
            "From: Taro Yamada <{EMPLOYEE}>\nTo: support@example.co.jp\nSubject: Re: {}\nMessage-ID: <followup-{lang}@mail.example.co.jp>\nIn-Reply-To: <{}>\nReferences: <ask-{lang}@mail.example.co.jp> <{}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}\n\n> {}\n",
            guide.subject,
            guide.message_id,
            guide.message_id,
            guide.text.lines().next().unwrap_or("")
        ),
        T0 + 600,
    );
    let t = desk.store.ticket(1).expect("store").expect("ticket");
    assert_eq!(
        t.status,
        Status::Open,
        "{lang}: 'not solved' goes to the admins"
    );
    let owner = t.owner.clone().expect("an owner is assigned");
    let notices = sent_to(desk, before, &owner);
    assert_eq!(notices.len(), 1, "{lang}: the owner is told");
    let notice = notices.into_iter().next().expect("notice");
    assert!(
        notice.text.contains(text),
        "the notice carries the employee's words"
    );
    assert!(notice.text.contains("History") || notice.text.contains("経緯"));
    notice
}

/// How each mail client answers: its own headers, subject prefix, quoting.
fn admin_reply(client: &str, notice: &Mail, admin: &str, body: &str, n: usize) -> String {
    let quoted: String = notice
        .text
        .lines()
        .take(6)
        .map(|l| format!("> {l}\n"))
        .collect();
    let common = "To: support@example.co.jp\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n";
    match client {
        "outlook" => format!(
            "From: Sato Ken <{admin}>\nSubject: RE: {}\nMessage-ID: <DM6PR0{n}MB1234.namprd.prod.outlook.com>\nIn-Reply-To: <{}>\nReferences: <{}>\nThread-Topic: {}\nThread-Index: AQHZ{n}kL8vQ2c3bXN0QmFzZTY0\nX-MS-Has-Attach:\n{common}\n{body}\n\n________________________________\nFrom: support <support@example.co.jp>\nSent: Wednesday, November 25, 2026 10:10\nTo: {admin}\nSubject: {}\n\n{}\n",
            notice.subject,
            notice.message_id,
            notice.message_id,
            notice.subject,
            notice.subject,
            notice.text.lines().take(6).collect::<Vec<_>>().join("\n")
        ),
        "gmail" => format!(
            "From: Sato Ken <{admin}>\nSubject: Re: {}\nMessage-ID: <CAJ{n}x+abc=def@mail.gmail.com>\nIn-Reply-To: <{}>\nReferences: <{}>\n{common}\n{body}\n\nOn Wed, Nov 25, 2026 at 10:10 AM support <support@example.co.jp> wrote:\n\n{quoted}",
            notice.subject, notice.message_id, notice.message_id
        ),
        _ => format!(
            "From: Sato Ken <{admin}>\nSubject: Re: {}\nMessage-ID: <{n}a1b2c3-thunderbird@example.co.jp>\nIn-Reply-To: <{}>\nReferences: <{}>\nUser-Agent: Mozilla Thunderbird\n{common}\n{body}\n\nOn 2026/11/25 10:10, support wrote:\n{quoted}",
            notice.subject, notice.message_id, notice.message_id
        ),
    }
}

#[test]
fn a_whole_conversation_in_both_languages_from_three_mail_clients() {
    for (lang, client) in [("en", "outlook"), ("ja", "gmail"), ("en", "thunderbird")] {
        let mut desk = desk();
        let guide = employee_asks(&mut desk, lang);
        let notice = not_solved(&mut desk, &guide, lang);
        let owner = desk.store.ticket(1).unwrap().unwrap().owner.unwrap();

        // The admin answers the notice from their own client.
        let before = outbox(&desk).len();
        let words = if lang == "ja" {
            "ご不便をおかけしています。10時にお電話で確認します。"
        } else {
            "Sorry for the trouble. I will call you at 10:00 to check."
        };
        let p = deliver(
            &mut desk,
            &admin_reply(client, &notice, &owner, words, 1),
            T0 + 1200,
        );
        assert_eq!(
            p.outcome,
            Outcome::AdminReply,
            "{client}: recognised as the admin's reply"
        );
        let relayed = sent_to(&desk, before, EMPLOYEE);
        assert_eq!(relayed.len(), 1, "{client}: relayed once to the employee");
        let r = &relayed[0];
        assert!(
            r.text.contains(words),
            "{client}: the admin's words reach the employee"
        );
        assert!(
            !r.text.contains("HOW TO ANSWER"),
            "{client}: the quoted notice is not relayed"
        );
        assert!(
            !r.text.contains("What the employee wrote"),
            "{client}: no admin-only text leaks"
        );
        assert!(
            r.subject.starts_with("Re: [MFA-1]"),
            "{client}: {}",
            r.subject
        );
        assert!(
            !r.subject.contains("RE:") && !r.subject.contains("Re: Re:"),
            "{client}: prefixes pile up: {}",
            r.subject
        );
        assert_eq!(
            r.auto_submitted, None,
            "{client}: a person's answer is not auto-submitted"
        );
        // Threaded into the employee's conversation, not the admin's.
        assert_eq!(
            r.in_reply_to,
            vec![format!("followup-{lang}@mail.example.co.jp")],
            "{client}"
        );
        assert!(r.references.contains(&guide.message_id));
        let t = desk.store.ticket(1).unwrap().unwrap();
        assert!(
            t.first_response_at.is_some(),
            "{client}: first response recorded"
        );

        // `#resolve` closes it, and nothing is relayed from a bare command.
        let before = outbox(&desk).len();
        deliver(
            &mut desk,
            &admin_reply(client, &notice, &owner, "#resolve", 2),
            T0 + 1800,
        );
        assert_eq!(
            desk.store.ticket(1).unwrap().unwrap().status,
            Status::Resolved,
            "{client}"
        );
        assert!(
            sent_to(&desk, before, EMPLOYEE).is_empty(),
            "{client}: a bare command relays nothing"
        );
    }
}

#[test]
fn solved_feedback_closes_the_ticket_as_self_service() {
    let mut desk = desk();
    let guide = employee_asks(&mut desk, "ja");
    let before = outbox(&desk).len();
    deliver(
        &mut desk,
        &format!(
            "From: {EMPLOYEE}\nTo: support@example.co.jp\nSubject: Re: {}\nMessage-ID: <thanks@mail.example.co.jp>\nIn-Reply-To: <{}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n解決しました！ありがとうございました。\n",
            guide.subject, guide.message_id
        ),
        T0 + 300,
    );
    let t = desk.store.ticket(1).unwrap().unwrap();
    assert_eq!(t.status, Status::Resolved);
    assert_eq!(t.resolution.as_deref(), Some("self_service"));
    assert_eq!(outbox(&desk).len(), before, "nobody is bothered");
}

#[test]
fn a_forged_admin_mail_relays_nothing_and_changes_nothing() {
    let mut desk = desk();
    let guide = employee_asks(&mut desk, "en");
    let notice = not_solved(&mut desk, &guide, "en");
    let owner = desk.store.ticket(1).unwrap().unwrap().owner.unwrap();
    let status_before = desk.store.ticket(1).unwrap().unwrap();

    // 1. The admin's From, the ticket tag, but no issued reference and no auth results.
    // 2. The same with a made-up reference in our format.
    // 3. With Authentication-Results from a server we do not trust.
    // 4. With a failing result from our own server.
    let forged_refs = [
        String::new(),
        "In-Reply-To: <mfa-1.0123456789abcdef0123456789abcdef.0011223344556677@example.co.jp>\n".to_string(),
        "Authentication-Results: mx.attacker.test; dmarc=pass header.from=example.co.jp\n".to_string(),
        "Authentication-Results: mx.example.co.jp; dkim=fail header.d=example.co.jp; dmarc=fail header.from=example.co.jp\n".to_string(),
    ];
    for (n, extra) in forged_refs.iter().enumerate() {
        let before = outbox(&desk).len();
        deliver(
            &mut desk,
            &format!(
                "From: Sato Ken <{owner}>\nTo: support@example.co.jp\nSubject: Re: {}\nMessage-ID: <forged-{n}@attacker.test>\n{extra}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n#resolve\n#assign alex.morgan@example.co.jp\nPlease send your password to verify.\n",
                notice.subject
            ),
            T0 + 2000 + n as i64,
        );
        let t = desk.store.ticket(1).unwrap().unwrap();
        assert_ne!(
            t.status,
            Status::Resolved,
            "forgery {n} resolved the ticket"
        );
        assert_eq!(
            t.owner, status_before.owner,
            "forgery {n} reassigned the ticket"
        );
        assert!(
            sent_to(&desk, before, EMPLOYEE).is_empty(),
            "forgery {n} relayed text to the employee"
        );
        let warnings: Vec<Mail> = outbox(&desk)[before..]
            .iter()
            .map(read)
            .filter(|m| m.subject.contains("could not be verified"))
            .collect();
        assert!(!warnings.is_empty(), "forgery {n}: the admins are warned");
    }

    // The real admin, with a passing DMARC result from our own server, is believed.
    let before = outbox(&desk).len();
    deliver(
        &mut desk,
        &format!(
            "From: Sato Ken <{owner}>\nTo: support@example.co.jp\nSubject: Re: {}\nMessage-ID: <real@example.co.jp>\nAuthentication-Results: mx.example.co.jp; dkim=pass header.d=example.co.jp; dmarc=pass header.from=example.co.jp\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n#resolve\n",
            notice.subject
        ),
        T0 + 3000,
    );
    assert_eq!(
        desk.store.ticket(1).unwrap().unwrap().status,
        Status::Resolved
    );
    assert!(sent_to(&desk, before, EMPLOYEE).is_empty());
}

#[test]
fn threads_join_by_tag_or_by_references_alone_and_new_problems_open_new_tickets() {
    let mut desk = desk();
    let guide = employee_asks(&mut desk, "en");

    // Tag only: references stripped (a client that drops them).
    deliver(
        &mut desk,
        &format!(
            "From: {EMPLOYEE}\nTo: support@example.co.jp\nSubject: Re: [MFA-1] still broken\nMessage-ID: <tag-only@mail.example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nStill no code, it did not work.\n"
        ),
        T0 + 100,
    );
    assert_eq!(
        desk.store.count("tickets").unwrap(),
        1,
        "tag-only mail joined MFA-1"
    );

    // References only: the tag deleted from the subject.
    deliver(
        &mut desk,
        &format!(
            "From: {EMPLOYEE}\nTo: support@example.co.jp\nSubject: more details\nMessage-ID: <refs-only@mail.example.co.jp>\nIn-Reply-To: <{}>\nReferences: <{}>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nThe phone shows no SMS at all.\n",
            guide.message_id, guide.message_id
        ),
        T0 + 200,
    );
    assert_eq!(
        desk.store.count("tickets").unwrap(),
        1,
        "references-only mail joined MFA-1"
    );

    // Somebody else quoting the tag does not land in Taro's ticket.
    deliver(
        &mut desk,
        "From: hanako@example.co.jp\nTo: support@example.co.jp\nSubject: Re: [MFA-1] I have the same problem\nMessage-ID: <other@mail.example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nMy SMS code does not arrive either.\n",
        T0 + 300,
    );
    assert_eq!(
        desk.store.count("tickets").unwrap(),
        2,
        "another sender's tag opens a new ticket"
    );

    // A new problem in a new mail opens a new ticket, even with the same subject.
    deliver(
        &mut desk,
        &format!(
            "From: {EMPLOYEE}\nTo: support@example.co.jp\nSubject: The verification code never arrives\nMessage-ID: <new-problem@mail.example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nI lost my phone on the train this morning.\n"
        ),
        T0 + 400,
    );
    assert_eq!(
        desk.store.count("tickets").unwrap(),
        3,
        "a new mail with an old subject opens a new ticket"
    );
}

#[test]
fn an_unknown_command_is_answered_with_the_list_and_nothing_is_relayed() {
    let mut desk = desk();
    let guide = employee_asks(&mut desk, "en");
    let notice = not_solved(&mut desk, &guide, "en");
    let owner = desk.store.ticket(1).unwrap().unwrap().owner.unwrap();
    let before = outbox(&desk).len();
    deliver(
        &mut desk,
        &admin_reply(
            "gmail",
            &notice,
            &owner,
            "#resolv\nDone, your phone is reset.",
            1,
        ),
        T0 + 900,
    );
    assert!(
        sent_to(&desk, before, EMPLOYEE).is_empty(),
        "nothing relayed"
    );
    let help = sent_to(&desk, before, &owner);
    assert_eq!(help.len(), 1);
    assert!(
        help[0].text.contains("#resolv") && help[0].text.contains("#priority"),
        "{}",
        help[0].text
    );
    assert_ne!(
        desk.store.ticket(1).unwrap().unwrap().status,
        Status::Resolved
    );
}

#[test]
fn a_note_stays_internal() {
    let mut desk = desk();
    let guide = employee_asks(&mut desk, "en");
    let notice = not_solved(&mut desk, &guide, "en");
    let owner = desk.store.ticket(1).unwrap().unwrap().owner.unwrap();
    let before = outbox(&desk).len();
    deliver(
        &mut desk,
        &admin_reply(
            "thunderbird",
            &notice,
            &owner,
            "#note\nCalled him back on the directory number; identity OK.",
            1,
        ),
        T0 + 900,
    );
    assert!(sent_to(&desk, before, EMPLOYEE).is_empty());
    let events = desk.store.events(1).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "note" && e.detail.to_string().contains("identity OK"))
    );
}

#[test]
fn lost_phone_alerts_every_admin_at_once_even_at_night() {
    let mut desk = desk();
    // Thursday 2026-12-03 03:00 JST: out of hours.
    let night = 1_796_234_400;
    deliver(
        &mut desk,
        &format!(
            "From: {EMPLOYEE}\nTo: support@example.co.jp\nSubject: Lost my phone\nMessage-ID: <lost@mail.example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nI lost my phone with the authenticator app on the train. Please help.\n"
        ),
        night,
    );
    let t = desk.store.ticket(1).unwrap().unwrap();
    assert_eq!(t.priority, mfa_desk::ticket::Priority::Urgent);
    for admin in [ADMIN, "alex.morgan@example.co.jp"] {
        let alerts: Vec<Mail> = sent_to(&desk, 0, admin);
        assert!(!alerts.is_empty(), "{admin} alerted");
    }
    let guide = sent_to(&desk, 0, EMPLOYEE).pop().unwrap();
    assert!(
        guide.text.contains("03-1234-5678"),
        "the emergency phone is in the guide"
    );
}

#[test]
fn silence_after_a_guide_is_presumed_solved_and_late_tickets_remind_once() {
    let mut desk = desk();
    employee_asks(&mut desk, "en");
    deliver(
        &mut desk,
        "From: hanako@example.co.jp\nTo: support@example.co.jp\nSubject: Question about visitors\nMessage-ID: <visitors@mail.example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nCan visitors use the guest Wi-Fi without MFA?\n",
        T0,
    );
    let r = desk.sweep(T0 + 3600).unwrap();
    assert_eq!(r.presumed_solved, 0);
    let r = desk.sweep(T0 + 8 * 86_400).unwrap();
    assert_eq!(r.presumed_solved, 1);
    assert_eq!(
        r.reminders, 1,
        "the unanswered 'other' ticket reminds its owner"
    );
    assert_eq!(
        desk.store.ticket(1).unwrap().unwrap().resolution.as_deref(),
        Some("presumed_solved")
    );
    let again = desk.sweep(T0 + 9 * 86_400).unwrap();
    assert_eq!(again.reminders, 0, "one reminder only");
}

#[test]
fn raw_mail_is_purged_after_retention_and_the_counts_remain() {
    let mut desk = desk();
    employee_asks(&mut desk, "en");
    let raw_count = |desk: &Desk| -> i64 {
        desk.store
            .connection()
            .query_row(
                "SELECT count(*) FROM messages WHERE raw IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .expect("count")
    };
    assert_eq!(raw_count(&desk), 1);
    // Only mail that left (or was given up) is purged from the outbox.
    for m in outbox(&desk) {
        desk.store.mark_sent(m.id, T0 + 1).expect("sent");
    }
    assert_eq!(desk.sweep(T0 + 89 * 86_400).unwrap().purged, 0);
    let r = desk.sweep(T0 + 91 * 86_400).unwrap();
    assert_eq!(r.purged, 2, "the employee's mail and the guide");
    assert_eq!(raw_count(&desk), 0);
    assert_eq!(
        desk.store.count("messages").unwrap(),
        1,
        "the record stays for the digest"
    );
    assert_eq!(desk.store.count("tickets").unwrap(), 1);
}

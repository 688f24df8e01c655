//! Loop protection through the real worker and store: an auto-responder
//! without any RFC 3834 header, in three shapes, never gets more than one
//! automatic reply; bounces and our own mail are never answered; the hard
//! limits hold even against a sender that changes every mail.

use mail_parser::MessageParser;
use mfa_desk::config::Config;
use mfa_desk::reply::templates::Guides;
use mfa_desk::source::Fetched;
use mfa_desk::store::Store;
use mfa_desk::worker::Desk;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const T0: i64 = 1_795_568_400;
const BOT: &str = "robot@partner.example";

fn desk() -> Desk {
    let config = Config::load(&Path::new(ROOT).join("config/mfa-desk.toml")).expect("config");
    let guides = Guides::load(&config.replies_dir).expect("templates");
    Desk::new(config, guides, Store::open_in_memory().expect("store")).expect("desk")
}

fn deliver(desk: &mut Desk, raw: &str, at: i64) {
    desk.process(
        &Fetched {
            source_ref: format!("t:{at}"),
            raw: raw.replace('\n', "\r\n").into_bytes(),
            backlog: false,
        },
        at,
    )
    .expect("processed");
}

/// Automatic mails (guides, acknowledgements) sent to `to`: (Message-ID, subject).
fn auto_mails_to(desk: &Desk, to: &str) -> Vec<(String, String)> {
    desk.store
        .outbox_for(None)
        .expect("outbox")
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == to) && (m.kind == "guide" || m.kind == "ack"))
        .map(|m| {
            let msg = MessageParser::default().parse(&m.raw[..]).expect("parse");
            (
                msg.message_id().unwrap_or_default().to_string(),
                msg.subject().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn first_mail(desk: &mut Desk) {
    deliver(
        desk,
        &format!(
            "From: {BOT}\nTo: support@example.co.jp\nSubject: Question about your service\nMessage-ID: <q@partner.example>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nHello, can you tell us about your visitor policy?\n"
        ),
        T0,
    );
}

#[test]
fn a_responder_that_threads_gets_one_reply() {
    let mut desk = desk();
    first_mail(&mut desk);
    for round in 1..20 {
        let (id, subject) = auto_mails_to(&desk, BOT).pop().expect("a mail to answer");
        deliver(
            &mut desk,
            &format!(
                "From: {BOT}\nTo: support@example.co.jp\nSubject: Re: {subject}\nMessage-ID: <auto-{round}@partner.example>\nIn-Reply-To: <{id}>\nReferences: <{id}>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nThank you for your message. We will get back to you shortly.\n"
            ),
            T0 + round * 5,
        );
    }
    assert_eq!(auto_mails_to(&desk, BOT).len(), 1);
}

#[test]
fn a_responder_that_drops_references_but_keeps_the_subject_gets_one_reply() {
    let mut desk = desk();
    first_mail(&mut desk);
    for round in 1..20 {
        let (_, subject) = auto_mails_to(&desk, BOT).pop().expect("a mail to answer");
        deliver(
            &mut desk,
            &format!(
                "From: {BOT}\nTo: support@example.co.jp\nSubject: Re: {subject}\nMessage-ID: <auto-{round}@partner.example>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nThis mailbox is not monitored. Round {round}.\n"
            ),
            T0 + round * 5,
        );
    }
    assert_eq!(auto_mails_to(&desk, BOT).len(), 1);
}

#[test]
fn a_responder_with_fresh_subjects_and_the_same_text_gets_one_reply() {
    let mut desk = desk();
    first_mail(&mut desk);
    for round in 1..20 {
        deliver(
            &mut desk,
            &format!(
                "From: {BOT}\nTo: support@example.co.jp\nSubject: Hello, can you tell us about your visitor policy?\nMessage-ID: <auto-{round}@partner.example>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nHello, can you tell us about your visitor policy?\n"
            ),
            T0 + round * 5,
        );
    }
    assert!(
        auto_mails_to(&desk, BOT).len() <= 2,
        "{:?}",
        auto_mails_to(&desk, BOT)
    );
}

#[test]
fn the_hard_limits_hold_against_a_sender_that_changes_every_mail() {
    // Every mail a new ticket with a guide: only the limits stop it.
    let mut desk = desk();
    for round in 0..60 {
        deliver(
            &mut desk,
            &format!(
                "From: {BOT}\nTo: support@example.co.jp\nSubject: SMS code never arrives ({round})\nMessage-ID: <flood-{round}@partner.example>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nThe SMS verification code never arrives when I sign in (attempt {round}).\n"
            ),
            T0 + round,
        );
    }
    let n = auto_mails_to(&desk, BOT).len();
    assert_eq!(
        n, 30,
        "30 automatic replies per recipient in 10 minutes, then a person"
    );
    let events: Vec<String> = (1..=60)
        .flat_map(|t| desk.store.events(t).unwrap_or_default())
        .map(|e| e.kind)
        .collect();
    assert!(events.iter().any(|k| k == "auto_reply_limited"));
}

#[test]
fn bounces_and_our_own_mail_are_never_answered_and_bounced_addresses_rest() {
    let mut desk = desk();
    deliver(
        &mut desk,
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.co.jp>\nTo: support@example.co.jp\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <bounce1@mx.example.co.jp>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nThis is the mail system. Your mail could not be delivered.\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.co.jp\n\nFinal-Recipient: rfc822; gone@example.co.jp\nAction: failed\nStatus: 5.1.1\n--b--\n",
        T0,
    );
    deliver(
        &mut desk,
        "From: support@example.co.jp\nTo: support@example.co.jp\nSubject: [MFA-1] copy of our own mail\nMessage-ID: <own@example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nI cannot sign in, the code never arrives.\n",
        T0 + 1,
    );
    assert_eq!(desk.store.count("outbox").unwrap(), 0, "nothing answered");
    // The address that bounced gets no guide, a person handles it instead.
    deliver(
        &mut desk,
        "From: gone@example.co.jp\nTo: support@example.co.jp\nSubject: SMS code does not arrive\nMessage-ID: <gone-1@example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nThe SMS verification code never arrives when I sign in.\n",
        T0 + 2,
    );
    assert!(auto_mails_to(&desk, "gone@example.co.jp").is_empty());
    let t = desk.store.ticket(1).unwrap().unwrap();
    assert_eq!(
        t.status,
        mfa_desk::ticket::Status::Open,
        "a person answers instead"
    );
}

//! Secrets employees paste into mail: masked in the store, in the admins'
//! notice and in the reply's record; a screenshot of an enrolment QR code is
//! dropped and the employee told to enrol again. Through the real worker.

use base64::Engine;
use image::{GrayImage, Luma};
use mail_parser::MessageParser;
use mfa_desk::config::Config;
use mfa_desk::reply::templates::Guides;
use mfa_desk::source::Fetched;
use mfa_desk::store::Store;
use mfa_desk::ticket::Status;
use mfa_desk::worker::Desk;
use qrcode::{Color, QrCode};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const T0: i64 = 1_795_568_400;

fn desk() -> Desk {
    let config = Config::load(&Path::new(ROOT).join("config/mfa-desk.toml")).expect("config");
    let guides = Guides::load(&config.replies_dir).expect("templates");
    Desk::new(config, guides, Store::open_in_memory().expect("store")).expect("desk")
}

fn deliver(desk: &mut Desk, raw: &str) {
    desk.process(
        &Fetched {
            source_ref: "t".into(),
            raw: raw.replace('\n', "\r\n").into_bytes(),
            backlog: false,
        },
        T0,
    )
    .expect("processed");
}

/// Every text part of every mail mfa-desk queued, decoded.
fn outgoing_texts(desk: &Desk) -> Vec<(String, String)> {
    desk.store
        .outbox_for(None)
        .expect("outbox")
        .iter()
        .map(|m| {
            let msg = MessageParser::default().parse(&m.raw[..]).expect("parse");
            (
                m.rcpt_to.join(","),
                msg.body_text(0).unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn stored(desk: &Desk, sql: &str) -> String {
    desk.store
        .connection()
        .query_row(sql, [], |r| r.get::<_, Option<String>>(0))
        .expect("query")
        .unwrap_or_default()
}

#[test]
fn codes_and_passwords_never_reach_the_store_or_the_admins() {
    let mut desk = desk();
    deliver(
        &mut desk,
        "From: taro@example.co.jp\nTo: support@example.co.jp\nSubject: locked out\nMessage-ID: <pw@example.co.jp>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nI am locked out of my account after too many attempts.\nThe code on my phone is 482913 but it is rejected.\nMy password: Hunter2-Secret!\nPlease call me at 090-1234-5678.\n",
    );
    let text = stored(&desk, "SELECT new_text FROM messages");
    assert!(
        !text.contains("482913") && !text.contains("Hunter2-Secret"),
        "{text}"
    );
    assert!(
        text.contains("090-1234-5678"),
        "a phone number is not a secret: {text}"
    );
    let events = stored(&desk, "SELECT group_concat(detail) FROM events");
    assert!(!events.contains("482913") && !events.contains("Hunter2"));
    for (to, body) in outgoing_texts(&desk) {
        assert!(
            !body.contains("482913") && !body.contains("Hunter2"),
            "leaked to {to}"
        );
        if to == "taro@example.co.jp" {
            assert!(
                body.contains("change your password"),
                "the employee is told: {body}"
            );
        }
    }
}

fn qr_png(content: &str) -> Vec<u8> {
    let code = QrCode::new(content.as_bytes()).expect("qr");
    let width = code.width();
    let colors = code.to_colors();
    let side = ((width + 8) * 4) as u32;
    let img = GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = ((x / 4) as usize, (y / 4) as usize);
        let dark = mx >= 4
            && my >= 4
            && mx - 4 < width
            && my - 4 < width
            && colors[(my - 4) * width + (mx - 4)] == Color::Dark;
        Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[test]
fn an_enrolment_qr_screenshot_is_dropped_and_the_employee_enrols_again() {
    let mut desk = desk();
    let png = base64::engine::general_purpose::STANDARD.encode(qr_png(
        "otpauth://totp/Example:hanako?secret=JBSWY3DPEHPK3PXP&issuer=Example",
    ));
    let lines: Vec<&str> = png
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    deliver(
        &mut desk,
        &format!(
            "From: hanako@example.co.jp\nTo: support@example.co.jp\nSubject: QRコードが読み取れません\nMessage-ID: <qr@example.co.jp>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n初期設定でQRコードが読み取れません。画面の写真を添付します。\n--b\nContent-Type: image/png; name=\"screen.png\"\nContent-Disposition: attachment; filename=\"screen.png\"\nContent-Transfer-Encoding: base64\n\n{}\n--b--\n",
            lines.join("\n")
        ),
    );
    let raw_kept: i64 = desk
        .store
        .connection()
        .query_row(
            "SELECT count(*) FROM messages WHERE raw IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(raw_kept, 0, "the mail with the secret is not kept");
    let t = desk.store.ticket(1).expect("store").expect("ticket");
    assert_eq!(
        t.status,
        Status::Open,
        "an admin must reset the registration"
    );
    let mails = outgoing_texts(&desk);
    let to_employee = mails
        .iter()
        .find(|(to, _)| to == "hanako@example.co.jp")
        .expect("reply");
    assert!(
        to_employee.1.contains("登録をやり直す"),
        "{}",
        to_employee.1
    );
    assert!(
        mails.iter().any(|(to, _)| to != "hanako@example.co.jp"),
        "the admins are told"
    );
    assert!(
        stored(&desk, "SELECT problems FROM messages").contains("QR"),
        "the record says why"
    );
}

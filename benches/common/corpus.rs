//! The generated support mail the backlog and soak benchmarks load: a
//! deterministic mix of English and Japanese (UTF-8 and ISO-2022-JP),
//! Outlook-style HTML, replies, auto-replies and screenshots.

#![allow(dead_code)]

/// The address the mails are written to (their To header only: the
/// benchmarks deliver them by envelope). Kept here, not taken from the test
/// stack, so the classify bench needs no mail stack code.
const SUPPORT: &str = "support@example.test";

/// A small deterministic PRNG (xorshift), so every run has the same backlog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

const EN: &[(&str, &str)] = &[
    (
        "Verification code not arriving",
        "Since this morning the verification code by SMS never arrives when I sign in. \
         I requested a new one twice and waited ten minutes. My number has not changed.",
    ),
    (
        "New phone - authenticator app empty",
        "I switched to a new iPhone over the weekend and restored from backup, but the \
         authenticator app on the new phone shows no accounts. The old phone was traded in.",
    ),
    (
        "Lost my phone",
        "I lost my phone on the train last night. It has the authenticator app on it. \
         I cannot sign in to anything now. What should I do?",
    ),
    (
        "Security key not working",
        "My YubiKey stopped working: it blinks but the browser says the security key \
         was not recognised. I tried two USB ports.",
    ),
    (
        "I got an approval request I did not make",
        "Just now my phone showed a sign-in approval request that I did not make. \
         I tapped deny. Is someone trying to get into my account?",
    ),
    (
        "Account locked",
        "After entering the wrong code a few times my account is locked and I cannot \
         sign in. I have a customer meeting at 2 pm and need my mail.",
    ),
    (
        "How do I set up MFA?",
        "I am new here and was asked to set up multi-factor authentication before \
         Friday. Which app do I need and what are the steps?",
    ),
    (
        "Question about the printer",
        "The printer on the third floor prints everything twice. Who should I ask \
         about this?",
    ),
];

const JA: &[(&str, &str)] = &[
    (
        "認証コードが届きません",
        "昨日からサインインの認証コードがSMSで届きません。何度か再送しましたが届きません。\n\
         電話番号は変わっていません。",
    ),
    (
        "機種変更について",
        "先週スマートフォンを機種変更したところ、認証アプリにアカウントが表示されなくなりました。\n\
         古い端末はもう手元にありません。",
    ),
    (
        "スマホを紛失しました",
        "昨夜、電車の中でスマートフォンを紛失しました。認証アプリが入っていたため、\n\
         サインインができません。どうすればよいでしょうか。",
    ),
    (
        "身に覚えのない承認要求",
        "先ほど、自分では操作していないのにサインインの承認要求がスマホに届きました。\n\
         拒否を押しましたが、不正アクセスでしょうか。",
    ),
    (
        "アカウントがロックされました",
        "コードを何度か間違えて入力したところ、アカウントがロックされてしまいました。\n\
         午後に顧客との打ち合わせがあり、至急対応をお願いします。",
    ),
    (
        "多要素認証の設定方法",
        "今月入社しました。多要素認証の設定をするよう言われましたが、手順を教えてください。",
    ),
];

const EN_SIGNATURES: &[&str] = &[
    "Best regards,\nRaj Patel\nSales, Osaka office\nTel 06-0000-0000",
    "Thanks,\nEmily\n\nSent from my iPhone",
    "Kind regards,\nTom Becker | Finance\nExample Corp.",
];

const JA_SIGNATURES: &[&str] = &[
    "よろしくお願いいたします。\n\n--\n営業部 山田 太郎\n内線 1234",
    "以上、よろしくお願いします。\n経理部 佐藤",
    "お手数をおかけしますが、よろしくお願いいたします。\n\n━━━━━━━━━━\n総務部 鈴木 花子\n━━━━━━━━━━",
];

fn base64_lines(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 57 * 2 + 4);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push_str("\r\n");
    out
}

fn encoded_word_utf8(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    format!("=?UTF-8?B?{}?=", base64_lines(s.as_bytes()).trim_end())
}

fn jis(text: &str) -> Vec<u8> {
    encoding_rs::ISO_2022_JP.encode(text).0.into_owned()
}

/// A screenshot-like PNG (a gradient with noise, ~40-80 KB).
fn screenshot(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (360u32, 240u32);
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let noise = (rng.next() % 24) as u8;
            pixels.extend_from_slice(&[
                (x * 255 / w) as u8 ^ noise,
                (y * 255 / h) as u8,
                200u8.wrapping_add(noise),
            ]);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().expect("png header");
        writer.write_image_data(&pixels).expect("png data");
    }
    out
}

/// Mail number `i`: from `from` (`{user}` is replaced by a number that
/// repeats every 800 mails), with a Message-ID starting `<{id_prefix}-`.
pub fn mail(i: usize, from: &str, id_prefix: &str) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    rng.next();
    let user = i % 800;
    let from = from.replace("{user}", &format!("{user:03}"));
    let day = 1 + (i % 28);
    let date = format!(
        "Date: Mon, {day:02} Sep 2025 {:02}:{:02}:{:02} +0900\r\n",
        8 + i % 10,
        i % 60,
        (i * 7) % 60
    );
    let id = format!(
        "<{id_prefix}-{i:05}.{:08x}@corp.example.test>",
        rng.next() as u32
    );
    let kind = rng.next() % 100;
    let mut head = format!(
        "Return-Path: <{from}>\r\nFrom: User {user} <{from}>\r\nTo: IT Support <{SUPPORT}>\r\n\
         Message-ID: {id}\r\n{date}MIME-Version: 1.0\r\n"
    );
    let mut mail = Vec::new();
    match kind {
        // English, plain text, sometimes a reply quoting earlier mail.
        0..=34 => {
            let (subject, body) = rng.pick(EN);
            let sig = rng.pick(EN_SIGNATURES);
            let reply = rng.next().is_multiple_of(4);
            let mut text = format!("Hello IT team,\n\n{body}\n\n(ref {i})\n\n{sig}\n");
            if reply {
                text.push_str(&format!(
                    "\nOn Fri, {day:02} Sep 2025 at 09:12, IT Support <{SUPPORT}> wrote:\n\
                     > Thank you for your message. Please try the steps below.\n\
                     > 1. Open the authenticator app.\n> 2. Check the time settings.\n>\n\
                     > IT support\n"
                ));
            }
            head.push_str(&format!(
                "Subject: {}{subject}\r\nContent-Type: text/plain; charset=us-ascii\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\r\n",
                if reply { "Re: " } else { "" }
            ));
            mail.extend_from_slice(head.as_bytes());
            mail.extend_from_slice(text.replace('\n', "\r\n").as_bytes());
        }
        // Japanese, UTF-8, base64 (Gmail, iPhone).
        35..=59 => {
            let (subject, body) = rng.pick(JA);
            let sig = rng.pick(JA_SIGNATURES);
            let text = format!(
                "情報システム部 御中\n\nお疲れ様です。\n{body}\n（問い合わせ番号 {i}）\n\n{sig}\n"
            );
            head.push_str(&format!(
                "Subject: {}\r\nContent-Type: text/plain; charset=UTF-8\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n",
                encoded_word_utf8(subject)
            ));
            mail.extend_from_slice(head.as_bytes());
            mail.extend_from_slice(base64_lines(text.replace('\n', "\r\n").as_bytes()).as_bytes());
        }
        // Japanese, ISO-2022-JP, 7bit (older Japanese clients).
        60..=69 => {
            let (subject, body) = rng.pick(JA);
            let sig = rng.pick(JA_SIGNATURES);
            let text = format!("お世話になっております。\n{body}\n（番号 {i}）\n\n{sig}\n");
            head.push_str(&format!(
                "Subject: =?ISO-2022-JP?B?{}?=\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\r\n",
                base64_lines(&jis(subject)).trim_end()
            ));
            mail.extend_from_slice(head.as_bytes());
            for line in text.lines() {
                mail.extend_from_slice(&jis(line));
                mail.extend_from_slice(b"\r\n");
            }
        }
        // Outlook: multipart/alternative, text + HTML, UTF-8 base64.
        70..=89 => {
            let (subject, body) = if rng.next().is_multiple_of(2) {
                *rng.pick(EN)
            } else {
                *rng.pick(JA)
            };
            let boundary = format!("_000_{:016x}_", rng.next());
            let text = format!("{body}\r\n\r\n(ref {i})\r\n");
            let html = format!(
                "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\
                 <style>p.MsoNormal{{margin:0;font-size:11pt;font-family:Calibri,sans-serif}}</style>\
                 </head><body lang=\"EN-US\"><div class=\"WordSection1\"><p class=\"MsoNormal\">{}</p>\
                 <p class=\"MsoNormal\">(ref {i})</p><p class=\"MsoNormal\">&nbsp;</p></div></body></html>",
                body.replace('\n', "<br>")
            );
            head.push_str(&format!(
                "Subject: {}\r\nThread-Topic: {}\r\nX-MS-Has-Attach:\r\n\
                 Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n",
                encoded_word_utf8(subject),
                encoded_word_utf8(subject)
            ));
            mail.extend_from_slice(head.as_bytes());
            for (ctype, part) in [("text/plain", &text), ("text/html", &html)] {
                mail.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Type: {ctype}; charset=\"utf-8\"\r\n\
                         Content-Transfer-Encoding: base64\r\n\r\n{}",
                        base64_lines(part.as_bytes())
                    )
                    .as_bytes(),
                );
            }
            mail.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
        // Out-of-office auto-replies.
        90..=95 => {
            head.push_str(
                "Subject: Automatic reply: IT notice\r\nAuto-Submitted: auto-replied\r\n\
                 X-Auto-Response-Suppress: All\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
            );
            mail.extend_from_slice(head.as_bytes());
            mail.extend_from_slice(
                b"I am out of the office until Monday with limited access to mail.\r\n",
            );
        }
        // A question with a screenshot attached.
        _ => {
            let (subject, body) = rng.pick(EN);
            let boundary = format!("----=_Part_{:016x}", rng.next());
            head.push_str(&format!(
                "Subject: {subject} (screenshot)\r\n\
                 Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
            ));
            mail.extend_from_slice(head.as_bytes());
            mail.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
                     {body}\r\nThe screenshot shows the error.\r\n(ref {i})\r\n\r\n\
                     --{boundary}\r\nContent-Type: image/png; name=\"screenshot.png\"\r\n\
                     Content-Disposition: attachment; filename=\"screenshot.png\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\r\n{}--{boundary}--\r\n",
                    base64_lines(&screenshot(&mut rng))
                )
                .as_bytes(),
            );
        }
    }
    mail
}

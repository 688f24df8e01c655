//! Whole conversations against the REAL mail stack (Postfix + Dovecot, one
//! stack per test) and the REAL `mfa-desk run` binary: every mail is
//! submitted over SMTP as the people's mail clients would submit it (raw
//! MIME built here: Outlook, Gmail and Thunderbird habits, ISO-2022-JP), and
//! every check reads what a person would see in their own INBOX over IMAP,
//! or asks `mfa-desk show/queue`, or reads the store read-only.
//!
//! - the conversation (en: Outlook, Gmail, Thunderbird; ja: Gmail, Thunderbird
//!   bottom-posted, Outlook with an ISO-2022-JP employee): question →
//!   guide → "it did not help" → notice to the admin → the admin's reply is
//!   relayed to the employee, threaded, without quotes or admin-only text →
//!   `#resolve` closes the ticket;
//! - forgeries of an admin's mail change nothing, relay nothing, warn the admins;
//! - tag-only and references-only follow-ups join the right ticket, a new
//!   problem opens a new one;
//! - real auto-responders (IMAP-watching tasks that answer everything, with
//!   no RFC 3834 header) get at most one automatic reply.

mod support;

use mail_parser::MessageParser;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::mailstack::{ADMIN, EMPLOYEE, MailStack, SUPPORT, rand_u64};

/// A second admin (round robin, `#assign`, warnings to every admin).
const ADMIN2: &str = "admin2@example.test";
/// Another employee (quoting somebody else's tag).
const HANAKO: &str = "hanako@example.test";
/// The receiving server whose Authentication-Results mfa-desk trusts.
const AUTHSERV: &str = "mx.example.test";
/// How long any single expected mail may take to show up.
const MAIL_WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The service under test
// ---------------------------------------------------------------------------

fn write_config(dir: &Path, stack: &MailStack) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = format!(
        r#"rules = "{rules}"
replies = "{replies}"

[mailbox]
kind = "imap"
host = "{host}"
port = {imap}
tls = "none"
username = "{SUPPORT}"
password_command = "printf '%s' '{pw}'"
folder = "INBOX"
poll_interval_secs = 2

[store]
path = "{store}"

[outbox]
kind = "smtp"

[smtp]
host = "{host}"
port = {smtp}
tls = "none"

[support]
team_name = "IT support"
company = "Example Test Inc."
address = "{SUPPORT}"
emergency_phone = "03-0000-0000"
timezone = "Asia/Tokyo"
hours_ja = "平日 9:00〜18:00"
hours_en = "weekdays 9:00-18:00 (Japan time)"
response_time_ja = "1営業日以内"
response_time_en = "within one business day"

[[support.admins]]
name = "Admin One"
address = "{ADMIN}"

[[support.admins]]
name = "Admin Two"
address = "{ADMIN2}"

[security]
authserv_id = "{AUTHSERV}"

[mfa]
app_name = "Microsoft Authenticator"
portal_url = "https://mysignins.microsoft.com/security-info"
help_url = "https://support.microsoft.com/account-billing/about-microsoft-authenticator"
"#,
        rules = root.join("config/rules.toml").display(),
        replies = root.join("replies").display(),
        host = stack.host,
        imap = stack.imap_port,
        smtp = stack.smtp_port,
        pw = stack.password,
        store = dir.join("mfa-desk.sqlite3").display(),
    );
    let path = dir.join("mfa-desk.toml");
    std::fs::write(&path, config).expect("write test config");
    path
}

/// `mfa-desk run` on a generated config; killed on drop.
struct Desk {
    _work: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Desk {
    /// Start the service and wait until it watches the (empty) INBOX.
    fn start(stack: &MailStack) -> Desk {
        let work = tempfile::tempdir().expect("temp dir");
        let config = write_config(work.path(), stack);
        let mut child = Command::new(env!("CARGO_BIN_EXE_mfa-desk"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("MFA_DESK_LOG", "mfa_desk=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mfa-desk run");
        let (tx, lines) = mpsc::channel();
        let pipes: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stderr.take().map(|p| Box::new(p) as _),
            child.stdout.take().map(|p| Box::new(p) as _),
        ];
        for pipe in pipes.into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("[mfa-desk] {line}");
                    let _ = tx.send(line);
                }
            });
        }
        let mut desk = Desk {
            store: work.path().join("mfa-desk.sqlite3"),
            _work: work,
            config,
            child,
            lines,
        };
        // The first start refuses a mailbox that already holds mail: send
        // only once the service has scanned the empty INBOX and idles.
        desk.wait_for_line("IDLE: waiting for new mail", Duration::from_secs(60));
        desk
    }

    fn wait_for_line(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!("mfa-desk never logged {needle:?} within {within:?} (exit: {status:?})");
                }
            }
        }
    }

    /// Run a CLI command against the same config; its stdout.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_mfa-desk"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run mfa-desk CLI");
        assert!(
            out.status.success(),
            "mfa-desk {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One field of `mfa-desk show MFA-n` ("status", "owner", …).
    fn field(&self, tag: &str, name: &str) -> String {
        let shown = self.cli(&["show", tag]);
        shown
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in `mfa-desk show {tag}`:\n{shown}"))
    }

    /// Poll `mfa-desk show` until the ticket has `status`.
    async fn wait_status(&self, tag: &str, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.field(tag, "status");
            if now == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{tag} is still {now:?}, not {status:?}, after {within:?}:\n{}",
                self.cli(&["show", tag])
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_with_flags(
            &self.store,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the store read-only");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        conn
    }

    /// The ticket an inbound mail was filed under (by its Message-ID, no `<>`).
    fn ticket_of(&self, message_id: &str) -> Option<i64> {
        let id = message_id.trim_matches(['<', '>']);
        self.db()
            .query_row(
                "SELECT ticket_id FROM thread_ids WHERE message_id = ?1 AND direction = 'in'",
                [id],
                |r| r.get(0),
            )
            .ok()
    }

    /// Wait until mfa-desk has recorded the inbound mail; its ticket.
    async fn wait_filed(&self, message_id: &str, within: Duration) -> i64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(t) = self.ticket_of(message_id) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "mfa-desk did not file {message_id} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn count(&self, sql: &str, param: &str) -> i64 {
        self.db()
            .query_row(sql, [param], |r| r.get(0))
            .expect("count query")
    }

    /// Mail mfa-desk has queued or sent to `to` (any ticket).
    fn outbox_to(&self, to: &str) -> i64 {
        self.count(
            "SELECT count(*) FROM outbox WHERE rcpt_to LIKE '%' || ?1 || '%'",
            to,
        )
    }

    /// SIGTERM and a clean exit.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "mfa-desk exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "mfa-desk ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Mail as the people see it
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Mail {
    uid: u32,
    message_id: String,
    from: String,
    subject: String,
    text: String,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    auto_submitted: Option<String>,
    raw: String,
}

fn read_mail(uid: u32, raw: &[u8]) -> Mail {
    let msg = MessageParser::default()
        .parse(raw)
        .expect("a mail in the INBOX parses");
    let list = |v: &mail_parser::HeaderValue| -> Vec<String> {
        v.as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    };
    Mail {
        uid,
        message_id: msg.message_id().unwrap_or_default().to_string(),
        from: msg
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_ascii_lowercase(),
        subject: msg.subject().unwrap_or_default().to_string(),
        text: msg.body_text(0).unwrap_or_default().to_string(),
        in_reply_to: list(msg.in_reply_to()),
        references: list(msg.references()),
        auto_submitted: msg
            .header_raw("Auto-Submitted")
            .map(|s| s.trim().to_string()),
        raw: String::from_utf8_lossy(raw).into_owned(),
    }
}

async fn inbox(stack: &MailStack, user: &str) -> Vec<Mail> {
    let mut mails: Vec<Mail> = stack
        .messages(user, "INBOX")
        .await
        .iter()
        .map(|(uid, _, raw)| read_mail(*uid, raw))
        .collect();
    mails.sort_by_key(|m| m.uid);
    mails
}

/// Poll `user`'s INBOX until `found` picks a mail (or panic with what is there).
async fn wait_mail(
    stack: &MailStack,
    user: &str,
    what: &str,
    found: impl Fn(&Mail) -> bool,
) -> Mail {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let mails = inbox(stack, user).await;
        if let Some(m) = mails.iter().find(|m| found(m)) {
            return m.clone();
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = mails
                .iter()
                .map(|m| format!("{} from {}", m.subject, m.from))
                .collect();
            panic!("{user} never received {what} within {MAIL_WAIT:?}; INBOX: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Mail from support@ in `user`'s INBOX.
async fn from_support(stack: &MailStack, user: &str) -> Vec<Mail> {
    inbox(stack, user)
        .await
        .into_iter()
        .filter(|m| m.from == SUPPORT)
        .collect()
}

// ---------------------------------------------------------------------------
// Building raw mail the way real clients do
// ---------------------------------------------------------------------------

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 body lines of 76 characters.
fn base64_body(bytes: &[u8]) -> String {
    let b = base64(bytes);
    b.as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// An unstructured header value as RFC 2047 UTF-8 encoded words (folded),
/// or as is when it is ASCII.
fn rfc2047(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for ch in s.chars() {
        if chunk.len() + ch.len_utf8() > 42 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(ch);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

fn iso2022jp(s: &str) -> Vec<u8> {
    let (bytes, _, errors) = encoding_rs::ISO_2022_JP.encode(s);
    assert!(!errors, "{s:?} is not representable in ISO-2022-JP");
    bytes.into_owned()
}

fn new_id(domain: &str) -> String {
    format!("<{:016x}.{:08x}@{domain}>", rand_u64(), rand_u64() as u32)
}

fn date() -> String {
    jiff::Zoned::now()
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// `<id>` for each id (headers hold them bracketed, mail_parser strips them).
fn bracket(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("<{}>", i.trim_matches(['<', '>'])))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Charset {
    Utf8,
    Iso2022Jp,
}

/// An employee's plain-text mail; `threading` holds In-Reply-To/References
/// lines (or nothing). Returns (Message-ID, raw).
fn employee_mail(
    from: &str,
    subject: &str,
    body: &str,
    threading: &str,
    charset: Charset,
) -> (String, Vec<u8>) {
    let id = new_id("mail.example.test");
    let (subject, ctype, cte, body) = match charset {
        Charset::Utf8 => (
            rfc2047(subject),
            "text/plain; charset=UTF-8",
            "8bit",
            crlf(body).into_bytes(),
        ),
        Charset::Iso2022Jp => (
            format!("=?ISO-2022-JP?B?{}?=", base64(&iso2022jp(subject))),
            "text/plain; charset=ISO-2022-JP",
            "7bit",
            iso2022jp(&crlf(body)),
        ),
    };
    let mut raw = crlf(&format!(
        "From: {from}\nTo: {SUPPORT}\nSubject: {subject}\nMessage-ID: {id}\nDate: {}\n{threading}MIME-Version: 1.0\nContent-Type: {ctype}\nContent-Transfer-Encoding: {cte}\nUser-Agent: Mozilla/5.0 Thunderbird/128.5.0\n\n",
        date()
    ))
    .into_bytes();
    raw.extend_from_slice(&body);
    raw.extend_from_slice(b"\r\n");
    (id, raw)
}

/// Threading headers for a reply to `to` (its References, then it).
fn reply_threading(to: &Mail) -> String {
    let mut refs = to.references.clone();
    refs.push(to.message_id.clone());
    format!(
        "In-Reply-To: <{}>\nReferences: {}\n",
        to.message_id,
        bracket(&refs)
    )
}

fn quote(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    Outlook,
    Gmail,
    Thunderbird,
    /// Thunderbird's default: the quote first, the answer below it.
    ThunderbirdBottomPost,
}

/// The admin's reply to `notice`, with `words` on top, the way each client
/// writes it. Returns (Message-ID, raw).
fn admin_reply(client: Client, notice: &Mail, words: &str, ja: bool) -> (String, Vec<u8>) {
    let words = crlf(words);
    let date = date();
    match client {
        Client::Outlook => {
            // RE:, Thread-Topic/Thread-Index, only In-Reply-To + References
            // of the notice, base64 UTF-8 text, the quoted mail below a rule
            // with From:/Sent:/To:/Subject: (差出人:/送信日時:/宛先:/件名: in Japanese).
            let id = format!(
                "<TYCPR01MB{:010X}{:06X}@TYCPR01MB1234.jpnprd01.prod.outlook.com>",
                rand_u64() & 0xff_ffff_ffff,
                rand_u64() & 0xff_ffff
            );
            let mut index = [0u8; 22];
            index[..8].copy_from_slice(&rand_u64().to_le_bytes());
            index[8..16].copy_from_slice(&rand_u64().to_le_bytes());
            let topic = notice.subject.clone();
            let head = if ja {
                format!(
                    "差出人: IT support <{SUPPORT}>\n送信日時: 2026年11月25日 10:10\n宛先: Admin One <{ADMIN}>\n件名: {}",
                    notice.subject
                )
            } else {
                format!(
                    "From: IT support <{SUPPORT}>\nSent: Wednesday, November 25, 2026 10:10 AM\nTo: Admin One <{ADMIN}>\nSubject: {}",
                    notice.subject
                )
            };
            let body = crlf(&format!(
                "{words}\n\n________________________________\n{head}\n\n{}\n",
                notice.text
            ));
            let raw = crlf(&format!(
                "From: Admin One <{ADMIN}>\nTo: IT support <{SUPPORT}>\nSubject: {}\nThread-Topic: {}\nThread-Index: {}\nDate: {date}\nMessage-ID: {id}\nReferences: <{nid}>\nIn-Reply-To: <{nid}>\nAccept-Language: ja-JP, en-US\nContent-Language: {}\nX-MS-Has-Attach:\nX-MS-TNEF-Correlator:\nMIME-Version: 1.0\nContent-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n{}\n",
                rfc2047(&format!("RE: {}", notice.subject)),
                rfc2047(&topic),
                base64(&index),
                if ja { "ja-JP" } else { "en-US" },
                base64_body(body.as_bytes()),
                nid = notice.message_id,
            ));
            (id, raw.into_bytes())
        }
        Client::Gmail => {
            // Re:, the whole References chain, multipart/alternative with an
            // HTML part holding a gmail_quote blockquote.
            let id = format!(
                "<CAOf{:016x}+{:08x}=Q@mail.gmail.com>",
                rand_u64(),
                rand_u64() as u32
            );
            let attribution = if ja {
                "2026年11月25日(水) 10:10 IT support <support@example.test>:".to_string()
            } else {
                "On Wed, Nov 25, 2026 at 10:10 AM IT support <support@example.test> wrote:"
                    .to_string()
            };
            let plain = crlf(&format!(
                "{words}\n\n{attribution}\n\n{}\n",
                quote(&notice.text)
            ));
            let html_words: String = words.lines().map(|l| format!("<div>{l}</div>")).collect();
            let html = crlf(&format!(
                "<div dir=\"ltr\">{html_words}</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">{}</div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">{}</blockquote></div>\n",
                attribution.replace('<', "&lt;").replace('>', "&gt;"),
                notice
                    .text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('\n', "<br>\n")
            ));
            let boundary = format!("000000000000{:012x}", rand_u64() & 0xffff_ffff_ffff);
            let mut refs = notice.references.clone();
            refs.push(notice.message_id.clone());
            let raw = crlf(&format!(
                "MIME-Version: 1.0\nReferences: {}\nIn-Reply-To: <{}>\nFrom: Admin One <{ADMIN}>\nDate: {date}\nMessage-ID: {id}\nSubject: {}\nTo: IT support <{SUPPORT}>\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\n\n--{boundary}\nContent-Type: text/plain; charset=\"UTF-8\"\nContent-Transfer-Encoding: base64\n\n{}\n--{boundary}\nContent-Type: text/html; charset=\"UTF-8\"\nContent-Transfer-Encoding: base64\n\n{}\n--{boundary}--\n",
                bracket(&refs),
                notice.message_id,
                rfc2047(&format!("Re: {}", notice.subject)),
                base64_body(plain.as_bytes()),
                base64_body(html.as_bytes()),
            ));
            (id, raw.into_bytes())
        }
        Client::Thunderbird | Client::ThunderbirdBottomPost => {
            // Re:, full References, format=flowed 8bit, "On <date>, <name> wrote:".
            let id = format!(
                "<{:08x}-{:04x}-{:04x}-{:04x}-{:012x}@example.test>",
                rand_u64() as u32,
                rand_u64() as u16,
                rand_u64() as u16,
                rand_u64() as u16,
                rand_u64() & 0xffff_ffff_ffff
            );
            let mut refs = notice.references.clone();
            refs.push(notice.message_id.clone());
            let quoted = format!(
                "On 2026/11/25 10:10, IT support wrote:\n{}\n",
                quote(&notice.text)
            );
            let body = if client == Client::Thunderbird {
                format!("{words}\n\n{quoted}")
            } else {
                format!("{quoted}\n{words}\n")
            };
            let raw = crlf(&format!(
                "Message-ID: {id}\nDate: {date}\nMIME-Version: 1.0\nUser-Agent: Mozilla Thunderbird\nSubject: {}\nTo: IT support <{SUPPORT}>\nReferences: {}\nContent-Language: {}\nFrom: Admin One <{ADMIN}>\nIn-Reply-To: <{}>\nContent-Type: text/plain; charset=UTF-8; format=flowed\nContent-Transfer-Encoding: 8bit\n\n{body}",
                rfc2047(&format!("Re: {}", notice.subject)),
                bracket(&refs),
                if ja { "ja" } else { "en-US" },
                notice.message_id,
            ));
            (id, raw.into_bytes())
        }
    }
}

// ---------------------------------------------------------------------------
// 1. The conversation
// ---------------------------------------------------------------------------

struct Words {
    ja: bool,
    subject: &'static str,
    ask: &'static str,
    not_solved: &'static str,
    admin: &'static str,
}

const EN: Words = Words {
    ja: false,
    subject: "The verification code never arrives",
    ask: "Hi,\n\nwhen I sign in, the SMS verification code never arrives.\nI tried resending it several times.\n\nThanks,\nTaro",
    not_solved: "It did not help, still no code.",
    admin: "Sorry for the trouble.\nI will call you at 15:00 today to check your phone.",
};

const JA: Words = Words {
    ja: true,
    subject: "認証コードが届きません",
    ask: "お疲れ様です。山田です。\n\nログインしようとすると、SMSの認証コードが届きません。\n何度か再送しましたが来ません。\n\nよろしくお願いします。",
    not_solved: "解決しませんでした。まだコードが届きません。",
    admin: "ご不便をおかけしています。\n本日15時にお電話で確認します。",
};

fn stack_users() -> [&'static str; 5] {
    [SUPPORT, EMPLOYEE, ADMIN, ADMIN2, HANAKO]
}

/// Employee asks, gets the guide, says it did not help; the admin gets the
/// notice. Returns (question id, guide, follow-up id, notice).
async fn ask_and_escalate(
    stack: &MailStack,
    desk: &Desk,
    w: &Words,
    charset: Charset,
) -> (String, Mail, String, Mail) {
    let started = Instant::now();
    let (ask_id, raw) = employee_mail(EMPLOYEE, w.subject, w.ask, "", charset);
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    let ask_bare = ask_id.trim_matches(['<', '>']).to_string();
    let guide = wait_mail(stack, EMPLOYEE, "the guide", |m| {
        m.from == SUPPORT && m.in_reply_to.contains(&ask_bare)
    })
    .await;
    eprintln!(
        "guide in the employee's INBOX after {:?}",
        started.elapsed()
    );
    assert!(
        guide.subject.contains("[MFA-1]"),
        "guide subject: {}",
        guide.subject
    );
    assert!(
        guide.subject.contains(w.subject),
        "the guide's subject keeps the employee's words: {}",
        guide.subject
    );
    assert_eq!(guide.auto_submitted.as_deref(), Some("auto-replied"));
    assert_eq!(desk.field("MFA-1", "status"), "awaiting_feedback");
    assert_eq!(desk.field("MFA-1", "category"), "code_not_received");

    // A real reply to the guide: Re:, In-Reply-To/References, the guide quoted.
    let text = format!(
        "{}\n\nOn Wed, Nov 25, 2026 at 10:05 AM IT support <{SUPPORT}> wrote:\n{}\n",
        w.not_solved,
        quote(&guide.text.lines().take(12).collect::<Vec<_>>().join("\n"))
    );
    let (follow_id, raw) = employee_mail(
        EMPLOYEE,
        &format!("Re: {}", guide.subject),
        &text,
        &reply_threading(&guide),
        charset,
    );
    let sent = Instant::now();
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    let notice = wait_mail(stack, ADMIN, "the notice", |m| {
        m.from == SUPPORT && m.subject.contains("[MFA-1]")
    })
    .await;
    eprintln!("notice in the admin's INBOX after {:?}", sent.elapsed());
    assert!(
        notice.text.contains(w.not_solved),
        "the notice carries the employee's words:\n{}",
        notice.text
    );
    assert!(notice.text.contains("HOW TO ANSWER"), "{}", notice.text);
    assert_eq!(desk.field("MFA-1", "status"), "open");
    assert_eq!(
        desk.field("MFA-1", "owner"),
        ADMIN,
        "round robin: first admin"
    );
    assert!(
        from_support(stack, ADMIN2).await.is_empty(),
        "only the owner is told"
    );
    (ask_id, guide, follow_id, notice)
}

async fn conversation(name: &str, w: &Words, client: Client, charset: Charset) {
    let Some(stack) = MailStack::start_with_users(name, &stack_users()) else {
        return;
    };
    let t0 = Instant::now();
    let desk = Desk::start(&stack);
    let ja = w.ja;
    let (_ask_id, guide, follow_id, notice) = ask_and_escalate(&stack, &desk, w, charset).await;

    // The admin answers from their own client.
    let (reply_id, raw) = admin_reply(client, &notice, w.admin, ja);
    let sent = Instant::now();
    stack.send_raw(ADMIN, &[SUPPORT], &raw).await;
    let first_line = w.admin.lines().next().unwrap_or_default();
    let relay = wait_mail(&stack, EMPLOYEE, "the admin's answer", |m| {
        m.from == SUPPORT && m.text.contains(first_line)
    })
    .await;
    eprintln!(
        "{client:?}: the admin's answer reached the employee {:?} after it was sent",
        sent.elapsed()
    );
    assert_eq!(desk.ticket_of(&reply_id), Some(1), "filed under MFA-1");
    eprintln!(
        "{client:?}: the employee sees {:?}\n{}",
        relay.subject, relay.text
    );

    // What the employee sees: the admin's words, all of them, and nothing else of the admin's mail.
    for line in w.admin.lines() {
        assert!(
            relay.text.contains(line),
            "{client:?}: {line:?} missing:\n{}",
            relay.text
        );
    }
    for leak in [
        "HOW TO ANSWER",
        "WHAT TO DO",
        "needs a person",
        "What the employee wrote",
        "History / 経緯",
        "________________________________",
        "wrote:",
        "Sent:",
        "送信日時",
        "gmail_quote",
        "mfa-desk (IT support)",
        w.not_solved,
        ADMIN,
    ] {
        assert!(
            !relay.text.contains(leak),
            "{client:?}: the relayed text shows {leak:?}:\n{}",
            relay.text
        );
    }
    assert!(
        !relay.text.lines().any(|l| l.starts_with('>')),
        "{client:?}: quoted lines relayed:\n{}",
        relay.text
    );
    assert!(
        !relay.raw.contains(ADMIN),
        "{client:?}: the admin's address leaks into the employee's mail"
    );
    // Threaded into the employee's conversation, one clean subject.
    assert!(
        relay.subject.starts_with("Re: [MFA-1] "),
        "{client:?}: {}",
        relay.subject
    );
    assert_eq!(
        relay.subject.matches("[MFA-1]").count(),
        1,
        "{}",
        relay.subject
    );
    for piled in ["RE:", "Re: Re:", "Re: RE", "AW:", "返信:"] {
        assert!(
            !relay.subject.contains(piled),
            "{client:?}: prefixes pile up: {}",
            relay.subject
        );
    }
    assert!(
        relay.subject.contains(w.subject),
        "{client:?}: the topic survives: {}",
        relay.subject
    );
    let follow_bare = follow_id.trim_matches(['<', '>']).to_string();
    assert!(
        relay.in_reply_to == vec![follow_bare.clone()]
            || relay.in_reply_to == vec![guide.message_id.clone()],
        "{client:?}: In-Reply-To {:?} is neither the employee's last mail nor our last mail to them",
        relay.in_reply_to
    );
    assert!(
        relay.references.contains(&guide.message_id),
        "{client:?}: References {:?} lack the guide",
        relay.references
    );
    assert_eq!(relay.from, SUPPORT);
    assert!(
        relay.auto_submitted.is_none() || relay.auto_submitted.as_deref() == Some("no"),
        "{client:?}: a person's answer is not auto-submitted: {:?}",
        relay.auto_submitted
    );
    let employee_box = from_support(&stack, EMPLOYEE).await;
    assert_eq!(
        employee_box.len(),
        2,
        "{client:?}: the employee has the guide and the answer, nothing else"
    );

    // `#resolve` closes it and relays nothing.
    let (resolve_id, raw) = admin_reply(client, &notice, "#resolve", ja);
    stack.send_raw(ADMIN, &[SUPPORT], &raw).await;
    desk.wait_status("MFA-1", "resolved", MAIL_WAIT).await;
    assert_eq!(desk.ticket_of(&resolve_id), Some(1));
    assert_eq!(
        desk.outbox_to(EMPLOYEE),
        2,
        "{client:?}: a bare command relays nothing"
    );
    let shown = desk.cli(&["show", "MFA-1"]);
    assert!(shown.contains("admin_reply"), "{shown}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(from_support(&stack, EMPLOYEE).await.len(), 2);
    // The admin got the notice and nothing else (no help, no warning).
    let admin_box = from_support(&stack, ADMIN).await;
    assert_eq!(
        admin_box.len(),
        1,
        "{client:?}: {:#?}",
        admin_box.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    desk.stop();
    eprintln!("{name}: whole conversation in {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_en_outlook() {
    conversation(
        "conversation_en_outlook",
        &EN,
        Client::Outlook,
        Charset::Utf8,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_en_gmail() {
    conversation("conversation_en_gmail", &EN, Client::Gmail, Charset::Utf8).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_en_thunderbird() {
    conversation(
        "conversation_en_thunderbird",
        &EN,
        Client::Thunderbird,
        Charset::Utf8,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_ja_thunderbird_bottom_post() {
    conversation(
        "conversation_ja_thunderbird_bottom",
        &JA,
        Client::ThunderbirdBottomPost,
        Charset::Utf8,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_ja_gmail_utf8() {
    conversation("conversation_ja_gmail", &JA, Client::Gmail, Charset::Utf8).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_ja_outlook_employee_writes_iso_2022_jp() {
    conversation(
        "conversation_ja_outlook_iso2022jp",
        &JA,
        Client::Outlook,
        Charset::Iso2022Jp,
    )
    .await;
}

// ---------------------------------------------------------------------------
// 2. Forgery
// ---------------------------------------------------------------------------

/// Kinds of ticket events an admin's command or reply leaves.
fn admin_events(desk: &Desk, ticket: i64) -> Vec<String> {
    let db = desk.db();
    let mut q = db
        .prepare(
            "SELECT kind FROM events WHERE ticket_id = ?1 AND kind IN \
             ('resolved','reopened','waiting','priority','assigned','note','admin_reply')",
        )
        .expect("prepare");
    q.query_map([ticket], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

fn warnings(mails: &[Mail]) -> usize {
    mails
        .iter()
        .filter(|m| m.subject.contains("could not be verified"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_admin_mail_relays_nothing_changes_nothing_and_warns_the_admins() {
    let Some(stack) = MailStack::start_with_users("forged_admin_mail", &stack_users()) else {
        return;
    };
    let t0 = Instant::now();
    let desk = Desk::start(&stack);
    let (_ask, guide, _follow, notice) = ask_and_escalate(&stack, &desk, &EN, Charset::Utf8).await;

    // A second ticket still waiting for the employee's "did this solve it?".
    let (ask2, raw) = employee_mail(
        EMPLOYEE,
        "New phone: how do I move the authenticator?",
        "Hello,\nI got a new phone today. How do I move Microsoft Authenticator to it?\nThanks",
        "",
        Charset::Utf8,
    );
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    assert_eq!(desk.wait_filed(&ask2, MAIL_WAIT).await, 2);
    let guide2 = wait_mail(&stack, EMPLOYEE, "the second guide", |m| {
        m.from == SUPPORT && m.subject.contains("[MFA-2]")
    })
    .await;
    assert_eq!(desk.field("MFA-2", "status"), "awaiting_feedback");

    let marker = notice
        .text
        .lines()
        .find(|l| l.starts_with("[MFA-1 ref:"))
        .expect("the notice carries the body marker")
        .to_string();
    let evil = "#resolve\n#assign Admin Two\nPlease reply with your password so that I can verify your account.\n";
    // Each forgery: (what it tries, extra headers, body, subject).
    let forgeries: Vec<(&str, String, String, String)> = vec![
        ("no reference, no auth", String::new(), evil.into(), notice.subject.clone()),
        (
            "made-up HMAC in our Message-ID format",
            format!(
                "In-Reply-To: <mfa-1.{:016x}{:016x}.{:016x}@example.test>\nReferences: <mfa-1.{:016x}{:016x}.{:016x}@example.test>\n",
                rand_u64(), rand_u64(), rand_u64(), rand_u64(), rand_u64(), rand_u64()
            ),
            evil.into(),
            notice.subject.clone(),
        ),
        (
            "a real Message-ID of ours, issued to the employee",
            format!("In-Reply-To: <{}>\nReferences: <{}>\n", guide.message_id, guide.message_id),
            evil.into(),
            notice.subject.clone(),
        ),
        (
            "dmarc=pass from a server nobody trusts",
            "Authentication-Results: mx.attacker.test; spf=pass smtp.mailfrom=example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test\n".into(),
            evil.into(),
            notice.subject.clone(),
        ),
        (
            "failing results from the trusted server",
            format!("Authentication-Results: {AUTHSERV}; spf=fail smtp.mailfrom=example.test; dkim=fail header.d=example.test; dmarc=fail header.from=example.test\n"),
            evil.into(),
            notice.subject.clone(),
        ),
        (
            "the notice's body marker copied in",
            String::new(),
            format!("{evil}\n{marker}\n"),
            "Re: ticket".into(),
        ),
        (
            "'solved' on a ticket awaiting feedback",
            String::new(),
            "Solved, thanks, it works now.\n".into(),
            format!("Re: {}", guide2.subject),
        ),
    ];
    for (what, extra, body, subject) in &forgeries {
        let id = new_id("attacker.test");
        let raw = crlf(&format!(
            "From: Admin One <{ADMIN}>\nTo: {SUPPORT}\nSubject: {}\nMessage-ID: {id}\nDate: {}\n{extra}MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n{body}",
            rfc2047(&format!("Re: {}", subject.trim_start_matches("Re: "))),
            date()
        ));
        // Submitted with the admin's envelope too: nothing in SMTP tells it apart.
        stack.send_raw(ADMIN, &[SUPPORT], raw.as_bytes()).await;
        let t = desk.wait_filed(&id, MAIL_WAIT).await;
        eprintln!("forgery ({what}) filed under MFA-{t}");
    }

    // Every admin is warned once per forgery.
    for admin in [ADMIN, ADMIN2] {
        let deadline = Instant::now() + MAIL_WAIT;
        loop {
            let n = warnings(&inbox(&stack, admin).await);
            if n == forgeries.len() {
                break;
            }
            assert!(
                n < forgeries.len() && Instant::now() < deadline,
                "{admin} has {n} warnings for {} forgeries",
                forgeries.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Nothing changed: status, owner, no admin event, nothing for the employee.
    assert_eq!(desk.field("MFA-1", "status"), "open");
    assert_eq!(desk.field("MFA-1", "owner"), ADMIN, "no forged #assign");
    assert_eq!(desk.field("MFA-1", "priority"), "normal");
    assert!(
        admin_events(&desk, 1).is_empty(),
        "{:?}",
        admin_events(&desk, 1)
    );
    // Treated as an employee's mail that is not the requester's feedback:
    // it goes to a person (open), it never closes the ticket.
    let shown = desk.cli(&["show", "MFA-2"]);
    assert_ne!(
        desk.field("MFA-2", "status"),
        "resolved",
        "a forged admin mail closed MFA-2 as solved:\n{shown}"
    );
    assert!(!shown.contains("feedback_solved"), "{shown}");
    assert_eq!(desk.outbox_to(EMPLOYEE), 2, "only the two guides");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let employee_box = from_support(&stack, EMPLOYEE).await;
    assert_eq!(
        employee_box.len(),
        2,
        "something was relayed to the employee: {:#?}",
        employee_box
            .iter()
            .map(|m| (&m.subject, &m.text))
            .collect::<Vec<_>>()
    );
    assert!(
        !employee_box
            .iter()
            .any(|m| m.text.contains("password so that")),
        "forged text relayed"
    );

    // The control: the real admin, answering the notice, is believed.
    let (id, raw) = admin_reply(Client::Thunderbird, &notice, "#resolve", false);
    stack.send_raw(ADMIN, &[SUPPORT], &raw).await;
    desk.wait_status("MFA-1", "resolved", MAIL_WAIT).await;
    assert_eq!(desk.ticket_of(&id), Some(1));
    assert_eq!(admin_events(&desk, 1), vec!["resolved".to_string()]);
    desk.stop();
    eprintln!("forgeries: {:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------
// 3. Threading
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn follow_ups_join_by_tag_or_references_and_new_problems_open_new_tickets() {
    let Some(stack) = MailStack::start_with_users("threading", &stack_users()) else {
        return;
    };
    let t0 = Instant::now();
    let desk = Desk::start(&stack);
    let (ask, raw) = employee_mail(EMPLOYEE, EN.subject, EN.ask, "", Charset::Utf8);
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    assert_eq!(desk.wait_filed(&ask, MAIL_WAIT).await, 1);
    let guide = wait_mail(&stack, EMPLOYEE, "the guide", |m| {
        m.from == SUPPORT && m.subject.contains("[MFA-1]")
    })
    .await;

    // Tag only: a client that drops In-Reply-To/References, the tag kept.
    let (tag_only, raw) = employee_mail(
        EMPLOYEE,
        "Re: [MFA-1] still broken",
        "Still no code, it did not work.",
        "",
        Charset::Utf8,
    );
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    assert_eq!(
        desk.wait_filed(&tag_only, MAIL_WAIT).await,
        1,
        "tag only joins MFA-1"
    );

    // References only: the tag (and the whole subject) replaced, no quote.
    let (refs_only, raw) = employee_mail(
        EMPLOYEE,
        "more details",
        "The phone shows no SMS at all, not even from other senders.",
        &format!(
            "In-Reply-To: <{}>\nReferences: {ask} <{}>\n",
            guide.message_id, guide.message_id
        ),
        Charset::Utf8,
    );
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    assert_eq!(
        desk.wait_filed(&refs_only, MAIL_WAIT).await,
        1,
        "references only join MFA-1"
    );

    // Somebody else quoting the tag gets a ticket of their own.
    let (other, raw) = employee_mail(
        HANAKO,
        "Re: [MFA-1] I have the same problem",
        "My SMS code does not arrive either.",
        "",
        Charset::Utf8,
    );
    stack.send_raw(HANAKO, &[SUPPORT], &raw).await;
    assert_eq!(
        desk.wait_filed(&other, MAIL_WAIT).await,
        2,
        "another sender's tag"
    );
    assert_eq!(desk.field("MFA-2", "requester"), HANAKO);

    // A new problem in a new mail, under the very same subject: a new ticket.
    let (new_problem, raw) = employee_mail(
        EMPLOYEE,
        EN.subject,
        "Hello again,\nI lost my phone on the train this morning and cannot sign in at all.\nTaro",
        "",
        Charset::Utf8,
    );
    stack.send_raw(EMPLOYEE, &[SUPPORT], &raw).await;
    assert_eq!(
        desk.wait_filed(&new_problem, MAIL_WAIT).await,
        3,
        "never joined by equal subjects"
    );

    let queue = desk.cli(&["queue"]);
    eprintln!("{queue}");
    for (tag, who) in [("MFA-1", EMPLOYEE), ("MFA-2", HANAKO), ("MFA-3", EMPLOYEE)] {
        assert!(
            queue.lines().any(|l| l.starts_with(tag) && l.contains(who)),
            "{tag} of {who} not queued:\n{queue}"
        );
    }
    assert!(!queue.contains("MFA-4"), "{queue}");
    // MFA-1 holds the question and both follow-ups, nothing else.
    assert_eq!(
        desk.count("SELECT count(*) FROM messages WHERE ticket_id = ?1", "1"),
        3
    );
    // What each person sees: Hanako's answer is hers, under her own ticket.
    let hanako = wait_mail(&stack, HANAKO, "an answer to her own ticket", |m| {
        m.from == SUPPORT
    })
    .await;
    eprintln!("Hanako sees {:?}", hanako.subject);
    assert!(hanako.subject.contains("[MFA-2]"), "{}", hanako.subject);
    assert!(
        !hanako.subject.contains("[MFA-1]"),
        "Hanako is shown somebody else's ticket number: {}",
        hanako.subject
    );
    let new_guide = wait_mail(&stack, EMPLOYEE, "the answer to the new problem", |m| {
        m.from == SUPPORT && m.subject.contains("[MFA-3]")
    })
    .await;
    let new_problem_bare = new_problem.trim_matches(['<', '>']).to_string();
    assert_eq!(new_guide.in_reply_to, vec![new_problem_bare]);
    assert!(
        !new_guide.references.contains(&guide.message_id),
        "the new ticket's mail is not threaded into the old one"
    );
    assert!(
        !from_support(&stack, EMPLOYEE)
            .await
            .iter()
            .any(|m| m.subject.contains("[MFA-2]")),
        "Hanako's ticket reached the employee"
    );
    desk.stop();
    eprintln!("threading: {:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------
// 4. A real auto-responder
// ---------------------------------------------------------------------------

/// How a responder answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Habit {
    /// `Re: <subject>` with In-Reply-To/References.
    Threads,
    /// `Re: <subject>`, no In-Reply-To/References.
    DropsReferences,
    /// The same fixed subject every time, no references.
    FixedSubject,
}

/// An auto-responder: watches `me`'s INBOX over IMAP and answers every new
/// mail at once through SMTP, with no Auto-Submitted, no Precedence, no
/// X-Autoreply. Runs until `until`, at most `max` answers. Returns how many
/// it sent.
async fn auto_responder(
    stack: &MailStack,
    me: &str,
    habit: Habit,
    until: Instant,
    max: usize,
) -> usize {
    let mut answered = HashSet::new();
    let mut sent = 0;
    while Instant::now() < until && sent < max {
        for m in inbox(stack, me).await {
            if !answered.insert(m.uid) || m.from == me || sent >= max {
                continue;
            }
            let (subject, threading) = match habit {
                Habit::Threads => (format!("Re: {}", m.subject), reply_threading(&m)),
                Habit::DropsReferences => (format!("Re: {}", m.subject), String::new()),
                Habit::FixedSubject => ("Your mail to Partner Inc.".to_string(), String::new()),
            };
            let raw = crlf(&format!(
                "From: Partner Inc. <{me}>\nTo: {}\nSubject: {}\nMessage-ID: {}\nDate: {}\n{threading}MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\nThank you for your mail, I will answer soon.\n\nPartner Inc.\n",
                m.from,
                rfc2047(&subject),
                new_id("partner.test"),
                date()
            ));
            stack.send_raw(me, &[m.from.as_str()], raw.as_bytes()).await;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sent
}

#[tokio::test(flavor = "multi_thread")]
async fn real_auto_responders_get_at_most_one_automatic_reply() {
    const THREADS: &str = "robot@partner.test";
    const DROPS: &str = "sales@partner.test";
    const FIXED: &str = "desk@partner.test";
    let Some(stack) = MailStack::start_with_users(
        "auto_responders",
        &[SUPPORT, EMPLOYEE, ADMIN, ADMIN2, THREADS, DROPS, FIXED],
    ) else {
        return;
    };
    let desk = Desk::start(&stack);
    let t0 = Instant::now();
    // Each responder writes to support@ first (a guide question, an "other"
    // question, a setup question), then answers whatever comes back.
    for (who, subject, body) in [
        (THREADS, EN.subject, EN.ask),
        (
            DROPS,
            "Question about your visitor policy",
            "Hello, can visitors from Partner Inc. use your guest Wi-Fi?\nRegards",
        ),
        (
            FIXED,
            "How do I set up MFA?",
            "Hello, how do I set up the authenticator app for my account? Regards",
        ),
    ] {
        let (_, raw) = employee_mail(who, subject, body, "", Charset::Utf8);
        stack.send_raw(who, &[SUPPORT], &raw).await;
    }
    let until = Instant::now() + Duration::from_secs(20);
    let (a, b, c) = tokio::join!(
        auto_responder(&stack, THREADS, Habit::Threads, until, 30),
        auto_responder(&stack, DROPS, Habit::DropsReferences, until, 30),
        auto_responder(&stack, FIXED, Habit::FixedSubject, until, 30),
    );
    eprintln!(
        "automatic answers sent by the responders: threads {a}, drops references {b}, fixed subject {c}"
    );
    // Whatever was in flight has landed: let mfa-desk's outbox drain.
    tokio::time::sleep(Duration::from_secs(2)).await;

    for (who, habit, answers, most) in [
        (THREADS, Habit::Threads, a, 1),
        (DROPS, Habit::DropsReferences, b, 1),
        (FIXED, Habit::FixedSubject, c, 1),
    ] {
        let got = from_support(&stack, who).await;
        eprintln!(
            "{habit:?}: {} mail(s) from support@: {:?}",
            got.len(),
            got.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
        assert!(
            !got.is_empty(),
            "{habit:?}: the first mail was not answered"
        );
        assert!(
            got.len() <= most,
            "{habit:?}: {} automatic replies to a responder",
            got.len()
        );
        assert_eq!(answers, got.len(), "{habit:?}: the responder answered each");
        assert_eq!(
            desk.outbox_to(who) as usize,
            got.len(),
            "{habit:?}: nothing pending"
        );
        // mfa-desk did read the responder's answers and chose silence.
        let recorded = desk.count("SELECT count(*) FROM messages WHERE from_addr = ?1", who);
        assert_eq!(
            recorded as usize,
            1 + answers,
            "{habit:?}: every mail from the responder was handled"
        );
    }
    desk.stop();
    eprintln!("auto-responders: {:?}", t0.elapsed());
}

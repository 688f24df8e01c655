//! A real mail stack per test: Postfix (SMTP) → Dovecot LMTP → Maildir →
//! Dovecot IMAP on loopback, started by `scripts/mailstack/start.sh` on free
//! ports in a temp dir of its own, and stopped (and removed) on drop.
//!
//! ```ignore
//! mod support;
//! use support::mailstack::MailStack;
//!
//! #[tokio::test(flavor = "multi_thread")]
//! async fn something() {
//!     let Some(stack) = MailStack::start("something") else { return };  // skipped: loud message
//!     let cfg = stack.imap_config("support@example.test");
//! }
//! ```
//!
//! The servers need root (Dovecot and Postfix masters drop privileges) and,
//! the first time, apt. Where that is impossible the test prints a loud SKIP
//! and passes — except under `CI=true`, where a missing server is a failure:
//! CI must never go green by skipping the real-server tests.

use mfa_desk::config::{ImapConfig, SmtpConfig, Tls};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The test users, all with [`MailStack::password`].
pub const SUPPORT: &str = "support@example.test";
pub const EMPLOYEE: &str = "employee@example.test";
pub const ADMIN: &str = "admin@example.test";

/// One running instance. Dropping it stops both servers and deletes its dir.
pub struct MailStack {
    pub name: String,
    pub dir: PathBuf,
    /// Always 127.0.0.1: the servers listen on loopback only.
    pub host: String,
    pub imap_port: u16,
    pub smtp_port: u16,
    pub lmtp_port: u16,
    /// With TLS (see [`MailStack::start_tls`]): implicit-TLS ports, the CA to
    /// trust, and the only name the certificate is valid for.
    pub imaps_port: Option<u16>,
    pub smtps_port: Option<u16>,
    pub ca_file: Option<PathBuf>,
    pub tls_name: Option<String>,
    pub password: String,
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn skip(name: &str, why: &str) -> Option<MailStack> {
    if in_ci() {
        panic!("CI=true and the real mail stack is unavailable for {name}: {why}");
    }
    let bar = "!".repeat(78);
    eprintln!(
        "\n{bar}\n!!! SKIPPED {name}: no real mail server here.\n!!! {why}\n\
         !!! (runs as root with apt; under CI=true this is a failure, not a skip)\n{bar}\n"
    );
    None
}

impl MailStack {
    /// Start a plain-text instance (IMAP, SMTP, LMTP on free ports).
    pub fn start(name: &str) -> Option<MailStack> {
        Self::start_with(name, false, None)
    }

    /// Start a plain-text instance with these users (all with the stack's
    /// password) instead of the default three; their domains are all local.
    pub fn start_with_users(name: &str, users: &[&str]) -> Option<MailStack> {
        Self::start_with(name, false, Some(users.join(" ")))
    }

    /// Start an instance that also offers TLS: IMAP STARTTLS + IMAPS, SMTP
    /// STARTTLS + SMTPS, with a fresh private CA ([`MailStack::ca_file`]).
    pub fn start_tls(name: &str) -> Option<MailStack> {
        Self::start_with(name, true, None)
    }

    /// Start a plain-text instance of a different server: `capability`
    /// replaces Dovecot's IMAP capability list (a server without IDLE, MOVE
    /// or UIDPLUS), `oauth2_url` adds XOAUTH2 logins whose tokens Dovecot
    /// checks at that OAuth2 introspection endpoint.
    pub fn start_variant(
        name: &str,
        capability: Option<&str>,
        oauth2_url: Option<&str>,
    ) -> Option<MailStack> {
        let mut variant = Vec::new();
        if let Some(c) = capability {
            variant.push(("MAILSTACK_IMAP_CAPABILITY", c.to_string()));
        }
        if let Some(u) = oauth2_url {
            variant.push(("MAILSTACK_OAUTH2_URL", u.to_string()));
        }
        Self::start_full(name, false, None, &variant)
    }

    fn start_with(name: &str, tls: bool, users: Option<String>) -> Option<MailStack> {
        Self::start_full(name, tls, users, &[])
    }

    fn start_full(
        name: &str,
        tls: bool,
        users: Option<String>,
        variant: &[(&str, String)],
    ) -> Option<MailStack> {
        init_tracing();
        let script = scripts().join("start.sh");
        let mut last_error = String::new();
        // Two instances started in parallel can race for one "auto" port
        // (chosen free, then bound a moment later): retry with fresh ports.
        for attempt in 1..=3 {
            let started = Instant::now();
            // Our own dir (not the script's default) so that a failed start can
            // be cleaned up here: stop.sh finds any daemon by its pid files.
            let dir = match tempfile::Builder::new()
                .prefix("mailstack.")
                .tempdir_in("/tmp")
            {
                Ok(d) => d.keep(),
                Err(e) => return skip(name, &format!("cannot create a dir in /tmp: {e}")),
            };
            let mut cmd = Command::new("bash");
            cmd.arg(&script)
                .arg(&dir)
                .env("IMAP_PORT", "auto")
                .env("SMTP_PORT", "auto")
                .env("LMTP_PORT", "auto")
                .env("MAILSTACK_TLS", if tls { "1" } else { "0" })
                .env_remove("MAILSTACK_USERS")
                .env_remove("MAILSTACK_IMAP_CAPABILITY")
                .env_remove("MAILSTACK_OAUTH2_URL")
                .env_remove("IMAPS_PORT")
                .env_remove("SMTPS_PORT")
                .envs(variant.iter().map(|(k, v)| (*k, v.as_str())));
            if let Some(users) = &users {
                cmd.env("MAILSTACK_USERS", users);
            }
            let out = match cmd.output() {
                Ok(o) => o,
                Err(e) => return skip(name, &format!("cannot run bash {}: {e}", script.display())),
            };
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            if !out.status.success() {
                let _ = Command::new("bash")
                    .arg(scripts().join("stop.sh"))
                    .args(["--fast", "--purge"])
                    .arg(&dir)
                    .output();
                if out.status.code() == Some(77) {
                    return skip(name, stderr.trim());
                }
                last_error = format!(
                    "{} (exit {:?}):\n{stderr}",
                    script.display(),
                    out.status.code()
                );
                eprintln!("[mailstack] start attempt {attempt} failed: {last_error}");
                continue;
            }
            let env = parse_exports(&String::from_utf8_lossy(&out.stdout));
            let get = |k: &str| env.get(k).cloned().unwrap_or_default();
            let port = |k: &str| get(k).parse::<u16>().ok();
            let stack = MailStack {
                name: name.to_string(),
                dir: PathBuf::from(get("MAILSTACK_DIR")),
                host: get("MAILSTACK_HOST"),
                imap_port: port("IMAP_PORT").unwrap_or(0),
                smtp_port: port("SMTP_PORT").unwrap_or(0),
                lmtp_port: port("LMTP_PORT").unwrap_or(0),
                imaps_port: port("IMAPS_PORT"),
                smtps_port: port("SMTPS_PORT"),
                ca_file: env.get("MAILSTACK_CA_FILE").map(PathBuf::from),
                tls_name: env.get("MAILSTACK_TLS_NAME").cloned(),
                password: get("MAILSTACK_PASSWORD"),
            };
            assert!(
                stack.imap_port > 0 && stack.smtp_port > 0 && !stack.host.is_empty(),
                "start.sh printed no ports: {env:?}"
            );
            eprintln!(
                "[mailstack] {name}: IMAP {} SMTP {} LMTP {} in {} (ready in {} ms)",
                stack.imap_port,
                stack.smtp_port,
                stack.lmtp_port,
                stack.dir.display(),
                started.elapsed().as_millis()
            );
            return Some(stack);
        }
        panic!("the mail stack did not start for {name}: {last_error}");
    }

    /// An `[mailbox]` config for `user` over plain IMAP on loopback.
    pub fn imap_config(&self, user: &str) -> ImapConfig {
        ImapConfig {
            host: self.host.clone(),
            port: self.imap_port,
            tls: Tls::None,
            username: user.to_string(),
            password_env: None,
            // A command rather than an env var: tests run in parallel threads,
            // and changing the environment of a running process is unsound.
            password_command: Some(format!("printf '%s' '{}'", self.password)),
            token_command: None,
            folder: "INBOX".into(),
            poll_interval_secs: 2,
            processed_folder: None,
            quarantine_folder: "Quarantine".into(),
            ca_file: None,
            outage_alert_secs: 900,
            live_margin_secs: 300,
            idle_renew_secs: 540,
        }
    }

    /// An `[smtp]` config for the stack's Postfix (no login: loopback is trusted).
    pub fn smtp_config(&self) -> SmtpConfig {
        SmtpConfig {
            host: self.host.clone(),
            port: self.smtp_port,
            tls: Tls::None,
            username: None,
            password_env: None,
            password_command: None,
            token_command: None,
            ca_file: None,
            max_age_secs: 3600,
            backlog_per_minute: 1200,
        }
    }

    fn ctl(&self, what: &str) {
        let out = Command::new("bash")
            .arg(scripts().join("ctl.sh"))
            .arg(&self.dir)
            .arg(what)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctl.sh {what}: {e}"));
        assert!(
            out.status.success(),
            "ctl.sh {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kill Dovecot (every IMAP connection drops, as in a crash) and start it again.
    pub fn restart_dovecot(&self) {
        self.ctl("restart-dovecot");
    }

    pub fn stop_dovecot(&self) {
        self.ctl("stop-dovecot");
    }

    pub fn start_dovecot(&self) {
        self.ctl("start-dovecot");
    }

    /// Run `doveadm` against this instance (e.g. to change a folder's UIDVALIDITY).
    pub fn doveadm(&self, args: &[&str]) {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run doveadm: {e}"));
        assert!(
            out.status.success(),
            "doveadm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stop Postfix: the SMTP port refuses connections.
    pub fn stop_smtp(&self) {
        self.ctl("stop-smtp");
    }

    pub fn start_smtp(&self) {
        self.ctl("start-smtp");
    }

    /// Send a simple text mail through the stack's SMTP (Postfix), the way an
    /// employee's mail client would. Returns the Message-ID (with `<>`).
    pub async fn send_mail(&self, from: &str, to: &str, subject: &str, body: &str) -> String {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let id = format!("<test-{:016x}@example.test>", rand_u64());
        let msg = Message::builder()
            .from(from.parse().expect("test from address"))
            .to(to.parse().expect("test to address"))
            .subject(subject)
            .message_id(Some(id.clone()))
            .body(body.to_string())
            .expect("test message");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.smtp_port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        transport
            .send(msg)
            .await
            .unwrap_or_else(|e| panic!("SMTP send to {to} through the test stack failed: {e}"));
        id
    }

    /// Submit a raw RFC 5322 mail (built by the test, byte for byte) through
    /// the stack's SMTP with this envelope, as a mail client would.
    pub async fn send_raw(&self, from: &str, to: &[&str], raw: &[u8]) {
        use lettre::address::{Address, Envelope};
        use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
        let envelope = Envelope::new(
            Some(from.parse::<Address>().expect("test envelope sender")),
            to.iter()
                .map(|t| t.parse::<Address>().expect("test envelope recipient"))
                .collect(),
        )
        .expect("test envelope");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.smtp_port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        transport
            .send_raw(&envelope, raw)
            .await
            .unwrap_or_else(|e| panic!("SMTP send of a raw mail to {to:?} failed: {e}"));
    }

    /// Everything in `folder` of `user`, read by a second, independent IMAP
    /// client (plain async-imap): `(uid, flags, raw message)`.
    pub async fn messages(&self, user: &str, folder: &str) -> Vec<(u32, Vec<String>, Vec<u8>)> {
        use futures_util::TryStreamExt;
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.imap_port))
            .await
            .expect("connect to test IMAP");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("IMAP greeting");
        let mut session = client
            .login(user, &self.password)
            .await
            .map_err(|(e, _)| e)
            .expect("test IMAP login");
        let mut out = Vec::new();
        if session.select(folder).await.is_ok() {
            let fetches: Vec<_> = session
                .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                .await
                .expect("UID FETCH")
                .try_collect()
                .await
                .expect("UID FETCH stream");
            for f in &fetches {
                if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                    let flags = f.flags().map(|fl| format!("{fl:?}")).collect();
                    out.push((uid, flags, body.to_vec()));
                }
            }
        }
        let _ = session.logout().await;
        out
    }

    /// Poll `user`'s `folder` until a message whose raw text contains `needle`
    /// shows up (or panic after `within`).
    pub async fn wait_for_message(
        &self,
        user: &str,
        folder: &str,
        needle: &str,
        within: Duration,
    ) -> (u32, Vec<String>, Vec<u8>) {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .messages(user, folder)
                .await
                .into_iter()
                .find(|(_, _, raw)| String::from_utf8_lossy(raw).contains(needle));
            if let Some(m) = found {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no message containing {needle:?} in {user}/{folder} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn dump_logs(&self) {
        for log in ["dovecot.log", "postfix.log"] {
            let path = self.dir.join(log);
            if let Ok(text) = std::fs::read_to_string(&path) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!(
                    "----- {} (last {} lines) -----\n{}",
                    path.display(),
                    tail.len(),
                    tail.join("\n")
                );
            }
        }
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("[mailstack] {} failed; server logs follow", self.name);
            self.dump_logs();
        }
        let _ = Command::new("bash")
            .arg(scripts().join("stop.sh"))
            .args(["--fast", "--purge"])
            .arg(&self.dir)
            .output();
    }
}

fn parse_exports(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// Show the library's logs (reconnects, outages) in test output; once per binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("mfa_desk=debug")),
        )
        .with_test_writer()
        .try_init();
}

// ----- additions for tests/e2e_faults.rs and the benchmarks ----------------

impl MailStack {
    /// Where Dovecot keeps `user`'s Maildir (`…/mail/<domain>/<local>/Maildir`).
    pub fn maildir(&self, user: &str) -> PathBuf {
        let (local, domain) = user.split_once('@').expect("user@domain");
        let local = local.split('+').next().unwrap_or(local);
        self.dir
            .join("mail")
            .join(domain.to_lowercase())
            .join(local.to_lowercase())
            .join("Maildir")
    }

    /// Send finished RFC 5322 bytes through the stack's SMTP (Postfix), as a
    /// mail client would; returns when Postfix accepted the DATA (250).
    pub async fn send_raw_mail(&self, from: &str, to: &str, raw: &[u8]) {
        use lettre::address::Envelope;
        use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
        let envelope = Envelope::new(
            Some(from.parse().expect("test from address")),
            vec![to.parse().expect("test to address")],
        )
        .expect("test envelope");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.smtp_port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        transport
            .send_raw(&envelope, raw)
            .await
            .unwrap_or_else(|e| panic!("SMTP send to {to} through the test stack failed: {e}"));
    }

    /// Put mail straight into `rcpt`'s INBOX over Dovecot's LMTP (no Postfix,
    /// no queue): works while Postfix is stopped, and fast enough to fill a
    /// mailbox with thousands of messages. One LMTP session for all of them;
    /// `from` is the envelope sender (Return-Path: an empty one means a bounce).
    pub async fn deliver_lmtp(&self, from: &str, rcpt: &str, mails: &[Vec<u8>]) {
        lmtp_deliver(&self.host, self.lmtp_port, from, rcpt, mails)
            .await
            .unwrap_or_else(|e| panic!("LMTP delivery to {rcpt} failed: {e}"));
    }
}

/// A minimal LMTP client (RFC 2033): LHLO, then MAIL/RCPT/DATA per message.
async fn lmtp_deliver(
    host: &str,
    port: u16,
    from: &str,
    rcpt: &str,
    mails: &[Vec<u8>],
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    // Read one (possibly multi-line) reply; fail unless its code starts with `want`.
    async fn reply(
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        want: char,
        what: &str,
    ) -> std::io::Result<()> {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), r.read_line(&mut line))
                .await
                .map_err(|_| std::io::Error::other(format!("LMTP timeout after {what}")))??;
            if n == 0 {
                return Err(std::io::Error::other(format!("LMTP closed after {what}")));
            }
            if !line.starts_with(want) {
                return Err(std::io::Error::other(format!(
                    "LMTP {what}: {}",
                    line.trim_end()
                )));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    }
    reply(&mut r, '2', "greeting").await?;
    w.write_all(b"LHLO mfa-desk-tests\r\n").await?;
    reply(&mut r, '2', "LHLO").await?;
    for raw in mails {
        w.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
            .await?;
        reply(&mut r, '2', "MAIL FROM").await?;
        w.write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
            .await?;
        reply(&mut r, '2', "RCPT TO").await?;
        w.write_all(b"DATA\r\n").await?;
        reply(&mut r, '3', "DATA").await?;
        w.write_all(&dot_stuff(raw)).await?;
        w.write_all(b".\r\n").await?;
        // One reply per accepted recipient (we have one).
        reply(&mut r, '2', "end of DATA").await?;
    }
    w.write_all(b"QUIT\r\n").await?;
    let _ = reply(&mut r, '2', "QUIT").await;
    Ok(())
}

/// CRLF line ends, leading dots doubled, and a final CRLF.
fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40 + 2);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `subject` with a random suffix, so a test finds its own mail among others.
pub fn unique(subject: &str) -> String {
    format!("{subject} {:08x}", rand_u64() as u32)
}

/// The flags of the first message of [`MailStack::messages`] whose bytes contain `needle`.
pub fn flags_of(msgs: &[(u32, Vec<String>, Vec<u8>)], needle: &str) -> Option<Vec<String>> {
    msgs.iter()
        .find(|(_, _, raw)| String::from_utf8_lossy(raw).contains(needle))
        .map(|(_, f, _)| f.clone())
}

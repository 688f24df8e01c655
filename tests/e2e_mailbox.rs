//! End to end through real servers: the built `mfa-desk run` watches the
//! stack's support@ over IMAP and answers through its SMTP; an employee's
//! question sent over SMTP must come back to the employee's inbox as a guide,
//! threaded under the question and tagged with the ticket number.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::mailstack::{ADMIN, EMPLOYEE, MailStack, SUPPORT};

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
name = "Admin"
address = "{ADMIN}"

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

/// The running service; killed if the test ends early.
struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Service {
    fn start(config: &Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mfa-desk"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("MFA_DESK_LOG", "mfa_desk=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mfa-desk run");
        let (tx, lines) = mpsc::channel();
        for pipe in [
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("[mfa-desk] {line}");
                    let _ = tx.send(line);
                }
            });
        }
        Service { child, lines }
    }

    /// Wait for a log line containing `needle`.
    fn wait_for_line(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "mfa-desk never logged {needle:?} within {within:?} (exit status: {status:?})"
                    );
                }
            }
        }
    }

    /// SIGTERM, as systemd would, and wait for a clean exit.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "mfa-desk did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_employee_question_is_answered_with_a_threaded_guide() {
    let Some(stack) = MailStack::start("an_employee_question_is_answered") else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack);
    let mut service = Service::start(&config);
    // The first start refuses a mailbox that already holds mail, so send only
    // once the service has scanned the (empty) inbox and is idling.
    service.wait_for_line("IDLE: waiting for new mail", Duration::from_secs(60));

    let started = Instant::now();
    let question_id = stack
        .send_mail(
            EMPLOYEE,
            SUPPORT,
            "How do I register a second sign-in method?",
            "Hello,\n\nI would like to add a backup method (a phone number) to my account \
             in case I lose my phone. Where do I do that?\n\nThank you,\nRaj\n",
        )
        .await;

    let (_, _, raw) = stack
        .wait_for_message(EMPLOYEE, "INBOX", &question_id, Duration::from_secs(60))
        .await;
    eprintln!(
        "the guide arrived {:?} after the question was sent",
        started.elapsed()
    );
    let reply = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("the reply parses");
    let subject = reply.subject().unwrap_or_default().to_string();
    assert!(subject.contains("[MFA-"), "no ticket tag in {subject:?}");
    let in_reply_to = reply
        .in_reply_to()
        .as_text()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        format!("<{in_reply_to}>"),
        question_id,
        "the guide is not threaded under the question"
    );
    let from = reply
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_string();
    assert_eq!(from, SUPPORT);

    // The question is marked handled on the server (keyword + \Seen).
    let inbox = stack.messages(SUPPORT, "INBOX").await;
    let question = inbox
        .iter()
        .find(|(_, _, raw)| String::from_utf8_lossy(raw).contains(&question_id))
        .expect("the question stays in support's INBOX");
    assert!(
        question.1.iter().any(|f| f.contains("$MfaDesk")),
        "question not marked handled: {:?}",
        question.1
    );

    let status = service.stop();
    assert!(status.success(), "mfa-desk exited with {status}");
}

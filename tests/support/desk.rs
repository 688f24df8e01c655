//! The built `mfa-desk` binary against a [`MailStack`]: a generated config
//! (the same shape as tests/e2e_mailbox.rs writes) and a child process whose
//! log lines can be waited for. Used by tests/e2e_faults.rs and the benchmarks.

use super::mailstack::{ADMIN, MailStack, SUPPORT};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test (release build under `cargo bench`).
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_mfa-desk")
}

/// The outbox: the stack's SMTP server, or a folder of `.eml` files.
pub enum Outbox<'a> {
    Smtp,
    Files(&'a Path),
}

/// Write `dir/mfa-desk.toml` for support@ on `stack`; `extra` is appended
/// verbatim (more TOML sections, e.g. `[limits]`).
pub fn write_config(dir: &Path, stack: &MailStack, outbox: Outbox<'_>, extra: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let outbox = match outbox {
        Outbox::Smtp => "kind = \"smtp\"".to_string(),
        Outbox::Files(p) => format!("kind = \"file\"\npath = \"{}\"", p.display()),
    };
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
{outbox}

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
{extra}
"#,
        rules = root.join("config/rules.toml").display(),
        replies = root.join("replies").display(),
        host = stack.host,
        imap = stack.imap_port,
        smtp = stack.smtp_port,
        pw = stack.password,
        store = store_path(dir).display(),
    );
    let path = dir.join("mfa-desk.toml");
    std::fs::write(&path, config).expect("write test config");
    path
}

/// The SQLite store [`write_config`] points at.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("mfa-desk.sqlite3")
}

/// `SELECT count(*) FROM <table>` on the store, opened read-only (while the
/// service runs); `None` while the database or table does not exist yet.
pub fn store_count(dir: &Path, table: &str, filter: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open_with_flags(
        store_path(dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    let _ = conn.busy_timeout(Duration::from_secs(2));
    let sql = if filter.is_empty() {
        format!("SELECT count(*) FROM {table}")
    } else {
        format!("SELECT count(*) FROM {table} WHERE {filter}")
    };
    conn.query_row(&sql, [], |r| r.get(0)).ok()
}

/// Run `mfa-desk <args> --config <config>` to completion.
pub fn run_to_end(config: &Path, args: &[&str]) -> Output {
    let out = Command::new(exe())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("MFA_DESK_LOG", "mfa_desk=info")
        .stdin(Stdio::null())
        .output()
        .expect("run mfa-desk");
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        eprintln!("[mfa-desk {}] {line}", args.join(" "));
    }
    out
}

/// A running `mfa-desk`; killed if dropped while still running.
pub struct Service {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Service {
    /// `mfa-desk run --config <config>` with extra environment variables.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Service {
        Self::spawn(config, &["run"], env, true)
    }

    /// Any subcommand; `echo` copies its log lines to the test output.
    pub fn spawn(config: &Path, args: &[&str], env: &[(&str, &str)], echo: bool) -> Service {
        let mut cmd = Command::new(exe());
        cmd.args(args)
            .arg("--config")
            .arg(config)
            .env("MFA_DESK_LOG", "mfa_desk=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start mfa-desk");
        let (tx, lines) = mpsc::channel();
        let pipes: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stderr.take().map(|p| Box::new(p) as _),
            child.stdout.take().map(|p| Box::new(p) as _),
        ];
        for pipe in pipes.into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[mfa-desk] {line}");
                    }
                    let _ = tx.send(line);
                }
            });
        }
        Service { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for a log line containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str, within: Duration) {
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

    /// Send `signal` (e.g. "TERM", "KILL") and wait up to `within` for the exit.
    pub fn signal_and_wait(mut self, signal: &str, within: Duration) -> ExitStatus {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "mfa-desk did not exit within {within:?} of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as systemd would, and wait for a clean exit.
    pub fn stop(self) -> ExitStatus {
        self.signal_and_wait("TERM", Duration::from_secs(15))
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(self) -> ExitStatus {
        self.signal_and_wait("KILL", Duration::from_secs(5))
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

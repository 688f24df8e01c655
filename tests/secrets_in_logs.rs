//! No secret from the configuration ever reaches a log line or an error:
//! `mfa-desk check` and `run --once` at the most verbose log level, against a
//! mailbox that refuses the connection, with the password from an environment
//! variable and from a command.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mfa-desk");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SECRET: &str = "S3cr3t-Pa55word-never-logged";

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

fn config(dir: &Path, password: &str) -> std::path::PathBuf {
    let shipped =
        std::fs::read_to_string(Path::new(ROOT).join("config/mfa-desk.toml")).expect("config");
    let start = shipped.find("[support]").expect("support section");
    let port = closed_port();
    let text = format!(
        "rules = {rules:?}\nreplies = {replies:?}\n\n\
         [mailbox]\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         username = \"support@example.test\"\n{password}\n\n\
         [store]\npath = {store:?}\n\n\
         [outbox]\nkind = \"smtp\"\n\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nusername = \"support@example.test\"\n{password}\n\n{}",
        &shipped[start..],
        rules = Path::new(ROOT)
            .join("config/rules.toml")
            .display()
            .to_string(),
        replies = Path::new(ROOT).join("replies").display().to_string(),
        store = dir.join("desk.sqlite3").display().to_string(),
    );
    let path = dir.join("mfa-desk.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn assert_no_secret(args: &[&str], password: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = config(tmp.path(), password);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .env("MFA_DESK_LOG", "trace")
        .env("MFA_TEST_PASSWORD", SECRET)
        .output()
        .expect("run");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.is_empty(), "nothing was logged at all");
    assert!(
        !all.contains(SECRET),
        "the password reached the output of {args:?}:\n{all}"
    );
}

#[test]
fn check_never_prints_the_password() {
    assert_no_secret(&["check"], "password_env = \"MFA_TEST_PASSWORD\"");
    assert_no_secret(&["check"], &format!("password_command = \"echo {SECRET}\""));
}

#[test]
fn a_failing_run_never_prints_the_password() {
    assert_no_secret(&["run", "--once"], "password_env = \"MFA_TEST_PASSWORD\"");
}

//! The whole job on a local folder, through the real binary: the shipped
//! config's layout, a copy of the sample inbox, replies written to a file
//! outbox, and a second run that must do nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mfa-desk");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A config like the shipped one, but with its own inbox, store and outbox.
fn setup(dir: &Path, inbox: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(Path::new(ROOT).join("config/mfa-desk.toml"))
        .expect("shipped config");
    let mut text = String::new();
    let mut section = String::new();
    for line in shipped.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_string();
        }
        // Point the three paths of the default config at the test's folder.
        let replaced = match (section.as_str(), t.split('=').next().map(str::trim)) {
            ("[mailbox]", Some("path")) => format!("path = {:?}", inbox.display().to_string()),
            ("[store]", Some("path")) => {
                format!(
                    "path = {:?}",
                    dir.join("desk.sqlite3").display().to_string()
                )
            }
            ("[outbox]", Some("path")) => {
                format!("path = {:?}", dir.join("outbox").display().to_string())
            }
            _ => line.to_string(),
        };
        text.push_str(&replaced);
        text.push('\n');
    }
    text.push_str(&format!(
        "rules = {:?}\nreplies = {:?}\n",
        Path::new(ROOT)
            .join("config/rules.toml")
            .display()
            .to_string(),
        Path::new(ROOT).join("replies").display().to_string()
    ));
    // Top-level keys must come before the first table: put them first.
    let (tables, top): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|l| !(l.starts_with("rules =") || l.starts_with("replies =")));
    let config = dir.join("mfa-desk.toml");
    std::fs::write(
        &config,
        format!("{}\n{}\n", top.join("\n"), tables.join("\n")),
    )
    .expect("write config");
    config
}

fn desk(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run mfa-desk")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from)
        .expect("read sample inbox")
        .flatten()
    {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

fn outbox_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("outbox"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn sample_inbox_is_answered_once_and_only_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inbox = tmp.path().join("inbox");
    copy_dir(&Path::new(ROOT).join("examples/inbox"), &inbox);
    let config = setup(tmp.path(), &inbox);

    let first = desk(&config, &["run", "--once"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "first run failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        !stdout.contains("processed: 0"),
        "nothing processed:\n{stdout}"
    );
    let replies = outbox_files(tmp.path());
    assert!(!replies.is_empty(), "no mail in the outbox:\n{stdout}");

    // Every mail to an employee is a real, threaded, RFC 3834-marked reply.
    let parser = mail_parser::MessageParser::default();
    let mut to_employees = 0;
    for path in &replies {
        let raw = std::fs::read(path).expect("read reply");
        let msg = parser.parse(&raw[..]).expect("reply parses");
        let subject = msg.subject().unwrap_or_default();
        assert!(subject.contains("[MFA-"), "no ticket tag in {subject:?}");
        assert!(
            msg.message_id().is_some(),
            "no Message-ID in {}",
            path.display()
        );
        let from = msg
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .unwrap_or_default();
        assert_eq!(from, "support@example.co.jp");
        let auto = msg.header_raw("Auto-Submitted").map(str::trim);
        if auto == Some("auto-replied") {
            to_employees += 1;
            assert!(
                !msg.in_reply_to().is_empty(),
                "auto-reply without In-Reply-To: {subject}"
            );
            let body = msg.body_text(0).unwrap_or_default();
            assert!(body.len() > 200, "guide body too short: {body}");
        }
    }
    assert!(to_employees > 0, "no automatic reply to an employee");

    // The out-of-office sample is recorded but never answered.
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        !out.contains("ignored: 0"),
        "no auto-generated mail was ignored:\n{out}"
    );

    // Second run: nothing new, nothing sent.
    let second = desk(&config, &["run", "--once"]);
    assert!(second.status.success());
    let out2 = String::from_utf8_lossy(&second.stdout);
    assert!(
        out2.contains("processed: 0"),
        "second run processed mail again:\n{out2}"
    );
    assert_eq!(
        outbox_files(tmp.path()).len(),
        replies.len(),
        "second run wrote mail"
    );

    // The queue lists tickets, and a ticket shows its history.
    let queue = desk(&config, &["queue", "--status", "open"]);
    assert!(queue.status.success());
    assert!(String::from_utf8_lossy(&queue.stdout).contains("MFA-"));
    let show = desk(&config, &["show", "MFA-1"]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains("opened"));
}

#[test]
fn a_broken_config_names_file_and_line_and_touches_no_mail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inbox = tmp.path().join("inbox");
    copy_dir(&Path::new(ROOT).join("examples/inbox"), &inbox);
    let config = setup(tmp.path(), &inbox);
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace("[outbox]\nkind = \"file\"", "[outbox]\nkind = \"fax\""),
    )
    .expect("write");
    let out = desk(&config, &["run", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mfa-desk.toml, line"),
        "error does not name file and line: {err}"
    );
    assert!(
        !tmp.path().join("desk.sqlite3").exists(),
        "store created despite a bad config"
    );
    assert!(outbox_files(tmp.path()).is_empty());
}

#[test]
fn a_template_with_a_missing_value_fails_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let replies = tmp.path().join("replies");
    copy_tree(&Path::new(ROOT).join("replies"), &replies);
    let guide = replies.join("en/setup_help.txt.hbs");
    let mut text = std::fs::read_to_string(&guide).expect("guide");
    text.push_str("\n{{mfa.no_such_value}}\n");
    std::fs::write(&guide, text).expect("write");
    let config = setup(tmp.path(), &inbox);
    let cfg = std::fs::read_to_string(&config).expect("read");
    let cfg = cfg.replace(
        &format!(
            "replies = {:?}",
            Path::new(ROOT).join("replies").display().to_string()
        ),
        &format!("replies = {:?}", replies.display().to_string()),
    );
    std::fs::write(&config, cfg).expect("write");
    let out = desk(&config, &["check"]);
    assert!(!out.status.success(), "check passed with a broken template");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("setup_help"),
        "error does not name the template: {err}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn a_second_worker_on_the_same_store_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inbox = tmp.path().join("inbox");
    copy_dir(&Path::new(ROOT).join("examples/inbox"), &inbox);
    let config = setup(tmp.path(), &inbox);
    // The first worker: this test holds its lock.
    let _first = mfa_desk::store::WorkerLock::acquire(&tmp.path().join("desk.sqlite3"))
        .expect("first worker's lock");
    let out = desk(&config, &["run", "--once"]);
    assert!(!out.status.success(), "a second worker started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "unclear refusal: {err}");
    assert!(
        outbox_files(tmp.path()).is_empty(),
        "the second worker sent mail"
    );
}

//! Faults inside the machine, through the real worker and SQLite: the disk
//! fills up (SQLite says "database or disk is full") and the clock jumps.
//! Nothing is lost, nothing is sent twice.

use mfa_desk::config::Config;
use mfa_desk::reply::templates::Guides;
use mfa_desk::source::Fetched;
use mfa_desk::store::Store;
use mfa_desk::worker::{Desk, DeskError, Outcome};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const T0: i64 = 1_795_568_400;

fn desk_on(path: &Path) -> Desk {
    let config = Config::load(&Path::new(ROOT).join("config/mfa-desk.toml")).expect("config");
    let guides = Guides::load(&config.replies_dir).expect("templates");
    Desk::new(config, guides, Store::open(path).expect("store")).expect("desk")
}

fn mail(n: usize) -> Fetched {
    Fetched {
        source_ref: format!("imap:1:{n}"),
        raw: format!(
            "From: user{n}@example.co.jp\r\nTo: support@example.co.jp\r\nSubject: SMS code never arrives {n}\r\nMessage-ID: <m{n}@example.co.jp>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nThe SMS verification code never arrives when I sign in. {}\r\n",
            "x".repeat(2000)
        )
        .into_bytes(),
        backlog: false,
    }
}

fn outbox_rows(desk: &Desk, n: usize) -> i64 {
    desk.store
        .connection()
        .query_row(
            "SELECT count(*) FROM outbox WHERE rcpt_to = ?1",
            [format!("[\"user{n}@example.co.jp\"]")],
            |r| r.get(0),
        )
        .expect("count")
}

#[test]
fn a_full_disk_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("desk.sqlite3");
    let mut desk = desk_on(&db);
    // Cap the database where it stands: the next pages cannot be written,
    // exactly as when the disk is full.
    let pages: i64 = desk
        .store
        .connection()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .expect("pages");
    desk.store
        .connection()
        .pragma_update(None, "max_page_count", pages + 30)
        .expect("cap");
    let mut failed_at = None;
    for n in 0..200 {
        match desk.process(&mail(n), T0 + n as i64) {
            Ok(p) => assert_eq!(p.outcome, Outcome::Answered),
            Err(DeskError::Store(e)) => {
                assert!(e.to_string().contains("full"), "a plain error: {e}");
                failed_at = Some(n);
                break;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let n = failed_at.expect("the disk filled up");
    assert!(n >= 3, "some mail fit before the disk filled up (n = {n})");
    // The failed mail left no trace: its transaction was rolled back whole.
    assert!(
        !desk
            .store
            .seen(&format!("m{n}@example.co.jp"))
            .expect("seen")
    );
    assert_eq!(
        outbox_rows(&desk, n),
        0,
        "no reply queued for the failed mail"
    );
    // Space again (the service retries the unmarked mail later): one reply.
    desk.store
        .connection()
        .pragma_update(None, "max_page_count", 1_073_741_823_i64)
        .expect("uncap");
    let p = desk
        .process(&mail(n), T0 + 500)
        .expect("processed after the disk has room");
    assert_eq!(p.outcome, Outcome::Answered);
    let again = desk.process(&mail(n), T0 + 501).expect("seen again");
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(outbox_rows(&desk, n), 1, "exactly one reply");
    // Everything before the failure is intact.
    for k in 0..n {
        assert_eq!(outbox_rows(&desk, k), 1, "mail {k}");
    }
}

#[test]
fn the_clock_jumping_back_and_forth_breaks_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut desk = desk_on(&dir.path().join("desk.sqlite3"));
    // An hour back, a month forward, back again: every mail still answered
    // once, and a repeat still recognised.
    let times = [T0, T0 - 3600, T0 + 30 * 86_400, T0 - 7200, T0 + 60];
    for (n, at) in times.iter().enumerate() {
        let p = desk.process(&mail(n), *at).expect("processed");
        assert_eq!(p.outcome, Outcome::Answered, "mail {n} at {at}");
        assert_eq!(
            desk.process(&mail(n), at - 10_000).expect("again").outcome,
            Outcome::Duplicate
        );
        assert_eq!(outbox_rows(&desk, n), 1);
    }
    // A sweep with the clock behind the tickets closes nothing early.
    let r = desk.sweep(T0 - 86_400).expect("sweep");
    assert_eq!(r.presumed_solved, 0);
    assert_eq!(r.reminders, 0);
}

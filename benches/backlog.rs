//! A 5,000-mail backlog against a real Dovecot: fetching alone vs handling.
//!
//! `cargo bench --bench backlog [-- N]` (N mails, default 5000) starts its
//! own mail stack (scripts/mailstack; needs root), then:
//!
//! 0. runs `mfa-desk run --once` on the still empty support@ INBOX (the first
//!    start, which would otherwise refuse a full mailbox), and times it;
//! 1. puts N generated, realistic support mails straight into support@'s
//!    INBOX over Dovecot's LMTP (one session, no Postfix queue): English and
//!    Japanese (UTF-8 base64, ISO-2022-JP), plain and Outlook-style
//!    multipart/alternative with HTML, replies quoting earlier mail,
//!    out-of-office auto-replies, and a few with a screenshot attached;
//! 2. (a) fetch-only baseline: plain async-imap, as `ImapSource` does it —
//!    `UID SEARCH UNDELETED UNKEYWORD $MfaDesk UNKEYWORD $MfaDeskQuarantine`,
//!    then `UID FETCH <5 uids> (UID BODY.PEEK[])`, drained, bodies copied
//!    out — over all N (also shown with 50 per FETCH, for scale);
//! 3. (b) the release `mfa-desk run --once` on the backlog: fetch, parse,
//!    classify, store (SQLite, a savepoint per mail in one commit per batch),
//!    flag on the server, replies queued — timed from the service's own log
//!    line "mailbox worked through" (the issue's "processed"); (b') the
//!    whole run to its exit, which also writes every reply to the outbox:
//!    a FILE outbox (`[outbox] kind = "file"`, .eml files in a temp dir), so
//!    no SMTP server's speed is measured;
//!    (c) its peak RSS: `VmHWM` from /proc/<pid>/status, polled every 5 ms
//!    until it exits (the high-water mark, so the last reading is the peak).
//!
//! Prints both rates, the ratio (target ≥ 50%) and the peak RSS (target ≤
//! 60 MB), then checks the result (every mail stored and flagged). The
//! service's log of the last run is copied to /tmp/backlog-run-once.log;
//! `BACKLOG_WRAP="perf record -g -o /tmp/backlog.perf --"` runs (b) under a
//! profiler (its RSS figure is then meaningless).
//!
//! Under `cargo test --all-targets` this binary runs without `--bench` and
//! returns at once.

#[path = "common/corpus.rs"]
mod corpus;
#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::TryStreamExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::desk::{Outbox, exe, store_count, write_config};
use support::mailstack::{MailStack, SUPPORT};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("backlog: a benchmark; run it with `cargo bench --bench backlog`");
        return;
    }
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let Some(stack) = MailStack::start("bench_backlog") else {
        eprintln!("backlog: no mail stack here (needs root and apt); nothing measured");
        std::process::exit(1);
    };
    let work = tempfile::tempdir().expect("temp dir");
    let outbox = work.path().join("outbox");
    std::fs::create_dir_all(&outbox).expect("outbox dir");
    let config = write_config(work.path(), &stack, Outbox::Files(&outbox), "");

    // 0. First start on the empty mailbox.
    let t = Instant::now();
    let first = run_once(&config, work.path());
    assert!(
        first.ok,
        "the first `run --once` on the empty mailbox failed"
    );
    println!(
        "backlog: first `mfa-desk run --once` on the empty mailbox: {} ms (start-up, IMAP login, nothing to do)",
        t.elapsed().as_millis()
    );

    // Experiments: SQL run on the store before the backlog (e.g. an index).
    if let Ok(sql) = std::env::var("BACKLOG_EXTRA_SQL") {
        let conn = rusqlite::Connection::open(support::desk::store_path(work.path()))
            .expect("open the store");
        conn.execute_batch(&sql).expect("BACKLOG_EXTRA_SQL");
        println!("backlog: ran on the store first: {sql}");
    }

    // 1. The backlog.
    let mails: Vec<Vec<u8>> = (0..n)
        .map(|i| corpus::mail(i, "user{user}@corp.example.test", "backlog"))
        .collect();
    let bytes: usize = mails.iter().map(Vec::len).sum();
    let t = Instant::now();
    stack
        .deliver_lmtp("sender@corp.example.test", SUPPORT, &mails)
        .await;
    println!(
        "backlog: {n} mails, {:.1} MB, delivered over LMTP in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    drop(mails);

    // 2. Fetch only (twice with ImapSource's batch size: the better of the two).
    let mut fetch5 = f64::MAX;
    let mut fetched_bytes = 0;
    for _ in 0..2 {
        let (secs, got, got_bytes) = fetch_all(&stack, 5).await;
        assert_eq!(got, n, "the baseline fetched {got} of {n}");
        fetch5 = fetch5.min(secs);
        fetched_bytes = got_bytes;
    }
    let (fetch50, _, _) = fetch_all(&stack, 50).await;
    let fetch_rate = n as f64 / fetch5;
    println!(
        "(a) async-imap fetch only, 5 per UID FETCH (as ImapSource): {:.2} s = {:.0} mails/s, {:.1} MB/s  \
         [50 per UID FETCH: {:.2} s = {:.0} mails/s]",
        fetch5,
        fetch_rate,
        fetched_bytes as f64 / 1e6 / fetch5,
        fetch50,
        n as f64 / fetch50
    );

    // (a') The IMAP floor of ImapSource's pattern: the same fetches plus one
    // `UID STORE +FLAGS.SILENT` round trip per mail (on a scratch keyword).
    let (store_secs, _, _) = fetch_all_and_store(&stack, 5).await;
    println!(
        "(a') fetch + one UID STORE per mail (ImapSource's round trips, no processing): {:.2} s = {:.0} mails/s",
        store_secs,
        n as f64 / store_secs
    );

    // 3. mfa-desk on the backlog.
    let t = Instant::now();
    let handled = run_once(&config, work.path());
    let secs = t.elapsed().as_secs_f64();
    assert!(handled.ok, "`mfa-desk run --once` on the backlog failed");
    // The "processed" is fetched, parsed, classified, stored, flagged,
    // replies queued: the service logs when the mailbox is worked through,
    // before the sender finishes writing the outbox; both are shown.
    let log = std::fs::read_to_string("/tmp/backlog-run-once.log").unwrap_or_default();
    let worked = log
        .lines()
        .find(|l| l.contains("mailbox worked through"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("ms=")))
        .and_then(|ms| ms.parse::<f64>().ok())
        .map(|ms| ms / 1000.0);
    let worker_secs = worked.unwrap_or(secs);
    let desk_rate = n as f64 / worker_secs;
    println!(
        "(b) mfa-desk run --once, mailbox worked through (fetch, parse, classify, store, flag, replies queued): \
         {worker_secs:.2} s = {desk_rate:.0} mails/s{}",
        if worked.is_none() {
            "  [no log line: whole run]"
        } else {
            ""
        }
    );
    println!(
        "(b') the whole run --once, start to exit, incl. writing every reply to the file outbox: {secs:.2} s = {:.0} mails/s",
        n as f64 / secs
    );
    println!(
        "    ratio mfa-desk / fetch-only: {:.0}%  (target ≥ 50%: {})",
        100.0 * desk_rate / fetch_rate,
        if desk_rate / fetch_rate >= 0.5 {
            "met"
        } else {
            "MISSED"
        }
    );
    let mb = handled.peak_kb as f64 / 1024.0;
    println!(
        "(c) peak RSS (VmHWM) of mfa-desk run --once: {mb:.1} MB  (target ≤ 60 MB: {})",
        if mb <= 60.0 { "met" } else { "MISSED" }
    );

    // What it did.
    let stored = store_count(work.path(), "messages", "source_ref IS NOT NULL").unwrap_or(-1);
    let queued = store_count(work.path(), "outbox", "").unwrap_or(-1);
    let sent = store_count(work.path(), "outbox", "sent_at IS NOT NULL").unwrap_or(-1);
    let files = std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    let flagged = count_flagged(&stack).await;
    println!(
        "    stored {stored} of {n}; flagged $MfaDesk on the server: {flagged}; outbox rows {queued} \
         ({sent} written as .eml files in the run, {files} files)"
    );
    for (cat, count) in categories(work.path()) {
        println!("      {cat:<18} {count}");
    }
    assert_eq!(stored, n as i64, "not every mail was stored");
    assert_eq!(flagged, n, "not every mail was flagged handled");
}

struct Ran {
    ok: bool,
    peak_kb: u64,
}

/// `mfa-desk run --once`, watching its VmHWM until it exits.
fn run_once(config: &Path, dir: &Path) -> Ran {
    let log = std::fs::File::create(dir.join("run-once.log")).expect("log file");
    // BACKLOG_WRAP="perf record -g -o /tmp/backlog.perf --" profiles the run
    // (the peak RSS is then the wrapper's child's, not measured here).
    let wrap: Vec<String> = std::env::var("BACKLOG_WRAP")
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut cmd = match wrap.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(exe());
            c
        }
        None => Command::new(exe()),
    };
    let mut child = cmd
        .args(["run", "--once", "--config"])
        .arg(config)
        .env("MFA_DESK_LOG", "mfa_desk=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mfa-desk run --once");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait for mfa-desk") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mfa-desk run --once did not finish within 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Kept for a look after the stack and its temp dir are gone.
    let _ = std::fs::copy(dir.join("run-once.log"), "/tmp/backlog-run-once.log");
    if !status.success() {
        let text = std::fs::read_to_string(dir.join("run-once.log")).unwrap_or_default();
        eprintln!(
            "{}",
            text.lines().rev().take(30).collect::<Vec<_>>().join("\n")
        );
    }
    Ran {
        ok: status.success(),
        peak_kb,
    }
}

async fn login(stack: &MailStack) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect((stack.host.as_str(), stack.imap_port))
        .await
        .expect("connect to IMAP");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("IMAP greeting");
    let mut session = client
        .login(SUPPORT, &stack.password)
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login");
    session.select("INBOX").await.expect("SELECT INBOX");
    session
}

/// The baseline: search the unhandled mail, fetch every body `per_fetch` at
/// a time, copy each out (as ImapSource does). Returns (seconds, mails, bytes).
async fn fetch_all(stack: &MailStack, per_fetch: usize) -> (f64, usize, usize) {
    let started = Instant::now();
    let mut session = login(stack).await;
    let found = session
        .uid_search("UNDELETED UNKEYWORD $MfaDesk UNKEYWORD $MfaDeskQuarantine")
        .await
        .expect("UID SEARCH");
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable();
    let mut got = 0;
    let mut total_bytes = 0usize;
    for batch in uids.chunks(per_fetch) {
        let set = batch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches: Vec<_> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .expect("UID FETCH")
            .try_collect()
            .await
            .expect("UID FETCH stream");
        for f in &fetches {
            if let (Some(_), Some(body)) = (f.uid, f.body()) {
                let owned = body.to_vec();
                total_bytes += owned.len();
                got += 1;
                std::hint::black_box(owned);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = session.logout().await;
    (secs, got, total_bytes)
}

/// [`fetch_all`] plus a `UID STORE` per mail, as `mark_handled` does.
async fn fetch_all_and_store(stack: &MailStack, per_fetch: usize) -> (f64, usize, usize) {
    let started = Instant::now();
    let mut session = login(stack).await;
    let found = session
        .uid_search("UNDELETED UNKEYWORD $MfaDesk UNKEYWORD $MfaDeskQuarantine")
        .await
        .expect("UID SEARCH");
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable();
    let mut got = 0;
    for batch in uids.chunks(per_fetch) {
        let set = batch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches: Vec<_> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .expect("UID FETCH")
            .try_collect()
            .await
            .expect("UID FETCH stream");
        got += fetches.iter().filter(|f| f.body().is_some()).count();
        drop(fetches);
        for uid in batch {
            let _: Vec<_> = session
                .uid_store(uid.to_string(), "+FLAGS.SILENT ($BenchScratch)")
                .await
                .expect("UID STORE")
                .try_collect()
                .await
                .expect("UID STORE stream");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = session.logout().await;
    (secs, got, 0)
}

async fn count_flagged(stack: &MailStack) -> usize {
    let mut session = login(stack).await;
    let n = session
        .uid_search("KEYWORD $MfaDesk")
        .await
        .expect("UID SEARCH")
        .len();
    let _ = session.logout().await;
    n
}

fn categories(dir: &Path) -> Vec<(String, i64)> {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        support::desk::store_path(dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return vec![];
    };
    let Ok(mut stmt) = conn.prepare(
        "SELECT category || ' / ' || action, count(*) FROM messages GROUP BY 1 ORDER BY 2 DESC",
    ) else {
        return vec![];
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

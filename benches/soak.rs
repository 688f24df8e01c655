//! Soak: 50,000 mails in the mailbox and 1,000 new ones a minute for 10
//! minutes, against a real Postfix + Dovecot (issue 6, part 5).
//!
//! `cargo bench --bench soak [-- BACKLOG]` (default 50000; `SOAK_MINUTES`,
//! default 10, and `SOAK_PER_MINUTE`, default 1000, shorten a trial run;
//! `SOAK_LOG` sets the service's log filter, default `mfa_desk=info`)
//! starts its own mail stack (scripts/mailstack; needs root; loopback only)
//! with one more user, staff@corp.example.test, whose `+detail` addresses
//! send the backlog (so every backlog reply is really delivered), then:
//!
//! 1. runs `mfa-desk run --once` on the still empty support@ INBOX (the first
//!    start; it refuses a mailbox full of mail it has never seen);
//! 2. writes BACKLOG generated, realistic mails (benches/backlog.rs's
//!    generator, each from its own sender) straight into support@'s Maildir
//!    (`tmp/` then rename into `new/`, owned by the mail user), and has
//!    Dovecot index them (`doveadm mailbox status`); they get UIDs below the
//!    INBOX's UIDNEXT read then;
//! 3. starts the release `mfa-desk run` (the service; SMTP outbox through the
//!    stack's Postfix) and at the same moment starts sending SOAK_PER_MINUTE
//!    employee mails a minute over SMTP, evenly spread, for SOAK_MINUTES,
//!    each from `employee+N@example.test` (delivered to employee@) with a
//!    unique Message-ID `<soak-N.…>`;
//! 4. for each new mail, the latency from Postfix's 250 after DATA to its
//!    reply appearing in employee@'s Maildir `new/` (polled every 10 ms; a
//!    reply is matched by the `<soak-N.` id it answers, and then moved out
//!    of `new/` so the directory stays small), reported per minute of
//!    sending and overall, split into mail sent while the backlog was still
//!    being worked through and after;
//! 5. every 5 s: the service's VmRSS (/proc/<pid>/status), how many backlog
//!    UIDs are still unflagged on the server (`UID SEARCH UID 1:<last>
//!    UNKEYWORD $MfaDesk …`, a separate IMAP session), and the outbox rows
//!    still unsent (the store, read-only) — the backlog has drained when no
//!    backlog UID is left unhandled, its replies are out when no reply to a
//!    staff+ address is left in the outbox;
//! 6. after the last new mail, waits for the outstanding replies (at most
//!    5 minutes, and never past 19 minutes from the start), stops the
//!    service with SIGTERM, and the stack (on drop).
//!
//! The service's log is kept in /tmp/soak-service.log. Under `cargo test
//! --all-targets` this binary runs without `--bench` and returns at once.

#[path = "common/corpus.rs"]
mod corpus;
#[path = "../tests/support/mod.rs"]
mod support;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::desk::{Outbox, exe, run_to_end, store_count, store_path, write_config};
use support::mailstack::{ADMIN, EMPLOYEE, MailStack, SUPPORT, rand_u64};

/// The backlog's senders are `staff+bNNNNN@` this user.
const STAFF: &str = "staff@corp.example.test";
/// Everything, start to finish, within this.
const HARD_CAP: Duration = Duration::from_secs(19 * 60);
/// After the last new mail, wait at most this long for the replies.
const TAIL: Duration = Duration::from_secs(5 * 60);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_millis(10);

/// The new mail: the questions benches/latency.rs sends (guides answer them).
const QUESTIONS: &[(&str, &str)] = &[
    (
        "The sign-in code never arrives",
        "Hello,\n\nsince this morning the verification code by SMS never arrives when I \
         sign in. I asked for a new one twice.\n\nThanks,\n",
    ),
    (
        "認証コードが届きません",
        "お疲れ様です。営業部です。\n昨日からサインインの認証コードがSMSで届きません。\n\
         スマートフォンは変えていません。\nよろしくお願いいたします。\n",
    ),
    (
        "New phone: how do I move the authenticator?",
        "Hi,\n\nI got a new phone yesterday. How do I move the authenticator app and my \
         account to it?\n\nBest regards,\n",
    ),
    (
        "機種変更しました",
        "お世話になっております。\n機種変更をしたら、認証アプリにアカウントが表示されなくなりました。\n\
         新しいスマホで使うにはどうすればよいですか。\n",
    ),
    (
        "How do I set up MFA?",
        "Hello,\n\nI am new here and was asked to set up multi-factor authentication. \
         What are the steps?\n\nThank you,\n",
    ),
];

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("soak: a benchmark; run it with `cargo bench --bench soak`");
        return;
    }
    let backlog: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000);
    let minutes = env_num("SOAK_MINUTES", 10).max(1);
    let per_minute = env_num("SOAK_PER_MINUTE", 1000).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(backlog, minutes, per_minute));
}

/// One 5-second sample.
#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kb: Option<u64>,
    backlog_left: Option<usize>,
    handled: Option<i64>,
    outbox_unsent: Option<i64>,
    backlog_replies_unsent: Option<i64>,
}

async fn run(backlog: usize, minutes: usize, per_minute: usize) {
    let bench_start = Instant::now();
    let Some(stack) = MailStack::start_with_users("bench_soak", &[SUPPORT, EMPLOYEE, ADMIN, STAFF])
    else {
        eprintln!("soak: no mail stack here (needs root and apt); nothing measured");
        std::process::exit(1);
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");

    // 1. First start on the empty mailbox.
    let t = Instant::now();
    let first = run_to_end(&config, &["run", "--once"]);
    assert!(
        first.status.success(),
        "the first `run --once` on the empty mailbox failed"
    );
    println!(
        "soak: first `mfa-desk run --once` on the empty mailbox: {} ms",
        t.elapsed().as_millis()
    );

    // 2. The backlog, straight into the Maildir.
    let support_dir = stack.maildir(SUPPORT);
    let t = Instant::now();
    let bytes = write_backlog(&support_dir, backlog);
    let wrote = t.elapsed();
    let t = Instant::now();
    let (messages, uidnext) = mailbox_status(&stack, SUPPORT);
    println!(
        "soak: {backlog} mails, {:.1} MB, written into support@'s Maildir in {:.1} s; \
         Dovecot indexed them in {:.1} s (INBOX: {messages} messages, UIDNEXT {uidnext})",
        bytes as f64 / 1e6,
        wrote.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(messages, backlog, "Dovecot does not see the whole backlog");
    let last_backlog_uid = uidnext - 1;

    // 3. The service, and the new mail from the same moment on.
    let log_path = work.path().join("service.log");
    let mut service = Command::new(exe())
        .args(["run", "--config"])
        .arg(&config)
        // SOAK_LOG: another filter for a diagnosis, e.g. `mfa_desk::source=debug`.
        .env(
            "MFA_DESK_LOG",
            std::env::var("SOAK_LOG").unwrap_or_else(|_| "mfa_desk=info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("start mfa-desk run");
    let pid = service.id();
    let t0 = Instant::now();
    let t0_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    println!(
        "soak: mfa-desk run (pid {pid}) started; sending {per_minute} mails a minute for {minutes} min"
    );

    let total = per_minute * minutes;
    let accepted: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let replied: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let send_failed = Arc::new(AtomicUsize::new(0));
    let extra_replies = Arc::new(AtomicUsize::new(0));
    let unmatched = Arc::new(AtomicUsize::new(0));
    let stop_watch = Arc::new(AtomicBool::new(false));

    // The watcher: employee@'s Maildir/new, every 10 ms.
    let watcher = {
        let new_dir = stack.maildir(EMPLOYEE).join("new");
        // Outside the Maildir (a root-owned dir there would stop Dovecot, as
        // the mail user, from creating employee@'s new/), on the same disk.
        let seen_dir = work.path().join("replies-seen");
        let replied = replied.clone();
        let (extra, unmatched, stop) =
            (extra_replies.clone(), unmatched.clone(), stop_watch.clone());
        std::thread::spawn(move || {
            watch_replies(&new_dir, &seen_dir, &replied, &extra, &unmatched, &stop)
        })
    };

    // The sender: one task per mail at its slot, through a pooled transport.
    let smtp = Arc::new(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(stack.host.as_str())
            .port(stack.smtp_port)
            .timeout(Some(Duration::from_secs(30)))
            .build(),
    );
    let gap = Duration::from_secs(60) / per_minute as u32;
    let sender = {
        let (accepted, failed) = (accepted.clone(), send_failed.clone());
        tokio::spawn(async move {
            let mut tasks = Vec::with_capacity(total);
            for i in 0..total {
                tokio::time::sleep_until((t0 + gap * i as u32).into()).await;
                let (smtp, accepted, failed) = (smtp.clone(), accepted.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    let (subject, body) = QUESTIONS[i % QUESTIONS.len()];
                    let msg = lettre::Message::builder()
                        .from(
                            format!("Employee {i} <employee+{i}@example.test>")
                                .parse()
                                .expect("from"),
                        )
                        .to(SUPPORT.parse().expect("to"))
                        .subject(format!("{subject} (#{i})"))
                        .message_id(Some(format!("<soak-{i}.{:016x}@example.test>", rand_u64())))
                        .header(lettre::message::header::ContentType::TEXT_PLAIN)
                        .body(format!("{body}\nemployee {i}\n"))
                        .expect("message");
                    match smtp.send(msg).await {
                        Ok(_) => accepted.lock().unwrap()[i] = Some(Instant::now()),
                        Err(e) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("soak: SMTP send of mail {i} failed: {e}");
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
    };

    // The monitor: every 5 s until the sending is over and the replies are in.
    let mut imap = login(&stack, SUPPORT).await;
    let mut samples: Vec<Sample> = Vec::new();
    let mut drained_at: Option<Duration> = None;
    let mut replies_out_at: Option<Duration> = None;
    let send_end = t0 + gap * total as u32;
    let tail_end = (send_end + TAIL).min(bench_start + HARD_CAP);
    let mut next_sample = t0;
    loop {
        tokio::time::sleep_until(next_sample.into()).await;
        next_sample += SAMPLE_EVERY;
        let s = sample(&mut imap, &stack, pid, work.path(), last_backlog_uid, t0).await;
        if drained_at.is_none() && s.backlog_left == Some(0) {
            drained_at = Some(s.at);
        }
        if replies_out_at.is_none() && drained_at.is_some() && s.backlog_replies_unsent == Some(0) {
            replies_out_at = Some(s.at);
        }
        let got = replied.lock().unwrap().iter().flatten().count();
        let sent = accepted.lock().unwrap().iter().flatten().count();
        println!(
            "  t={:>4.0}s RSS {:>7} backlog left {:>6} handled {:>6} outbox unsent {:>6} (backlog {:>6}) new: sent {sent:>5} answered {got:>5}",
            s.at.as_secs_f64(),
            opt(s.rss_kb.map(|k| format!("{:.1}MB", k as f64 / 1024.0))),
            opt(s.backlog_left),
            opt(s.handled),
            opt(s.outbox_unsent),
            opt(s.backlog_replies_unsent),
        );
        samples.push(s);
        let now = Instant::now();
        if service.try_wait().ok().flatten().is_some() {
            println!("soak: mfa-desk exited during the soak!");
            break;
        }
        if now >= send_end
            && sender.is_finished()
            && got + send_failed.load(Ordering::Relaxed) >= sent
            && sent + send_failed.load(Ordering::Relaxed) >= total
        {
            break;
        }
        if now >= tail_end {
            println!("soak: stopped waiting for replies (time cap)");
            break;
        }
    }
    let _ = imap.logout().await;
    let hwm_kb = proc_kb(pid, "VmHWM:");
    let stopped = stop(&mut service);
    stop_watch.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    sender.abort();
    let _ = std::fs::copy(&log_path, "/tmp/soak-service.log");

    // ----- the report --------------------------------------------------
    let accepted = accepted.lock().unwrap().clone();
    let replied = replied.lock().unwrap().clone();
    println!();
    println!(
        "soak: backlog {backlog}, new mail {per_minute}/min for {minutes} min ({total}); CPUs here: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    match drained_at {
        Some(d) => println!(
            "backlog worked through (every backlog UID flagged $MfaDesk) at t≈{:.0} s → {:.0} mails/s \
             (while also handling the new mail)",
            d.as_secs_f64(),
            backlog as f64 / d.as_secs_f64()
        ),
        None => println!("backlog NOT worked through within the soak"),
    }
    match replies_out_at {
        Some(d) => println!(
            "every backlog reply sent at t≈{:.0} s → {:.0} replies/s",
            d.as_secs_f64(),
            store_count(work.path(), "outbox", "rcpt_to LIKE '%staff+%'").unwrap_or(0) as f64
                / d.as_secs_f64()
        ),
        None => println!("backlog replies NOT all sent within the soak"),
    }
    let outbox_kinds = outbox_summary(work.path());
    println!("outbox by kind and state: {outbox_kinds}");

    // Latency, per minute of sending.
    let lat = |i: usize| -> Option<Duration> {
        Some(replied[i]?.saturating_duration_since(accepted[i]?))
    };
    println!();
    println!(
        "latency, SMTP 250 after DATA → reply file in employee@'s Maildir/new (by the minute the mail was sent):"
    );
    let phase = |from: Duration, to: Duration| match drained_at {
        Some(d) if d <= from => "after drain",
        Some(d) if d < to => "drain ends",
        _ => "during drain",
    };
    for m in 0..minutes {
        let range = m * per_minute..(m + 1) * per_minute;
        let from = gap * range.start as u32;
        let to = gap * range.end as u32;
        let mut v: Vec<Duration> = range.clone().filter_map(lat).collect();
        let sent = range.clone().filter(|&i| accepted[i].is_some()).count();
        report(
            &format!("  minute {:>2} ({})", m + 1, phase(from, to)),
            &mut v,
            sent,
        );
    }
    let all: Vec<usize> = (0..total).collect();
    let mut v: Vec<Duration> = all.iter().filter_map(|&i| lat(i)).collect();
    let sent_all = accepted.iter().flatten().count();
    report("  overall", &mut v, sent_all);
    if let Some(d) = drained_at {
        let during: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| accepted[i].is_some_and(|a| a.duration_since(t0) < d))
            .collect();
        let after: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| accepted[i].is_some_and(|a| a.duration_since(t0) >= d))
            .collect();
        let mut v: Vec<Duration> = during.iter().filter_map(|&i| lat(i)).collect();
        report("  sent during the drain", &mut v, during.len());
        let mut v: Vec<Duration> = after.iter().filter_map(|&i| lat(i)).collect();
        report("  sent after the drain", &mut v, after.len());
        if let Some(r) = replies_out_at {
            let late: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| accepted[i].is_some_and(|a| a.duration_since(t0) >= r))
                .collect();
            let mut v: Vec<Duration> = late.iter().filter_map(|&i| lat(i)).collect();
            report(
                "  sent after the backlog replies were out",
                &mut v,
                late.len(),
            );
            targets("after the drain (backlog replies out)", &mut v, late.len());
        }
    }
    targets("overall", &mut v, sent_all);

    // The store's view (whole seconds): when the worker committed each new
    // mail (and queued its reply), and when the sender got the reply out.
    let legs = store_legs(work.path());
    println!();
    println!(
        "the store's view of the new mail (whole seconds, from SMTP acceptance): \
         worker committed it / its reply sent by the outbox"
    );
    for m in 0..minutes {
        let range = m * per_minute..(m + 1) * per_minute;
        let mut commit = Vec::new();
        let mut sent = Vec::new();
        for i in range.clone() {
            let (Some(a), Some(l)) = (accepted[i], legs.get(&i)) else {
                continue;
            };
            let a = t0_unix + a.duration_since(t0).as_secs_f64();
            if let Some(c) = l.0 {
                commit.push((c as f64 - a).max(0.0));
            }
            if let Some(s) = l.1 {
                sent.push((s as f64 - a).max(0.0));
            }
        }
        let q = |v: &mut Vec<f64>| -> String {
            if v.is_empty() {
                return "-".into();
            }
            v.sort_by(f64::total_cmp);
            let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
            format!(
                "n {:>4} p50 {:>5.0}s p99 {:>5.0}s max {:>5.0}s",
                v.len(),
                at(0.5),
                at(0.99),
                v[v.len() - 1]
            )
        };
        println!(
            "  minute {:>2}: committed {}  | reply sent {}",
            m + 1,
            q(&mut commit),
            q(&mut sent)
        );
    }
    println!(
        "SMTP sends refused/failed: {}; replies not matched to a new mail: {}; second replies to one mail: {}",
        send_failed.load(Ordering::Relaxed),
        unmatched.load(Ordering::Relaxed),
        extra_replies.load(Ordering::Relaxed)
    );

    // Memory.
    println!();
    let rss: Vec<(Duration, u64)> = samples
        .iter()
        .filter_map(|s| Some((s.at, s.rss_kb?)))
        .collect();
    if let (Some(min), Some(max)) = (rss.iter().map(|r| r.1).min(), rss.iter().map(|r| r.1).max()) {
        println!(
            "RSS (VmRSS every 5 s, {} samples): min {} max {}; VmHWM at the end {}",
            rss.len(),
            mb(min),
            mb(max),
            opt(hwm_kb.map(mb))
        );
        for minute in [1u64, 5, 10] {
            let at = Duration::from_secs(60 * minute);
            if let Some(r) = rss.iter().min_by_key(|r| r.0.abs_diff(at)) {
                println!(
                    "  minute {minute:>2}: {} (sample at t={:.0} s)",
                    mb(r.1),
                    r.0.as_secs_f64()
                );
            }
        }
        let line: Vec<String> = rss
            .iter()
            .step_by(6)
            .map(|r| format!("{:.0}s:{:.1}", r.0.as_secs_f64(), r.1 as f64 / 1024.0))
            .collect();
        println!("  every 30 s (MB): {}", line.join(" "));
        if let Some(d) = drained_at {
            let after: Vec<(f64, f64)> = rss
                .iter()
                .filter(|r| r.0 >= d)
                .map(|r| (r.0.as_secs_f64() / 60.0, r.1 as f64 / 1024.0))
                .collect();
            if after.len() >= 3 {
                let (lo, hi) = after.iter().fold((f64::MAX, f64::MIN), |(lo, hi), r| {
                    (lo.min(r.1), hi.max(r.1))
                });
                println!(
                    "  after the drain ({} samples): {lo:.1}–{hi:.1} MB, trend {:+.2} MB/min (least squares)",
                    after.len(),
                    slope(&after)
                );
            } else {
                println!("  too few samples after the drain for a trend");
            }
        }
    }
    println!(
        "mfa-desk stop (SIGTERM): {stopped}; total bench time {:.0} s; service log in /tmp/soak-service.log",
        bench_start.elapsed().as_secs_f64()
    );
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Nearest rank over every mail sent (`sent`), a mail never answered ranking
/// after all answered ones: `None` when the rank falls on such a mail.
fn pct(sorted: &[Duration], sent: usize, p: f64) -> Option<Duration> {
    let n = sent.max(sorted.len());
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n.max(1)) - 1).copied()
}

fn never(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_string(), ms)
}

fn report(name: &str, v: &mut [Duration], sent: usize) {
    v.sort();
    if v.is_empty() {
        println!("{name:<44} sent {sent:>5} answered     0");
        return;
    }
    println!(
        "{name:<44} sent {sent:>5} answered {:>5}  p50 {:>8}  p90 {:>8}  p99 {:>8}  max {:>8}",
        v.len(),
        never(pct(v, sent, 50.0)),
        never(pct(v, sent, 90.0)),
        never(pct(v, sent, 99.0)),
        if v.len() < sent {
            "never".to_string()
        } else {
            ms(v[v.len() - 1])
        },
    );
}

/// The targets; an unanswered mail counts as infinitely late.
fn targets(name: &str, v: &mut [Duration], sent: usize) {
    if v.is_empty() {
        return;
    }
    v.sort();
    let (p50, p99) = (pct(v, sent, 50.0), pct(v, sent, 99.0));
    let verdict = |d: Option<Duration>, limit: u64| match d {
        Some(d) if d <= Duration::from_secs(limit) => "met",
        _ => "MISSED",
    };
    println!(
        "targets {name} (unanswered mail counts as late): p50 ≤ 1000 ms: {} ({}), p99 ≤ 3000 ms: {} ({})",
        verdict(p50, 1),
        never(p50),
        verdict(p99, 3),
        never(p99)
    );
}

/// Least-squares slope of (x, y).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

fn proc_kb(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// SIGTERM, then up to 30 s for a clean exit, then SIGKILL.
fn stop(child: &mut Child) -> String {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    "did not exit within 30 s of SIGTERM; killed".to_string()
}

async fn sample(
    imap: &mut async_imap::Session<tokio::net::TcpStream>,
    stack: &MailStack,
    pid: u32,
    dir: &Path,
    last_backlog_uid: u32,
    t0: Instant,
) -> Sample {
    let at = t0.elapsed();
    let rss_kb = proc_kb(pid, "VmRSS:");
    let search = format!(
        "UID 1:{last_backlog_uid} UNDELETED UNKEYWORD $MfaDesk UNKEYWORD $MfaDeskQuarantine"
    );
    let backlog_left = match tokio::time::timeout(Duration::from_secs(4), imap.uid_search(&search))
        .await
    {
        Ok(Ok(found)) => Some(found.len()),
        _ => {
            // A broken or slow session: a fresh one for the next sample.
            if let Ok(s) = tokio::time::timeout(Duration::from_secs(4), login(stack, SUPPORT)).await
            {
                *imap = s;
            }
            None
        }
    };
    Sample {
        at,
        rss_kb,
        backlog_left,
        handled: store_count(dir, "messages", "source_ref IS NOT NULL"),
        outbox_unsent: store_count(dir, "outbox", "sent_at IS NULL AND failed_at IS NULL"),
        backlog_replies_unsent: store_count(
            dir,
            "outbox",
            "sent_at IS NULL AND failed_at IS NULL AND rcpt_to LIKE '%staff+%'",
        ),
    }
}

/// New mail `i` (from `employee+i@`) → (when its message was committed, when
/// the first reply to it was sent), Unix seconds, from the store.
fn store_legs(dir: &Path) -> HashMap<usize, (Option<i64>, Option<i64>)> {
    let mut out: HashMap<usize, (Option<i64>, Option<i64>)> = HashMap::new();
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        store_path(dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return out;
    };
    let index = |s: &str| -> Option<usize> {
        let rest = &s[s.find("employee+")? + 9..];
        rest[..rest.find(|c: char| !c.is_ascii_digit())?]
            .parse()
            .ok()
    };
    let rows = |sql: &str| -> Vec<(String, Option<i64>)> {
        let Ok(mut stmt) = conn.prepare(sql) else {
            return vec![];
        };
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|rows| rows.flatten().collect())
            .unwrap_or_default()
    };
    for (from, at) in
        rows("SELECT from_addr, received_at FROM messages WHERE from_addr LIKE 'employee+%'")
    {
        if let Some(i) = index(&from) {
            out.entry(i).or_default().0 = at;
        }
    }
    for (to, at) in rows(
        "SELECT rcpt_to, min(sent_at) FROM outbox WHERE rcpt_to LIKE '%employee+%' GROUP BY rcpt_to",
    ) {
        if let Some(i) = index(&to) {
            out.entry(i).or_default().1 = at;
        }
    }
    out
}

fn outbox_summary(dir: &Path) -> String {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        store_path(dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return "-".into();
    };
    let Ok(mut stmt) = conn.prepare(
        "SELECT kind || CASE WHEN sent_at IS NOT NULL THEN ' sent' WHEN failed_at IS NOT NULL \
         THEN ' failed' ELSE ' unsent' END, count(*) FROM outbox GROUP BY 1 ORDER BY 2 DESC",
    ) else {
        return "-".into();
    };
    stmt.query_map([], |r| {
        Ok(format!(
            "{} {}",
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?
        ))
    })
    .map(|rows| rows.flatten().collect::<Vec<_>>().join(", "))
    .unwrap_or_default()
}

async fn login(stack: &MailStack, user: &str) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect((stack.host.as_str(), stack.imap_port))
        .await
        .expect("connect to IMAP");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("IMAP greeting");
    let mut session = client
        .login(user, &stack.password)
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login");
    // EXAMINE: read-only, so this session never moves new/ to cur/ nor sets \Recent.
    session.examine("INBOX").await.expect("EXAMINE INBOX");
    session
}

/// `doveadm mailbox status messages uidnext INBOX` for `user` (this also
/// makes Dovecot index what sits in the Maildir), within 5 minutes.
fn mailbox_status(stack: &MailStack, user: &str) -> (usize, u32) {
    let mut child = Command::new("doveadm")
        .arg("-c")
        .arg(stack.dir.join("dovecot.conf"))
        .args(["mailbox", "status", "-u", user, "messages uidnext", "INBOX"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run doveadm");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if child.try_wait().expect("wait for doveadm").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("doveadm mailbox status took over 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("doveadm output");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "doveadm mailbox status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |k: &str| -> u64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in doveadm's answer: {text:?}"))
    };
    (field("messages=") as usize, field("uidnext=") as u32)
}

/// Write `n` backlog mails into `maildir/new` (via `tmp/`, owned by the
/// Maildir's owner, LF line ends as Dovecot stores them). Returns the bytes.
fn write_backlog(maildir: &Path, n: usize) -> usize {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("Maildir dirs");
    }
    let meta = std::fs::metadata(maildir).expect("support@'s Maildir");
    let (uid, gid) = (meta.uid(), meta.gid());
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let pid = std::process::id();
    let mut total = 0;
    for i in 0..n {
        // Every backlog mail from its own address (a `+detail` of staff@, which
        // the stack delivers): no per-recipient limit or repeat collapse spares
        // mfa-desk a reply, so this is the most work 50,000 mails can cause.
        let raw = corpus::mail(
            i,
            &format!("staff+b{i:05}@corp.example.test"),
            "soak-backlog",
        );
        let mut lf = Vec::with_capacity(raw.len());
        let mut k = 0;
        while k < raw.len() {
            if raw[k] == b'\r' && raw.get(k + 1) == Some(&b'\n') {
                k += 1;
                continue;
            }
            lf.push(raw[k]);
            k += 1;
        }
        total += lf.len();
        let name = format!("{secs}.M{i}P{pid}.soak,S={}", lf.len());
        let tmp = maildir.join("tmp").join(&name);
        std::fs::write(&tmp, &lf).expect("write a backlog mail");
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown a backlog mail");
        std::fs::rename(&tmp, maildir.join("new").join(&name)).expect("rename into new/");
    }
    total
}

/// Until `stop`: every reply file in `new_dir` is matched to the new mail it
/// answers (`<soak-N.` in its headers), timed, and moved to `seen_dir`.
fn watch_replies(
    new_dir: &Path,
    seen_dir: &Path,
    replied: &Mutex<Vec<Option<Instant>>>,
    extra: &AtomicUsize,
    unmatched: &AtomicUsize,
    stop: &AtomicBool,
) {
    let _ = std::fs::create_dir_all(seen_dir);
    let mut counts: HashMap<usize, usize> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(entries) = std::fs::read_dir(new_dir) {
            for e in entries.flatten() {
                let now = Instant::now();
                let Ok(text) = std::fs::read(e.path()) else {
                    continue;
                };
                if std::fs::rename(e.path(), seen_dir.join(e.file_name())).is_err() {
                    let _ = std::fs::remove_file(e.path());
                }
                let head_end = find(&text, b"\n\n").unwrap_or(text.len());
                let Some(at) = find(&text[..head_end], b"<soak-") else {
                    unmatched.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let digits: String = text[at + 6..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .map(|&b| b as char)
                    .collect();
                let mut replied = replied.lock().unwrap();
                match digits.parse::<usize>() {
                    Ok(i) if i < replied.len() => {
                        let c = counts.entry(i).or_default();
                        *c += 1;
                        if *c == 1 {
                            replied[i] = Some(now);
                        } else {
                            extra.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        unmatched.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        std::thread::sleep(POLL_EVERY);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

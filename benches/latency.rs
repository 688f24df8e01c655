//! Reply latency against a real Postfix + Dovecot on loopback.
//!
//! `cargo bench --bench latency [-- N]` (N mails, default 100) starts its own
//! mail stack (scripts/mailstack, as the tests do; needs root), starts the
//! release `mfa-desk run` on support@, then sends N employee mails over SMTP
//! one after another (200 ms apart). For each it measures from Postfix
//! accepting the mail (our SMTP client got the 250 after DATA) to the
//! auto-reply landing in employee@'s Maildir `new/` (the file appears; polled
//! every 5 ms on disk, no IMAP client in the way). It also notes when the
//! question landed in support@'s Maildir, splitting the time into
//!
//! - leg 1: Postfix queue → LMTP → support@'s Maildir,
//! - leg 2: Dovecot's IDLE notification (a fixed 0.5 s delay in Dovecot's
//!   `mailbox_watch` notify), mfa-desk (fetch, parse, classify, commit,
//!   compose), its SMTP send, Postfix → LMTP → employee@'s Maildir.
//!
//! Each mail comes from a different employee (`employee+NNN@`, delivered to
//! employee@'s mailbox), so the per-recipient reply limits never apply.
//! Targets (issue 3): p50 ≤ 1 s, p99 ≤ 3 s.
//!
//! Under `cargo test --all-targets` this binary runs without `--bench` and
//! returns at once.

#[path = "../tests/support/mod.rs"]
mod support;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::desk::{Outbox, Service, write_config};
use support::mailstack::{EMPLOYEE, MailStack, SUPPORT, rand_u64};

const GAP: Duration = Duration::from_millis(200);
const PER_MAIL_TIMEOUT: Duration = Duration::from_secs(30);

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

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("latency: a benchmark; run it with `cargo bench --bench latency`");
        return;
    }
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(n));
}

/// Files in a Maildir's `new/` and `cur/` not seen before whose text contains `needle`.
fn scan(dirs: &[&Path], seen: &mut HashSet<String>, needle: &str) -> bool {
    let mut found = false;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            // new/ → cur/ appends ":2,<flags>"; the base name stays.
            let base = name.split(':').next().unwrap_or(&name).to_string();
            if seen.contains(&base) {
                continue;
            }
            let Ok(text) = std::fs::read(e.path()) else {
                continue;
            };
            seen.insert(base);
            if memfind(&text, needle.as_bytes()) {
                found = true;
            }
        }
    }
    found
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn run(n: usize) {
    let Some(stack) = MailStack::start("bench_latency") else {
        eprintln!("latency: no mail stack here (needs root and apt); nothing measured");
        std::process::exit(1);
    };
    let work = tempfile::tempdir().expect("temp dir");
    let config = write_config(work.path(), &stack, Outbox::Smtp, "");
    // Info level, as in production, but for the IMAP source's debug line
    // that says the service is idling (the first start must see an empty INBOX).
    let mut service = Service::spawn(
        &config,
        &["run"],
        &[("MFA_DESK_LOG", "mfa_desk=info,mfa_desk::source::imap=debug")],
        false,
    );
    service.wait_for_line("IDLE: waiting for new mail", Duration::from_secs(60));
    println!(
        "latency: mfa-desk {} (pid {}) watching support@ on Dovecot {}; Postfix {}",
        support::desk::exe(),
        service.pid(),
        stack.imap_port,
        stack.smtp_port
    );

    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(stack.host.as_str())
        .port(stack.smtp_port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let support_dir = stack.maildir(SUPPORT);
    let employee_dir = stack.maildir(EMPLOYEE);
    let (sup_new, sup_cur) = (support_dir.join("new"), support_dir.join("cur"));
    let emp_new = employee_dir.join("new");
    let mut seen_support = HashSet::new();
    let mut seen_employee = HashSet::new();

    let mut total = Vec::with_capacity(n);
    let mut leg1 = Vec::with_capacity(n);
    let mut leg2 = Vec::with_capacity(n);
    let mut lost = 0;
    for i in 0..n {
        let (subject, body) = QUESTIONS[i % QUESTIONS.len()];
        let from = format!("employee+{i:03}@example.test");
        let id = format!("<lat-{i:03}-{:016x}@example.test>", rand_u64());
        let msg = lettre::Message::builder()
            .from(from.parse().expect("from"))
            .to(SUPPORT.parse().expect("to"))
            .subject(format!("{subject} (#{i})"))
            .message_id(Some(id.clone()))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(format!("{body}\nemployee {i}\n"))
            .expect("message");
        smtp.send(msg).await.expect("SMTP send to support@");
        let accepted = Instant::now();
        let mut in_support: Option<Duration> = None;
        let reply = loop {
            if in_support.is_none() && scan(&[&sup_new, &sup_cur], &mut seen_support, &id) {
                in_support = Some(accepted.elapsed());
            }
            if scan(&[&emp_new], &mut seen_employee, &id) {
                break Some(accepted.elapsed());
            }
            if accepted.elapsed() > PER_MAIL_TIMEOUT {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        match reply {
            Some(t) => {
                total.push(t);
                if let Some(l1) = in_support {
                    leg1.push(l1);
                    leg2.push(t.saturating_sub(l1));
                }
                if (i + 1) % 10 == 0 {
                    println!("  {:>3}/{n}: last {}", i + 1, ms(t));
                }
            }
            None => {
                lost += 1;
                println!("  mail {i}: no reply within {PER_MAIL_TIMEOUT:?}");
            }
        }
        tokio::time::sleep(GAP).await;
    }
    let status = service.stop();

    let report = |name: &str, v: &mut Vec<Duration>| {
        if v.is_empty() {
            println!("{name}: no samples");
            return;
        }
        v.sort();
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        println!(
            "{name:<46} n={:<4} min {:>6}  p50 {:>6}  p90 {:>6}  p99 {:>6}  max {:>6}  mean {:>6}",
            v.len(),
            ms(v[0]),
            ms(pct(v, 50.0)),
            ms(pct(v, 90.0)),
            ms(pct(v, 99.0)),
            ms(v[v.len() - 1]),
            ms(mean),
        );
    };
    println!();
    println!(
        "latency over {n} mails (SMTP 250 after DATA → reply file in employee@'s Maildir/new):"
    );
    report("total (accepted → reply delivered)", &mut total);
    report("  leg 1 (Postfix → support@'s Maildir)", &mut leg1);
    report("  leg 2 (support@'s Maildir → reply delivered)", &mut leg2);
    println!("no reply: {lost}; mfa-desk exit: {status}");
    if !total.is_empty() {
        let p50 = pct(&total, 50.0);
        let p99 = pct(&total, 99.0);
        println!(
            "targets: p50 ≤ 1000 ms: {} ({}), p99 ≤ 3000 ms: {} ({})",
            if p50 <= Duration::from_secs(1) {
                "met"
            } else {
                "MISSED"
            },
            ms(p50),
            if p99 <= Duration::from_secs(3) {
                "met"
            } else {
                "MISSED"
            },
            ms(p99),
        );
    }
}

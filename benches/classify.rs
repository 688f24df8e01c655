//! Throughput of classification against parsing alone.
//!
//! `cargo bench --bench classify [-- DIR...]` reads every `.eml` under the
//! folders given (default: tests/fixtures/classify, tests/fixtures/parse,
//! examples/inbox); `-- --generated=N` takes instead the first N mails of
//! the backlog benchmark's generator (benches/common/corpus.rs: support mail
//! of realistic size, with HTML alternatives, ISO-2022-JP, replies and
//! screenshots). Then it times, in messages per second:
//!
//! - mail-parser alone (`MessageParser::parse`): the floor any step builds on;
//! - `mfa_desk::parse::parse` (mail-parser plus charset repair, quotes, language);
//! - `parse` + `classify` (the full front of the pipeline);
//! - `classify` alone on already parsed mail.
//!
//! and the ratios: parse + classify against mail-parser (target <= 2x), and
//! classify alone against mail-parser (classification costs no more than
//! parsing).
//!
//! The rules are compiled once, as in the service. Plain `std::time`, no
//! harness: each figure is a step's fastest pass over the mails, the four
//! steps taking turns for 4 s so that the machine's drift stays out of
//! their ratios.
//!
//! `-- --count=STEP:N` times nothing: it runs one step (`mail-parser`,
//! `parse`, `full` or `classify`) N passes over the mails, for an
//! instruction count that does not drift, e.g.
//! `valgrind --tool=callgrind target/release/deps/classify-* --count=full:20 DIR`
//! (subtract a `--count=full:0` run for the loading).

#[path = "common/corpus.rs"]
mod corpus;

use mfa_desk::classify::{Rules, classify};
use mfa_desk::parse::Inbound;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            eml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "eml") {
            out.push(path);
        }
    }
}

/// The four things timed, one mail at a time.
#[derive(Clone, Copy)]
enum Step {
    MailParser,
    Parse,
    ParseClassify,
    ClassifyParsed,
}

/// Messages per second of each step, from its fastest pass over the mails
/// (at least 2 ms), the steps taking turns pass by pass for 4 s. This
/// machine's speed drifts and another process can take a core for a moment
/// (a VM sharing its cores): timing one step after the other put that into
/// their ratio, and a short pass is often one that nothing interrupted.
fn rates(mails: &[Vec<u8>], parsed: &[Inbound], rules: &Rules) -> [f64; 4] {
    let steps = [
        Step::MailParser,
        Step::Parse,
        Step::ParseClassify,
        Step::ClassifyParsed,
    ];
    let mut best = [0.0f64; 4];
    let begin = Instant::now();
    while begin.elapsed() < Duration::from_secs(4) {
        for (k, &step) in steps.iter().enumerate() {
            let start = Instant::now();
            let mut n = 0usize;
            while n == 0 || start.elapsed() < Duration::from_millis(2) {
                for (raw, inbound) in mails.iter().zip(parsed) {
                    run(step, raw, inbound, rules);
                }
                n += mails.len();
            }
            best[k] = best[k].max(n as f64 / start.elapsed().as_secs_f64());
        }
    }
    best
}

fn run(step: Step, raw: &[u8], inbound: &Inbound, rules: &Rules) {
    match step {
        Step::MailParser => {
            black_box(mail_parser::MessageParser::default().parse(black_box(raw)));
        }
        Step::Parse => {
            black_box(mfa_desk::parse::parse(black_box(raw)));
        }
        Step::ParseClassify => {
            let inbound = mfa_desk::parse::parse(black_box(raw));
            black_box(classify(&inbound, rules));
        }
        Step::ClassifyParsed => {
            black_box(classify(black_box(inbound), rules));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dirs: Vec<PathBuf> = if args.is_empty() {
        [
            "tests/fixtures/classify",
            "tests/fixtures/parse",
            "examples/inbox",
        ]
        .iter()
        .map(PathBuf::from)
        .collect()
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    let generated: Option<usize> =
        std::env::args().find_map(|a| a.strip_prefix("--generated=").and_then(|n| n.parse().ok()));
    let (mails, source): (Vec<Vec<u8>>, String) = match generated {
        Some(n) => (
            (0..n)
                .map(|i| corpus::mail(i, "user{user}@corp.example.test", "bench"))
                .collect(),
            format!("the backlog generator (benches/common/corpus.rs, first {n})"),
        ),
        None => {
            let mut files = Vec::new();
            for d in &dirs {
                eml_files(d, &mut files);
            }
            let source = dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            (
                files.iter().filter_map(|f| std::fs::read(f).ok()).collect(),
                source,
            )
        }
    };
    if mails.is_empty() {
        eprintln!("no mail to measure from {source}");
        std::process::exit(2);
    }
    let rules_text = match std::fs::read_to_string("config/rules.toml") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read config/rules.toml: {e}");
            std::process::exit(2);
        }
    };
    let rules = match Rules::from_toml(&rules_text, "config/rules.toml") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let bytes: usize = mails.iter().map(Vec::len).sum();
    println!(
        "{} messages ({} KiB) from {source}",
        mails.len(),
        bytes / 1024
    );

    let parsed: Vec<_> = mails.iter().map(|m| mfa_desk::parse::parse(m)).collect();
    if let Some(count) = std::env::args().find_map(|a| a.strip_prefix("--count=").map(String::from))
    {
        let step = match count.split_once(':') {
            Some(("mail-parser", n)) => n.parse().ok().map(|n| (Step::MailParser, n)),
            Some(("parse", n)) => n.parse().ok().map(|n| (Step::Parse, n)),
            Some(("full", n)) => n.parse().ok().map(|n| (Step::ParseClassify, n)),
            Some(("classify", n)) => n.parse().ok().map(|n| (Step::ClassifyParsed, n)),
            _ => None,
        };
        let Some((step, passes)) = step else {
            eprintln!("--count takes STEP:N, STEP one of mail-parser, parse, full, classify");
            std::process::exit(2);
        };
        for _ in 0..passes {
            for (raw, inbound) in mails.iter().zip(&parsed) {
                run(step, raw, inbound, &rules);
            }
        }
        return;
    }
    let [mail_parser, parse_only, full, classify_only] = rates(&mails, &parsed, &rules);

    println!("mail-parser parse only      {mail_parser:>12.0} msgs/s");
    println!("mfa_desk::parse only        {parse_only:>12.0} msgs/s");
    println!("parse + classify            {full:>12.0} msgs/s");
    println!("classify only (pre-parsed)  {classify_only:>12.0} msgs/s");
    println!(
        "ratio parse+classify vs mail-parser parse: {:.2}x   vs mfa_desk::parse: {:.2}x   (target <= 2x)",
        mail_parser / full,
        parse_only / full
    );
    // The fallback target: classifying costs no more than parsing.
    println!(
        "ratio classify only vs mail-parser parse: {:.2}x   (classification costs no more than parsing: <= 1x)",
        mail_parser / classify_only
    );
}

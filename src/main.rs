//! The `mfa-desk` command: a thin shell over the library. Each subcommand's
//! doc comment is its `--help` text.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mfa_desk::classify::{Rules, classify};
use mfa_desk::config::{Config, Mailbox};
use mfa_desk::reply::templates::{Guides, sample_context};
use mfa_desk::send::{Mailer, outbox};
use mfa_desk::service::{self, Mode};
use mfa_desk::source::folder::FolderSource;
use mfa_desk::store::{QueueFilter, Store};
use mfa_desk::ticket::{Status, parse_tag};
use mfa_desk::verdict::Category;
use mfa_desk::worker::{Desk, Outcome};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mfa-desk",
    version,
    about = "The MFA help desk for support@ mail"
)]
struct Cli {
    /// Config file.
    #[arg(long, global = true, default_value = "config/mfa-desk.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read the mailbox, answer every new message, send what the outbox holds.
    Run {
        /// Process what is there now and exit (instead of watching the mailbox).
        #[arg(long)]
        once: bool,
        /// First start on a mailbox that already holds mail: record that mail
        /// as history, without answering it, mark it handled, and exit.
        #[arg(long)]
        backfill: bool,
    },
    /// Classify mail files and print the verdict for each.
    Classify {
        /// One JSON object per line (the interface `shared/eval/score` reads).
        #[arg(long)]
        json: bool,
        /// Rules file; defaults to the one the config names.
        #[arg(long)]
        rules: Option<PathBuf>,
        files: Vec<PathBuf>,
    },
    /// List tickets: open ones by default, most urgent and oldest first.
    Queue {
        /// awaiting_feedback, open, waiting or resolved.
        #[arg(long)]
        status: Option<Status>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        category: Option<Category>,
    },
    /// Show one ticket with its history, e.g. `mfa-desk show MFA-3`.
    Show { ticket: String },
    /// Check the config, the rules, every template, the store (and servers).
    Check,
    /// Close a ticket (as `#resolve` in a reply does).
    Resolve {
        ticket: String,
        /// The admin acting (name or address); default: $MFA_DESK_ADMIN, else the first admin.
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Open a closed ticket again (as `#reopen`).
    Reopen {
        ticket: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Give a ticket to an admin (as `#assign NAME`).
    Assign {
        ticket: String,
        /// Admin name or address.
        admin: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Set a ticket's priority (as `#priority urgent|high|normal|low`).
    Priority {
        ticket: String,
        priority: mfa_desk::ticket::Priority,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Add an internal note to a ticket (as `#note`); the employee does not see it.
    Note {
        ticket: String,
        text: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// The weekly digest: `--preview --out DIR` writes it to a folder, `--send` sends it now.
    Digest {
        /// Write digest.html, digest.txt and chart.png to --out instead of sending.
        #[arg(
            long,
            conflicts_with = "send",
            required_unless_present = "send",
            requires = "out"
        )]
        preview: bool,
        /// Queue the digest now (and deliver it, unless the service is running).
        #[arg(long)]
        send: bool,
        /// The ISO week, e.g. 2026-W47 (default: the last complete week).
        #[arg(long)]
        week: Option<String>,
        /// The folder for --preview.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the guides as a static FAQ site (both languages) to a folder.
    Faq {
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MFA_DESK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Classify { json, rules, files } => classify_files(&cli.config, json, rules, files),
        Command::Run { once, backfill } => {
            let config = Config::load(&cli.config)?;
            let _lock = mfa_desk::store::WorkerLock::acquire(&config.store.path)?;
            let desk = open_desk(config)?;
            match desk.config.mailbox.clone() {
                Mailbox::Folder { .. } => run_once(desk),
                Mailbox::Imap(imap) => {
                    let mode = if backfill {
                        Mode::Backfill
                    } else if once {
                        Mode::Once
                    } else {
                        Mode::Serve
                    };
                    run_service(desk, *imap, mode)
                }
            }
        }
        Command::Queue {
            status,
            owner,
            category,
        } => {
            let config = Config::load(&cli.config)?;
            let store = Store::open(&config.store.path)?;
            let tickets = store.queue(&QueueFilter {
                status,
                owner,
                category,
            })?;
            if tickets.is_empty() {
                println!("no tickets");
            }
            println!(
                "{:<8} {:<17} {:<8} {:<18} {:<28} {:<12} subject",
                "ticket", "status", "priority", "category", "requester", "owner"
            );
            for t in tickets {
                println!(
                    "{:<8} {:<17} {:<8} {:<18} {:<28} {:<12} {}",
                    t.tag(),
                    t.status,
                    t.priority,
                    t.category,
                    t.requester,
                    t.owner.as_deref().unwrap_or("-"),
                    t.subject
                );
            }
            let failed = store.failed_mail()?;
            if !failed.is_empty() {
                println!("\nmail that could not be delivered:");
                for m in failed {
                    println!(
                        "  {} to {}: {}",
                        m.ticket_id.map(mfa_desk::ticket::tag).unwrap_or_default(),
                        m.rcpt_to.join(", "),
                        m.last_error.unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Command::Show { ticket } => {
            let config = Config::load(&cli.config)?;
            let store = Store::open(&config.store.path)?;
            let Some(id) = parse_tag(&ticket) else {
                bail!("`{ticket}` is not a ticket number; write it like MFA-12");
            };
            let Some(t) = store.ticket(id)? else {
                bail!("there is no ticket {ticket}; `mfa-desk queue` lists them");
            };
            println!("{} {}", t.tag(), t.subject);
            println!("  requester: {}", t.requester);
            println!("  category:  {}", t.category);
            println!("  status:    {}", t.status);
            println!("  priority:  {}", t.priority);
            println!("  owner:     {}", t.owner.as_deref().unwrap_or("-"));
            println!("history:");
            for e in store.events(id)? {
                println!(
                    "  {} {:<22} {:<28} {}",
                    fmt_time(e.at),
                    e.kind,
                    e.actor,
                    e.detail
                );
            }
            println!("mail:");
            for m in store.outbox_for(Some(id))? {
                let state = if m.sent_at.is_some() {
                    "sent".to_string()
                } else if m.failed_at.is_some() {
                    format!("FAILED: {}", m.last_error.unwrap_or_default())
                } else {
                    "waiting".to_string()
                };
                println!(
                    "  {} {:<14} to {} ({state})",
                    fmt_time(m.created_at),
                    m.kind,
                    m.rcpt_to.join(", ")
                );
            }
            Ok(())
        }
        Command::Resolve { ticket, actor } => admin_cli(&cli.config, &ticket, actor, "#resolve"),
        Command::Reopen { ticket, actor } => admin_cli(&cli.config, &ticket, actor, "#reopen"),
        Command::Assign {
            ticket,
            admin,
            actor,
        } => admin_cli(&cli.config, &ticket, actor, &format!("#assign {admin}")),
        Command::Priority {
            ticket,
            priority,
            actor,
        } => admin_cli(
            &cli.config,
            &ticket,
            actor,
            &format!("#priority {priority}"),
        ),
        Command::Note {
            ticket,
            text,
            actor,
        } => admin_cli(&cli.config, &ticket, actor, &format!("#note\n{text}")),
        Command::Digest {
            send: true, week, ..
        } => mfa_desk::digest::cli::send_command(&cli.config, week.as_deref()),
        Command::Digest { week, out, .. } => mfa_desk::digest::cli::preview_command(
            &cli.config,
            week.as_deref(),
            &out.unwrap_or_else(|| PathBuf::from("digest-preview")),
        ),
        Command::Faq { out } => mfa_desk::digest::cli::faq_command(&cli.config, &out),
        Command::Check => {
            let config = Config::load(&cli.config)?;
            println!("config {}: ok", config.path.display());
            println!("rules {}: ok", config.rules_path.display());
            let guides = load_guides(&config)?;
            println!(
                "templates in {}: ok ({} templates)",
                config.replies_dir.display(),
                guides.names().len()
            );
            let store = Store::open(&config.store.path)?;
            println!("store {}: ok", config.store.path.display());
            // The digest templates, rendered with last week's real figures.
            let at = jiff::Timestamp::now();
            let tz = mfa_desk::digest::time_zone(&config)?;
            let week = mfa_desk::digest::Week::of(at, &tz).previous();
            mfa_desk::digest::render::build_mail(&store, &config, week, at, false)?;
            println!("digest templates: ok");
            check_servers(&config)
        }
    }
}

/// Connect to the mailbox and the SMTP server and say in plain words what
/// works and what does not.
fn check_servers(config: &Config) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut failed = false;
    rt.block_on(async {
        if let Mailbox::Imap(imap) = &config.mailbox {
            let mut source = mfa_desk::source::imap::ImapSource::new((**imap).clone());
            match source.check().await {
                Ok(msg) => println!("mailbox: ok ({msg})"),
                Err(e) => {
                    failed = true;
                    println!("mailbox: FAILED: {e}");
                }
            }
            source.logout().await;
        }
        if let Some(smtp) = &config.smtp {
            match mfa_desk::send::smtp::SmtpMailer::new(smtp) {
                Ok(m) => match m.check().await {
                    Ok(msg) => println!("smtp: ok ({msg})"),
                    Err(
                        mfa_desk::send::SendError::Transient(e)
                        | mfa_desk::send::SendError::Permanent(e),
                    ) => {
                        failed = true;
                        println!("smtp: FAILED: {e}");
                    }
                },
                Err(e) => {
                    failed = true;
                    println!("smtp: FAILED: {e}");
                }
            }
        }
    });
    if failed {
        bail!("some checks failed; see above");
    }
    Ok(())
}

fn load_guides(config: &Config) -> Result<Guides> {
    let guides = Guides::load(&config.replies_dir)?;
    if let Err(errors) = guides.check(&sample_context(&config.support, &config.mfa)) {
        let list: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
        bail!(
            "{} template(s) in {} cannot be rendered:\n{}",
            errors.len(),
            config.replies_dir.display(),
            list.join("\n")
        );
    }
    Ok(guides)
}

/// A ticket command from the shell: the same code as the `#` commands by mail.
fn admin_cli(
    config: &std::path::Path,
    ticket: &str,
    actor: Option<String>,
    text: &str,
) -> Result<()> {
    let config = Config::load(config)?;
    let actor = actor
        .or_else(|| std::env::var("MFA_DESK_ADMIN").ok())
        .or_else(|| config.support.admins.first().map(|a| a.address.clone()))
        .context("no admin to act as: pass --as NAME")?;
    let mut desk = open_desk(config)?;
    let t = desk.admin_command(ticket, &actor, text, now())?;
    println!(
        "{}: status {}, priority {}, owner {}",
        t.tag(),
        t.status,
        t.priority,
        t.owner.as_deref().unwrap_or("-")
    );
    Ok(())
}

/// Everything that can fail at start-up fails here, before any mail is touched.
fn open_desk(config: Config) -> Result<Desk> {
    let guides = load_guides(&config)?;
    let store = Store::open(&config.store.path)?;
    Ok(Desk::new(config, guides, store)?)
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn fmt_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// The IMAP service: until SIGTERM/SIGINT (or until the mailbox is empty in
/// `--once`/`--backfill`).
fn run_service(desk: Desk, imap: mfa_desk::config::ImapConfig, mode: Mode) -> Result<()> {
    let mailer = Mailer::from_config(&desk.config.outbox, desk.config.smtp.as_ref())?;
    let outbox_store = Store::open(&desk.config.store.path)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop requested; finishing the mail in hand");
            stop.send_replace(true);
        });
        tracing::info!(host = %imap.host, folder = %imap.folder, "watching the mailbox");
        service::serve(desk, imap, mailer, outbox_store, stopped, mode).await
    })?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Process the folder once, drain the outbox, print a summary.
fn run_once(mut desk: Desk) -> Result<()> {
    let Mailbox::Folder { path } = desk.config.mailbox.clone() else {
        bail!("`run --once` against IMAP is not built yet");
    };
    let source = FolderSource::new(path.clone());
    let files = source
        .list()
        .with_context(|| format!("cannot list the mail folder {}", path.display()))?;
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    let mut processed = 0;
    for file in files {
        let fetched = match source.read(&file) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "skipping a file that cannot be read");
                continue;
            }
        };
        let p = desk.process(&fetched, now())?;
        if p.outcome != Outcome::Duplicate {
            processed += 1;
        }
        *outcomes.entry(p.outcome.as_str()).or_default() += 1;
        if p.outcome == Outcome::Answered {
            *answered.entry(p.category.to_string()).or_default() += 1;
        }
    }
    let swept = desk.sweep(now())?;
    if let Some(week) =
        mfa_desk::digest::send_due_digest(&mut desk.store, &desk.config, jiff::Timestamp::now())?
    {
        println!("  weekly digest queued: {week}");
    }
    let mailer = Mailer::from_config(&desk.config.outbox, desk.config.smtp.as_ref())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(outbox::drain(&mut desk.store, &mailer, now, 2 * 24 * 3600))?;
    println!("processed: {processed}");
    for (cat, n) in &answered {
        println!("  answered {cat}: {n}");
    }
    for key in [
        "queued",
        "follow_up",
        "ignored",
        "needs_person",
        "duplicate",
    ] {
        println!("  {key}: {}", outcomes.get(key).copied().unwrap_or(0));
    }
    if swept.presumed_solved + swept.reminders > 0 {
        println!(
            "  presumed solved: {}, reminders: {}",
            swept.presumed_solved, swept.reminders
        );
    }
    println!(
        "outbox: {} sent, {} waiting to retry, {} failed",
        report.sent, report.retrying, report.failed
    );
    Ok(())
}

fn classify_files(
    config: &std::path::Path,
    json: bool,
    rules: Option<PathBuf>,
    files: Vec<PathBuf>,
) -> Result<()> {
    let rules = match rules {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read rules file {}", p.display()))?;
            std::sync::Arc::new(Rules::from_toml(&text, &p.display().to_string())?)
        }
        None => Config::load(config)?.rules,
    };
    for file in files {
        let raw =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let inbound = mfa_desk::parse::parse(&raw);
        let v = classify(&inbound, &rules);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "file": file.display().to_string(),
                    "category": v.category,
                    "action": v.action,
                    "language": v.language,
                    "confidence": v.confidence,
                    "matched": v.matched,
                })
            );
        } else {
            println!(
                "{:<40} {:<18} {:<21} {} {:.2} {}",
                file.display(),
                v.category,
                v.action,
                v.language,
                v.confidence,
                v.matched.join(", ")
            );
        }
    }
    Ok(())
}

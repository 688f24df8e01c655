//! The `mfa-desk digest` and `mfa-desk faq` commands, kept here so that
//! `main.rs` only parses arguments and calls one function each.

use super::{Week, preview, send_now};
use crate::config::Config;
use crate::send::{Mailer, outbox};
use crate::store::{Store, StoreError, WorkerLock};
use anyhow::{Context, Result};
use std::path::Path;

fn parse_week(week: Option<&str>) -> Result<Option<Week>> {
    week.map(|w| w.parse::<Week>())
        .transpose()
        .map_err(anyhow::Error::from)
}

/// `mfa-desk digest --preview [--week 2026-W47] --out DIR`.
pub fn preview_command(config_path: &Path, week: Option<&str>, out: &Path) -> Result<()> {
    let config = Config::load(config_path)?;
    let week = parse_week(week)?;
    let store = Store::open(&config.store.path)?;
    let p = preview(&store, &config, week, jiff::Timestamp::now(), out)?;
    println!("digest of {} written to {}:", p.week, out.display());
    println!("  subject: {}", p.subject);
    for f in [&p.html, &p.text, &p.chart] {
        println!("  {}", f.display());
    }
    Ok(())
}

/// `mfa-desk digest --send [--week 2026-W47]`: queue it now, and deliver
/// it at once unless a running service holds the store (it then sends it
/// with the rest of the outbox; draining from two processes could send a
/// mail twice).
pub fn send_command(config_path: &Path, week: Option<&str>) -> Result<()> {
    let config = Config::load(config_path)?;
    let week = parse_week(week)?;
    let mut store = Store::open(&config.store.path)?;
    let (week, message_id) = send_now(&mut store, &config, week, jiff::Timestamp::now())?;
    println!(
        "digest of {week} queued for {} ({message_id})",
        super::render::recipients(&config).join(", ")
    );
    let _lock = match WorkerLock::acquire(&config.store.path) {
        Ok(lock) => lock,
        Err(StoreError::Locked { .. }) => {
            println!("mfa-desk is running: it sends the digest with the rest of the outbox");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let mailer = Mailer::from_config(&config.outbox, config.smtp.as_ref())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let max_age = config
        .smtp
        .as_ref()
        .map(|s| s.max_age_secs as i64)
        .unwrap_or(2 * 24 * 3600);
    let report = rt.block_on(outbox::drain(
        &mut store,
        &mailer,
        || jiff::Timestamp::now().as_second(),
        max_age,
    ))?;
    println!(
        "outbox: {} sent, {} waiting to retry, {} failed",
        report.sent, report.retrying, report.failed
    );
    Ok(())
}

/// `mfa-desk faq --out DIR`.
pub fn faq_command(config_path: &Path, out: &Path) -> Result<()> {
    let config = Config::load(config_path)?;
    let site = crate::faq::write_site(&config, out)?;
    println!(
        "FAQ written to {}: {} guide pages; open {}",
        out.display(),
        site.pages.len(),
        site.index.display()
    );
    Ok(())
}

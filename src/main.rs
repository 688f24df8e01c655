//! The `mfa-desk` command: a thin shell over the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mfa_desk::classify::{Rules, classify};
use mfa_desk::config::Config;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "mfa-desk", version, about = "The MFA help desk for support@ mail")]
struct Cli {
    /// Config file.
    #[arg(long, global = true, default_value = "config/mfa-desk.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Classify { json, rules, files } => {
            let rules = match rules {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read rules file {}", p.display()))?;
                    Rules::from_toml(&text, &p.display().to_string())?
                }
                None => Config::load(&cli.config)?.rules,
            };
            for file in files {
                let raw = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
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
    }
}

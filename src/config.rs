//! Configuration: `config/mfa-desk.toml` (the service) and `config/rules.toml`
//! (the classifier's rules, kept apart so an admin can tune them).
//!
//! Paths in the file are relative to the file's own folder, so the shipped
//! default works from any working directory. Every error names the file, the
//! line and what is wrong, and is raised before any mail is touched.

use crate::classify::Rules;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Value { path: String, message: String },
}

impl ConfigError {
    /// Turn a TOML error into one that names the file and the line.
    pub fn toml(path: &str, text: &str, err: toml::de::Error) -> ConfigError {
        let line = err
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
            .unwrap_or(1);
        // The toml message repeats the source snippet; the first line is the point.
        let message = err
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        ConfigError::Invalid {
            path: path.to_string(),
            line,
            message,
        }
    }

    fn value(path: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// The whole configuration, paths already resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub path: PathBuf,
    pub mailbox: Mailbox,
    pub store: StoreConfig,
    pub outbox: OutboxConfig,
    pub smtp: Option<SmtpConfig>,
    pub support: Support,
    pub mfa: Mfa,
    /// Shared with the threads that prepare mail (see `worker::Prepared`).
    pub rules: Arc<Rules>,
    pub rules_path: PathBuf,
    pub replies_dir: PathBuf,
    pub feedback: Feedback,
    /// The weekly digest to the admins (`[digest]`, all optional).
    pub digest: Digest,
    pub security: Security,
    pub hours: Hours,
    pub routing: Routing,
    pub limits: Limits,
    pub privacy: Privacy,
}

/// Personal data (`[privacy]`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// Raw mail (as received and as sent) is kept this many days for the
    /// admins, then purged; tickets, events and the digest's counts remain.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            retention_days: default_retention(),
        }
    }
}

fn default_retention() -> u32 {
    90
}

/// Limits on automatic replies (`[limits]`): past them a person answers
/// instead, so mfa-desk can never be one end of a mail loop.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Automatic replies per ticket and recipient in 10 minutes.
    #[serde(default = "default_per_ticket")]
    pub per_ticket_10min: i64,
    /// Automatic replies per recipient in 10 minutes, all tickets.
    #[serde(default = "default_per_recipient")]
    pub per_recipient_10min: i64,
    /// Automatic replies per recipient per day.
    #[serde(default = "default_per_day")]
    pub per_recipient_day: i64,
    /// The same mail again from the same sender within this many seconds
    /// joins the first one's ticket instead of opening another.
    #[serde(default = "default_twin_window")]
    pub repeat_window_secs: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_ticket_10min: default_per_ticket(),
            per_recipient_10min: default_per_recipient(),
            per_recipient_day: default_per_day(),
            repeat_window_secs: default_twin_window(),
        }
    }
}

fn default_per_ticket() -> i64 {
    10
}
fn default_per_recipient() -> i64 {
    30
}
fn default_per_day() -> i64 {
    40
}
fn default_twin_window() -> i64 {
    3600
}

/// How admins are recognised beyond their From address (`[security]`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// The authserv-id of the company's receiving mail server (the first word
    /// of the Authentication-Results headers it adds, e.g. "mx.example.co.jp").
    /// Only its results are trusted; empty = admins are recognised by replies
    /// to the notices mfa-desk sent them.
    #[serde(default)]
    pub authserv_id: Option<String>,
}

/// Support hours (`[hours]`), in `[support] timezone`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// Working days: "mon" … "sun".
    #[serde(default = "default_days")]
    pub days: Vec<String>,
    /// Start and end of the working day, "HH:MM".
    #[serde(default = "default_start")]
    pub start: String,
    #[serde(default = "default_end")]
    pub end: String,
    /// Days off, "YYYY-MM-DD" (national holidays, company days off).
    #[serde(default)]
    pub holidays: Vec<String>,
}

impl Default for Hours {
    fn default() -> Self {
        Hours {
            days: default_days(),
            start: default_start(),
            end: default_end(),
            holidays: Vec::new(),
        }
    }
}

fn default_days() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec()
}
fn default_start() -> String {
    "09:00".into()
}
fn default_end() -> String {
    "18:00".into()
}

/// Who gets new tickets (`[routing]`): round robin among the admins on duty,
/// except categories pinned to a person.
#[derive(Debug, Clone, Deserialize, serde::Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Category name → admin address, e.g. `phone_lost = "sato@example.co.jp"`.
    #[serde(default)]
    pub pin: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Mailbox {
    /// A folder of `.eml` files or a Maildir (`cur/`, `new/`).
    Folder { path: PathBuf },
    /// A real mailbox over IMAP.
    Imap(Box<ImapConfig>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: Tls,
    pub username: String,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_command: Option<String>,
    /// XOAUTH2: a command that prints an access token (Microsoft 365, Google Workspace).
    #[serde(default)]
    pub token_command: Option<String>,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Folder to MOVE handled mail to; without it, handled mail is flagged in place.
    #[serde(default)]
    pub processed_folder: Option<String>,
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    /// Extra CA certificate (PEM) for servers with a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Tell the admins when the mailbox has been unreachable this long.
    #[serde(default = "default_outage_alert")]
    pub outage_alert_secs: u64,
    /// Mail delivered less than this long before `mfa-desk run` started is
    /// answered as new mail; older unhandled mail is a backlog (after an
    /// outage), answered after new mail and at `[smtp] backlog_per_minute`.
    #[serde(default = "default_live_margin")]
    pub live_margin_secs: u64,
    /// Re-issue IDLE this often. RFC 2177 lets a server drop a client idle
    /// for 30 minutes, and a dead connection is only noticed when IDLE ends;
    /// behind a NAT or firewall that forgets quiet connections sooner (many
    /// do after 5 minutes), set it below that.
    #[serde(default = "default_idle_renew")]
    pub idle_renew_secs: u64,
}

fn default_live_margin() -> u64 {
    300
}
fn default_idle_renew() -> u64 {
    9 * 60
}

fn default_imap_port() -> u16 {
    993
}
fn default_folder() -> String {
    "INBOX".into()
}
fn default_poll() -> u64 {
    60
}
fn default_quarantine() -> String {
    "Quarantine".into()
}
fn default_outage_alert() -> u64 {
    900
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    #[default]
    Implicit,
    Starttls,
    /// Plain text: only for a server on loopback.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutboxConfig {
    /// Write each outgoing mail as an `.eml` file into a folder.
    File { path: PathBuf },
    /// Send through the `[smtp]` server.
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_command: Option<String>,
    #[serde(default)]
    pub token_command: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Give up on a mail the server keeps refusing after this long.
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
    /// At most this many mails a minute about mail that was already waiting
    /// when mfa-desk started (a backlog after an outage); 0: no limit. Mail
    /// about mail that arrives now is never held back.
    #[serde(default = "default_backlog_per_minute")]
    pub backlog_per_minute: u32,
}

fn default_backlog_per_minute() -> u32 {
    1200
}

fn default_smtp_port() -> u16 {
    587
}
fn default_max_age() -> u64 {
    2 * 24 * 3600
}

/// The support team and the company values the guides print.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Support {
    /// Name of the team as employees know it, e.g. "IT support / 情報システム部".
    pub team_name: String,
    pub company: String,
    /// The support mailbox address; mail is sent from it.
    pub address: String,
    /// Phone number for emergencies (lost phone, attack), printed in urgent guides.
    pub emergency_phone: String,
    /// IANA time zone of the support hours, e.g. "Asia/Tokyo".
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// Human-readable support hours for the guides, per language.
    pub hours_ja: String,
    pub hours_en: String,
    /// How soon a person answers a queued ticket, in words, per language.
    pub response_time_ja: String,
    pub response_time_en: String,
    pub admins: Vec<Admin>,
}

fn default_tz() -> String {
    "Asia/Tokyo".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub name: String,
    pub address: String,
    /// Takes new tickets in the round robin (false: on leave).
    #[serde(default = "default_true")]
    pub on_duty: bool,
}

/// The MFA product in use and its help links.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mfa {
    /// The authenticator app employees use, e.g. "Microsoft Authenticator".
    pub app_name: String,
    /// Where employees manage their sign-in methods.
    pub portal_url: String,
    /// The vendor's help page for the app.
    pub help_url: String,
    /// Vendor support contact for the admins (printed in admin notifications).
    #[serde(default)]
    pub vendor_support: String,
}

/// The "did this solve it?" loop.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// Close a guide ticket as presumed solved after this many days without an answer.
    #[serde(default = "default_feedback_days")]
    pub presume_solved_days: u32,
}

impl Default for Feedback {
    fn default() -> Self {
        Feedback {
            presume_solved_days: default_feedback_days(),
        }
    }
}

fn default_feedback_days() -> u32 {
    7
}

/// The weekly digest (`[digest]`): when it goes out, in which language, to
/// whom besides the admins, and the first-response targets it measures.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// Send it at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Day of the week it goes out, in `[support] timezone`: "monday" … "sunday".
    #[serde(default = "default_digest_day")]
    pub day: String,
    /// Local time of day it goes out, "HH:MM" (24 h).
    #[serde(default = "default_digest_time")]
    pub time: String,
    /// "ja" or "en".
    #[serde(default)]
    pub language: crate::verdict::Language,
    /// Addresses that get the digest besides `[[support.admins]]`.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// First-response targets per priority (`[digest.targets]`).
    #[serde(default)]
    pub targets: Targets,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            enabled: true,
            day: default_digest_day(),
            time: default_digest_time(),
            language: crate::verdict::Language::default(),
            recipients: Vec::new(),
            targets: Targets::default(),
        }
    }
}

/// How soon a person should first answer a queued ticket, per priority, in
/// hours of the clock (not business hours).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default = "default_target_urgent")]
    pub urgent_hours: f64,
    #[serde(default = "default_target_high")]
    pub high_hours: f64,
    #[serde(default = "default_target_normal")]
    pub normal_hours: f64,
    #[serde(default = "default_target_low")]
    pub low_hours: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            urgent_hours: default_target_urgent(),
            high_hours: default_target_high(),
            normal_hours: default_target_normal(),
            low_hours: default_target_low(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_digest_day() -> String {
    "monday".into()
}
fn default_digest_time() -> String {
    "09:00".into()
}
fn default_target_urgent() -> f64 {
    1.0
}
fn default_target_high() -> f64 {
    4.0
}
fn default_target_normal() -> f64 {
    24.0
}
fn default_target_low() -> f64 {
    72.0
}

/// The file as written, before paths are resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    mailbox: Mailbox,
    store: StoreConfig,
    outbox: OutboxConfig,
    #[serde(default)]
    smtp: Option<SmtpConfig>,
    support: Support,
    mfa: Mfa,
    #[serde(default = "default_rules_path")]
    rules: PathBuf,
    #[serde(default = "default_replies_path")]
    replies: PathBuf,
    #[serde(default)]
    feedback: Feedback,
    #[serde(default)]
    digest: Digest,
    #[serde(default)]
    security: Security,
    #[serde(default)]
    hours: Hours,
    #[serde(default)]
    routing: Routing,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    privacy: Privacy,
}

fn default_rules_path() -> PathBuf {
    "rules.toml".into()
}
fn default_replies_path() -> PathBuf {
    "../replies".into()
}

impl Config {
    /// Read and check the config file and the rules file it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parse config text as if read from `path` (relative paths resolve against its folder).
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::toml(&origin, text, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let mailbox = match raw.mailbox {
            Mailbox::Folder { path } => Mailbox::Folder {
                path: resolve(&path),
            },
            Mailbox::Imap(mut imap) => {
                imap.ca_file = imap.ca_file.as_deref().map(resolve);
                Mailbox::Imap(imap)
            }
        };
        let outbox = match raw.outbox {
            OutboxConfig::File { path } => OutboxConfig::File {
                path: resolve(&path),
            },
            OutboxConfig::Smtp => {
                if raw.smtp.is_none() {
                    return Err(ConfigError::value(
                        path,
                        "[outbox] kind = \"smtp\" needs an [smtp] section with the server to send through",
                    ));
                }
                OutboxConfig::Smtp
            }
        };
        let smtp = raw.smtp.map(|mut s| {
            s.ca_file = s.ca_file.as_deref().map(resolve);
            s
        });
        if raw.support.admins.is_empty() {
            return Err(ConfigError::value(
                path,
                "[support] lists no admins: add at least one [[support.admins]] with name and address",
            ));
        }
        if jiff::tz::TimeZone::get(&raw.support.timezone).is_err() {
            return Err(ConfigError::value(
                path,
                format!(
                    "[support] timezone `{}` is not a known IANA time zone (e.g. Asia/Tokyo)",
                    raw.support.timezone
                ),
            ));
        }
        if let Err(message) = crate::digest::Schedule::from_config(&raw.digest) {
            return Err(ConfigError::value(path, message));
        }
        crate::workflow::hours::Schedule::from_config(&raw.hours, &raw.support.timezone)
            .map_err(|m| ConfigError::value(path, format!("[hours] {m}")))?;
        for (category, who) in &raw.routing.pin {
            if category.parse::<crate::verdict::Category>().is_err() {
                return Err(ConfigError::value(
                    path,
                    format!("[routing] pin: `{category}` is not a category (see TAXONOMY.md)"),
                ));
            }
            if !raw
                .support
                .admins
                .iter()
                .any(|a| a.address.eq_ignore_ascii_case(who))
            {
                return Err(ConfigError::value(
                    path,
                    format!("[routing] pin: {category} = `{who}` is not one of [[support.admins]]"),
                ));
            }
        }
        let rules_path = resolve(&raw.rules);
        let rules_text =
            std::fs::read_to_string(&rules_path).map_err(|source| ConfigError::Read {
                path: rules_path.display().to_string(),
                source,
            })?;
        let rules = Rules::from_toml(&rules_text, &rules_path.display().to_string())?;
        Ok(Config {
            path: path.to_path_buf(),
            mailbox,
            store: StoreConfig {
                path: resolve(&raw.store.path),
            },
            outbox,
            smtp,
            support: raw.support,
            mfa: raw.mfa,
            rules: Arc::new(rules),
            rules_path,
            replies_dir: resolve(&raw.replies),
            feedback: raw.feedback,
            digest: raw.digest,
            security: raw.security,
            hours: raw.hours,
            routing: raw.routing,
            limits: raw.limits,
            privacy: raw.privacy,
        })
    }

    /// Whether an address is one of the configured admins.
    pub fn admin(&self, address: &str) -> Option<&Admin> {
        self.support
            .admins
            .iter()
            .find(|a| a.address.eq_ignore_ascii_case(address))
    }
}

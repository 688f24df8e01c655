//! Parse: raw RFC 5322 bytes in, an [`Inbound`] out — the sender, the subject,
//! the text the person newly wrote (quotes and signature removed), the
//! language to answer in, and the headers later steps decide on.
//!
//! Parsing never fails: broken input still yields an `Inbound`, with what was
//! wrong listed in [`Inbound::problems`] so a person can look at it.

use crate::verdict::Language;
use serde::Serialize;

/// One inbound mail, as the rest of the pipeline sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inbound {
    /// Message-ID without angle brackets; `None` when the mail has none.
    pub message_id: Option<String>,
    /// In-Reply-To ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids, without angle brackets, oldest first.
    pub references: Vec<String>,
    /// Sender address, lower-cased (`Reply-To` is not used: it is easy to forge).
    pub from_addr: String,
    /// Sender display name, decoded.
    pub from_name: Option<String>,
    /// To and Cc addresses, lower-cased.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Subject, decoded (RFC 2047 joined), as written (prefixes kept).
    pub subject: String,
    /// The text the sender wrote in this mail: quoted replies and signature removed.
    pub new_text: String,
    /// The quoted part (previous messages), kept for the record, never classified.
    pub quoted_text: String,
    /// Language to answer in.
    pub language: Language,
    /// Top-level headers as (lower-case name, trimmed decoded value), in order.
    pub headers: Vec<(String, String)>,
    /// Top-level MIME type, lower-case, e.g. `multipart/report`.
    pub content_type: String,
    /// Date header as Unix seconds, when present and valid.
    pub date: Option<i64>,
    /// Attachments: file name (if any), MIME type, size in bytes.
    pub attachments: Vec<Attachment>,
    /// What was wrong with the mail (missing Message-ID, repaired charset, …), plain words.
    pub problems: Vec<String>,
    /// SHA-256 of the raw bytes, hex; stands in for the Message-ID when it is missing.
    pub raw_sha256: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub mime_type: String,
    pub size: usize,
}

impl Inbound {
    /// The first value of a header (name in lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (name in lower case).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The key the store deduplicates on: the Message-ID, or a hash of the bytes.
    pub fn dedup_key(&self) -> String {
        match &self.message_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => format!("sha256:{}", self.raw_sha256),
        }
    }
}

/// Parse raw mail bytes. Never panics, never fails.
pub fn parse(raw: &[u8]) -> Inbound {
    use sha2::{Digest, Sha256};
    let raw_sha256 = format!("{:x}", Sha256::digest(raw));
    let mut inbound = Inbound {
        raw_sha256,
        ..Inbound::default()
    };
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        inbound.problems.push("the mail could not be parsed as MIME at all".into());
        return inbound;
    };
    inbound.message_id = msg.message_id().map(str::to_string);
    inbound.subject = msg.subject().unwrap_or_default().to_string();
    if let Some(from) = msg.from().and_then(|f| f.first()) {
        inbound.from_addr = from.address().unwrap_or_default().to_lowercase();
        inbound.from_name = from.name().map(str::to_string);
    }
    inbound.new_text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    inbound
}

//! Parse: raw RFC 5322 bytes in, an [`Inbound`] out — the sender, the subject,
//! the text the person newly wrote (quotes and signature removed), the
//! language to answer in, and the headers later steps decide on.
//!
//! Parsing never fails: broken input still yields an `Inbound`, with what was
//! wrong listed in [`Inbound::problems`] so a person can look at it.

mod charset;
mod headers;
mod html;
mod language;
mod limit;
pub(crate) mod lower;
mod normalize;
mod quote;
mod sanity;

pub use charset::decode_encoded_words;
pub use headers::{Header, Headers};
pub use language::detect as detect_language;
pub use normalize::normalize;
pub use quote::{Split, split as split_quotes, strip_signature};

use crate::verdict::Language;
use mail_parser::{Encoding, HeaderName, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::LazyLock;

/// mail-parser set up to parse only the headers whose parsed values are read
/// (by mail-parser itself for the MIME structure, or by [`fill_headers`]);
/// every other header is skipped. Our own header list is decoded from the
/// raw bytes (see `headers`), so mail-parser decoding Subject, Received,
/// References, List-* … as well would be done twice. Skipped headers keep
/// their name and byte offsets, which is all `headers::collect` uses.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .header_text(HeaderName::ContentTransferEncoding)
        .header_address(HeaderName::From)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_date(HeaderName::Date)
        .default_header_ignore()
});

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
    /// Top-level headers as (lower-case name, trimmed decoded value), in
    /// order; each value is decoded when first read.
    pub headers: Headers,
    /// Top-level MIME type, lower-case, e.g. `multipart/report`.
    pub content_type: String,
    /// Date header as Unix seconds, when present and valid.
    pub date: Option<i64>,
    /// Attachments: file name (if any), MIME type, size in bytes.
    pub attachments: Vec<Attachment>,
    /// What was wrong with the mail (missing Message-ID, repaired charset, …), plain words.
    pub problems: Vec<String>,
    /// SHA-256 of the raw bytes, hex, computed only when the Message-ID is missing (it stands in for it).
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
        self.headers.named(name).next()
    }

    /// Every value of a header (name in lower case).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.named(name)
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
    let mut inbound = parse_mail(raw);
    // The hash stands in for a missing Message-ID; hashing every mail would
    // cost more than parsing it.
    if inbound.message_id.is_none() {
        use sha2::{Digest, Sha256};
        inbound.raw_sha256 = format!("{:x}", Sha256::digest(raw));
    }
    inbound
}

fn parse_mail(raw: &[u8]) -> Inbound {
    let mut inbound = Inbound::default();
    if raw.iter().all(u8::is_ascii_whitespace) {
        inbound.problems.push("the mail is empty".into());
        return inbound;
    }
    let (capped, cap_problem) = limit::cap(raw);
    let was_capped = cap_problem.is_some();
    inbound.problems.extend(cap_problem);
    let sites = charset::LabelSites::find(&capped);
    let (bytes, alias_problems) = charset::rewrite_aliases_at(&capped, &sites);
    inbound.problems.extend(alias_problems);

    let msg = PARSER.parse(bytes.as_ref());
    let Some(msg) = msg.filter(|m| !m.parts.is_empty()) else {
        inbound
            .problems
            .push("the mail could not be parsed as MIME at all".into());
        return inbound;
    };
    let message_ids = fill_headers(&mut inbound, &msg);
    fill_body(&mut inbound, &msg, was_capped);
    sanity::check(&capped, &sites, &mut inbound, message_ids);
    inbound
}

/// Everything that comes from the header block. Returns how many
/// Message-ID headers the mail has (for `sanity`).
fn fill_headers(inbound: &mut Inbound, msg: &Message<'_>) -> usize {
    inbound.headers = headers::collect(msg);
    // One walk over the headers finds every one read here, rather than one
    // walk per name.
    let mut subject = None;
    let mut from_header = None;
    let mut first_id = None;
    let mut last_id = None;
    let mut id_count = 0;
    let mut has_date = false;
    let mut in_reply_to = Vec::new();
    let mut references = Vec::new();
    // mail-parser's parsed values, read as `Message::from`, `date`,
    // `all_to`, `all_cc` and `content_type` do (the last From, Date and
    // Content-Type; every To and Cc), but in this walk rather than one walk
    // each: `collect` makes one entry per header of the root part, in order.
    let mut parsed_from = None;
    let mut parsed_date = None;
    let mut parsed_to = Vec::new();
    let mut parsed_cc = Vec::new();
    let mut parsed_type = None;
    let root_headers = msg.parts.first().map(|p| p.headers.as_slice());
    for (h, parsed) in inbound.headers.iter().zip(root_headers.unwrap_or_default()) {
        match parsed.name {
            HeaderName::From => parsed_from = Some(&parsed.value),
            HeaderName::Date => parsed_date = Some(&parsed.value),
            HeaderName::To => parsed_to.push(&parsed.value),
            HeaderName::Cc => parsed_cc.push(&parsed.value),
            HeaderName::ContentType => parsed_type = Some(&parsed.value),
            _ => {}
        }
        match h.name {
            "subject" => {
                subject.get_or_insert(h);
            }
            "from" => {
                from_header.get_or_insert(h);
            }
            "message-id" => {
                first_id.get_or_insert(h);
                last_id = Some(h);
                id_count += 1;
            }
            "in-reply-to" => in_reply_to.extend(headers::ids_in(h.value()).map(str::to_string)),
            "references" => references.extend(headers::ids_in(h.value()).map(str::to_string)),
            "date" => has_date = true,
            _ => {}
        }
    }
    inbound.message_id = message_id(first_id.map(|h| h.value()), last_id.map(|h| h.value()));
    if inbound.message_id.is_none() {
        inbound.problems.push("the mail has no Message-ID".into());
    }
    inbound.in_reply_to = in_reply_to;
    inbound.references = references;
    inbound.subject = subject.map(|h| h.value()).unwrap_or_default().to_string();

    if let Some(from) = parsed_from
        .and_then(|v| v.as_address())
        .and_then(|f| f.first())
    {
        inbound.from_addr = lower(from.address().unwrap_or_default().trim());
        inbound.from_name = from
            .name()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
    }
    // mail-parser decodes each encoded word on its own; a name split
    // mid-character comes out broken, so take it from the joined decoding.
    if inbound.from_name.as_deref().is_some_and(looks_split) {
        inbound.from_name = from_header.and_then(|h| display_name(h.value()));
    }
    if inbound.from_addr.is_empty() {
        inbound.problems.push("the mail has no From address".into());
    }
    inbound.to = addresses(parsed_to.into_iter().filter_map(|v| v.as_address()));
    inbound.cc = addresses(parsed_cc.into_iter().filter_map(|v| v.as_address()));
    inbound.date = parsed_date
        .and_then(|v| v.as_datetime())
        .filter(|d| d.is_valid())
        .map(|d| d.to_timestamp());
    if inbound.date.is_none() && has_date {
        inbound
            .problems
            .push("the Date header could not be read".into());
    }
    inbound.content_type = content_type(parsed_type.and_then(|v| v.as_content_type()));
    id_count
}

/// Whether a name as mail-parser decoded it holds U+FFFD, ESC or `=?`: an
/// encoded word split mid-character. One pass over the bytes: U+FFFD is
/// EF BF BD in UTF-8, and EF only ever starts a character.
fn looks_split(name: &str) -> bool {
    let b = name.as_bytes();
    b.iter().enumerate().any(|(i, &c)| match c {
        0x1b => true,
        b'=' => b.get(i + 1) == Some(&b'?'),
        0xef => b.get(i + 1..i + 3) == Some(&[0xbf, 0xbd][..]),
        _ => false,
    })
}

/// `s.to_lowercase()`; an ASCII address (nearly all) skips the Unicode
/// case tables.
fn lower(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// From the first and last Message-ID values: the first id of the first;
/// failing that, what a broken mailer wrote in the last one (an id without
/// `<>` or `@`), as mail-parser reads it. Read from our own header list:
/// having mail-parser parse the header as well cost more than the rest of
/// our header work.
fn message_id(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let first = first?;
    if let Some(id) = headers::ids_in(first).next() {
        return Some(id.to_string()).filter(|id| !id.is_empty());
    }
    // As mail-parser reads the last one: its last `<id>`, else the bare
    // text (none when it holds brackets).
    let last = last?;
    if last.contains('<') {
        return headers::ids_in(last).last().map(str::to_string);
    }
    Some(last.trim().to_string()).filter(|id| !id.is_empty())
}

fn addresses<'a>(lists: impl Iterator<Item = &'a mail_parser::Address<'a>>) -> Vec<String> {
    lists
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(|a| lower(a.trim()))
        .filter(|a| !a.is_empty())
        .collect()
}

/// The display name of a decoded `From` value: `"山田 太郎" <t@x>` → `山田 太郎`.
fn display_name(from: &str) -> Option<String> {
    let name = from.split('<').next()?.trim().trim_matches('"').trim();
    (!name.is_empty() && !name.contains('@')).then(|| name.to_string())
}

/// `type/subtype` lower case, with `report-type` kept for multipart/report.
fn content_type(ct: Option<&mail_parser::ContentType<'_>>) -> String {
    let Some(ct) = ct else {
        return "text/plain".into();
    };
    // Built as it is written, then lower-cased at once (the literal part is
    // lower case already): one String, not one per piece.
    let mut out = String::with_capacity(32);
    out.push_str(ct.ctype());
    if let Some(sub) = ct.subtype() {
        out.push('/');
        out.push_str(sub);
    }
    if let Some(rt) = ct.attribute("report-type") {
        out.push_str("; report-type=");
        out.push_str(rt);
    }
    out.make_ascii_lowercase();
    out
}

/// Body text (charset-repaired, HTML converted), quote split, language,
/// attachments and structural problems.
fn fill_body(inbound: &mut Inbound, msg: &Message<'_>, was_capped: bool) {
    let mut problems = Vec::new();
    let mut text = body_text(msg, msg.text_bodies(), &mut problems);
    let mut blank = quote::is_blank(&text);
    if blank && msg.html_body_count() > 0 {
        text = body_text(msg, msg.html_bodies(), &mut problems);
        blank = quote::is_blank(&text);
    }
    if blank && msg.text_body_count() + msg.html_body_count() == 0 {
        problems.push("the mail has no text body".into());
    }
    let split = quote::split(&text);
    inbound.new_text = split.new_text;
    inbound.quoted_text = split.quoted_text;
    inbound.language = language::detect(&inbound.new_text, &inbound.subject);

    inbound.attachments = msg
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().map(str::to_string),
            mime_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                    None => ct.ctype().to_ascii_lowercase(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            size: part.len(),
        })
        .collect();

    // A capped mail is cut off on purpose: its open boundary is no news.
    if !was_capped && msg.parts.iter().any(|p| p.is_encoding_problem) {
        problems.push("a part had a broken transfer encoding (base64 or quoted-printable)".into());
    }
    let depth = nesting_depth(msg);
    if depth > MAX_SANE_DEPTH {
        problems.push(format!(
            "MIME parts are nested {depth} levels deep; the text may be incomplete"
        ));
    }
    if let Some(boundary) = unclosed_boundary(msg).filter(|_| !was_capped) {
        problems.push(format!(
            "multipart boundary \"{boundary}\" is never closed; the mail may be cut off"
        ));
    }
    dedup_into(&mut inbound.problems, problems);
}

/// The decoded text of the given body parts, joined. A single text part
/// (most mail) comes back as it is, borrowed when its charset needed no
/// repair: copying it into a joined buffer would only copy it once more.
fn body_text<'a>(
    msg: &Message<'_>,
    parts: impl Iterator<Item = &'a mail_parser::MessagePart<'a>>,
    problems: &mut Vec<String>,
) -> Cow<'a, str> {
    let mut text = Cow::Borrowed("");
    for part in parts {
        let declared = part.content_type().and_then(|ct| ct.attribute("charset"));
        let raw = || transfer_decoded(msg, part);
        let piece = match &part.body {
            PartType::Text(t) => charset::repair_part(t, declared, raw, problems),
            PartType::Html(h) => Cow::Owned(html::to_text(&charset::repair_part(
                h, declared, raw, problems,
            ))),
            _ => continue,
        };
        if !quote::is_blank(&piece) {
            if text.is_empty() {
                text = piece;
            } else {
                let joined = text.to_mut();
                joined.push_str("\n\n");
                joined.push_str(&piece);
            }
        }
    }
    text
}

/// The part's body bytes after base64/QP, before any charset decoding.
fn transfer_decoded(msg: &Message<'_>, part: &mail_parser::MessagePart<'_>) -> Option<Vec<u8>> {
    let raw = msg
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        Encoding::Base64 => charset::base64(raw),
        Encoding::QuotedPrintable => Some(charset::quoted_printable(raw)),
        Encoding::None => Some(raw.to_vec()),
    }
}

/// Real mail nests multiparts three or four levels; far more is a broken or
/// hostile mail worth a person's look.
const MAX_SANE_DEPTH: usize = 20;

/// The deepest multipart nesting, walked without recursion.
fn nesting_depth(msg: &Message<'_>) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
    let mut visited = 0;
    while let Some((id, depth)) = stack.pop() {
        visited += 1;
        // Part ids come from mail-parser; never loop on a malformed tree.
        if visited > msg.parts.len() {
            break;
        }
        deepest = deepest.max(depth);
        if let Some(children) = msg.part(id).and_then(|p| p.sub_parts()) {
            stack.extend(children.iter().map(|&c| (c, depth + 1)));
        }
    }
    deepest
}

/// The boundary of a multipart whose closing delimiter never appears.
fn unclosed_boundary(msg: &Message<'_>) -> Option<String> {
    msg.parts.iter().enumerate().find_map(|(i, part)| {
        let boundary = part
            .content_type()
            .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
            .and_then(|ct| ct.attribute("boundary"))?;
        let mut closing = Vec::with_capacity(boundary.len() + 4);
        closing.extend_from_slice(b"--");
        closing.extend_from_slice(boundary.as_bytes());
        closing.extend_from_slice(b"--");
        // The top-level closing delimiter ends the mail: searched from the
        // end, it is found without reading the attachments before it.
        let raw = &msg.raw_message;
        let found = if i == 0 {
            memchr::memmem::rfind(raw, &closing).is_some()
        } else {
            memchr::memmem::find(raw, &closing).is_some()
        };
        (!found).then(|| boundary.to_string())
    })
}

fn dedup_into(out: &mut Vec<String>, new: Vec<String>) {
    for p in new {
        if !out.contains(&p) {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_as_mail_parser_read_it() {
        // The ids we read ourselves, then mail-parser's reading of the last
        // header when the first holds none: what the store deduplicated on
        // before mail-parser stopped parsing the header.
        let cases: &[&[&str]] = &[
            &["<a@b.example>"],
            &["a@b.example"],
            &["12345"],
            &["foo bar"],
            &[""],
            &["<>"],
            &["<abc"],
            &["abc <def@x>"],
            &["<a@x> <b@x>"],
            &["<a@x>", "<c@x>"],
            &["junk", "<c@x>"],
            &["junk", "other"],
            &["junk", "<c@x> <d@x>"],
            &["  spaced  "],
        ];
        for headers in cases {
            let mut raw = String::from("From: a@b.example\r\n");
            for h in *headers {
                raw.push_str(&format!("Message-ID: {h}\r\n"));
            }
            raw.push_str("\r\nhello\r\n");
            let full = MessageParser::default()
                .parse(raw.as_bytes())
                .expect("parses");
            let ours = parse(raw.as_bytes());
            let first = ours.header("message-id").unwrap_or_default();
            let expected = headers::ids(first)
                .into_iter()
                .next()
                .or_else(|| full.message_id().map(str::to_string))
                .filter(|id| !id.is_empty());
            assert_eq!(ours.message_id, expected, "{headers:?}");
        }
    }

    #[test]
    fn looks_split_as_contains_did() {
        for name in [
            "",
            "a",
            "山田",
            "\u{fffd}",
            "x\u{fffd}",
            "\u{1b}$B",
            "=?",
            "a=?b",
            "=",
            "a=",
            "?=",
            "\u{fffe}",
            "\u{fffc}",
            "\u{effd}",
            "ｽ",
            "\u{ff3d}",
        ] {
            let old = name.contains(['\u{fffd}', '\u{1b}']) || name.contains("=?");
            assert_eq!(looks_split(name), old, "{name:?}");
        }
    }

    #[test]
    fn raw_eight_bit_and_raw_jis_headers() {
        // Old Japanese mailers put unencoded Shift_JIS or ISO-2022-JP in headers.
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("山田 <taro@example.co.jp>");
        let (jis, _, _) = encoding_rs::ISO_2022_JP.encode("コードが届きません");
        let mut raw = b"From: ".to_vec();
        raw.extend_from_slice(&sjis);
        raw.extend_from_slice(b"\r\nSubject: ");
        raw.extend_from_slice(&jis);
        raw.extend_from_slice(b"\r\nMessage-ID: <raw@example.co.jp>\r\n\r\nhello\r\n");
        let m = parse(&raw);
        assert_eq!(m.subject, "コードが届きません");
        assert_eq!(m.from_addr, "taro@example.co.jp");
        assert_eq!(m.from_name.as_deref(), Some("山田"));
    }
}

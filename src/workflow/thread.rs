//! Threading: which ticket a mail belongs to. Three signs, in order of trust:
//! 1. its In-Reply-To/References name a Message-ID mfa-desk issued — ours carry
//!    an HMAC of ticket and recipient under the install secret, so they are
//!    verified, not merely looked up;
//! 2. a short marker mfa-desk puts in the body of every mail (some providers
//!    rewrite Message-IDs; the quoted text still carries it);
//! 3. the `[MFA-12]` tag in the subject — which the caller accepts only from
//!    the ticket's requester or an admin, since anyone can type a tag.
//!
//! mfa-desk never joins mail by equal subjects.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The install secret: random bytes made at first start, kept in the store.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    fn mac(&self, parts: &[&str]) -> String {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.0) else {
            return String::new();
        };
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(b"\x00");
        }
        let bytes = mac.finalize().into_bytes();
        bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A Message-ID for a mail of `ticket` to `recipient`: `random` (128 bits,
/// hex) makes it unguessable, the HMAC makes it verifiable.
pub fn message_id(
    secret: &Secret,
    ticket: i64,
    recipient: &str,
    random: &str,
    domain: &str,
) -> String {
    let t = ticket.to_string();
    let r = recipient.to_ascii_lowercase();
    let mac = secret.mac(&["mid", &t, &r, random]);
    format!("mfa-{ticket}.{random}.{mac}@{domain}")
}

/// If `id` is a Message-ID mfa-desk issued to `recipient`, its ticket.
pub fn verify_message_id(secret: &Secret, id: &str, recipient: &str) -> Option<i64> {
    let local = id.split('@').next()?;
    let rest = local.strip_prefix("mfa-")?;
    let mut parts = rest.split('.');
    let ticket: i64 = parts.next()?.parse().ok()?;
    let random = parts.next()?;
    let mac = parts.next()?;
    if parts.next().is_some() || random.len() != 32 {
        return None;
    }
    let want = secret.mac(&[
        "mid",
        &ticket.to_string(),
        &recipient.to_ascii_lowercase(),
        random,
    ]);
    constant_time_eq(want.as_bytes(), mac.as_bytes()).then_some(ticket)
}

/// The body marker, e.g. `[MFA-12 ref:3f9a2c1b0d4e5f60]`.
pub fn marker(secret: &Secret, ticket: i64) -> String {
    format!(
        "[MFA-{ticket} ref:{}]",
        secret.mac(&["marker", &ticket.to_string()])
    )
}

/// The ticket of the first valid marker in `text`.
pub fn find_marker(secret: &Secret, text: &str) -> Option<i64> {
    let mut rest = text;
    while let Some(at) = rest.find("[MFA-") {
        rest = &rest[at + 5..];
        let Some(end) = rest.find(']') else { break };
        let inner = &rest[..end];
        if let Some((num, mac)) = inner.split_once(" ref:")
            && let Ok(ticket) = num.trim().parse::<i64>()
        {
            let want = secret.mac(&["marker", &ticket.to_string()]);
            if constant_time_eq(want.as_bytes(), mac.trim().as_bytes()) {
                return Some(ticket);
            }
        }
    }
    None
}

/// `[MFA-12]` in a subject (the tag alone, not a marker).
pub fn subject_tag(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(at) = rest.find("[MFA-") {
        rest = &rest[at + 5..];
        let end = rest.find(']')?;
        if let Ok(n) = rest[..end].trim().parse::<i64>()
            && n > 0
        {
            return Some(n);
        }
    }
    None
}

/// Reply and forward prefixes of real mail clients, in many languages.
const PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr", "antw", "rif", "odp", "r", "返信", "転送",
    "回复", "答复", "转发", "回覆", "轉寄",
];

/// The subject without reply/forward prefixes (`Re:`, `RE[2]:`, `AW:`,
/// `返信：`…) and without our `[MFA-n]` tag: what the conversation is about.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let before = s;
        if let Some(rest) = strip_tag(s) {
            s = rest;
        }
        if let Some(rest) = strip_prefix(s) {
            s = rest;
        }
        if s == before {
            return s.to_string();
        }
    }
}

fn strip_tag(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("[MFA-")?;
    let end = rest.find(']')?;
    rest[..end]
        .chars()
        .all(|c| c.is_ascii_digit())
        .then(|| rest[end + 1..].trim_start())
}

fn strip_prefix(s: &str) -> Option<&str> {
    // The word, then an optional counter `[2]` or `(2)`, then `:` or `：`.
    let word_end = s
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let word = &s[..word_end];
    if !PREFIXES.iter().any(|p| p.eq_ignore_ascii_case(word)) {
        return None;
    }
    let mut rest = &s[word_end..];
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(r) = rest.strip_prefix(open)
            && let Some(end) = r.find(close)
            && r[..end].chars().all(|c| c.is_ascii_digit())
        {
            rest = &r[end + 1..];
        }
    }
    let rest = rest.trim_start_matches(' ');
    rest.strip_prefix(':')
        .or_else(|| rest.strip_prefix('：'))
        .map(str::trim_start)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new(b"test secret".to_vec())
    }

    const RANDOM: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn message_ids_verify_only_for_their_recipient() {
        let id = message_id(&secret(), 12, "Sato@example.co.jp", RANDOM, "example.co.jp");
        assert_eq!(
            verify_message_id(&secret(), &id, "sato@example.co.jp"),
            Some(12)
        );
        assert_eq!(verify_message_id(&secret(), &id, "eve@example.co.jp"), None);
        let forged = id.replacen("mfa-12.", "mfa-13.", 1);
        assert_eq!(
            verify_message_id(&secret(), &forged, "sato@example.co.jp"),
            None
        );
        let other_secret = Secret::new(b"other".to_vec());
        assert_eq!(
            verify_message_id(&other_secret, &id, "sato@example.co.jp"),
            None
        );
    }

    #[test]
    fn markers_survive_quoting() {
        let m = marker(&secret(), 7);
        let quoted = format!("Thanks!\n\n> Hello\n> {m}\n");
        assert_eq!(find_marker(&secret(), &quoted), Some(7));
        assert_eq!(
            find_marker(&secret(), "> [MFA-7 ref:0000000000000000]"),
            None
        );
        assert_eq!(find_marker(&secret(), "[MFA-7]"), None);
    }

    #[test]
    fn subject_tags() {
        assert_eq!(subject_tag("Re: [MFA-12] コードが届かない"), Some(12));
        assert_eq!(subject_tag("[MFA-x] [MFA-3]"), Some(3));
        assert_eq!(subject_tag("MFA-12"), None);
    }

    #[test]
    fn prefixes_of_real_clients_do_not_pile_up() {
        for s in [
            "Re: [MFA-12] Code",
            "RE: RE: Code",
            "Re[2]: Code",
            "AW: WG: Code",
            "SV: Code",
            "Fwd: FW: Code",
            "返信: 転送: Code",
            "回复：Code",
            "答复: Code",
            "[MFA-12] Re: Code",
        ] {
            assert_eq!(base_subject(s), "Code", "{s}");
        }
        assert_eq!(base_subject("Reset my phone"), "Reset my phone");
        assert_eq!(base_subject("Re:"), "");
    }
}

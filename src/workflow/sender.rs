//! Who wrote a mail: an admin, or anybody else. A From header is trivial to
//! forge, so an admin's address alone proves nothing. A mail counts as an
//! admin's only if it is also either
//! - a reply to a Message-ID mfa-desk issued to that admin (128 random bits
//!   and an HMAC: unguessable), or
//! - authenticated by the company's own receiving server: its
//!   `Authentication-Results` says dmarc=pass (or dkim=pass) for the admin's domain.

use crate::config::Admin;
use crate::parse::Inbound;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A verified admin.
    Admin(Admin),
    /// An admin's address that could not be verified: treated as an
    /// employee, and the admins are warned.
    UnverifiedAdmin(Admin),
    /// Anybody else.
    Employee,
}

/// Decide who wrote `inbound`. `issued_to_sender`: its references contain a
/// Message-ID mfa-desk issued to this address (checked by the caller with the
/// HMAC). `authserv_id`: the receiving server whose Authentication-Results
/// headers are trusted (others can be added by anyone on the way).
pub fn identify(
    inbound: &Inbound,
    admins: &[Admin],
    issued_to_sender: bool,
    authserv_id: Option<&str>,
) -> Sender {
    let Some(admin) = admins
        .iter()
        .find(|a| a.address.eq_ignore_ascii_case(&inbound.from_addr))
    else {
        return Sender::Employee;
    };
    let authenticated = authserv_id.is_some_and(|id| {
        let domain = inbound
            .from_addr
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("");
        // Only the topmost header counts: our receiving server adds its own on
        // top (RFC 8601 §5) and must strip any that arrive with its name.
        inbound
            .headers_named("authentication-results")
            .next()
            .is_some_and(|h| passes(h, id, domain))
    });
    if issued_to_sender || authenticated {
        Sender::Admin(admin.clone())
    } else {
        Sender::UnverifiedAdmin(admin.clone())
    }
}

/// Whether one Authentication-Results header (RFC 8601) from `authserv_id`
/// says dmarc=pass for `domain`, or dkim=pass with a signature of `domain`.
fn passes(header: &str, authserv_id: &str, domain: &str) -> bool {
    let mut parts = header.split(';');
    let server = parts
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("");
    if !server.eq_ignore_ascii_case(authserv_id) || domain.is_empty() {
        return false;
    }
    parts.any(|result| {
        let words: Vec<String> = result
            .split_whitespace()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        let has = |k: &str| words.iter().any(|w| w == k);
        let prop = |k: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(k).map(|v| v.trim_matches('"').to_string()))
        };
        let d = domain.to_ascii_lowercase();
        (has("dmarc=pass") && prop("header.from=").is_some_and(|v| v == d))
            || (has("dkim=pass")
                && (prop("header.d=").is_some_and(|v| v == d)
                    || prop("header.i=").is_some_and(|v| v.ends_with(&format!("@{d}")))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admins() -> Vec<Admin> {
        vec![Admin {
            name: "Sato".into(),
            address: "sato@example.co.jp".into(),
            on_duty: true,
        }]
    }

    fn mail(from: &str, auth: &[&str]) -> Inbound {
        let mut m = Inbound {
            from_addr: from.into(),
            ..Inbound::default()
        };
        for a in auth {
            m.headers
                .push(("authentication-results".into(), a.to_string()));
        }
        m
    }

    #[test]
    fn other_addresses_are_employees() {
        let m = mail("taro@example.co.jp", &[]);
        assert_eq!(identify(&m, &admins(), true, None), Sender::Employee);
    }

    #[test]
    fn an_admin_from_alone_is_not_enough() {
        let m = mail("Sato@example.co.jp", &[]);
        assert!(matches!(
            identify(&m, &admins(), false, Some("mx.example.co.jp")),
            Sender::UnverifiedAdmin(_)
        ));
    }

    #[test]
    fn an_issued_reference_verifies() {
        let m = mail("sato@example.co.jp", &[]);
        assert!(matches!(
            identify(&m, &admins(), true, None),
            Sender::Admin(_)
        ));
    }

    #[test]
    fn dmarc_pass_from_the_trusted_server_verifies() {
        let m = mail(
            "sato@example.co.jp",
            &[
                "mx.example.co.jp; spf=pass smtp.mailfrom=example.co.jp; dkim=pass header.d=example.co.jp; dmarc=pass (p=reject) header.from=example.co.jp",
            ],
        );
        assert!(matches!(
            identify(&m, &admins(), false, Some("mx.example.co.jp")),
            Sender::Admin(_)
        ));
    }

    #[test]
    fn only_the_topmost_results_count() {
        // A forged header further down, below the receiving server's own.
        let m = mail(
            "sato@example.co.jp",
            &[
                "mx.example.co.jp; dmarc=fail header.from=example.co.jp",
                "mx.example.co.jp; dmarc=pass header.from=example.co.jp",
            ],
        );
        assert!(matches!(
            identify(&m, &admins(), false, Some("mx.example.co.jp")),
            Sender::UnverifiedAdmin(_)
        ));
    }

    #[test]
    fn results_from_another_server_or_domain_do_not_count() {
        let forged = mail(
            "sato@example.co.jp",
            &["mx.attacker.test; dmarc=pass header.from=example.co.jp"],
        );
        assert!(matches!(
            identify(&forged, &admins(), false, Some("mx.example.co.jp")),
            Sender::UnverifiedAdmin(_)
        ));
        let other_domain = mail(
            "sato@example.co.jp",
            &[
                "mx.example.co.jp; dkim=pass header.d=attacker.test; dmarc=fail header.from=example.co.jp",
            ],
        );
        assert!(matches!(
            identify(&other_domain, &admins(), false, Some("mx.example.co.jp")),
            Sender::UnverifiedAdmin(_)
        ));
    }
}

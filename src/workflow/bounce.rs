//! Bounces (RFC 3464 delivery status notifications): which addresses could
//! not be reached for good, so mfa-desk stops sending them automatic mail.

/// The recipients a DSN reports as permanently failed (`Status: 5.x.x`).
/// Reads the raw bytes: the `message/delivery-status` part is plain ASCII.
pub fn failed_recipients(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    if !text.to_ascii_lowercase().contains("delivery-status") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("final-recipient:") {
            current = v
                .split(';')
                .nth(1)
                .map(|a| a.trim().trim_matches(['<', '>']).to_string())
                .filter(|a| a.contains('@'));
        } else if let Some(v) = lower.strip_prefix("status:")
            && v.trim().starts_with('5')
            && let Some(addr) = current.take()
            && !out.contains(&addr)
        {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_failures_only() {
        let dsn = b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.co.jp\r\n\r\nFinal-Recipient: rfc822; Gone@Example.co.jp\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; later@example.co.jp\r\nAction: delayed\r\nStatus: 4.4.1\r\n--x--\r\n";
        assert_eq!(
            failed_recipients(dsn),
            vec!["gone@example.co.jp".to_string()]
        );
        assert!(failed_recipients(b"Subject: hi\r\n\r\nStatus: 5.1.1").is_empty());
    }
}

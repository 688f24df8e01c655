//! The IMAP mailbox (async-imap, tokio, rustls). Owned by the real-mailbox work.

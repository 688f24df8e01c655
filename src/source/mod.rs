//! Source: where support mail comes from. It hands out raw bytes with a
//! reference it can later acknowledge; nothing else in the program knows
//! whether that is a folder or an IMAP server.

pub mod folder;
pub mod imap;

/// One message as fetched, before parsing.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it came from, stable across runs: a file path, or `imap:<uidvalidity>:<uid>`.
    pub source_ref: String,
    pub raw: Vec<u8>,
    /// It was already waiting when mfa-desk started (a backlog after an
    /// outage): its replies leave after those to mail that arrives now.
    pub backlog: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read mail folder {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Imap(String),
}

//! The file outbox: each mail becomes `<name>.eml` in a folder, for trying
//! mfa-desk without a server and for looking at what it would send.

use super::SendError;
use std::path::PathBuf;

pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> FileMailer {
        FileMailer { dir }
    }

    /// Write the mail as `<n>.eml`, named after its Message-ID so a retry
    /// overwrites instead of duplicating.
    pub fn send_raw(&self, _from: &str, _to: &[String], raw: &[u8]) -> Result<(), SendError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            SendError::Transient(format!(
                "cannot create outbox folder {}: {e}",
                self.dir.display()
            ))
        })?;
        let name = file_name_for(raw);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let dest = self.dir.join(&name);
        // Write then rename, so a reader never sees half a mail.
        std::fs::write(&tmp, raw)
            .and_then(|_| std::fs::rename(&tmp, &dest))
            .map_err(|e| SendError::Transient(format!("cannot write {}: {e}", dest.display())))
    }
}

/// A safe file name from the mail's Message-ID (or its hash when it has none).
fn file_name_for(raw: &[u8]) -> String {
    let id = mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_string))
        .unwrap_or_else(|| {
            use sha2::{Digest, Sha256};
            format!("{:x}", Sha256::digest(raw))
        });
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.eml")
}

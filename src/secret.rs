//! Secrets: the mailbox password or OAuth2 access token, resolved from the
//! configuration at the moment a connection needs it.
//!
//! Sources, as written in the config:
//! - `password_env = "VAR"`: the value of an environment variable;
//! - `password_command = "…"` / `token_command = "…"`: a command run with
//!   `sh -c`, its standard output trimmed (e.g. `pass show mail/support`, or a
//!   script printing a fresh Microsoft 365 / Google access token).
//!
//! A [`Secret`] prints as `***` in both `Debug` and `Display`, so it can sit in
//! a struct that is logged without ever reaching a log. A failing command is
//! reported by its exit status only: its output (stdout *and* stderr) may well
//! contain the secret, so it is never shown.

use std::fmt;
use std::process::Stdio;
use std::time::Duration;

/// How long a password or token command may take. Token helpers talk to an
/// identity provider over the network, so allow them some time, but a hung
/// helper must not hang the worker.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A password or token. Only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret text, to hand to a login. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why no secret could be had. The messages name the config key, never the
/// secret or a command's output.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "no password configured: set password_env (an environment variable name) or password_command"
    )]
    Missing,
    #[error("both password_env and password_command are set: keep only one")]
    Ambiguous,
    #[error("password_env names the environment variable {0}, but it is not set")]
    EnvNotSet(String),
    #[error("password_env names the environment variable {0}, but it is empty")]
    EnvEmpty(String),
    #[error("password_env names the environment variable {0}, but its value is not valid UTF-8")]
    EnvNotUtf8(String),
    #[error("cannot run {key}: {source}")]
    Spawn {
        key: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{key} failed ({status}); its output is not shown because it may contain the secret")]
    Failed { key: &'static str, status: String },
    #[error("{key} did not finish within {secs} seconds and was stopped")]
    TimedOut { key: &'static str, secs: u64 },
    #[error("{key} printed nothing")]
    Empty { key: &'static str },
    #[error("{key} printed something that is not UTF-8 text")]
    NotUtf8 { key: &'static str },
}

/// The password from `password_env` or `password_command` (exactly one of them).
pub async fn resolve_password(
    password_env: Option<&str>,
    password_command: Option<&str>,
) -> Result<Secret, SecretError> {
    match (password_env, password_command) {
        (Some(_), Some(_)) => Err(SecretError::Ambiguous),
        (Some(var), None) => from_env(var),
        (None, Some(cmd)) => run_command("password_command", cmd).await,
        (None, None) => Err(SecretError::Missing),
    }
}

/// An OAuth2 access token from `token_command`. Run it for every new
/// connection: access tokens live about an hour.
pub async fn resolve_token(token_command: &str) -> Result<Secret, SecretError> {
    run_command("token_command", token_command).await
}

fn from_env(var: &str) -> Result<Secret, SecretError> {
    match std::env::var(var) {
        // Only line ends are stripped: leading or inner spaces may be part of a password.
        Ok(v) => {
            let v = v.trim_end_matches(['\r', '\n']);
            if v.is_empty() {
                Err(SecretError::EnvEmpty(var.to_string()))
            } else {
                Ok(Secret::new(v))
            }
        }
        Err(std::env::VarError::NotPresent) => Err(SecretError::EnvNotSet(var.to_string())),
        Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUtf8(var.to_string())),
    }
}

async fn run_command(key: &'static str, command: &str) -> Result<Secret, SecretError> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // stderr is captured and dropped: helpers sometimes echo what they read.
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SecretError::Spawn { key, source })?;
    let output = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Ok(r) => r.map_err(|source| SecretError::Spawn { key, source })?,
        // Dropping the future drops the child, and kill_on_drop stops it.
        Err(_) => {
            return Err(SecretError::TimedOut {
                key,
                secs: COMMAND_TIMEOUT.as_secs(),
            });
        }
    };
    if !output.status.success() {
        let status = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        return Err(SecretError::Failed { key, status });
    }
    let text = String::from_utf8(output.stdout).map_err(|_| SecretError::NotUtf8 { key })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(SecretError::Empty { key });
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[tokio::test]
    async fn command_output_is_trimmed() {
        let s = resolve_password(None, Some("printf '  s3cret \\n'"))
            .await
            .unwrap();
        assert_eq!(s.expose(), "s3cret");
        let t = resolve_token("echo tok-123").await.unwrap();
        assert_eq!(t.expose(), "tok-123");
    }

    #[tokio::test]
    async fn failing_command_names_status_not_output() {
        let err = resolve_password(
            None,
            Some("echo leaked-secret; echo leaked-err >&2; exit 3"),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("exit status 3"), "{msg}");
        assert!(msg.contains("password_command"), "{msg}");
        assert!(!msg.contains("leaked"), "{msg}");
        assert!(!format!("{err:?}").contains("leaked"));
    }

    #[tokio::test]
    async fn empty_output_and_missing_config() {
        let err = resolve_token("true").await.unwrap_err();
        assert!(err.to_string().contains("printed nothing"), "{err}");
        assert!(matches!(
            resolve_password(None, None).await,
            Err(SecretError::Missing)
        ));
        assert!(matches!(
            resolve_password(Some("X"), Some("true")).await,
            Err(SecretError::Ambiguous)
        ));
    }

    #[tokio::test]
    async fn env_variable() {
        let err = resolve_password(Some("MFA_DESK_TEST_SURELY_UNSET_VAR"), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("MFA_DESK_TEST_SURELY_UNSET_VAR"));
        // PATH is set in every test environment; reading it proves the lookup works
        // without mutating the process environment (set_var is unsafe in 2024).
        let s = resolve_password(Some("PATH"), None).await.unwrap();
        assert!(!s.expose().is_empty());
    }
}

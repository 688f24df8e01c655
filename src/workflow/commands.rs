//! Admin commands: short lines at the top of an admin's reply
//! (`#resolve`, `#assign sato`, …) that change the ticket. The same
//! [`Command`]s are what the CLI's `resolve`/`assign`/`note` run.

use crate::ticket::Priority;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Internal note: the mail's text is recorded, not relayed.
    Note,
    Resolve,
    Reopen,
    Assign(String),
    Priority(Priority),
    /// Waiting on the employee.
    Wait,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Note => "note",
            Command::Resolve => "resolve",
            Command::Reopen => "reopen",
            Command::Assign(_) => "assign",
            Command::Priority(_) => "priority",
            Command::Wait => "wait",
        }
    }
}

/// The list an admin gets back when a command is not understood.
pub const HELP: &str = "\
#note               internal note: recorded on the ticket, not sent to the employee
#resolve  (#解決)    close the ticket
#reopen             open it again
#assign NAME        give it to an admin (name or address)
#priority urgent|high|normal|low
#wait               waiting on the employee";

/// Commands found at the top of a reply, and the text after them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub commands: Vec<Command>,
    pub text: String,
}

/// Read commands from the lines at the top of `text` (blank lines between
/// them allowed). Every line starting with `#` there must be a known command:
/// one unknown command rejects the whole mail, so nothing half-understood is
/// relayed. Returns the bad lines on error.
pub fn parse(text: &str) -> Result<Parsed, Vec<String>> {
    let mut commands = Vec::new();
    let mut bad = Vec::new();
    let mut rest_start = text.len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        // Full-width ＃ is what a Japanese IME types.
        let body = trimmed
            .strip_prefix('#')
            .or_else(|| trimmed.strip_prefix('＃'));
        match body {
            Some(cmd) => match command(cmd.trim()) {
                Some(c) => commands.push(c),
                None => bad.push(trimmed.to_string()),
            },
            None if trimmed.is_empty() => {}
            None => {
                rest_start = offset;
                break;
            }
        }
        offset += line.len();
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(Parsed {
        commands,
        text: text.get(rest_start..).unwrap_or("").trim().to_string(),
    })
}

fn command(s: &str) -> Option<Command> {
    let mut words = s.split_whitespace();
    let name = words.next()?.to_lowercase();
    let arg: Vec<&str> = words.collect();
    let arg = arg.join(" ");
    match (name.as_str(), arg.is_empty()) {
        ("note" | "メモ", true) => Some(Command::Note),
        ("resolve" | "resolved" | "close" | "解決", true) => Some(Command::Resolve),
        ("reopen" | "再開", true) => Some(Command::Reopen),
        ("wait" | "待ち", true) => Some(Command::Wait),
        ("assign" | "担当", false) => Some(Command::Assign(arg)),
        ("priority" | "優先度", false) => arg.to_lowercase().parse().ok().map(Command::Priority),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_at_the_top_and_text_after() {
        let p = parse("#resolve\n#priority high\n\nThanks, your phone is reset.\n#not a command")
            .unwrap();
        assert_eq!(
            p.commands,
            vec![Command::Resolve, Command::Priority(Priority::High)]
        );
        assert_eq!(p.text, "Thanks, your phone is reset.\n#not a command");
    }

    #[test]
    fn japanese_forms() {
        let p = parse("＃解決\n対応しました。").unwrap();
        assert_eq!(p.commands, vec![Command::Resolve]);
        assert_eq!(p.text, "対応しました。");
    }

    #[test]
    fn unknown_or_incomplete_commands_reject_the_mail() {
        assert_eq!(
            parse("#resolv\nhello").unwrap_err(),
            vec!["#resolv".to_string()]
        );
        assert!(parse("#assign\nhello").is_err());
        assert!(parse("#priority soon").is_err());
    }

    #[test]
    fn plain_text_has_no_commands() {
        let p = parse("Hello,\nplease try again.").unwrap();
        assert!(p.commands.is_empty());
        assert_eq!(p.text, "Hello,\nplease try again.");
    }
}

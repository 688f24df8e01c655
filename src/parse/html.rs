//! HTML-only mail to readable text: mail-parser's converter, helped by
//! line breaks before block elements (it breaks only on `<br>` and `</p>`)
//! and with NBSP turned into plain spaces.

/// Tags that end a line in a browser. Mostly closing tags: breaking on both
/// `<div>` and `</div>` would double every Gmail line.
const BLOCK_TAGS: [&str; 15] = [
    "/div",
    "/tr",
    "li",
    "/h1",
    "/h2",
    "/h3",
    "/h4",
    "/h5",
    "/h6",
    "blockquote",
    "/blockquote",
    "hr",
    "table",
    "/table",
    "/ul",
];

/// Convert an HTML body to plain text.
pub fn to_text(html: &str) -> String {
    let mut prepared = String::with_capacity(html.len() + 64);
    let mut rest = html;
    while let Some(pos) = rest.find('<') {
        let (before, tag) = rest.split_at(pos);
        prepared.push_str(before);
        if starts_block(tag.get(1..).unwrap_or_default()) {
            prepared.push_str("<br>");
        }
        prepared.push('<');
        rest = tag.get(1..).unwrap_or_default();
    }
    prepared.push_str(rest);
    let text = mail_parser::decoders::html::html_to_text(&prepared);
    tidy(&text.replace(['\u{a0}', '\u{200b}'], " "))
}

fn starts_block(after_lt: &str) -> bool {
    let name: String = after_lt
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
        .collect::<String>()
        .to_ascii_lowercase();
    BLOCK_TAGS.contains(&name.as_str())
}

/// Trim line ends and collapse runs of blank lines to one.
fn tidy(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        let line = line.trim_start_matches(' ');
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn entities_breaks_and_divs() {
        let html = "<html><head><style>p{}</style></head><body><div>Hello&nbsp;there</div><div>A &amp; B<br>next</div><div><br></div><div>last</div></body></html>";
        assert_eq!(to_text(html), "Hello there\nA & B\nnext\n\nlast");
    }
}

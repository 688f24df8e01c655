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
    // Most bodies hold neither: skip the copy then.
    if text.contains(['\u{a0}', '\u{200b}']) {
        tidy(&text.replace(['\u{a0}', '\u{200b}'], " "))
    } else {
        tidy(&text)
    }
}

fn starts_block(after_lt: &str) -> bool {
    // Tag names are ASCII, so the name ends at the same place in bytes as in
    // chars; one longer than the longest block tag is none of them.
    let name_len = after_lt
        .bytes()
        .take(12)
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'/')
        .count();
    let name = after_lt.as_bytes().get(..name_len).unwrap_or_default();
    BLOCK_TAGS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(name))
}

/// Trim line ends and collapse runs of blank lines to one, written straight
/// into the result.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A blank line seen since the last line kept, after the first one.
    let mut blank = false;
    for line in text.lines().map(str::trim_end) {
        let line = line.trim_start_matches(' ');
        if line.is_empty() {
            blank |= !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn entities_breaks_and_divs() {
        let html = "<html><head><style>p{}</style></head><body><div>Hello&nbsp;there</div><div>A &amp; B<br>next</div><div><br></div><div>last</div></body></html>";
        assert_eq!(to_text(html), "Hello there\nA & B\nnext\n\nlast");
        assert_eq!(to_text("<div>a</div>\n\n\n<li>b<li>c\n\n"), "a\n\nb\nc");
    }
}

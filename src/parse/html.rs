//! HTML-only mail to readable text, in one pass over the bytes.
//!
//! The text is the one mail-parser's `html_to_text` gives, with a line break
//! before block elements (it breaks only on `<br>` and `</p>`), NBSP and
//! zero-width spaces turned into plain spaces, line ends trimmed and runs of
//! blank lines collapsed to one. That used to take four passes and as many
//! copies (insert `<br>`s, convert, replace, tidy); the converter below
//! follows mail-parser's state machine byte for byte, quirks included (the
//! unit tests compare the two), and writes tidied lines straight away.

use mail_parser::decoders::html::add_html_token;
use memchr::{memchr, memchr2};

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
    let b = html.as_bytes();
    let mut out = Lines::with_capacity(html.len() / 2);
    // Decoded entities, reused.
    let mut scratch = String::new();

    // mail-parser's state, same names. `hidden`: inside head, style, script
    // or template, whose text is dropped.
    let (mut in_tag, mut in_comment) = (false, false);
    let (mut in_head, mut in_style, mut in_script, mut in_template) = (false, false, false, false);
    let mut is_token_start = true;
    let mut is_after_space = false;
    let mut is_tag_close = false;
    let mut is_new_line = true;
    let (mut token_start, mut token_end) = (0, 0);
    let mut tag_token_pos = 0;

    let mut i = 0;
    while let Some(&ch) = b.get(i) {
        let hidden = in_head || in_style || in_script || in_template;
        if in_comment {
            // It ends at the first `>` right after exactly two `-`: the run
            // of dashes is counted from the comment's start, just after `!`.
            let close = memchr::memchr_iter(b'>', b.get(i..).unwrap_or_default())
                .map(|p| i + p)
                .find(|&p| {
                    p >= i + 2
                        && b.get(p - 2..p) == Some(b"--")
                        && p.checked_sub(3).and_then(|q| b.get(q)) != Some(&b'-')
                });
            let Some(p) = close else { break };
            in_comment = false;
            in_tag = false;
            is_token_start = true;
            i = p + 1;
            continue;
        }
        if !in_tag && hidden && ch != b'<' {
            // Hidden text: only the next tag matters.
            i = memchr(b'<', b.get(i..).unwrap_or_default()).map_or(b.len(), |p| i + p);
            continue;
        }
        if in_tag && tag_token_pos >= 2 && ch != b'<' && ch != b'>' {
            // Past the tag's name: attributes only count until `<` or `>`.
            i = memchr2(b'<', b'>', b.get(i..).unwrap_or_default()).map_or(b.len(), |p| i + p);
            continue;
        }
        match ch {
            b'<' => {
                // The `<br>` once inserted before a block tag: it ends the
                // pending word and breaks the line, even inside a tag or
                // hidden text.
                let block = starts_block(b.get(i + 1..).unwrap_or_default());
                if !in_tag && !hidden && !is_token_start {
                    let word = html.get(token_start..=token_end);
                    emit(&mut out, &mut scratch, word, is_after_space);
                    is_after_space = false;
                }
                if block {
                    out.newline();
                    is_after_space = false;
                    is_new_line = true;
                }
                tag_token_pos = 0;
                in_tag = true;
                is_token_start = true;
                is_tag_close = false;
            }
            b'>' if in_tag => {
                if tag_token_pos == 1 {
                    let tag = b.get(token_start..token_end + 1).unwrap_or_default();
                    if tag.eq_ignore_ascii_case(b"br")
                        || (tag.eq_ignore_ascii_case(b"p") && is_tag_close)
                    {
                        out.newline();
                        is_after_space = false;
                        is_new_line = true;
                    } else if tag.eq_ignore_ascii_case(b"head") {
                        in_head = !is_tag_close;
                    } else if tag.eq_ignore_ascii_case(b"style") {
                        in_style = !is_tag_close;
                    } else if tag.eq_ignore_ascii_case(b"script") {
                        in_script = !is_tag_close;
                    } else if tag.eq_ignore_ascii_case(b"template") {
                        in_template = !is_tag_close;
                    }
                }
                in_tag = false;
                is_token_start = true;
            }
            b'/' if in_tag => is_tag_close |= tag_token_pos == 0,
            b'!' if in_tag && tag_token_pos == 0 && b.get(i + 1..i + 3) == Some(b"--") => {
                in_comment = true;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                if !in_tag && !hidden {
                    if !is_token_start {
                        let word = html.get(token_start..=token_end);
                        emit(&mut out, &mut scratch, word, is_after_space && !is_new_line);
                        is_new_line = false;
                    }
                    is_after_space = true;
                }
                is_token_start = true;
            }
            // Not in a tag and not hidden (hidden text was skipped above).
            b'&' if !in_tag && !is_token_start => {
                let word = html.get(token_start..=token_end);
                emit(&mut out, &mut scratch, word, is_after_space && !is_new_line);
                is_new_line = false;
                is_after_space = false;
                // The `&` starts the next word.
                token_start = i;
                token_end = i;
            }
            b';' if !in_tag && !is_token_start => {
                let word = html.get(token_start..=i);
                emit(&mut out, &mut scratch, word, is_after_space && !is_new_line);
                is_token_start = true;
                is_after_space = false;
                is_new_line = false;
            }
            _ => {
                if is_token_start {
                    token_start = i;
                    is_token_start = false;
                    if in_tag {
                        tag_token_pos += 1;
                    }
                }
                if !in_tag {
                    // The rest of the word, up to the next byte that ends it.
                    let run = b
                        .get(i + 1..)
                        .unwrap_or_default()
                        .iter()
                        .position(|c| ENDS_WORD[usize::from(*c)])
                        .unwrap_or(b.len() - i - 1);
                    i += run;
                }
                token_end = i;
            }
        }
        i += 1;
    }
    let hidden = in_head || in_style || in_script || in_template;
    if !in_tag && !is_token_start && !hidden {
        let word = html.get(token_start..=token_end);
        emit(&mut out, &mut scratch, word, is_after_space && !is_new_line);
    }
    out.finish()
}

/// mail-parser's `add_html_token`: a word, after a space if asked, with
/// `&…;` entities decoded (by mail-parser itself, for its entity table).
fn emit(out: &mut Lines, scratch: &mut String, word: Option<&str>, add_space: bool) {
    if add_space {
        out.space();
    }
    // Words end at ASCII bytes, so they always lie on char boundaries.
    let word = word.unwrap_or_default();
    if word.len() >= 2 && word.starts_with('&') && word.ends_with(';') {
        scratch.clear();
        add_html_token(scratch, word.as_bytes(), false);
        out.decoded(scratch);
    } else {
        out.text(word);
    }
}

/// Bytes that end a word in text: white space, a tag, an entity's `&` or `;`.
static ENDS_WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut k = 0;
    let enders = *b"<&; \t\r\n";
    while k < enders.len() {
        t[enders[k] as usize] = true;
        k += 1;
    }
    t
};

fn starts_block(after_lt: &[u8]) -> bool {
    // One longer than the longest block tag is none of them.
    let name_len = after_lt
        .iter()
        .take(12)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'/')
        .count();
    let name = after_lt.get(..name_len).unwrap_or_default();
    BLOCK_TAGS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(name))
}

/// The text being written, tidied line by line as it comes: line ends
/// trimmed, leading spaces dropped, blank lines collapsed to one and none at
/// either end. A line's separator is written when its first character comes
/// and taken back if the line trims to nothing.
struct Lines {
    out: String,
    /// The current line has content (and its separator is written).
    open: bool,
    /// Where the current line's separator starts, and its text.
    sep_start: usize,
    line_start: usize,
    /// A blank line came since the last line kept (and after the first one).
    blank: bool,
}

impl Lines {
    fn with_capacity(capacity: usize) -> Lines {
        Lines {
            out: String::with_capacity(capacity),
            open: false,
            sep_start: 0,
            line_start: 0,
            blank: false,
        }
    }

    fn open_line(&mut self) {
        if !self.open {
            self.open = true;
            self.sep_start = self.out.len();
            if !self.out.is_empty() {
                self.out.push_str(if self.blank { "\n\n" } else { "\n" });
            }
            self.line_start = self.out.len();
        }
    }

    /// A space: dropped at the start of a line.
    fn space(&mut self) {
        if self.open {
            self.out.push(' ');
        }
    }

    /// A word: no ASCII white space, but maybe NBSP or zero-width spaces,
    /// which become spaces.
    fn text(&mut self, word: &str) {
        // Both start with a byte no other space-free text has often: C2 / E2.
        if memchr2(0xC2, 0xE2, word.as_bytes()).is_none() {
            if !word.is_empty() {
                self.open_line();
                self.out.push_str(word);
            }
            return;
        }
        let mut rest = word;
        while let Some(pos) = rest.find(['\u{a0}', '\u{200b}']) {
            let (before, space) = rest.split_at(pos);
            if !before.is_empty() {
                self.open_line();
                self.out.push_str(before);
            }
            self.space();
            let width = space.chars().next().map_or(1, char::len_utf8);
            rest = space.get(width..).unwrap_or_default();
        }
        if !rest.is_empty() {
            self.open_line();
            self.out.push_str(rest);
        }
    }

    /// A decoded entity (or a word that was none), which may be any
    /// character, a line feed included.
    fn decoded(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '\n' => self.newline(),
                ' ' | '\u{a0}' | '\u{200b}' => self.space(),
                _ => {
                    self.open_line();
                    self.out.push(c);
                }
            }
        }
    }

    fn newline(&mut self) {
        if self.open {
            let kept = self
                .out
                .get(self.line_start..)
                .map_or(0, |line| line.trim_end().len());
            if kept == 0 {
                self.out.truncate(self.sep_start);
            } else {
                self.out.truncate(self.line_start + kept);
            }
            self.open = false;
            if kept > 0 {
                self.blank = false;
                return;
            }
        }
        self.blank |= !self.out.is_empty();
    }

    fn finish(mut self) -> String {
        self.newline();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK_TAGS, to_text};

    #[test]
    fn entities_breaks_and_divs() {
        let html = "<html><head><style>p{}</style></head><body><div>Hello&nbsp;there</div><div>A &amp; B<br>next</div><div><br></div><div>last</div></body></html>";
        assert_eq!(to_text(html), "Hello there\nA & B\nnext\n\nlast");
        assert_eq!(to_text("<div>a</div>\n\n\n<li>b<li>c\n\n"), "a\n\nb\nc");
    }

    /// The former four-pass conversion: `<br>` inserted before block tags,
    /// mail-parser's converter, spaces for NBSP and ZWSP, then tidied lines.
    fn reference(html: &str) -> String {
        let mut prepared = String::new();
        for (i, piece) in html.split('<').enumerate() {
            if i > 0 {
                let name: String = piece
                    .chars()
                    .take(12)
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
                    .collect();
                if BLOCK_TAGS.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
                    prepared.push_str("<br>");
                }
                prepared.push('<');
            }
            prepared.push_str(piece);
        }
        let text = mail_parser::decoders::html::html_to_text(&prepared)
            .replace(['\u{a0}', '\u{200b}'], " ");
        let mut out = String::new();
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

    /// Pieces the random inputs are made of: tags of every kind, comments
    /// (closed or not, odd dash counts), entities, spaces and line ends,
    /// NBSP, ZWSP, ideographic space, non-ASCII text.
    const PIECES: [&str; 64] = [
        "<div>",
        "</div>",
        "</DIV >",
        "<li>",
        "<LI/>",
        "</p>",
        "< / p >",
        "<p>",
        "<br>",
        "<BR/>",
        "< br \n />",
        "<hr>",
        "<table>",
        "</tr>",
        "<blockquote>",
        "<head>",
        "</head>",
        "<style>",
        "</style>",
        "<script type=\"x\">",
        "</script>",
        "<template>",
        "</template>",
        "<!--",
        "-->",
        "--->",
        "<!-->",
        "<!---->",
        "<!DOCTYPE html>",
        "<a href=\"a>b\">",
        "<a <div>",
        "<",
        ">",
        "/",
        "!",
        "-",
        "&",
        ";",
        "&amp;",
        "&nbsp;",
        "&#160;",
        "&#xA0;",
        "&#8203;",
        "&#10;",
        "&#13;&#10;",
        "&#32;",
        "&#x110000;",
        "&#+65;",
        "&hmm",
        "&lt;",
        "&NewLine;",
        "&;",
        " ",
        "  ",
        "\t",
        "\r\n",
        "\n",
        "\u{a0}",
        "\u{200b}",
        "\u{3000}",
        "word",
        "日本語",
        "a;b",
        "x&y",
    ];

    #[test]
    fn same_text_as_mail_parser_with_the_former_steps() {
        let fixed = [
            "",
            "plain text",
            "<html><head><title>t</title></head><body><p>A</p><p>B&nbsp;&nbsp;C</p></body></html>",
            "this is <!-- <> < < < < ignore  > -> here -->the actual<!--> text",
            "<br> word<b> more",
            "<div>\n  Hello <b>x</b></div>\n\n<div>&#12354;&#x3042;&amp;&unknown;</div>",
            "<style>a{} <div> b</style>after",
            "<p>what is &heartsuit;?</p><p>&#x000DF;&Abreve;&#914;&gamma; don&apos;t</p>",
            "   < p >  hello < / p > < p > world < / p >   !!! < br > ",
            "<DIV>Upper</DIV><TABLE><TR><TD>cell</TD></TR></TABLE>",
            "unclosed <div class='a",
            "unclosed <!-- comment",
            "x <",
            "\u{a0}\u{200b} lead</p>\u{3000}\u{a0}\n\u{3000}",
        ];
        for html in fixed {
            assert_eq!(to_text(html), reference(html), "{html:?}");
        }
        // Pseudo-random mixes of the pieces (xorshift: no test crate needed).
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..20_000 {
            let mut html = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for k in 0..(seed % 24) {
                let r = seed.rotate_left(k as u32 * 5) ^ k.wrapping_mul(0x2545_F491_4F6C_DD1D);
                html.push_str(PIECES[(r % PIECES.len() as u64) as usize]);
            }
            assert_eq!(to_text(&html), reference(&html), "{html:?}");
        }
    }
}

//! The self-service FAQ: `mfa-desk faq --out DIR` renders the guides the
//! auto-replies send (`replies/ja/*.txt.hbs`, `replies/en/*.txt.hbs`) into a
//! small static site for the intranet or a shared folder: an index by
//! problem in both languages, one page per guide per language, a
//! print-friendly stylesheet, no JavaScript.
//!
//! Guide text lives in one place: the pages are rendered from the same
//! template files, partials and config values as the mail. Only the parts
//! that make sense in a mail and not on a web page are left out: the
//! greeting, the "did this solve it? reply to this mail" footers and the
//! mail signature (their partials are replaced by empty ones here). The
//! contact details the signature carries are in every page's footer.
//! There is no ticket on a web page: `ticket.id` is "—" and the subject's
//! `[—]` tag is dropped from the title.

use crate::config::Config;
use crate::reply::templates::{TemplateError, context, one_line};
use crate::verdict::{Category, Language};
use handlebars::Handlebars;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FaqError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The partials that frame a mail and mean nothing on a web page.
const MAIL_ONLY_PARTIALS: [&str; 8] = [
    "greeting_ja",
    "greeting_en",
    "footer_ja",
    "footer_en",
    "footer_urgent_ja",
    "footer_urgent_en",
    "signature_ja",
    "signature_en",
];

/// What the placeholder ticket is called on a page.
const NO_TICKET: &str = "—";

/// One guide rendered for the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuidePage {
    pub category: Category,
    pub language: Language,
    pub title: String,
    /// The guide's text, as the mail has it (frame removed).
    pub text: String,
}

/// Render every guide in both languages.
pub fn guides(config: &Config) -> Result<Vec<GuidePage>, FaqError> {
    let dir = &config.replies_dir;
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    let load = |hb: &mut Handlebars<'_>, name: &str, path: &Path| -> Result<(), TemplateError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: file.clone(),
            source,
        })?;
        hb.register_template_string(name, source).map_err(|e| {
            let (line, column) = e.pos().unwrap_or((1, 1));
            TemplateError::Syntax {
                file,
                line,
                column,
                message: e.reason().to_string(),
            }
        })
    };
    // Every text partial, as the mail uses them, then the frame blanked.
    let partials = dir.join("partials");
    if let Ok(entries) = std::fs::read_dir(&partials) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(stem) = name.strip_suffix(".txt.hbs")
                && !name.starts_with('.')
            {
                load(&mut hb, stem, &path)?;
            }
        }
    }
    for p in MAIL_ONLY_PARTIALS {
        hb.register_template_string(p, "")
            .map_err(|e| TemplateError::Syntax {
                file: p.into(),
                line: 1,
                column: 1,
                message: e.to_string(),
            })?;
    }
    let ctx = context(
        &config.support,
        &config.mfa,
        NO_TICKET,
        None,
        "",
        Value::Null,
    );
    let mut out = Vec::new();
    for lang in [Language::Ja, Language::En] {
        for category in Category::GUIDES {
            let stem = format!("{}/{}", lang.as_str(), category.as_str());
            let mut parts = Vec::new();
            for part in ["subject", "txt"] {
                let name = format!("{stem}.{part}");
                let path = dir.join(format!("{name}.hbs"));
                load(&mut hb, &name, &path)?;
                parts.push(hb.render(&name, &ctx).map_err(|e| TemplateError::Render {
                    file: path.display().to_string(),
                    line: e.line_no,
                    message: e.reason().to_string(),
                })?);
            }
            let subject = one_line(&parts[0]);
            let title = subject
                .trim_start_matches(&format!("[{NO_TICKET}]"))
                .trim()
                .to_string();
            out.push(GuidePage {
                category,
                language: lang,
                title,
                text: tidy(&parts[1]),
            });
        }
    }
    Ok(out)
}

/// What `write_site` wrote.
#[derive(Debug, Clone)]
pub struct Site {
    pub index: PathBuf,
    pub pages: Vec<PathBuf>,
}

/// Write the site to `out`: `index.html`, `style.css`, `ja/<guide>.html`,
/// `en/<guide>.html`.
pub fn write_site(config: &Config, out: &Path) -> Result<Site, FaqError> {
    let pages = guides(config)?;
    let write = |rel: &str, content: &str| -> Result<PathBuf, FaqError> {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FaqError::Write {
                path: parent.display().to_string(),
                source,
            })?;
        }
        std::fs::write(&path, content).map_err(|source| FaqError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    };
    write("style.css", STYLE)?;
    let mut written = Vec::new();
    for page in &pages {
        let other = pages
            .iter()
            .find(|p| p.category == page.category && p.language != page.language);
        let rel = format!("{}/{}.html", page.language.as_str(), page.category.as_str());
        written.push(write(&rel, &guide_html(config, page, other))?);
    }
    let index = write("index.html", &index_html(config, &pages))?;
    Ok(Site {
        index,
        pages: written,
    })
}

/// Trim the blank lines the blanked partials leave behind.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line.trim_end());
    }
    out
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape a line and make its `http(s)://` addresses links.
fn linkify(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("https://").or_else(|| rest.find("http://")) {
        out.push_str(&escape(&rest[..start]));
        let url_len = rest[start..]
            .find(|c: char| c.is_whitespace() || "）)」、。<>\"".contains(c))
            .unwrap_or(rest.len() - start);
        let url = rest[start..start + url_len].trim_end_matches(['.', ',']);
        out.push_str(&format!("<a href=\"{0}\">{0}</a>", escape(url)));
        rest = &rest[start + url.len()..];
    }
    out.push_str(&escape(rest));
    out
}

/// A guide heading: `■ …` in Japanese, a line in capitals in English.
fn is_heading(line: &str) -> bool {
    let l = line.trim();
    l.starts_with('■')
        || (l.chars().filter(|c| c.is_ascii_uppercase()).count() >= 4
            && !l.chars().any(|c| c.is_lowercase()))
}

fn is_item(line: &str) -> Option<&str> {
    let l = line.trim_start();
    l.strip_prefix("- ").or_else(|| l.strip_prefix("・"))
}

/// The guide's text as HTML: headings, lists, paragraphs.
fn body_html(text: &str) -> String {
    let mut html = String::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().peekable();
        if let Some(first) = lines.peek()
            && is_heading(first)
        {
            let h = first.trim().trim_start_matches('■').trim();
            html.push_str(&format!("<h2>{}</h2>\n", linkify(h)));
            lines.next();
        }
        let mut para: Vec<String> = Vec::new();
        let mut items: Vec<String> = Vec::new();
        let flush_para = |para: &mut Vec<String>, html: &mut String| {
            if !para.is_empty() {
                html.push_str(&format!("<p>{}</p>\n", para.join("<br>\n")));
                para.clear();
            }
        };
        let flush_items = |items: &mut Vec<String>, html: &mut String| {
            if !items.is_empty() {
                html.push_str("<ul>\n");
                for i in items.iter() {
                    html.push_str(&format!("<li>{i}</li>\n"));
                }
                html.push_str("</ul>\n");
                items.clear();
            }
        };
        for line in lines {
            if let Some(item) = is_item(line) {
                flush_para(&mut para, &mut html);
                items.push(linkify(item));
            } else if line.starts_with([' ', '\u{3000}']) && !items.is_empty() {
                // A continuation of the item above.
                if let Some(last) = items.last_mut() {
                    last.push_str("<br>");
                    last.push_str(&linkify(line.trim()));
                }
            } else {
                flush_items(&mut items, &mut html);
                para.push(linkify(line.trim()));
            }
        }
        flush_para(&mut para, &mut html);
        flush_items(&mut items, &mut html);
    }
    html
}

fn contact_html(config: &Config, lang: Language) -> String {
    let s = &config.support;
    let (hours, l_mail, l_hours, l_emergency) = match lang {
        Language::Ja => (
            &s.hours_ja,
            "お問い合わせ",
            "受付時間",
            "緊急連絡先（スマートフォンの紛失・盗難、身に覚えのない承認要求）",
        ),
        Language::En => (
            &s.hours_en,
            "Mail",
            "Hours",
            "Emergency (lost or stolen phone, a sign-in request you did not make)",
        ),
    };
    format!(
        "<footer>\n<p><strong>{team}</strong>, {company}</p>\n<p>{l_mail}: <a href=\"mailto:{addr}\">{addr}</a><br>\n{l_hours}: {hours}<br>\n{l_emergency}: <strong>{phone}</strong></p>\n</footer>\n",
        team = escape(&s.team_name),
        company = escape(&s.company),
        addr = escape(&s.address),
        hours = escape(hours),
        phone = escape(&s.emergency_phone),
    )
}

fn page(lang: Language, title: &str, css: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n{body}</body>\n</html>\n",
        lang = lang.as_str(),
        title = escape(title),
    )
}

fn guide_html(config: &Config, p: &GuidePage, other: Option<&GuidePage>) -> String {
    let (back, switch) = match p.language {
        Language::Ja => ("← 目次", "English"),
        Language::En => ("← All guides", "日本語"),
    };
    let mut nav = format!("<nav><a href=\"../index.html\">{back}</a>");
    if let Some(o) = other {
        nav.push_str(&format!(
            " · <a href=\"../{}/{}.html\" hreflang=\"{}\">{switch}</a>",
            o.language.as_str(),
            o.category.as_str(),
            o.language.as_str()
        ));
    }
    nav.push_str("</nav>\n");
    let body = format!(
        "{nav}<main>\n<p class=\"problem\">{problem}</p>\n<h1>{title}</h1>\n{text}</main>\n{contact}",
        problem = escape(crate::digest::render::category_label(
            p.category, p.language
        )),
        title = escape(&p.title),
        text = body_html(&p.text),
        contact = contact_html(config, p.language),
    );
    page(p.language, &p.title, "../style.css", &body)
}

fn index_html(config: &Config, pages: &[GuidePage]) -> String {
    let s = &config.support;
    let mut rows = String::new();
    for c in Category::GUIDES {
        let cell = |lang: Language| {
            pages
                .iter()
                .find(|p| p.category == c && p.language == lang)
                .map(|p| {
                    format!(
                        "<a href=\"{l}/{c}.html\" hreflang=\"{l}\"><strong>{label}</strong></a><br><span class=\"sub\">{title}</span>",
                        l = lang.as_str(),
                        c = c.as_str(),
                        label = escape(crate::digest::render::category_label(c, lang)),
                        title = escape(&p.title),
                    )
                })
                .unwrap_or_default()
        };
        rows.push_str(&format!(
            "<tr><td lang=\"ja\">{}</td><td lang=\"en\">{}</td></tr>\n",
            cell(Language::Ja),
            cell(Language::En)
        ));
    }
    let body = format!(
        "<main>\n<h1>MFA（多要素認証）ヘルプ / MFA help</h1>\n<p>{team}, {company}</p>\n\
         <p lang=\"ja\">お困りのことを選んでください。ここにあるのは、お問い合わせメールに自動でお送りしている案内と同じ内容です。</p>\n\
         <p lang=\"en\">Pick your problem. These are the same guides we send when you write to us.</p>\n\
         <table class=\"index\">\n<tr><th lang=\"ja\">日本語</th><th lang=\"en\">English</th></tr>\n{rows}</table>\n\
         <p lang=\"ja\">解決しない場合は <a href=\"mailto:{addr}\">{addr}</a> へメールでご連絡ください（パスワードや認証コードは書かないでください）。</p>\n\
         <p lang=\"en\">Still stuck? Write to <a href=\"mailto:{addr}\">{addr}</a> (never include a password or a sign-in code).</p>\n</main>\n{contact}",
        team = escape(&s.team_name),
        company = escape(&s.company),
        addr = escape(&s.address),
        contact = contact_html(config, Language::Ja),
    );
    page(Language::Ja, "MFA help / MFA ヘルプ", "style.css", &body)
}

/// The stylesheet: readable on screen, clean on paper (no navigation,
/// link targets printed after the link text).
const STYLE: &str = r#"body {
  margin: 0 auto;
  max-width: 46rem;
  padding: 1.5rem;
  font-family: "Hiragino Sans", "Hiragino Kaku Gothic ProN", Meiryo, "Yu Gothic", "Noto Sans CJK JP", "Segoe UI", Helvetica, Arial, sans-serif;
  font-size: 16px;
  line-height: 1.7;
  color: #1f2328;
  background: #fff;
}
nav { font-size: 0.9rem; margin-bottom: 1rem; }
a { color: #0b5cad; }
h1 { font-size: 1.5rem; line-height: 1.35; margin: 0.2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 0.4rem; padding-bottom: 0.2rem; border-bottom: 2px solid #d0d7de; }
p.problem { margin: 0; color: #57606a; font-size: 0.9rem; }
ul { padding-left: 1.4rem; }
li { margin: 0.2rem 0; }
table.index { border-collapse: collapse; width: 100%; margin: 1rem 0; }
table.index th, table.index td { border: 1px solid #d0d7de; padding: 0.6rem 0.8rem; vertical-align: top; text-align: left; width: 50%; }
table.index th { background: #f6f8fa; }
.sub { color: #57606a; font-size: 0.85rem; }
footer { margin-top: 2.5rem; padding-top: 0.8rem; border-top: 1px solid #d0d7de; font-size: 0.9rem; color: #57606a; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; line-height: 1.5; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  main a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 0.85em; }
  h2 { break-after: avoid; page-break-after: avoid; }
  li, p { break-inside: avoid; page-break-inside: avoid; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_headings_lists_and_links() {
        let html = body_html(
            "Intro line\n\n1. STEP ONE\nDo <this>.\n- item https://x.example/a.\n- two\n\n■ 見出し\n・項目",
        );
        assert!(html.contains("<p>Intro line</p>"), "{html}");
        assert!(html.contains("<h2>1. STEP ONE</h2>"), "{html}");
        assert!(html.contains("Do &lt;this&gt;."), "{html}");
        assert!(
            html.contains("<a href=\"https://x.example/a\">https://x.example/a</a>."),
            "{html}"
        );
        assert!(html.contains("<h2>見出し</h2>"), "{html}");
        assert!(html.contains("<li>項目</li>"), "{html}");
    }

    #[test]
    fn blank_runs_collapse() {
        assert_eq!(tidy("\n\na\n\n\n\nb\nc\n\n"), "a\n\nb\nc");
    }
}

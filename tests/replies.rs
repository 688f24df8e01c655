//! The shipped guides in `replies/`: every one loads, passes `check()` and
//! renders in both languages with the default config values, says what it
//! must say, and cannot be turned into a header injection.

use mfa_desk::config::{Mfa, Support};
use mfa_desk::reply::templates::{
    self, ADMIN_TEMPLATES, EMPLOYEE_TEMPLATES, Guides, Rendered, TemplateError,
};
use mfa_desk::verdict::{Category, Language, Verdict};
use serde_json::Value;
use std::path::{Path, PathBuf};

const GUIDES: [&str; 7] = [
    "code_not_received",
    "phone_changed",
    "phone_lost",
    "token_problem",
    "unexpected_prompt",
    "locked_out",
    "setup_help",
];

/// The guides after which an admin must act: they tell the employee what to do now.
const URGENT: [&str; 4] = [
    "phone_lost",
    "token_problem",
    "locked_out",
    "unexpected_prompt",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `[support]` and `[mfa]` values of the shipped `config/mfa-desk.toml`.
///
/// Read directly rather than through `Config::load`, which also loads
/// `rules.toml`: the guides must not fail their tests while someone is
/// tuning the classifier's rules.
#[derive(serde::Deserialize)]
struct Config {
    support: Support,
    mfa: Mfa,
    #[serde(default)]
    replies: Option<PathBuf>,
}

fn config() -> Config {
    let path = root().join("config/mfa-desk.toml");
    let text = std::fs::read_to_string(&path).expect("config/mfa-desk.toml exists");
    toml::from_str(&text).expect("config/mfa-desk.toml has valid [support] and [mfa]")
}

fn guides() -> Guides {
    Guides::load(&root().join("replies")).expect("the shipped templates load")
}

fn ctx(cfg: &Config, name: Option<&str>, subject: &str) -> Value {
    templates::context(&cfg.support, &cfg.mfa, "MFA-12", name, subject, Value::Null)
}

fn render(g: &Guides, cfg: &Config, name: &str, lang: Language) -> Rendered {
    g.render(
        name,
        lang,
        &ctx(cfg, Some("山田 太郎"), "認証コードが届きません"),
    )
    .unwrap_or_else(|e| panic!("{name} ({lang}) renders: {e}"))
}

#[test]
fn the_config_points_at_the_shipped_replies() {
    let cfg = config();
    let replies = cfg.replies.unwrap_or_else(|| PathBuf::from("../replies"));
    let dir = root().join("config").join(replies);
    let dir = dir.canonicalize().expect("replies dir exists");
    assert_eq!(dir, root().join("replies").canonicalize().expect("replies"));
}

#[test]
fn shipped_templates_pass_check() {
    let cfg = config();
    let g = guides();
    let sample = templates::sample_context(&cfg.support, &cfg.mfa);
    if let Err(problems) = g.check(&sample) {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        panic!("check() found problems:\n{}", list.join("\n"));
    }
    let names = g.names();
    for lang in ["ja", "en"] {
        for name in EMPLOYEE_TEMPLATES {
            assert!(names.contains(&format!("{lang}/{name}")), "{names:?}");
        }
    }
    for name in ADMIN_TEMPLATES {
        assert!(names.contains(&format!("admin/{name}")), "{names:?}");
    }
}

#[test]
fn every_guide_renders_with_the_essentials_in_both_languages() {
    let cfg = config();
    let g = guides();
    for name in GUIDES {
        for lang in [Language::Ja, Language::En] {
            let r = render(&g, &cfg, name, lang);
            let all = format!("{}\n{}", r.subject, r.text);
            for must in [
                cfg.mfa.app_name.as_str(),
                cfg.mfa.portal_url.as_str(),
                "MFA-12",
                cfg.support.team_name.as_str(),
                cfg.support.emergency_phone.as_str(),
            ] {
                assert!(all.contains(must), "{name} ({lang}) lacks `{must}`:\n{all}");
            }
            let asks_for_feedback = match lang {
                Language::Ja => {
                    "解決しない場合や、手順どおりにできなかった場合は、このメールにそのままご返信ください"
                }
                Language::En => {
                    "If this did not solve it, or a step did not work, reply to this mail"
                }
            };
            assert!(
                r.text.contains(asks_for_feedback),
                "{name} ({lang}) lacks the feedback question"
            );
            assert!(
                r.subject.starts_with("[MFA-12]"),
                "{name} ({lang}): {}",
                r.subject
            );
            assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
            for escaped in ["&amp;", "&lt;", "&gt;", "&quot;", "&#x"] {
                assert!(
                    !all.contains(escaped),
                    "{name} ({lang}) has HTML escaping `{escaped}`"
                );
            }
            // No template text may leak unrendered.
            assert!(
                !all.contains("{{") && !all.contains("}}"),
                "{name} ({lang})"
            );
            assert!(
                r.text.contains("山田 太郎"),
                "{name} ({lang}) greets by name"
            );
        }
    }
}

#[test]
fn guides_never_ask_for_a_password_or_code() {
    let cfg = config();
    let g = guides();
    for name in EMPLOYEE_TEMPLATES {
        let ja = render(&g, &cfg, name, Language::Ja).text;
        let en = render(&g, &cfg, name, Language::En).text;
        assert!(
            ja.contains("お尋ねすることは") && ja.contains("ありません"),
            "{name} ja"
        );
        assert!(en.contains("never ask for"), "{name} en");
        for bad in [
            "パスワードを教えて",
            "コードを送って",
            "send us the code",
            "your password to us",
        ] {
            assert!(
                !ja.contains(bad) && !en.contains(bad),
                "{name} asks for `{bad}`"
            );
        }
    }
}

#[test]
fn urgent_guides_say_what_to_do_now() {
    let cfg = config();
    let g = guides();
    for name in URGENT {
        let ja = render(&g, &cfg, name, Language::Ja).text;
        let en = render(&g, &cfg, name, Language::En).text;
        for (lang, text) in [("ja", &ja), ("en", &en)] {
            assert!(text.contains(&cfg.support.emergency_phone), "{name} {lang}");
        }
        assert!(
            ja.contains("承認しないでください"),
            "{name} ja lacks 承認しない"
        );
        assert!(
            en.contains("Never approve"),
            "{name} en lacks never approve"
        );
        // How identity is checked: call-back to the directory number or video call.
        assert!(
            ja.contains("社内名簿") && ja.contains("ビデオ通話"),
            "{name} ja"
        );
        assert!(
            en.contains("company directory") && en.contains("video call"),
            "{name} en"
        );
    }
    let lost = render(&g, &cfg, "phone_lost", Language::Ja).text;
    assert!(lost.contains("パスワードを変更") && lost.contains("ロック"));
    let lost = render(&g, &cfg, "phone_lost", Language::En).text;
    assert!(lost.contains("change your password") && lost.contains("Lock the lost phone"));
    let prompt = render(&g, &cfg, "unexpected_prompt", Language::En).text;
    assert!(prompt.contains("already approved"));
}

#[test]
fn ack_other_gives_ticket_response_time_and_hours() {
    let cfg = config();
    let g = guides();
    let ja = render(&g, &cfg, "ack_other", Language::Ja);
    assert!(ja.text.contains("受付番号は MFA-12 です"), "{}", ja.text);
    assert!(ja.text.contains(&cfg.support.response_time_ja));
    assert!(ja.text.contains(&cfg.support.hours_ja));
    let en = render(&g, &cfg, "ack_other", Language::En);
    assert!(en.text.contains("ticket number is MFA-12"), "{}", en.text);
    assert!(en.text.contains(&cfg.support.response_time_en));
    assert!(en.text.contains(&cfg.support.hours_en));
}

#[test]
fn every_category_with_a_reply_has_a_template() {
    let cfg = config();
    let g = guides();
    for category in Category::ALL {
        if let Some(name) = templates::guide_for(category) {
            render(&g, &cfg, name, Language::Ja);
            render(&g, &cfg, name, Language::En);
        }
    }
}

#[test]
fn greeting_without_a_name() {
    let cfg = config();
    let g = guides();
    let ja = g
        .render("setup_help", Language::Ja, &ctx(&cfg, None, ""))
        .expect("renders");
    assert!(
        ja.text
            .starts_with(&format!("{}です。", cfg.support.team_name)),
        "{}",
        ja.text
    );
    assert!(!ja.text.contains(" 様"));
    // An empty original subject leaves no empty "(Re: )".
    assert!(!ja.subject.contains("Re:"), "{}", ja.subject);
    let en = g
        .render("setup_help", Language::En, &ctx(&cfg, Some("  "), ""))
        .expect("renders");
    assert!(en.text.starts_with("Hello,\n"), "{}", en.text);
}

#[test]
fn names_with_markup_are_not_escaped_in_text() {
    let cfg = config();
    let g = guides();
    let c = ctx(&cfg, Some("O'Brien <Pat> & Co"), "A & B <test>");
    let r = g.render("phone_lost", Language::En, &c).expect("renders");
    assert!(r.text.contains("Hello O'Brien <Pat> & Co,"), "{}", r.text);
    assert!(r.subject.contains("(Re: A & B <test>)"), "{}", r.subject);
}

#[test]
fn injected_line_breaks_in_the_subject_stay_on_one_line() {
    let cfg = config();
    let g = guides();
    for evil in [
        "help\r\nBcc: x@y",
        "help\nBcc: x@y",
        "help\rBcc: x@y",
        "help\u{2028}Bcc: x@y",
        "Re: help\r\n\r\nbody",
    ] {
        let c = ctx(&cfg, Some("A\r\nB"), evil);
        for name in EMPLOYEE_TEMPLATES {
            for lang in [Language::Ja, Language::En] {
                let r = g.render(name, lang, &c).expect("renders");
                assert!(
                    !r.subject.contains(['\r', '\n', '\u{2028}']),
                    "{name} {lang}: {:?}",
                    r.subject
                );
                assert!(r.subject.contains("Bcc: x@y") || r.subject.contains("help body"));
            }
        }
        let verdict = Verdict::new(Category::UnexpectedPrompt, Language::En, 0.9, vec![]);
        let mut c = c.clone();
        merge_extra(&mut c, &verdict);
        for name in ADMIN_TEMPLATES {
            let r = g.render_admin(name, &c).expect("renders");
            assert!(!r.subject.contains(['\r', '\n']), "{name}: {:?}", r.subject);
        }
    }
}

fn merge_extra(c: &mut Value, verdict: &Verdict) {
    let extra = templates::admin_extra(
        verdict,
        "pat@example.co.jp",
        "Someone keeps sending me prompts & I denied them <all>.",
        None,
        false,
    );
    if let (Value::Object(base), Value::Object(extra)) = (c, extra) {
        for (k, v) in extra {
            match (base.get_mut(&k), v) {
                (Some(Value::Object(b)), Value::Object(e)) => b.extend(e),
                (_, v) => {
                    base.insert(k, v);
                }
            }
        }
    }
}

#[test]
fn admin_notices_carry_the_facts_and_the_steps() {
    let cfg = config();
    let g = guides();
    let lost = Verdict::new(
        Category::PhoneLost,
        Language::Ja,
        0.93,
        vec!["紛失".into(), "スマホ".into()],
    );
    let extra = templates::admin_extra(
        &lost,
        "yamada@example.co.jp",
        "スマホを電車に置き忘れました & 連絡ください",
        Some("[MFA-12] スマートフォンを紛失した場合"),
        false,
    );
    let c = templates::context(
        &cfg.support,
        &cfg.mfa,
        "MFA-12",
        Some("山田 太郎"),
        "スマホ紛失",
        extra,
    );
    let notify = g.render_admin("notify", &c).expect("notify renders");
    assert!(
        notify.subject.starts_with("[MFA-12] Action needed"),
        "{}",
        notify.subject
    );
    assert!(
        notify.subject.contains("<yamada@example.co.jp>"),
        "{}",
        notify.subject
    );
    for must in [
        "phone_lost",
        "紛失, スマホ",
        "0.93",
        "スマホを電車に置き忘れました & 連絡ください",
        "[MFA-12] スマートフォンを紛失した場合",
        "company directory",
        "video call",
        "社内名簿",
        cfg.mfa.vendor_support.as_str(),
    ] {
        assert!(
            notify.text.contains(must),
            "notify lacks `{must}`:\n{}",
            notify.text
        );
    }
    let alert = g.render_admin("security_alert", &c).expect("alert renders");
    assert!(
        alert.subject.starts_with("[SECURITY][MFA-12] Lost phone"),
        "{}",
        alert.subject
    );
    assert!(alert.text.contains("delete the lost phone's registration"));

    let prompt = Verdict::new(
        Category::UnexpectedPrompt,
        Language::En,
        0.8,
        vec!["did not request".into()],
    );
    let extra = templates::admin_extra(
        &prompt,
        "pat@example.co.jp",
        "I got 12 push prompts",
        None,
        true,
    );
    let c = templates::context(
        &cfg.support,
        &cfg.mfa,
        "MFA-13",
        None,
        "weird prompts",
        extra,
    );
    let alert = g.render_admin("security_alert", &c).expect("alert renders");
    assert!(
        alert.subject.contains("Unexpected MFA prompt"),
        "{}",
        alert.subject
    );
    assert!(alert.text.contains("revoke all sessions") && alert.text.contains("none / なし"));
    let notify = g.render_admin("notify", &c).expect("notify renders");
    assert!(
        notify.subject.starts_with("[MFA-13] Still unsolved"),
        "{}",
        notify.subject
    );
    assert!(notify.text.contains("did not solve"));
}

/// Copy the shipped replies into a temp dir, so a test can break one file.
fn copy_replies() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    copy(&root().join("replies"), dir.path());
    dir
}

#[test]
fn a_missing_variable_fails_check_naming_file_and_line() {
    let cfg = config();
    let dir = copy_replies();
    let file = dir.path().join("en/phone_lost.txt.hbs");
    let text = std::fs::read_to_string(&file).expect("read");
    // Line 3 of the file now names a value nobody provides.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "Call {{support.emergency_phon}} now.");
    std::fs::write(&file, lines.join("\n")).expect("write");

    let g = Guides::load(dir.path()).expect("still valid handlebars");
    let sample = templates::sample_context(&cfg.support, &cfg.mfa);
    let problems = g.check(&sample).expect_err("check must fail");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let msg = problems[0].to_string();
    assert!(msg.contains("en/phone_lost.txt.hbs, line 3"), "{msg}");
    assert!(msg.contains("support.emergency_phon"), "{msg}");
    assert!(matches!(
        problems[0],
        TemplateError::Render { line: Some(3), .. }
    ));
}

#[test]
fn a_typo_in_an_if_fails_check() {
    let cfg = config();
    let dir = copy_replies();
    let file = dir.path().join("partials/greeting_en.txt.hbs");
    std::fs::write(
        &file,
        "{{#if employe.name}}\nHello {{employee.name}},\n{{/if}}\n",
    )
    .expect("write");
    let g = Guides::load(dir.path()).expect("loads");
    let problems = g
        .check(&templates::sample_context(&cfg.support, &cfg.mfa))
        .expect_err("check must fail");
    let msg = problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        msg.contains("greeting_en.txt.hbs, line 1") && msg.contains("employe.name"),
        "{msg}"
    );
}

#[test]
fn a_missing_template_and_a_broken_one_are_reported() {
    let cfg = config();
    let dir = copy_replies();
    std::fs::remove_file(dir.path().join("ja/locked_out.subject.hbs")).expect("rm");
    let g = Guides::load(dir.path()).expect("loads");
    let problems = g
        .check(&templates::sample_context(&cfg.support, &cfg.mfa))
        .expect_err("check must fail");
    let msg = problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(msg.contains("ja/locked_out.subject.hbs: missing"), "{msg}");
    let err = g
        .render(
            "locked_out",
            Language::Ja,
            &templates::sample_context(&cfg.support, &cfg.mfa),
        )
        .expect_err("no subject");
    assert!(
        err.to_string().contains("ja/locked_out.subject.hbs"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("en/setup_help.txt.hbs"),
        "Hello\n{{#if employee.name}}\nx\n",
    )
    .expect("write");
    let err = Guides::load(dir.path()).expect_err("syntax error");
    let msg = err.to_string();
    assert!(msg.contains("en/setup_help.txt.hbs, line"), "{msg}");
}

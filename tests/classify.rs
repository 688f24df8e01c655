//! Golden classification fixtures: every `tests/fixtures/classify/<category>_<lang>_<n>.eml`
//! must be classified as the category its file name starts with, with the
//! shipped `config/rules.toml`. The fixtures are written for mfa-desk (not
//! taken from any evaluation corpus): negations, two problems in one mail,
//! out-of-office replies without headers, bounces, a List-Id newsletter,
//! and people who mention an "automatic reply" in a real request.

use mfa_desk::classify::{Rules, classify};
use mfa_desk::verdict::Category;
use std::path::Path;

fn rules() -> Rules {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules.toml");
    let text = std::fs::read_to_string(&path).expect("config/rules.toml is readable");
    Rules::from_toml(&text, &path.display().to_string()).expect("config/rules.toml loads")
}

/// The category a fixture's name promises: the longest category name it starts with.
fn expected(stem: &str) -> Option<Category> {
    Category::ALL
        .into_iter()
        .filter(|c| stem.starts_with(&format!("{}_", c.as_str())))
        .max_by_key(|c| c.as_str().len())
}

#[test]
fn every_fixture_gets_the_category_in_its_name() {
    let rules = rules();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture folder exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 36,
        "expected at least two fixtures per category and language"
    );

    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in &files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let want =
            expected(stem).unwrap_or_else(|| panic!("{stem}: name does not start with a category"));
        let lang = if stem.contains("_ja_") { "ja" } else { "en" };
        seen.insert((want, lang));
        let raw = std::fs::read(file).expect("fixture readable");
        let verdict = classify(&mfa_desk::parse::parse(&raw), &rules);
        if verdict.category != want {
            failures.push(format!(
                "{stem}: expected {want}, got {} ({:.2}; {})",
                verdict.category,
                verdict.confidence,
                verdict.matched.join(", ")
            ));
        }
    }
    for c in Category::ALL {
        for lang in ["ja", "en"] {
            assert!(seen.contains(&(c, lang)), "no {lang} fixture for {c}");
        }
    }
    assert!(
        failures.is_empty(),
        "misclassified:\n{}",
        failures.join("\n")
    );
}

#[test]
fn verdicts_explain_themselves() {
    let rules = rules();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify");
    let raw = std::fs::read(dir.join("auto_generated_ja_2.eml")).expect("fixture readable");
    let v = classify(&mfa_desk::parse::parse(&raw), &rules);
    assert!(
        v.matched
            .iter()
            .any(|m| m.starts_with("header:") || m.starts_with("sender:")),
        "{:?}",
        v.matched
    );
    let raw = std::fs::read(dir.join("phone_lost_ja_1.eml")).expect("fixture readable");
    let v = classify(&mfa_desk::parse::parse(&raw), &rules);
    assert!(
        v.matched.iter().any(|m| m.starts_with("subject:")),
        "{:?}",
        v.matched
    );
    assert!(v.confidence > 0.5 && v.confidence <= 1.0);
}

#[test]
fn garbage_never_panics() {
    let rules = rules();
    for raw in [
        &b""[..],
        b"\xff\xfe\x00garbage",
        b"Subject: \r\n\r\n",
        b"From: <>\r\nSubject: =?utf-8?B?!!!?=\r\n\r\n> > >\r\n",
    ] {
        let v = classify(&mfa_desk::parse::parse(raw), &rules);
        assert!((0.0..=1.0).contains(&v.confidence));
    }
}

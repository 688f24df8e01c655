//! Fuzz the path every inbound mail takes before the store: parse →
//! classify (the shipped rules) → render the reply and the admin notice →
//! the tagged subject; plus the secret masking the worker applies to the
//! text and its search for enrolment QR codes among the images. Any panic, hang or out-of-memory is a finding; so is a subject
//! that comes out on more than one line (header injection).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_desk::classify::{Rules, classify};
use mfa_desk::config::Config;
use mfa_desk::reply::templates::{Guides, guide_for, sample_context};
use mfa_desk::worker::outgoing::tagged_subject;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

struct World {
    rules: Rules,
    guides: Guides,
    ctx: Value,
}

/// Loaded once per process: config/mfa-desk.toml (which reads
/// config/rules.toml) and the guides in replies/.
static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = Config::load(&root.join("config/mfa-desk.toml")).expect("config loads");
        let rules_text =
            std::fs::read_to_string(root.join("config/rules.toml")).expect("rules.toml");
        let rules = Rules::from_toml(&rules_text, "config/rules.toml").expect("rules parse");
        let guides = Guides::load(&config.replies_dir).expect("templates load");
        let ctx = sample_context(&config.support, &config.mfa);
        World { rules, guides, ctx }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let inbound = mfa_desk::parse::parse(data);
    let verdict = classify(&inbound, &w.rules);

    // What the employee wrote reaches the templates as values: put the
    // fuzzed strings where the worker puts the real ones.
    let mut ctx = w.ctx.clone();
    ctx["original"]["subject"] = Value::String(inbound.subject.clone());
    ctx["original"]["text"] = Value::String(inbound.new_text.clone());
    ctx["employee"]["name"] = Value::String(inbound.from_name.clone().unwrap_or_default());
    ctx["employee"]["address"] = Value::String(inbound.from_addr.clone());

    if let Some(template) = guide_for(verdict.category) {
        let r = w
            .guides
            .render(template, verdict.language, &ctx)
            .expect("a shipped guide renders");
        assert!(
            !r.subject.contains(['\r', '\n']),
            "guide subject on one line"
        );
    }
    let notice = w
        .guides
        .render_admin("notify", &ctx)
        .expect("notice renders");
    assert!(!notice.subject.contains(['\r', '\n']));

    let subject = tagged_subject("MFA-1", &inbound.subject);
    assert!(
        !subject.contains(['\r', '\n']),
        "tagged subject on one line: {subject:?}"
    );

    let masked = mfa_desk::privacy::mask_secrets(&inbound.new_text);
    assert!(masked.found.is_empty() || masked.text.contains('•'));

    // Whatever the bytes, the QR search names at most the images it may look at.
    let qr = mfa_desk::privacy::otp_qr_attachments(data);
    assert!(qr.len() <= mfa_desk::privacy::qr::MAX_IMAGES);
});

//! The digest's HTML and a FAQ page in a real browser (Debian's headless
//! Chromium): each renders to a PNG, logs no error, and the digest's chart
//! image loads (non-zero natural width).
//!
//! The product HTML has no JavaScript. To look inside the rendered page, the
//! test writes a copy of it in its temp folder with a small probe script
//! added at the top of `<head>` (it records load errors and console errors,
//! then writes what it found into the DOM), and reads the result back with
//! `--dump-dom`. Nothing generated stays in the repository.
//!
//! Without Chromium the test is skipped loudly, except when `CI=true`, where
//! a missing browser is a failure (`scripts/test` installs it).

use mfa_desk::config::Config;
use mfa_desk::store::{MessageRecord, NewTicket, Store};
use mfa_desk::ticket::{Priority, Status};
use mfa_desk::verdict::{Category, Language};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(CHROMIUM);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{CHROMIUM} is missing; scripts/test installs it (apt-get install chromium)");
    }
    eprintln!(
        "\n\n*** SKIPPED: {CHROMIUM} is not installed; the browser rendering test did not run. \
         Run scripts/test (as root) to install it. ***\n\n"
    );
    None
}

fn config(dir: &Path) -> Config {
    let text = format!(
        r#"
rules = {rules:?}
replies = {replies:?}

[mailbox]
kind = "folder"
path = "inbox"

[store]
path = "desk.sqlite3"

[outbox]
kind = "file"
path = "outbox"

[support]
team_name = "情報システム部 (IT support)"
company = "Example株式会社"
address = "support@example.co.jp"
emergency_phone = "03-1234-5678"
timezone = "Asia/Tokyo"
hours_ja = "平日 9:00〜18:00"
hours_en = "weekdays 9:00-18:00 (Japan time)"
response_time_ja = "1営業日以内"
response_time_en = "within one business day"

[[support.admins]]
name = "Alex Morgan"
address = "alex.morgan@example.co.jp"

[mfa]
app_name = "Microsoft Authenticator"
portal_url = "https://mysignins.microsoft.com/security-info"
help_url = "https://support.microsoft.com/"

[digest]
language = "en"
"#,
        rules = Path::new(ROOT)
            .join("config/rules.toml")
            .display()
            .to_string(),
        replies = Path::new(ROOT).join("replies").display().to_string(),
    );
    Config::from_toml(&text, &dir.join("mfa-desk.toml")).expect("test config is valid")
}

fn tokyo(local: &str) -> i64 {
    format!("{local}[Asia/Tokyo]")
        .parse::<jiff::Zoned>()
        .expect("time")
        .timestamp()
        .as_second()
}

/// A few tickets over the week 2026-W47 so that the chart has bars.
fn traffic(store: &mut Store) {
    let mails = [
        (
            Category::CodeNotReceived,
            "2026-11-16T10:00",
            "Code never arrives",
        ),
        (Category::PhoneLost, "2026-11-17T09:00", "Lost my phone"),
        (Category::Other, "2026-11-18T11:00", "Printer on floor 3"),
        (Category::CodeNotReceived, "2026-11-18T15:00", "No SMS code"),
        (
            Category::SetupHelp,
            "2026-11-20T09:30",
            "How to set up the app",
        ),
    ];
    for (i, (cat, at, subject)) in mails.into_iter().enumerate() {
        let at = tokyo(at);
        let key = format!("k{i}");
        let tx = store.begin().expect("begin");
        let id = tx
            .create_ticket(&NewTicket {
                requester: "emp@example.co.jp",
                requester_name: None,
                subject,
                category: cat,
                language: Language::En,
                status: Status::Open,
                priority: Priority::for_category(cat),
                owner: None,
                now: at,
            })
            .expect("ticket");
        tx.insert_message(&MessageRecord {
            dedup_key: &key,
            source_ref: &key,
            ticket_id: Some(id),
            from_addr: "emp@example.co.jp",
            subject,
            new_text: subject,
            category: cat,
            action: cat.action().as_str(),
            language: Language::En,
            confidence: 0.9,
            matched: &[],
            problems: &[],
            raw: None,
            received_at: at,
        })
        .expect("message");
        tx.commit().expect("commit");
    }
}

/// Records resource load errors (capture phase), script errors and
/// console.error, then, after `load`, writes them and every image's natural
/// width into a `<pre id="probe">` for `--dump-dom`.
const PROBE: &str = r#"<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    var t = e.target;
    errors.push(t && t !== window ? 'failed to load ' + (t.src || t.href || t.tagName) : 'script error: ' + e.message);
  }, true);
  var orig = console.error;
  console.error = function () { errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); };
  window.addEventListener('load', function () {
    var images = Array.prototype.map.call(document.images, function (i) {
      return { src: i.getAttribute('src'), naturalWidth: i.naturalWidth, complete: i.complete };
    });
    var pre = document.createElement('pre');
    pre.id = 'probe';
    pre.textContent = JSON.stringify({
      errors: errors,
      images: images,
      stylesheets: document.styleSheets.length,
      bodyMaxWidth: getComputedStyle(document.body).maxWidth
    });
    document.body.appendChild(pre);
  });
})();
</script>"#;

/// What the probe saw.
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Probe {
    errors: Vec<String>,
    images: Vec<Image>,
    stylesheets: usize,
    body_max_width: String,
}

#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Image {
    src: Option<String>,
    natural_width: u32,
}

fn browser(bin: &Path, profile: &Path, extra: &[&str], page: &Path) -> (String, String) {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start chromium");
    // A browser that hangs must not hang the test suite.
    let out = wait_with_timeout(child, Duration::from_secs(90));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let started = std::time::Instant::now();
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(_) => return child.wait_with_output().expect("chromium output"),
            None if started.elapsed() > limit => {
                let _ = child.kill();
                panic!("chromium did not finish within {limit:?}");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Render `page` to `png`, and probe a copy of it (same folder, so relative
/// links resolve the same way).
fn render_and_probe(bin: &Path, tmp: &Path, page: &Path, png: &Path) -> Probe {
    let profile = tmp.join("profile");
    let (_, stderr) = browser(
        bin,
        &profile,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,2200",
        ],
        page,
    );
    let shot = std::fs::read(png)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}\n{stderr}", png.display()));
    assert!(
        shot.starts_with(b"\x89PNG") && shot.len() > 10_000,
        "screenshot looks empty"
    );

    let html = std::fs::read_to_string(page).expect("page");
    assert!(
        !html.to_lowercase().contains("<script"),
        "the product page has no JavaScript"
    );
    let probed = html.replacen("<head>", &format!("<head>\n{PROBE}"), 1);
    let copy = page.with_file_name(format!(
        "probe-{}",
        page.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("page.html")
    ));
    std::fs::write(&copy, probed).expect("write probe copy");
    let (dom, stderr) = browser(bin, &profile, &["--dump-dom"], &copy);
    let start = dom
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("probe did not run:\n{dom}\n{stderr}"));
    let json = &dom[start + "<pre id=\"probe\">".len()..];
    let json = &json[..json.find("</pre>").expect("probe end")];
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let probe: Probe =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("probe output {json}: {e}"));
    // Chromium logs console errors to stderr as well; none may mention the page.
    let console_errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );
    probe
}

#[test]
fn the_digest_and_a_faq_page_render_in_chromium() {
    let Some(bin) = chromium() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = config(tmp.path());
    let mut store = Store::open_in_memory().expect("store");
    traffic(&mut store);

    // The digest preview: digest.html referencing chart.png beside it.
    let out = tmp.path().join("digest");
    let now = jiff::Timestamp::from_second(tokyo("2026-11-23T09:00")).expect("now");
    let week = "2026-W47".parse().expect("week");
    let p = mfa_desk::digest::preview(&store, &cfg, Some(week), now, &out).expect("preview");
    let probe = render_and_probe(&bin, tmp.path(), &p.html, &tmp.path().join("digest.png"));
    assert!(probe.errors.is_empty(), "digest: {:#?}", probe.errors);
    let chart = probe
        .images
        .iter()
        .find(|i| i.src.as_deref() == Some("chart.png"))
        .unwrap_or_else(|| panic!("no chart image in {:?}", probe.images));
    assert_eq!(
        chart.natural_width,
        mfa_desk::digest::chart::WIDTH,
        "the chart loaded"
    );

    // One FAQ page, with its stylesheet.
    let site = tmp.path().join("faq");
    mfa_desk::faq::write_site(&cfg, &site).expect("faq");
    let page = site.join("en/phone_lost.html");
    let probe = render_and_probe(&bin, tmp.path(), &page, &tmp.path().join("faq.png"));
    assert!(probe.errors.is_empty(), "faq: {:#?}", probe.errors);
    assert_eq!(probe.stylesheets, 1);
    assert_eq!(probe.body_max_width, "736px", "style.css applied (46rem)");
}

//! Headless Chromium for the tests' browser walk-throughs: Debian's `chromium` package, driven by
//! `playwright-core` from npm (`tests/browser`, installed by `.ci/run`, and here on first use).

use std::path::PathBuf;

use serde_json::Value;

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// The Chromium binary: `PORTCULLIS_TEST_CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub fn chromium() -> String {
    std::env::var("PORTCULLIS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

fn ensure_installed() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        assert!(
            std::path::Path::new(&chromium()).exists(),
            "{} is missing: `apt-get install chromium` (as .ci/run does)",
            chromium()
        );
        if harness_dir().join("node_modules/playwright-core").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(harness_dir())
            .status()
            .expect("npm runs (Node.js 20 is required for these tests)");
        assert!(status.success(), "npm ci in tests/browser failed");
    });
}

/// Runs the walk-through `script` of `tests/browser` with these environment variables and returns
/// the JSON it prints; panics with its output when it fails.
pub async fn run(script: &str, env: &[(&str, &str)]) -> Value {
    ensure_installed();
    let mut command = tokio::process::Command::new("node");
    command.arg(harness_dir().join(script)).env("CHROMIUM", chromium()).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the browser walk-through finishes within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

//! Runs the shell-level tests (run.sh against stub engines, its error paths, shellcheck, compose
//! validation, the pre-push hook under dash) so `cargo test --workspace` covers them too.

#[test]
fn shell_tests_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root");
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/shell/run_all.sh"))
        .current_dir(root)
        .output()
        .expect("run tests/shell/run_all.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        out.status.success(),
        "shell tests failed ({last}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(last.ends_with(", 0 failed"), "{last}");
}

//! Arbitrary bytes → `gh` argv → classification → strict per-command parse (DESIGN §5, threat
//! class 4). Never panics; an always-denied group is never classified as supported; a supported
//! command is one of the fixed set; every refusal is one line.
#![no_main]

use gitgate_policy::gh::{classify, parse_command, Class};
use libfuzzer_sys::fuzz_target;

const DENIED_GROUPS: &[&str] = &[
    "auth", "secret", "variable", "extension", "alias", "config", "codespace", "ssh-key", "gpg-key",
    "gist", "release", "workflow",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let argv: Vec<String> = text.split('\0').map(str::to_owned).collect();
    match classify(&argv) {
        Class::Supported(group, sub) => {
            assert!(matches!(group, "pr" | "issue" | "repo" | "run" | "api"), "{group}");
            let first_word = argv.iter().find(|a| !a.starts_with('-'));
            if let Some(w) = first_word {
                assert!(!DENIED_GROUPS.contains(&w.as_str()), "denied group {w} classified as supported");
            }
            let _ = parse_command(&argv, group, sub);
        }
        Class::Denied(reason) => assert!(!reason.contains('\n'), "multi-line refusal"),
        Class::Help | Class::Merge => {}
    }
});

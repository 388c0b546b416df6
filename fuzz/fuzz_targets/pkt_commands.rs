//! Arbitrary push commands as git would send them to receive-pack: the ref-update rules never
//! panic and every refusal is one line.
#![no_main]

use gitgate_policy::wire::{Ancestry, RefUpdate};
use gitgate_policy::{Policy, PolicyConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let policy = Policy::new(PolicyConfig {
        allowed_branch_patterns: vec!["claude/**".into()],
        ..PolicyConfig::default()
    })
    .expect("policy");
    for line in text.lines().take(64) {
        let mut parts = line.splitn(3, ' ');
        let (old, new, name) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let u = RefUpdate {
            name: name.into(),
            old: old.into(),
            new: new.into(),
        };
        for a in [Ancestry::FastForward, Ancestry::NotFastForward, Ancestry::NotApplicable] {
            if let Err(d) = policy.check_ref_update(&u, a) {
                assert!(!d.message.contains('\n'));
            }
        }
    }
});

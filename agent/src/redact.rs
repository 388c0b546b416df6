//! Last line of defense: every byte sent to a client, written to a log or to the audit file passes
//! through here. The token is replaced by `***` in its raw form and in the Basic-auth base64 forms
//! a git/HTTP stack could echo (`base64(token)`, `base64("x-access-token:" + token)`).
//!
//! Streams are redacted with a carry-over of `longest pattern - 1` bytes, so a token split across
//! two chunks is still caught.

use crate::secret::{Token, BASIC_USER};
use base64::Engine as _;
use std::sync::Arc;

const MASK: &[u8] = b"***";

#[derive(Clone)]
pub struct Redactor {
    token: Arc<Token>,
}

impl Redactor {
    pub fn new(token: Arc<Token>) -> Redactor {
        Redactor { token }
    }

    /// Patterns derived from the token. Built on demand so no long-lived copy exists outside the
    /// locked buffer; zeroized after use by the caller through `Patterns`' Drop.
    fn patterns(&self) -> Patterns {
        let list = self
            .token
            .with_exposed(|t| {
                let b64 = base64::engine::general_purpose::STANDARD;
                vec![
                    t.as_bytes().to_vec(),
                    b64.encode(t).into_bytes(),
                    b64.encode(format!("{BASIC_USER}:{t}")).into_bytes(),
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .encode(format!("{BASIC_USER}:{t}"))
                        .into_bytes(),
                ]
            })
            .unwrap_or_default();
        Patterns(list)
    }

    /// Redact a complete buffer.
    pub fn redact(&self, data: &[u8]) -> Vec<u8> {
        let pats = self.patterns();
        replace_all(data, &pats.0)
    }

    pub fn redact_str(&self, s: &str) -> String {
        String::from_utf8_lossy(&self.redact(s.as_bytes())).into_owned()
    }

    /// The strings an Exit frame carries (URL, mirror path, local git argv) pass here too.
    pub fn redact_exit(&self, mut exit: gitgate_proto::Exit) -> gitgate_proto::Exit {
        exit.url = exit.url.map(|u| self.redact_str(&u));
        exit.mirror = exit.mirror.map(|m| self.redact_str(&m));
        for a in exit.local_git.iter_mut().flatten() {
            *a = self.redact_str(a);
        }
        exit
    }

    /// A stateful redactor for one output stream.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            pending: Vec::new(),
        }
    }
}

struct Patterns(Vec<Vec<u8>>);

impl Drop for Patterns {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for p in &mut self.0 {
            p.zeroize();
        }
    }
}

fn replace_all(data: &[u8], patterns: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    'outer: while i < data.len() {
        for p in patterns {
            if !p.is_empty() && data[i..].starts_with(p) {
                out.extend_from_slice(MASK);
                i += p.len();
                continue 'outer;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// Redacts a stream chunk by chunk, holding back a tail that could be the start of a token.
pub struct StreamRedactor {
    redactor: Redactor,
    pending: Vec<u8>,
}

impl StreamRedactor {
    /// Feed a chunk; returns the bytes that are safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let pats = self.redactor.patterns();
        let longest = pats.0.iter().map(Vec::len).max().unwrap_or(0);
        self.pending.extend_from_slice(chunk);
        if longest == 0 {
            return std::mem::take(&mut self.pending);
        }
        let redacted = replace_all(&self.pending, &pats.0);
        // Keep back a suffix that is a prefix of some pattern: it may complete in the next chunk.
        let keep = (1..longest.min(redacted.len() + 1))
            .rev()
            .find(|&n| {
                let tail = &redacted[redacted.len() - n..];
                pats.0.iter().any(|p| p.starts_with(tail))
            })
            .unwrap_or(0);
        let (emit, hold) = redacted.split_at(redacted.len() - keep);
        self.pending = hold.to_vec();
        emit.to_vec()
    }

    /// End of stream: whatever is held back is emitted (it did not complete a token).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(token: &str) -> Redactor {
        Redactor::new(Arc::new(
            Token::from_value(token.into(), "GITHUB_TOKEN").unwrap(),
        ))
    }

    #[test]
    fn raw_and_base64_forms_are_masked() {
        let r = redactor("ghp_TOKEN123");
        let b64 = base64::engine::general_purpose::STANDARD;
        let basic = b64.encode("x-access-token:ghp_TOKEN123");
        let text = format!(
            "a ghp_TOKEN123 b Basic {basic} c {}",
            b64.encode("ghp_TOKEN123")
        );
        let out = r.redact_str(&text);
        assert_eq!(out, "a *** b Basic *** c ***");
    }

    #[test]
    fn split_across_chunks_is_masked() {
        let r = redactor("ghp_TOKEN123");
        let input = b"before ghp_TOKEN123 after ghp_TOK";
        for cut in 0..input.len() {
            let mut s = r.stream();
            let mut out = s.push(&input[..cut]);
            out.extend(s.push(&input[cut..]));
            out.extend(s.finish());
            assert_eq!(out, b"before *** after ghp_TOK", "cut at {cut}");
        }
    }

    #[test]
    fn exit_frame_strings_are_masked() {
        let r = redactor("ghp_TOKEN123");
        let exit = gitgate_proto::Exit {
            code: 0,
            mirror: Some("/m/ghp_TOKEN123".into()),
            url: Some("https://x:ghp_TOKEN123@h/o/r.git".into()),
            local_git: vec![vec!["config".into(), "k".into(), "ghp_TOKEN123".into()]],
        };
        let out = r.redact_exit(exit);
        assert_eq!(out.url.as_deref(), Some("https://x:***@h/o/r.git"));
        assert_eq!(out.mirror.as_deref(), Some("/m/***"));
        assert_eq!(out.local_git[0][2], "***");
    }

    #[test]
    fn no_token_passes_through() {
        let r = Redactor::new(Arc::new(Token::none()));
        assert_eq!(r.redact(b"abc"), b"abc");
        let mut s = r.stream();
        assert_eq!(s.push(b"abc"), b"abc");
    }
}

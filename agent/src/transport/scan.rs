//! Local stand-in for the lead's `Redactor::scanner()` (agent/src/redact.rs), same signature:
//! forwarded bytes are never rewritten; a fixed hold-back of (longest token form − 1) bytes,
//! independent of content, and a full token form aborts the stream. Replaced by the real one at
//! merge.

use crate::secret::{Token, BASIC_USER};
use base64::Engine as _;

#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("gitgate: the upstream response contained the token; it was stopped")]
pub struct TokenInStream;

pub struct StreamScanner {
    forms: Vec<Vec<u8>>,
    hold: usize,
    pending: Vec<u8>,
}

impl Drop for StreamScanner {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for f in &mut self.forms {
            f.zeroize();
        }
    }
}

pub fn scanner(token: &Token) -> StreamScanner {
    let forms = token
        .with_exposed(|t| {
            let b64 = base64::engine::general_purpose::STANDARD;
            let basic = format!("{BASIC_USER}:{t}");
            let v = vec![
                t.as_bytes().to_vec(),
                b64.encode(t).into_bytes(),
                b64.encode(&basic).into_bytes(),
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(&basic)
                    .into_bytes(),
            ];
            zeroize::Zeroize::zeroize(&mut basic.into_bytes());
            v
        })
        .unwrap_or_default();
    let hold = forms
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(1)
        .saturating_sub(1);
    StreamScanner {
        forms,
        hold,
        pending: Vec::new(),
    }
}

impl StreamScanner {
    fn contains_form(&self) -> bool {
        self.forms
            .iter()
            .any(|f| !f.is_empty() && self.pending.windows(f.len()).any(|w| w == &f[..]))
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TokenInStream> {
        self.pending.extend_from_slice(chunk);
        if self.contains_form() {
            return Err(TokenInStream);
        }
        let release = self.pending.len().saturating_sub(self.hold);
        let rest = self.pending.split_off(release);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    pub fn finish(&mut self) -> Result<Vec<u8>, TokenInStream> {
        if self.contains_form() {
            return Err(TokenInStream);
        }
        Ok(std::mem::take(&mut self.pending))
    }
}

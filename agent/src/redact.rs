//! The token in output, two ways (DESIGN §6):
//!
//! - **Text the agent writes** (errors, logs, audit, status) is redacted: the token is replaced by
//!   `***` in its raw form and in the Basic-auth base64 forms a git/HTTP stack could echo
//!   (`base64(token)`, `base64("x-access-token:" + token)`). See [`Redactor::redact`].
//! - **Streams** (bytes forwarded from upstream or carrying attacker-influenced data) are never
//!   rewritten: rewriting, or holding back a tail only when it looks like the start of the token,
//!   makes frame lengths an oracle that spells the token out one guess at a time. A
//!   [`StreamScanner`] always holds back exactly `longest form - 1` bytes, whatever they are, and
//!   aborts the stream when a complete form appears. What the client sees (frame count, lengths,
//!   timing) therefore depends only on how many bytes arrived, never on whether they resemble it.

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
    /// locked buffer; zeroized when the `Patterns` is dropped.
    fn patterns(&self) -> Patterns {
        // The current token and (GitHub App mode) replaced ones not yet revoked.
        let mut list = Vec::new();
        self.token.with_each_exposed(|t| {
            let b64 = base64::engine::general_purpose::STANDARD;
            list.extend([
                t.as_bytes().to_vec(),
                b64.encode(t).into_bytes(),
                b64.encode(format!("{BASIC_USER}:{t}")).into_bytes(),
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(format!("{BASIC_USER}:{t}"))
                    .into_bytes(),
            ]);
        });
        Patterns(list)
    }

    /// Redact a complete buffer of agent-written text.
    pub fn redact(&self, data: &[u8]) -> Vec<u8> {
        let pats = self.patterns();
        replace_all(data, &pats.0)
    }

    pub fn redact_str(&self, s: &str) -> String {
        String::from_utf8_lossy(&self.redact(s.as_bytes())).into_owned()
    }

    /// The strings an Exit frame carries (URL, mirror path, local git argv) pass here too.
    /// The Exit frame carries only a code since v3 (no strings to mask).
    pub fn redact_exit(&self, exit: gitgate_proto::Exit) -> gitgate_proto::Exit {
        exit
    }

    /// A scanner for one forwarded byte stream (one response, one output channel).
    pub fn scanner(&self) -> StreamScanner {
        let hold = self
            .patterns()
            .0
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .saturating_sub(1);
        StreamScanner {
            redactor: self.clone(),
            hold,
            tail: Vec::with_capacity(hold),
            aborted: false,
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

/// A forwarded stream contained a complete form of the token: the stream was stopped there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("gitgate: the upstream response contained the token; it was stopped")]
pub struct TokenInStream;

/// Scans one stream for the token without ever rewriting it (see the module docs).
pub struct StreamScanner {
    redactor: Redactor,
    /// Bytes always held back: `longest form - 1` (0 when no token is loaded). Fixed for the
    /// life of the scanner, independent of the data.
    hold: usize,
    /// The last `hold` bytes received (or fewer, at the start of the stream).
    tail: Vec<u8>,
    aborted: bool,
}

impl StreamScanner {
    /// Feed a chunk; returns the bytes safe to forward now: everything received so far except the
    /// last `hold` bytes. `Err` once a complete token form has been seen; the stream must end.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TokenInStream> {
        if self.aborted {
            return Err(TokenInStream);
        }
        if self.hold == 0 && self.tail.is_empty() {
            return Ok(chunk.to_vec());
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        if self.contains_token(&window) {
            self.aborted = true;
            use zeroize::Zeroize;
            window.zeroize();
            return Err(TokenInStream);
        }
        let keep = self.hold.min(window.len());
        self.tail = window.split_off(window.len() - keep);
        Ok(window)
    }

    /// End of the stream: the held-back tail (it cannot hold a complete form: `push` checked it).
    pub fn finish(&mut self) -> Result<Vec<u8>, TokenInStream> {
        if self.aborted {
            return Err(TokenInStream);
        }
        Ok(std::mem::take(&mut self.tail))
    }

    /// Whole-window search: the cost depends on the window's length, not on how close it comes.
    fn contains_token(&self, window: &[u8]) -> bool {
        let pats = self.redactor.patterns();
        let mut found = false;
        for p in pats.0.iter().filter(|p| !p.is_empty()) {
            found |= memchr::memmem::find(window, p).is_some();
        }
        found
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
    fn a_token_split_across_chunks_stops_the_stream() {
        let r = redactor("ghp_TOKEN123");
        let input = b"before ghp_TOKEN123 after";
        for cut in 0..input.len() {
            let mut s = r.scanner();
            let first = s.push(&input[..cut]);
            let second = first.and_then(|_| s.push(&input[cut..]));
            assert_eq!(second, Err(TokenInStream), "cut at {cut}");
            assert_eq!(s.finish(), Err(TokenInStream));
        }
    }

    #[test]
    fn every_base64_form_stops_the_stream() {
        let r = redactor("ghp_TOKEN123");
        let b64 = base64::engine::general_purpose::STANDARD;
        for form in [
            b64.encode("ghp_TOKEN123"),
            b64.encode("x-access-token:ghp_TOKEN123"),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("x-access-token:ghp_TOKEN123"),
        ] {
            let mut s = r.scanner();
            assert_eq!(s.push(format!("a {form} b").as_bytes()), Err(TokenInStream));
        }
    }

    #[test]
    fn forwarded_bytes_are_never_rewritten() {
        let r = redactor("ghp_TOKEN123");
        let input: Vec<u8> = b"ghp_TOKEN12 ghp_ *** x-access-token ghp_TOKEN12"
            .iter()
            .copied()
            .cycle()
            .take(5000)
            .collect();
        let mut s = r.scanner();
        let mut out = Vec::new();
        for chunk in input.chunks(37) {
            out.extend(s.push(chunk).unwrap());
        }
        out.extend(s.finish().unwrap());
        assert_eq!(out, input);
    }

    /// The oracle: a client that controls where output ends learns nothing from frame lengths,
    /// whether the tail is a prefix of the token or not.
    #[test]
    fn emitted_lengths_do_not_depend_on_token_prefixes() {
        let token = "ghp_SECRETabcdefghijklmnopqrstuvwxyz0123";
        let r = redactor(token);
        let lengths = |chunks: &[Vec<u8>]| -> Vec<usize> {
            let mut s = r.scanner();
            let mut v: Vec<usize> = chunks.iter().map(|c| s.push(c).unwrap().len()).collect();
            v.push(s.finish().unwrap().len());
            v
        };
        for n in 1..token.len() {
            let prefix = format!("data {}", &token[..n]);
            let other = format!("data {}", "Z".repeat(n));
            let a = lengths(&[prefix.clone().into_bytes(), b"\n".to_vec()]);
            let b = lengths(&[other.clone().into_bytes(), b"\n".to_vec()]);
            assert_eq!(a, b, "prefix of {n} bytes changed the emitted lengths");
        }
    }

    #[test]
    fn no_token_passes_through() {
        let r = Redactor::new(Arc::new(Token::none()));
        assert_eq!(r.redact(b"abc"), b"abc");
        let mut s = r.scanner();
        assert_eq!(s.push(b"abc"), Ok(b"abc".to_vec()));
    }
}

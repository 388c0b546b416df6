//! pkt-line framing (gitprotocol-common), parsed from untrusted bytes: bounded, no panics.

/// Largest pkt-line git allows (length prefix included).
pub const MAX_PKT: usize = 65520;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkt<'a> {
    /// `0000`
    Flush,
    /// `0001` (protocol v2 section delimiter)
    Delim,
    /// `0002` (protocol v2 response end)
    ResponseEnd,
    Data(&'a [u8]),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PktError {
    #[error("invalid pkt-line length prefix {0:?}")]
    BadLength(String),
    #[error("pkt-line of {0} bytes exceeds the limit of {MAX_PKT}")]
    TooLong(usize),
}

fn hex(b: u8) -> Option<usize> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as usize),
        b'a'..=b'f' => Some((b - b'a' + 10) as usize),
        b'A'..=b'F' => Some((b - b'A' + 10) as usize),
        _ => None,
    }
}

/// The first pkt-line of `buf` and the bytes it takes, `Ok(None)` if more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Pkt<'_>, usize)>, PktError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let mut len = 0usize;
    for &b in head {
        let d = hex(b).ok_or_else(|| {
            PktError::BadLength(String::from_utf8_lossy(head).escape_default().to_string())
        })?;
        len = len * 16 + d;
    }
    match len {
        0 => return Ok(Some((Pkt::Flush, 4))),
        1 => return Ok(Some((Pkt::Delim, 4))),
        2 => return Ok(Some((Pkt::ResponseEnd, 4))),
        3 => return Err(PktError::BadLength("0003".into())),
        n if n > MAX_PKT => return Err(PktError::TooLong(n)),
        _ => {}
    }
    match buf.get(4..len) {
        Some(data) => Ok(Some((Pkt::Data(data), len))),
        None => Ok(None),
    }
}

/// Encode one data pkt-line. `data` must be at most `MAX_PKT - 4` bytes.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", data.len() + 4).into_bytes();
    out.extend_from_slice(data);
    out
}

pub const FLUSH: &[u8] = b"0000";

/// Strip a smart-HTTP `# service=…` announcement and the flush after it from the start of an
/// info/refs body, if present. `Ok(None)` if more bytes are needed to decide.
pub fn strip_service_header(buf: &[u8]) -> Result<Option<usize>, PktError> {
    match parse(buf)? {
        None => Ok(None),
        Some((Pkt::Data(d), used)) if d.starts_with(b"# service=") => match parse(&buf[used..])? {
            None => Ok(None),
            Some((Pkt::Flush, f)) => Ok(Some(used + f)),
            Some(_) => Ok(Some(used)),
        },
        Some(_) => Ok(Some(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        assert_eq!(parse(b"000").unwrap(), None);
        assert_eq!(parse(b"0000rest").unwrap(), Some((Pkt::Flush, 4)));
        assert_eq!(parse(b"0001").unwrap(), Some((Pkt::Delim, 4)));
        assert_eq!(parse(b"0009hello").unwrap(), Some((Pkt::Data(b"hello"), 9)));
        assert_eq!(parse(b"0009hell").unwrap(), None);
        assert_eq!(
            parse(b"000Ahello\n").unwrap(),
            Some((Pkt::Data(b"hello\n"), 10))
        );
        assert!(matches!(parse(b"zzzz"), Err(PktError::BadLength(_))));
        assert!(matches!(parse(b"0003"), Err(PktError::BadLength(_))));
        assert!(matches!(parse(b"fff1"), Err(PktError::TooLong(65521))));
        assert_eq!(encode(b"ok\n"), b"0007ok\n");
    }

    #[test]
    fn service_header() {
        let mut body = encode(b"# service=git-upload-pack\n");
        body.extend_from_slice(FLUSH);
        body.extend_from_slice(b"000eversion 2\n");
        let n = strip_service_header(&body).unwrap().unwrap();
        assert_eq!(&body[n..], b"000eversion 2\n");
        assert_eq!(strip_service_header(b"000eversion 2\n").unwrap(), Some(0));
        assert_eq!(strip_service_header(&body[..10]).unwrap(), None);
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 7u32;
        for _ in 0..20_000 {
            let len = (seed % 12) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    b"0123456789abcdefxyz"[(seed >> 16) as usize % 19]
                })
                .collect();
            let _ = parse(&buf);
            let _ = strip_service_header(&buf);
        }
    }
}

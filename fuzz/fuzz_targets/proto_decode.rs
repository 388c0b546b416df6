//! Arbitrary bytes into the wire decoder (DESIGN §3, threat class 5).
//!
//! - `decode` (the agent's incremental decoder) and `read_frame` (the shim's blocking reader) must
//!   never panic, must consume what they claim, and must agree frame by frame on the same stream.
//! - Every frame that decodes must re-encode to a frame that decodes to the same value. One known
//!   exception, by design of the JSON writer rather than a decoding bug: a re-encoded Hello can be
//!   larger than the one received (the writer emits `\b`/`\f` as `\u0008`/`\u000c` and always
//!   writes every field), so a Hello close to `MAX_HELLO` may re-encode past the limit; then the
//!   decoder must refuse it as oversized, from the header, and nothing else.
#![no_main]

use gitgate_proto::{decode, max_len, read_frame, Frame, ProtoError};
use libfuzzer_sys::fuzz_target;

/// How a stream of frames ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Clean end: every byte belonged to a complete frame.
    Clean,
    /// Bytes left over that do not make a complete frame.
    Truncated,
    /// A bad header or payload.
    Error,
}

/// A short description for assertion messages (frames can be a MiB).
fn short(frame: &Frame) -> String {
    let text = format!("{frame:?}");
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}… ({} bytes encoded)", &text[..i], frame.encode().len()),
        None => text,
    }
}

fn roundtrip(frame: &Frame) {
    let bytes = frame.encode();
    if bytes.len() - 4 > max_len(frame.kind()) {
        assert!(
            matches!(frame, Frame::Hello(_)),
            "only a Hello may grow past its limit: {}",
            short(frame)
        );
        assert!(
            matches!(decode(&bytes[..5]), Err(ProtoError::Oversized { .. })),
            "oversized re-encoding not refused from its header: {}",
            short(frame)
        );
        return;
    }
    match decode(&bytes) {
        Ok(Some((again, used))) => {
            assert_eq!(used, bytes.len(), "re-encoded frame not fully consumed");
            assert!(
                &again == frame,
                "frame changed in an encode/decode round trip: {} became {}",
                short(frame),
                short(&again)
            );
        }
        other => panic!(
            "re-encoded {} does not decode: {:?}",
            short(frame),
            other.map(|o| o.map(|(f, n)| (short(&f), n)))
        ),
    }
    // The blocking reader must read it the same way.
    let mut cur = std::io::Cursor::new(&bytes[..]);
    match read_frame(&mut cur) {
        Ok(Some(again)) => assert!(&again == frame, "read_frame: {}", short(frame)),
        other => panic!(
            "read_frame of re-encoded {}: {:?}",
            short(frame),
            other.map(|o| o.map(|f| short(&f)))
        ),
    }
    assert_eq!(cur.position() as usize, bytes.len());
}

fn via_decode(data: &[u8]) -> (Vec<Frame>, End) {
    let mut frames = Vec::new();
    let mut buf = data;
    loop {
        match decode(buf) {
            Ok(Some((frame, used))) => {
                assert!(used >= 5 && used <= buf.len(), "bad consumed length {used}");
                frames.push(frame);
                buf = &buf[used..];
            }
            Ok(None) if buf.is_empty() => return (frames, End::Clean),
            Ok(None) => {
                // Incomplete: only possible if a header could still be followed by more bytes.
                return (frames, End::Truncated);
            }
            Err(_) => return (frames, End::Error),
        }
    }
}

fn via_read_frame(data: &[u8]) -> (Vec<Frame>, End) {
    let mut frames = Vec::new();
    let mut cur = std::io::Cursor::new(data);
    loop {
        match read_frame(&mut cur) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, End::Clean),
            Err(ProtoError::Truncated) => return (frames, End::Truncated),
            Err(ProtoError::Io(e)) => panic!("I/O error from an in-memory reader: {e}"),
            Err(_) => return (frames, End::Error),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (a, end_a) = via_decode(data);
    let (b, end_b) = via_read_frame(data);
    assert!(
        a == b,
        "decode and read_frame disagree on the frames: {:?} vs {:?}",
        a.iter().map(short).collect::<Vec<_>>(),
        b.iter().map(short).collect::<Vec<_>>()
    );
    assert_eq!(
        end_a, end_b,
        "decode and read_frame disagree on how the stream ends"
    );
    for frame in &a {
        roundtrip(frame);
    }
});

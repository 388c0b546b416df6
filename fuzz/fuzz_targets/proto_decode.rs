//! Arbitrary bytes into the wire decoder (DESIGN §3, threat class 5).
//!
//! - `decode` (the agent's incremental decoder) and `read_frame` (the shim's blocking reader) must
//!   never panic, must consume what they claim, and must agree frame by frame on the same stream.
//! - Every frame that decodes must re-encode to a frame that decodes to the same value, and the
//!   re-encoding must stay within the limits the decoder enforces.
#![no_main]

use gitgate_proto::{decode, read_frame, Frame, ProtoError};
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

fn roundtrip(frame: &Frame) {
    let bytes = frame.encode();
    match decode(&bytes) {
        Ok(Some((again, used))) => {
            assert_eq!(used, bytes.len(), "re-encoded frame not fully consumed");
            assert_eq!(&again, frame, "frame changed in an encode/decode round trip");
        }
        other => panic!("re-encoded {frame:?} does not decode: {other:?}"),
    }
    // The blocking reader must read it the same way.
    let mut cur = std::io::Cursor::new(&bytes[..]);
    match read_frame(&mut cur) {
        Ok(Some(again)) => assert_eq!(&again, frame),
        other => panic!("read_frame of re-encoded {frame:?}: {other:?}"),
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
    assert_eq!(a, b, "decode and read_frame disagree on the frames");
    assert_eq!(end_a, end_b, "decode and read_frame disagree on how the stream ends");
    for frame in &a {
        roundtrip(frame);
    }
});

use super::*;
use proptest::prelude::*;

fn hello() -> Hello {
    let mut h = Hello::new(
        Tool::Hook,
        vec!["pre-push".into(), "origin".into(), "feature/é".into()],
        "/workspace/repo".into(),
    );
    h.tty.stdout = true;
    h.cols = 120;
    h
}

fn round_trip(f: Frame) {
    let bytes = f.encode();
    let (back, used) = decode(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(back, f);
    let mut cursor = std::io::Cursor::new(bytes);
    assert_eq!(read_frame(&mut cursor).unwrap(), Some(f));
    assert!(read_frame(&mut cursor).unwrap().is_none());
}

#[test]
fn every_kind_round_trips() {
    round_trip(Frame::Hello(hello()));
    round_trip(Frame::Data(b"\x00\xffdata".to_vec()));
    round_trip(Frame::DataEof);
    round_trip(Frame::Signal(signal::SIGINT));
    round_trip(Frame::Data(vec![]));
    round_trip(Frame::Stderr(b"err".to_vec()));
    round_trip(Frame::Exit(Exit::code(128)));
    round_trip(Frame::Error(ErrorMsg {
        message: "gitgate: push refused".into(),
        code: exit::DENIED,
    }));
}

#[test]
fn truncated_frames_need_more_or_fail() {
    let bytes = Frame::Hello(hello()).encode();
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).unwrap().is_none(), "cut at {cut}");
        let mut cursor = std::io::Cursor::new(bytes[..cut].to_vec());
        let r = read_frame(&mut cursor);
        if cut == 0 {
            assert!(r.unwrap().is_none());
        } else {
            assert!(
                matches!(r, Err(ProtoError::Truncated)),
                "cut at {cut}: {r:?}"
            );
        }
    }
}

#[test]
fn oversized_frames_are_refused_from_the_header() {
    // Only the header is supplied: the decoder must refuse without waiting for the body.
    let mut h = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    h.push(Kind::Data as u8);
    assert!(matches!(decode(&h), Err(ProtoError::Oversized { .. })));
    let mut h = ((MAX_HELLO + 1) as u32).to_be_bytes().to_vec();
    h.push(Kind::Hello as u8);
    assert!(matches!(decode(&h), Err(ProtoError::Oversized { .. })));
    let mut h = u32::MAX.to_be_bytes().to_vec();
    h.push(Kind::Data as u8);
    assert!(matches!(
        read_frame(&mut std::io::Cursor::new(h)),
        Err(ProtoError::Oversized { .. })
    ));
}

#[test]
fn unknown_kinds_and_empty_frames() {
    assert!(matches!(
        decode(&[0, 0, 0, 1, 99]),
        Err(ProtoError::UnknownKind(99))
    ));
    assert!(matches!(decode(&[0, 0, 0, 0, 1]), Err(ProtoError::Empty)));
    assert!(matches!(
        decode(&[0, 0, 0, 1, 0]),
        Err(ProtoError::UnknownKind(0))
    ));
}

fn raw(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(kind as u8);
    v.extend_from_slice(payload);
    v
}

#[test]
fn invalid_utf8_and_nul_in_args_are_refused() {
    let bad_utf8 = raw(
        Kind::Hello,
        b"{\"version\":1,\"tool\":\"hook\",\"args\":[\"\xff\"],\"cwd\":\"/\"}",
    );
    assert!(matches!(decode(&bad_utf8), Err(ProtoError::BadPayload(_))));
    let nul = raw(
        Kind::Hello,
        br#"{"version":1,"tool":"hook","args":["a\u0000b"],"cwd":"/"}"#,
    );
    match decode(&nul) {
        Err(ProtoError::BadPayload(m)) => assert!(m.contains("NUL"), "{m}"),
        other => panic!("{other:?}"),
    }
    let nul_cwd = raw(
        Kind::Hello,
        br#"{"version":1,"tool":"hook","args":[],"cwd":"/a\u0000"}"#,
    );
    assert!(decode(&nul_cwd).is_err());
}

#[test]
fn hello_limits_and_shape() {
    let unknown_tool = raw(
        Kind::Hello,
        br#"{"version":1,"tool":"sh","args":[],"cwd":"/"}"#,
    );
    assert!(decode(&unknown_tool).is_err());
    let not_strings = raw(
        Kind::Hello,
        br#"{"version":1,"tool":"gh","args":[1],"cwd":"/"}"#,
    );
    assert!(decode(&not_strings).is_err());
    let long_arg = format!(
        r#"{{"version":1,"tool":"gh","args":["{}"],"cwd":"/"}}"#,
        "a".repeat(MAX_ARG_LEN + 1)
    );
    assert!(decode(&raw(Kind::Hello, long_arg.as_bytes())).is_err());
    let many = format!(
        r#"{{"version":1,"tool":"gh","args":[{}],"cwd":"/"}}"#,
        vec!["\"\""; MAX_ARGS + 1].join(",")
    );
    assert!(many.len() < MAX_HELLO);
    assert!(decode(&raw(Kind::Hello, many.as_bytes())).is_err());
    assert!(decode(&raw(Kind::Signal, b"")).is_err());
    assert!(decode(&raw(Kind::DataEof, b"x")).is_err());
}

#[test]
fn large_output_is_chunked() {
    let data = vec![7u8; CHUNK * 2 + 5];
    let mut out = Vec::new();
    write_frame(&mut out, &Frame::Data(data.clone())).unwrap();
    let mut cursor = std::io::Cursor::new(out);
    let mut got = Vec::new();
    while let Some(Frame::Data(part)) = read_frame(&mut cursor).unwrap() {
        assert!(part.len() <= CHUNK);
        got.extend(part);
    }
    assert_eq!(got, data);
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = read_frame(&mut std::io::Cursor::new(bytes));
    }

    #[test]
    fn hello_args_round_trip(args in proptest::collection::vec("[^\u{0}]{0,40}", 0..20), cwd in "/[^\u{0}]{0,30}") {
        let h = Hello::new(Tool::Hook, args, cwd);
        let bytes = Frame::Hello(h.clone()).encode();
        let (back, _) = decode(&bytes).unwrap().unwrap();
        prop_assert_eq!(back, Frame::Hello(h));
    }
}

#[test]
fn transport_hello_round_trips_and_is_checked() {
    let h = Hello::transport(
        "git-receive-pack",
        "https://github.com/acme/app.git",
        "version=2",
    );
    round_trip(Frame::Hello(h.clone()));
    // Only the two git services; a URL is required.
    let bad_service = raw(
        Kind::Hello,
        br#"{"version":3,"tool":"transport","service":"git-upload-archive","url":"https://x/a/b"}"#,
    );
    match decode(&bad_service) {
        Err(ProtoError::BadPayload(m)) => assert!(m.contains("unknown git service"), "{m}"),
        other => panic!("{other:?}"),
    }
    let no_url = raw(
        Kind::Hello,
        br#"{"version":3,"tool":"transport","service":"git-upload-pack"}"#,
    );
    assert!(decode(&no_url).is_err());
    let ctl = raw(
        Kind::Hello,
        br#"{"version":3,"tool":"transport","service":"git-upload-pack","url":"https://x/a/b","protocol":"version=2\n"}"#,
    );
    assert!(decode(&ctl).is_err());
    let minimal = raw(
        Kind::Hello,
        br#"{"version":3,"tool":"transport","service":"git-upload-pack","url":"https://x/a/b"}"#,
    );
    match decode(&minimal).unwrap().unwrap().0 {
        Frame::Hello(h) => {
            assert_eq!(h.tool, Tool::Transport);
            assert_eq!(h.protocol, "");
            assert!(h.args.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

//! gitgate wire protocol (DESIGN §3), shared by the agent and the shim. std only.
//!
//! A frame is a `u32` big-endian length of what follows, one kind byte, then the payload.
//! The length is checked against the limits *before* any payload is buffered, so an oversized
//! or malicious length never makes the reader allocate.
//!
//! Client → agent: `Hello` (JSON), `Data` (bytes), `DataEof`, `Signal` (one byte).
//! Agent → client: `Data`/`Stderr` (bytes, in order), then exactly one of `Exit` or `Error` (JSON), last.
//!
//! For the git transport (`tool: transport`), `Data` carries git's protocol bytes both ways,
//! unchanged: the shim is a pipe between git's remote-helper stdin/stdout and the agent.

pub mod json;

use json::Value;
use std::io::{self, Read, Write};

/// Protocol version carried in Hello. The agent refuses other versions with a clear error.
pub const PROTOCOL_VERSION: i64 = 3;
/// Largest frame (kind byte + payload).
pub const MAX_FRAME: usize = 1 << 20;
/// Largest Hello frame.
pub const MAX_HELLO: usize = 64 * 1024;
/// Most arguments in a Hello.
pub const MAX_ARGS: usize = 4096;
/// Longest single argument, in bytes.
pub const MAX_ARG_LEN: usize = 32 * 1024;
/// Bytes per Data/Stderr frame that writers should use (well under `MAX_FRAME`).
pub const CHUNK: usize = 64 * 1024;

/// Exit codes the shim uses besides the operation's own (git-compatible) code.
pub mod exit {
    /// Refused by policy.
    pub const DENIED: i32 = 126;
    /// The agent could not be reached.
    pub const UNREACHABLE: i32 = 127;
    /// Protocol or agent error.
    pub const PROTOCOL: i32 = 125;
}

/// Signals the shim forwards.
pub mod signal {
    pub const SIGINT: u8 = 2;
    pub const SIGTERM: u8 = 15;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Hello = 1,
    /// Bytes: the client's input (client → agent) or output (agent → client).
    Data = 2,
    DataEof = 3,
    Signal = 4,
    Stderr = 17,
    Exit = 18,
    Error = 19,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::Data,
            3 => Kind::DataEof,
            4 => Kind::Signal,
            17 => Kind::Stderr,
            18 => Kind::Exit,
            19 => Kind::Error,
            _ => return None,
        })
    }
}

/// Which front-end the client was invoked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// git's remote helper (`git-remote-https`): git protocol bytes for one service.
    Transport,
    AgentStatus,
    /// The pre-push hook asking whether ref updates would be allowed (advisory).
    Hook,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Transport => "transport",
            Tool::AgentStatus => "agent-status",
            Tool::Hook => "hook",
        }
    }
    pub fn parse(s: &str) -> Option<Tool> {
        Some(match s {
            "transport" => Tool::Transport,
            "agent-status" => Tool::AgentStatus,
            "hook" => Tool::Hook,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tty {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// The first frame of every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: i64,
    pub tool: Tool,
    /// Arguments after the program name (for git: starting at the subcommand; the shim
    /// consumes git's global options itself).
    pub args: Vec<String>,
    /// Absolute working directory of the client.
    pub cwd: String,
    pub tty: Tty,
    pub cols: u16,
    /// Transport: `git-upload-pack` or `git-receive-pack`.
    pub service: String,
    /// Transport: the remote URL exactly as git handed it to the helper.
    pub url: String,
    /// Transport: git's `GIT_PROTOCOL` (e.g. `version=2`), possibly empty.
    pub protocol: String,
}

/// The git services a transport Hello may name.
pub const SERVICES: [&str; 2] = ["git-upload-pack", "git-receive-pack"];
/// Longest `protocol` value accepted.
pub const MAX_PROTOCOL_LEN: usize = 1024;

/// The agent's final frame on success or operation failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
}

/// The agent's final frame when the request could not be run (denied, invalid, internal error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub message: String,
    pub code: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello(Hello),
    Data(Vec<u8>),
    DataEof,
    Signal(u8),
    Stderr(Vec<u8>),
    Exit(Exit),
    Error(ErrorMsg),
}

#[derive(Debug)]
pub enum ProtoError {
    /// Declared length exceeds the limit for this kind.
    Oversized {
        len: usize,
        max: usize,
    },
    /// A zero length (no kind byte).
    Empty,
    UnknownKind(u8),
    /// The stream ended inside a frame.
    Truncated,
    /// A JSON payload that does not parse or lacks required fields.
    BadPayload(String),
    Io(io::Error),
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::Oversized { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            ProtoError::Empty => write!(f, "empty frame"),
            ProtoError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            ProtoError::Truncated => write!(f, "connection closed in the middle of a frame"),
            ProtoError::BadPayload(m) => write!(f, "bad frame payload: {m}"),
            ProtoError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<io::Error> for ProtoError {
    fn from(e: io::Error) -> Self {
        ProtoError::Io(e)
    }
}

fn bad(msg: impl Into<String>) -> ProtoError {
    ProtoError::BadPayload(msg.into())
}

/// Check an argument or path string: UTF-8 is guaranteed by the type; NUL and length are not.
fn check_arg(what: &str, s: &str) -> Result<(), ProtoError> {
    if s.as_bytes().contains(&0) {
        return Err(bad(format!("{what} contains a NUL byte")));
    }
    if s.len() > MAX_ARG_LEN {
        return Err(bad(format!("{what} is longer than {MAX_ARG_LEN} bytes")));
    }
    Ok(())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, ProtoError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("missing string field '{key}'")))
}

fn int_field(v: &Value, key: &str) -> Result<i64, ProtoError> {
    v.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| bad(format!("missing integer field '{key}'")))
}

fn str_array(v: &Value, what: &str) -> Result<Vec<String>, ProtoError> {
    let items = v
        .as_array()
        .ok_or_else(|| bad(format!("'{what}' is not an array")))?;
    items
        .iter()
        .map(|a| {
            a.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("'{what}' holds a non-string")))
        })
        .collect()
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

impl Hello {
    pub fn new(tool: Tool, args: Vec<String>, cwd: String) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            tool,
            args,
            cwd,
            tty: Tty::default(),
            cols: 80,
            service: String::new(),
            url: String::new(),
            protocol: String::new(),
        }
    }

    /// A transport Hello: git wants `service` on `url`, with `GIT_PROTOCOL` = `protocol`.
    pub fn transport(service: &str, url: &str, protocol: &str) -> Hello {
        let mut h = Hello::new(Tool::Transport, Vec::new(), String::new());
        h.service = service.to_owned();
        h.url = url.to_owned();
        h.protocol = protocol.to_owned();
        h
    }

    pub fn to_value(&self) -> Value {
        Value::Object(vec![
            ("version".into(), Value::Int(self.version)),
            ("tool".into(), s(self.tool.as_str())),
            (
                "args".into(),
                Value::Array(self.args.iter().map(|a| s(a)).collect()),
            ),
            ("cwd".into(), s(&self.cwd)),
            (
                "tty".into(),
                Value::Object(vec![
                    ("stdin".into(), Value::Bool(self.tty.stdin)),
                    ("stdout".into(), Value::Bool(self.tty.stdout)),
                    ("stderr".into(), Value::Bool(self.tty.stderr)),
                ]),
            ),
            ("cols".into(), Value::Int(self.cols.into())),
            ("service".into(), s(&self.service)),
            ("url".into(), s(&self.url)),
            ("protocol".into(), s(&self.protocol)),
        ])
    }

    pub fn from_value(v: &Value) -> Result<Hello, ProtoError> {
        let version = int_field(v, "version")?;
        let tool_name = str_field(v, "tool")?;
        let tool =
            Tool::parse(tool_name).ok_or_else(|| bad(format!("unknown tool '{tool_name}'")))?;
        let args = match v.get("args") {
            Some(a) => str_array(a, "args")?,
            None => Vec::new(),
        };
        if args.len() > MAX_ARGS {
            return Err(bad(format!("more than {MAX_ARGS} arguments")));
        }
        for a in &args {
            check_arg("an argument", a)?;
        }
        let cwd = match v.get("cwd") {
            Some(c) => c
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad("'cwd' is not a string"))?,
            None => String::new(),
        };
        check_arg("cwd", &cwd)?;
        let flag = |k: &str| {
            v.get("tty")
                .and_then(|t| t.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let tty = Tty {
            stdin: flag("stdin"),
            stdout: flag("stdout"),
            stderr: flag("stderr"),
        };
        let cols = v
            .get("cols")
            .and_then(Value::as_i64)
            .map(|c| c.clamp(0, u16::MAX.into()) as u16)
            .unwrap_or(80);
        let opt_str = |k: &str| -> Result<String, ProtoError> {
            match v.get(k) {
                None => Ok(String::new()),
                Some(x) => x
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("'{k}' is not a string"))),
            }
        };
        let service = opt_str("service")?;
        let url = opt_str("url")?;
        let protocol = opt_str("protocol")?;
        check_arg("url", &url)?;
        if protocol.len() > MAX_PROTOCOL_LEN || protocol.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(bad("'protocol' is too long or holds control characters"));
        }
        if tool == Tool::Transport {
            if !SERVICES.contains(&service.as_str()) {
                return Err(bad(format!(
                    "unknown git service '{}'",
                    service.escape_default()
                )));
            }
            if url.is_empty() {
                return Err(bad("transport without a 'url'"));
            }
        }
        Ok(Hello {
            version,
            tool,
            args,
            cwd,
            tty,
            cols,
            service,
            url,
            protocol,
        })
    }
}

impl Exit {
    pub fn code(code: i32) -> Exit {
        Exit { code }
    }

    pub fn to_value(&self) -> Value {
        Value::Object(vec![("code".to_owned(), Value::Int(self.code.into()))])
    }

    pub fn from_value(v: &Value) -> Result<Exit, ProtoError> {
        let code = int_field(v, "code")?;
        let code = i32::try_from(code).map_err(|_| bad("exit code out of range"))?;
        Ok(Exit { code })
    }
}

impl ErrorMsg {
    pub fn to_value(&self) -> Value {
        Value::Object(vec![
            ("message".into(), s(&self.message)),
            ("code".into(), Value::Int(self.code.into())),
        ])
    }
    pub fn from_value(v: &Value) -> Result<ErrorMsg, ProtoError> {
        let code =
            i32::try_from(int_field(v, "code")?).map_err(|_| bad("error code out of range"))?;
        Ok(ErrorMsg {
            message: str_field(v, "message")?.to_owned(),
            code,
        })
    }
}

impl Frame {
    pub fn kind(&self) -> Kind {
        match self {
            Frame::Hello(_) => Kind::Hello,
            Frame::Data(_) => Kind::Data,
            Frame::DataEof => Kind::DataEof,
            Frame::Signal(_) => Kind::Signal,
            Frame::Stderr(_) => Kind::Stderr,
            Frame::Exit(_) => Kind::Exit,
            Frame::Error(_) => Kind::Error,
        }
    }

    /// Encode into a complete frame (header included). Byte payloads larger than the frame limit
    /// must be split by the caller (see [`CHUNK`]); [`write_frame`] does that for you.
    pub fn encode(&self) -> Vec<u8> {
        let json;
        let payload: &[u8] = match self {
            Frame::Hello(h) => {
                json = h.to_value().to_json();
                json.as_bytes()
            }
            Frame::Exit(e) => {
                json = e.to_value().to_json();
                json.as_bytes()
            }
            Frame::Error(e) => {
                json = e.to_value().to_json();
                json.as_bytes()
            }
            Frame::Data(b) | Frame::Stderr(b) => b,
            Frame::DataEof => &[],
            Frame::Signal(sig) => std::slice::from_ref(sig),
        };
        let mut out = Vec::with_capacity(5 + payload.len());
        out.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
        out.push(self.kind() as u8);
        out.extend_from_slice(payload);
        out
    }
}

/// Limit for a frame of the given kind (kind byte + payload).
pub fn max_len(kind: Kind) -> usize {
    match kind {
        Kind::Hello => MAX_HELLO,
        _ => MAX_FRAME,
    }
}

/// Validate a header: returns the kind and the total frame length (header + body) or an error.
/// Errors are raised from the header alone, before the body is read.
pub fn check_header(header: [u8; 5]) -> Result<(Kind, usize), ProtoError> {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len == 0 {
        return Err(ProtoError::Empty);
    }
    let kind = Kind::from_u8(header[4]).ok_or(ProtoError::UnknownKind(header[4]))?;
    let max = max_len(kind);
    if len > max {
        return Err(ProtoError::Oversized { len, max });
    }
    Ok((kind, 4 + len))
}

/// Decode the body of a frame whose header was accepted by [`check_header`].
pub fn decode_body(kind: Kind, payload: &[u8]) -> Result<Frame, ProtoError> {
    let parse_json = || json::parse(payload).map_err(|e| bad(e.to_string()));
    Ok(match kind {
        Kind::Hello => Frame::Hello(Hello::from_value(&parse_json()?)?),
        Kind::Exit => Frame::Exit(Exit::from_value(&parse_json()?)?),
        Kind::Error => Frame::Error(ErrorMsg::from_value(&parse_json()?)?),
        Kind::Data => Frame::Data(payload.to_vec()),
        Kind::Stderr => Frame::Stderr(payload.to_vec()),
        Kind::DataEof => {
            if !payload.is_empty() {
                return Err(bad("DataEof carries no payload"));
            }
            Frame::DataEof
        }
        Kind::Signal => match payload {
            [sig] => Frame::Signal(*sig),
            _ => return Err(bad("Signal carries exactly one byte")),
        },
    })
}

/// Incremental decoder: given the bytes received so far, returns the first complete frame and
/// how many bytes it used, `Ok(None)` if more bytes are needed, or an error as soon as the header
/// is known to be bad.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtoError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let (kind, total) = check_header([buf[0], buf[1], buf[2], buf[3], buf[4]])?;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((decode_body(kind, &buf[5..total])?, total)))
}

/// Read one frame from a blocking reader. `Ok(None)` on a clean end of stream before a frame.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Frame>, ProtoError> {
    let Some((kind, len)) = read_header(r)? else {
        return Ok(None);
    };
    let mut body = vec![0u8; len];
    read_payload(r, &mut body)?;
    decode_body(kind, &body).map(Some)
}

/// The next frame's header from a blocking reader: its kind and payload length (checked).
/// `Ok(None)` on a clean end of stream before a frame. For readers that keep their own payload
/// buffer (then [`read_payload`] and [`decode_body`]).
pub fn read_header(r: &mut impl Read) -> Result<Option<(Kind, usize)>, ProtoError> {
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtoError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (kind, total) = check_header(header)?;
    Ok(Some((kind, total - header.len())))
}

/// Exactly `payload.len()` bytes of a frame's payload.
pub fn read_payload(r: &mut impl Read, payload: &mut [u8]) -> Result<(), ProtoError> {
    r.read_exact(payload).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ProtoError::Truncated,
        _ => ProtoError::Io(e),
    })
}

/// Write one frame, splitting byte payloads into [`CHUNK`]-sized frames.
pub fn write_frame(w: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let chunked = |make: fn(Vec<u8>) -> Frame, data: &[u8], w: &mut dyn Write| {
        for part in data.chunks(CHUNK) {
            w.write_all(&make(part.to_vec()).encode())?;
        }
        Ok(())
    };
    match frame {
        Frame::Data(d) if d.len() > CHUNK => chunked(Frame::Data, d, w),
        Frame::Stderr(d) if d.len() > CHUNK => chunked(Frame::Stderr, d, w),
        _ => w.write_all(&frame.encode()),
    }
}

#[cfg(test)]
mod tests;

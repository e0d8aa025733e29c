//! Every way a command fails, with the exit code it leaves and a message that says what to do.

use std::fmt;

/// A command that did not do what was asked.
#[derive(Debug)]
pub enum Failure {
    /// The command line or the local setup is wrong (no secret, a bad flag value): exit 2.
    Usage(String),
    /// The server refused the request (4xx): exit 3, with the server's code and message.
    Refused { status: u16, code: String, message: String },
    /// The server is unreachable or failed (a network error, 5xx): exit 4.
    Unavailable(String),
    /// An event is not valid against the catalog (checked before sending): exit 65.
    Invalid(String),
    /// Whoever read the output stopped reading (`orgstream history | head -1`): exit 0, quietly.
    OutputClosed,
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Refused { .. } => 3,
            Failure::Unavailable(_) => 4,
            Failure::Invalid(_) => 65,
            Failure::OutputClosed => 0,
        }
    }
}

/// Writes `text` and a newline to standard output; a reader that went away is `OutputClosed`.
pub fn emit(out: &mut dyn std::io::Write, text: &str) -> Result<(), Failure> {
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Failure::OutputClosed,
        _ => Failure::Usage(format!("cannot write the output: {e}")),
    })
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Unavailable(m) | Failure::Invalid(m) => f.write_str(m),
            Failure::Refused { status, code, message } => {
                write!(f, "the server refused it ({status} {code}): {message}")
            }
            Failure::OutputClosed => f.write_str("the output was closed"),
        }
    }
}

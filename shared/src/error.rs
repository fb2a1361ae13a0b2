//! One error type for the whole tool. Every message reads "failed to {what}: {why}" and, where the
//! cause is in a user's file, names that file (and line) so the fix is one jump away.

use std::fmt;

/// Process exit codes, shared by both binaries.
pub mod exit {
    /// The plan has blocking problems (convert) or a check failed (verify).
    pub const BLOCKED: i32 = 1;
    /// Bad input or usage: nothing was written.
    pub const BAD_INPUT: i32 = 2;
    /// The filesystem or git refused an operation.
    pub const IO: i32 = 3;
}

/// Where in the user's tree something came from: a repo-relative path and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user's file can't be used as it is. `line` is known for parse errors.
    #[error("failed to load {file}{}: {msg}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input { file: String, line: Option<usize>, msg: String },

    /// A command-line argument is wrong.
    #[error("failed to {what}: {msg}")]
    Usage { what: String, msg: String },

    #[error("failed to read {path}: {source}")]
    Read { path: String, source: std::io::Error },

    #[error("failed to write {path}: {source}")]
    Write { path: String, source: std::io::Error },

    #[error("failed to {what}: {msg}")]
    Git { what: String, msg: String },
}

impl Error {
    pub fn input(file: impl Into<String>, line: Option<usize>, msg: impl Into<String>) -> Self {
        Error::Input { file: file.into(), line, msg: msg.into() }
    }

    pub fn usage(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Usage { what: what.into(), msg: msg.into() }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Usage { .. } => exit::BAD_INPUT,
            Error::Read { .. } | Error::Write { .. } | Error::Git { .. } => exit::IO,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

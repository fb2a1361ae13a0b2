//! One error type for the whole tool. Every message reads "failed to {what}: {why}" and, where the
//! cause is in a user's file, names that file (and line) so the fix is one jump away.

use std::fmt;

/// Process exit codes, shared by both binaries.
pub mod exit {
    /// The plan has blocking problems (convert) or a check failed (verify).
    pub const BLOCKED: i32 = 1;
    /// Bad input or usage: nothing was written.
    pub const BAD_INPUT: i32 = 2;
    /// The filesystem, git or helm refused an operation.
    pub const IO: i32 = 3;
    /// The cluster could not be reached (connection refused, TLS, timeout on connect).
    pub const UNREACHABLE: i32 = 4;
    /// The cluster refused the request (401/403): the user lacks a permission.
    pub const FORBIDDEN: i32 = 5;
    /// Flux's CRDs are not installed in the cluster.
    pub const FLUX_MISSING: i32 = 6;
    /// The named object does not exist.
    pub const NOT_FOUND: i32 = 7;
    /// Waiting for the cluster timed out.
    pub const TIMEOUT: i32 = 8;
}

/// What kind of cluster failure happened; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kubeconfig missing or invalid, unknown context: a usage problem.
    Config,
    Unreachable,
    Forbidden,
    FluxMissing,
    NotFound,
    Timeout,
    /// Anything else the apiserver answered.
    Api,
}

/// Where in the user's tree something came from: a repo-relative path and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Origin {
    /// `file:line`; objects read from a cluster have no line (`deployment/ollama`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { write!(f, "{}", self.file) } else { write!(f, "{}:{}", self.file, self.line) }
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

    /// An external tool (helm) is missing or could not do its part.
    #[error("failed to {what}: {msg}")]
    Tool { what: String, msg: String },

    #[error("failed to {what}: {msg}")]
    Cluster { fault: Fault, what: String, msg: String },
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
            Error::Read { .. } | Error::Write { .. } | Error::Git { .. } | Error::Tool { .. } => exit::IO,
            Error::Cluster { fault, .. } => match fault {
                Fault::Config => exit::BAD_INPUT,
                Fault::Unreachable | Fault::Api => exit::UNREACHABLE,
                Fault::Forbidden => exit::FORBIDDEN,
                Fault::FluxMissing => exit::FLUX_MISSING,
                Fault::NotFound => exit::NOT_FOUND,
                Fault::Timeout => exit::TIMEOUT,
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! helmigrate: move raw Kubernetes workloads in a Flux GitOps repo onto upstream Helm charts.
//!
//! The pipeline, one module per stage:
//! `source` (read the repo) → `model` (one normalized workload picture) → `profiles` (one file
//! per chart) → `plan` (values + ledger + file edits) → `apply` (atomic writes, git commits).
//! `cmd` holds one module per subcommand; `output` renders plans for people and machines.

pub mod error;
pub mod process;
pub mod model;
pub mod mapping;
pub mod plan;
pub mod profiles;
pub mod redact;
pub mod render;
pub mod schema;
pub mod source;
pub mod yaml;

pub use error::{Error, Result};
pub mod apply;
pub mod cli;
pub mod cmd;
pub mod output;
pub mod cluster;
pub mod verify;

//! One module per subcommand, as flux2's cmd/flux does.

pub mod completion;
pub mod convert;
pub mod reconcile;
pub mod rollback;
pub mod verify;

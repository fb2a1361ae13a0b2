//! The mapping vocabulary shared by chart profiles and the plan: Helm values addressed by
//! dotted paths, the ledger of what happened to every field, and the [`Mapper`] a profile fills
//! while it takes fields off the workload model. It sits below both: profiles and the plan
//! depend on it, never the other way round.

mod ledger;
mod mapper;
mod values;

pub use ledger::{Entry, Level, Status, Warning};
pub use mapper::{Mapper, env_shown};
pub use values::{Values, leaf_paths, merge, split_path};

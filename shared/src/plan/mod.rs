//! The plan: for each app, the chart values with a ledger of what was mapped, defaulted or
//! dropped, the HelmRelease/HelmRepository documents, and the file edits that swap the raw
//! manifests for them.

mod build;
mod files;
pub mod handover;
mod kustomization;
mod ledger;
mod marks;
mod mapper;
mod overrides;
mod routes;
pub mod sources;
mod transforms;
mod values;

pub use build::{ANNOTATION_PREFIX, AppPlan, ChartInfo, FixedRoute, Options, Plan, Skipped, build, load, plan_live, plan_tree};
pub use sources::{Source, Sources};
pub use files::{Action, FileChange};
pub use ledger::{Entry, Level, Status, Warning};
pub use mapper::{Mapper, env_shown};
pub use overrides::Overrides;
pub use values::{Values, merge, split_path};

//! The plan: for each app, the chart values with a ledger of what was mapped, defaulted or
//! dropped, the HelmRelease/HelmRepository documents, and the file edits that swap the raw
//! manifests for them.

mod build;
mod files;
pub mod handover;
mod kustomization;
mod marks;
mod overrides;
mod routes;
pub mod sources;
mod transforms;

pub use build::{ANNOTATION_PREFIX, AppPlan, ChartInfo, FixedRoute, Options, Plan, Skipped, build, load, plan_live, plan_tree};
pub use sources::{Source, Sources};
pub use files::{Action, FileChange};
pub use crate::mapping::{Entry, Level, Mapper, Status, Values, Warning, env_shown, merge, split_path};
pub use overrides::Overrides;

//! The one normalized picture of an app that every source produces and every chart profile reads:
//! a workload (pod template split into typed parts plus the untyped rest), the Services that
//! select it, the claims it mounts, the routes in front of it and the secrets it references.

mod app;
pub mod workload;

pub use app::{App, EffectiveEnv, Route, Service, ServicePort, collect, collect_apps, effective_env};
pub use workload::{Container, Env, EnvSource, Image, Mount, Port, Volume, VolumeSource, Workload, WorkloadKind};

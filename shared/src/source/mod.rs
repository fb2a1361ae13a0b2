//! Where workloads come from. `repo` reads a GitOps folder by following kustomizations the way
//! kustomize would, refusing anything it can't follow safely.

pub mod build;
pub mod flux;
pub mod repo;

pub use repo::{Kustomization, LiveMetadata, Object, Tree, load};

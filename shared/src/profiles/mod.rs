//! Chart profiles: one file per upstream chart. A profile knows how to recognise the app, where
//! the chart lives, and how every field of the old workload lands in the chart's values —
//! including the values the chart silently ignores. Adding a chart means adding a file here and
//! one line to `all()`; the pipeline does not change.

mod common;
mod ollama;
mod open_webui;

use crate::model::{App, Image, WorkloadKind};
use crate::plan::{Mapper, Values};

/// The main workload a chart renders: what the old one is replaced by (or adopted as).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartWorkload {
    pub kind: WorkloadKind,
    pub name: String,
    /// `spec.selector.matchLabels`, which Kubernetes never lets change on an existing object.
    pub selector: Vec<(String, String)>,
}

/// Where a chart is published and which version a profile was written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Chart {
    pub name: &'static str,
    pub version: &'static str,
    pub repository: &'static str,
    /// Name for a new HelmRepository object.
    pub source_name: &'static str,
}

pub trait Profile: Sync {
    fn chart(&self) -> Chart;
    /// Is `image` the app this chart deploys?
    fn detects(&self, image: &Image) -> bool;
    /// The Service the chart will render for this release and values: (name, port).
    fn service(&self, release: &str, values: &Values) -> (String, i64);
    /// The workload the chart will render for this release and values.
    fn workload(&self, release: &str, values: &Values) -> ChartWorkload;
    /// Move what the chart can express from `app` into values; `m.leftovers` reports the rest.
    fn map(&self, release: &str, app: &mut App, m: &mut Mapper);
}

pub fn all() -> &'static [&'static dyn Profile] {
    &[&ollama::Ollama, &open_webui::OpenWebui]
}

/// The profile whose app this is, judged by the workload's containers.
pub fn detect(app: &App) -> Option<&'static dyn Profile> {
    all().iter().copied().find(|p| app.workload.containers.iter().any(|c| p.detects(&c.image)))
}

pub fn by_chart_name(name: &str) -> Option<&'static dyn Profile> {
    all().iter().copied().find(|p| p.chart().name == name)
}

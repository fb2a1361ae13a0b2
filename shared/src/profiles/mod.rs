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
    /// The labels the chart's templates put on the workload's pods themselves, with the value
    /// when it is known (`None`: depends on the chart version): `podLabels` must never repeat them.
    fn chart_pod_labels(&self, release: &str, values: &Values) -> Vec<(&'static str, Option<String>)>;

    /// The chart's selector must match the pods it renders (the chart's own labels, then
    /// `podLabels`): one line saying why not, when it does not.
    fn selector_problem(&self, release: &str, values: &Values) -> Option<String> {
        let chart = self.chart_pod_labels(release, values);
        let pod_labels = values.get("podLabels").and_then(serde_json::Value::as_object);
        let extra = |k: &str| pod_labels.and_then(|m| m.get(k)).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        if let Some((k, _)) = chart.iter().find(|(k, _)| extra(k).is_some()) {
            return Some(format!("podLabels sets {k}, which chart {} sets on the pods itself (a duplicate key in the pod template): remove it from podLabels", self.chart().name));
        }
        let w = self.workload(release, values);
        for (k, v) in &w.selector {
            let got = chart.iter().find(|(c, _)| c == k).map(|(_, cv)| cv.clone()).or_else(|| Some(extra(k)));
            match got {
                Some(Some(g)) if &g == v => {}
                Some(None) if chart.iter().any(|(c, _)| c == k) => {}
                other => return Some(format!("the selector of {} {} ({k}={v}) would not match its pods (they get {}): remove the podLabels or --set that changes it",
                    w.kind, w.name, other.flatten().map_or_else(|| "no such label".to_string(), |g| format!("{k}={g}")))),
            }
        }
        None
    }
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

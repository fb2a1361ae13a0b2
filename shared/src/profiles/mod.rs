//! Chart profiles: one file per upstream chart. A profile knows how to recognise the app, where
//! the chart lives, and how every field of the old workload lands in the chart's values —
//! including the values the chart silently ignores. Adding a chart means adding a file here and
//! one line to `all()`; the pipeline does not change.

mod app_template;
mod common;
mod ollama;
mod open_webui;

use crate::model::{App, Image, WorkloadKind};
use crate::mapping::{Mapper, Values};

/// The main workload a chart renders: what the old one is replaced by (or adopted as).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartWorkload {
    pub kind: WorkloadKind,
    pub name: String,
    /// `spec.selector.matchLabels`, which Kubernetes never lets change on an existing object.
    pub selector: Vec<(String, String)>,
}

/// How Flux fetches a chart: a `HelmRepository` (an index over https) with the HelmRelease's
/// `chart.spec`, or an `OCIRepository` (one artifact, its tag the version) with `chartRef`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SourceKind {
    HelmRepository,
    OciRepository,
}

impl SourceKind {
    pub fn kind(self) -> &'static str {
        match self {
            SourceKind::HelmRepository => "HelmRepository",
            SourceKind::OciRepository => "OCIRepository",
        }
    }
}

/// Where a chart is published and which version a profile was written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Chart {
    pub name: &'static str,
    pub version: &'static str,
    /// The chart's Helm repository (https, with an index.yaml).
    pub repository: &'static str,
    /// The chart as an OCI artifact (`oci://…/<chart>`), when it is published that way.
    pub oci: Option<&'static str>,
    /// The source the ecosystem uses for it: what convert writes unless told otherwise.
    pub source: SourceKind,
    /// Name for a new source object.
    pub source_name: &'static str,
}

/// A Service the chart renders: its name and port numbers, the first one the main port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartService {
    pub name: String,
    pub ports: Vec<i64>,
}

pub trait Profile: Sync {
    fn chart(&self) -> Chart;
    /// Is `image` the app this chart deploys?
    fn detects(&self, image: &Image) -> bool;
    /// Can the chart run any Deployment or StatefulSet (a fallback for what no profile detects)?
    fn generic(&self) -> bool {
        false
    }
    /// The Services the chart renders for this release and values, the app's main one first.
    fn services(&self, release: &str, values: &Values) -> Vec<ChartService>;
    /// The workload the chart will render for this release and values.
    fn workload(&self, release: &str, values: &Values) -> ChartWorkload;
    /// Move what the chart can express from `app` into values; `m.leftovers` reports the rest.
    fn map(&self, release: &str, app: &mut App, m: &mut Mapper);
    /// The labels the chart's templates put on the workload's pods themselves, with the value
    /// when it is known (`None`: depends on the chart version): the pod labels in the values
    /// must never repeat them.
    fn chart_pod_labels(&self, release: &str, values: &Values) -> Vec<(&'static str, Option<String>)>;
    /// The values path of the extra labels for the pods.
    fn pod_labels_path(&self, _release: &str, _values: &Values) -> String {
        "podLabels".into()
    }
    /// The HelmRelease `spec` settings besides the chart, values and release name.
    fn release_spec(&self) -> serde_json::Value {
        serde_json::json!({
            "interval": "30m",
            "timeout": "10m",
            "install": { "remediation": { "retries": 3 } },
            "upgrade": { "cleanupOnFail": true, "remediation": { "retries": 3, "strategy": "rollback" } },
        })
    }
    /// The chart's values schema, embedded, when helm cannot check it offline (its published
    /// schema points at remote files): helmigrate validates the values against it instead.
    fn values_schema(&self) -> Option<&'static crate::schema::ChartSchema> {
        None
    }
    /// Extra `helm template` flags the render check needs for this chart.
    fn render_args(&self) -> &'static [&'static str] {
        &[]
    }
    /// HTTP paths that prove the app answers once migrated, as (Service, path): the Service
    /// given by a suffix to the app's main Service name (`""`: that one, `-tika`: a component).
    fn verify_probes(&self, _values: &serde_json::Value) -> Vec<(String, String)> {
        Vec::new()
    }
    /// What to check when `verify` finds a GPU limit missing on the new pods.
    fn gpu_hint(&self) -> &'static str {
        "check the GPU limits in the chart's resources values"
    }

    /// The chart's selector must match the pods it renders (the chart's own labels, then
    /// `podLabels`): one line saying why not, when it does not.
    fn selector_problem(&self, release: &str, values: &Values) -> Option<String> {
        let chart = self.chart_pod_labels(release, values);
        let path = self.pod_labels_path(release, values);
        let pod_labels = values.get(&path).and_then(serde_json::Value::as_object);
        let extra = |k: &str| pod_labels.and_then(|m| m.get(k)).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        if let Some((k, _)) = chart.iter().find(|(k, _)| extra(k).is_some()) {
            return Some(format!("{path} sets {k}, which chart {} sets on the pods itself (a duplicate key in the pod template): remove it from {path}", self.chart().name));
        }
        let w = self.workload(release, values);
        for (k, v) in &w.selector {
            let got = chart.iter().find(|(c, _)| c == k).map(|(_, cv)| cv.clone()).or_else(|| Some(extra(k)));
            match got {
                Some(Some(g)) if &g == v => {}
                Some(None) if chart.iter().any(|(c, _)| c == k) => {}
                other => return Some(format!("the selector of {} {} ({k}={v}) would not match its pods (they get {}): remove the pod label or --set that changes it",
                    w.kind, w.name, other.flatten().map_or_else(|| "no such label".to_string(), |g| format!("{k}={g}")))),
            }
        }
        None
    }
}

pub fn all() -> &'static [&'static dyn Profile] {
    &[&ollama::Ollama, &open_webui::OpenWebui, &app_template::AppTemplate]
}

/// The profile whose app this is, judged by the workload's containers.
pub fn detect(app: &App) -> Option<&'static dyn Profile> {
    all().iter().copied().find(|p| app.workload.containers.iter().any(|c| p.detects(&c.image)))
}

pub fn by_chart_name(name: &str) -> Option<&'static dyn Profile> {
    all().iter().copied().find(|p| p.chart().name == name)
}

/// The charts that can run any workload (`--fallback`, `--chart APP=CHART` for any app).
pub fn generic() -> impl Iterator<Item = &'static dyn Profile> {
    all().iter().copied().filter(|p| p.generic())
}

use serde_json::Value;

use super::{Entry, Level, Status, Warning};
use super::Values;
use crate::model::{Container, EnvSource, Workload, workload::compact};

/// What a chart profile fills in while it takes fields off the workload model.
#[derive(Debug, Default)]
pub struct Mapper {
    pub values: Values,
    pub ledger: Vec<Entry>,
    pub warnings: Vec<Warning>,
    /// HelmRelease `valuesFrom` entries (values that must come from a Secret at reconcile time).
    pub values_from: Vec<Value>,
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => compact(other),
    }
}

impl Mapper {
    /// `field` of the old workload goes to values `path`.
    pub fn map(&mut self, field: impl Into<String>, path: &str, value: impl Into<Value>) {
        self.map_why(field, path, value, "");
    }

    pub fn map_why(&mut self, field: impl Into<String>, path: &str, value: impl Into<Value>, why: impl Into<String>) {
        let value = value.into();
        self.ledger.push(Entry { field: field.into(), value: show(&value), path: path.into(), status: Status::Mapped, why: why.into() });
        self.values.set(path, value);
    }

    /// Record a mapping whose value is already placed (lists built up item by item, secrets).
    pub fn record(&mut self, field: impl Into<String>, shown: impl Into<String>, path: &str, why: impl Into<String>) {
        self.ledger.push(Entry { field: field.into(), value: shown.into(), path: path.into(), status: Status::Mapped, why: why.into() });
    }

    /// A value helmigrate sets although the old workload did not say it.
    pub fn defaulted(&mut self, path: &str, value: impl Into<Value>, why: impl Into<String>) {
        let value = value.into();
        self.ledger.push(Entry { field: "-".into(), value: show(&value), path: path.into(), status: Status::Defaulted, why: why.into() });
        self.values.set(path, value);
    }

    /// Something the chart does on its own, with no value set.
    pub fn chart_default(&mut self, path: &str, shown: impl Into<String>, why: impl Into<String>) {
        self.ledger.push(Entry { field: "-".into(), value: shown.into(), path: path.into(), status: Status::Defaulted, why: why.into() });
    }

    pub fn drop(&mut self, field: impl Into<String>, shown: impl Into<String>, why: impl Into<String>) {
        self.ledger.push(Entry { field: field.into(), value: shown.into(), path: String::new(), status: Status::Dropped, why: why.into() });
    }

    pub fn warn(&mut self, level: Level, message: impl Into<String>) {
        self.warnings.push(Warning { level, message: message.into() });
    }

    /// Report whatever is left of a mapped container as dropped.
    pub fn leftover_container(&mut self, c: &Container, chart: &str) {
        let why = || format!("chart {chart} has no value for this container field");
        for e in &c.env {
            self.drop(format!("env {}", e.name), e.describe(), why());
        }
        for m in &c.mounts {
            self.drop(format!("volumeMount {}", m.path), m.volume.clone(), why());
        }
        for p in &c.ports {
            self.drop(format!("port {}", p.name.as_deref().unwrap_or("-")), p.container_port.to_string(), why());
        }
        for (k, v) in c.requests.iter().map(|kv| ("requests", kv)).chain(c.limits.iter().map(|kv| ("limits", kv))) {
            self.drop(format!("resources.{k}.{}", v.0), show(v.1), why());
        }
        for (k, v) in &c.rest {
            self.drop(k.clone(), compact(v), why());
        }
    }

    /// Report everything still on the workload (after the profile took what it maps) as dropped,
    /// so nothing is ever lost silently.
    pub fn leftovers(&mut self, w: &Workload, chart: &str) {
        let why = format!("chart {chart} has no value for it");
        for (k, v) in &w.spec {
            self.drop(format!("spec.{k}"), compact(v), why.clone());
        }
        for (k, v) in &w.pod {
            self.drop(format!("pod {k}"), compact(v), why.clone());
        }
        let metadata = [("label", &w.labels), ("annotation", &w.annotations), ("pod label", &w.pod_labels), ("pod annotation", &w.pod_annotations)];
        for (what, map) in metadata {
            for (k, v) in map {
                self.drop(format!("{what} {k}"), show(v), why.clone());
            }
        }
        for c in &w.containers {
            self.drop(format!("container {}", c.name), c.image.reference(), format!("chart {chart} runs one container; extra containers have no value"));
            // A sidecar the chart cannot run would silently stop: never plan that.
            if !self.warnings.iter().any(|x| x.level == Level::Blocking && x.message.contains(&format!("container {} (", c.name))) {
                self.warn(Level::Blocking, format!("{}: container {} ({}) runs beside the app in the pod and chart {chart} cannot carry it; \
                    convert with --chart {}=app-template (a chart that runs every container), or move it to its own workload first", w.name, c.name, c.image.reference(), w.name));
            }
        }
        for c in &w.init_containers {
            self.drop(format!("initContainer {}", c.name), c.image.reference(), why.clone());
        }
        for v in &w.volumes {
            self.drop(format!("volume {}", v.name), compact(&v.to_k8s()), why.clone());
        }
        if self.ledger.iter().any(|e| e.status == Status::Dropped) {
            self.warn(Level::Warning, "some fields of the old workload have no chart value (see `dropped` in the ledger): re-create them by hand or accept the change");
        }
    }
}

/// The env entry as shown in the ledger (`secret name/key`, never a secret value).
pub fn env_shown(source: &EnvSource, name: &str) -> String {
    crate::model::Env { name: name.into(), source: source.clone() }.describe()
}

//! The Flux Kustomizations that apply a folder of the repo: they decide whether objects that
//! leave Git are garbage-collected (`prune: true`), which the hand-over has to plan around.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::source::repo::{split_objects_lenient, yaml_files};

/// A `kustomize.toolkit.fluxcd.io` Kustomization, from the repo's files or the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FluxKustomization {
    pub name: String,
    pub namespace: String,
    /// `spec.path`, repo-relative without `./` (`.` for the root).
    pub path: String,
    pub prune: bool,
    /// Where it was read: `clusters/home/apps.yaml` or `cluster`.
    pub from: String,
}

impl FluxKustomization {
    pub fn from_value(v: &Value, from: &str) -> Option<FluxKustomization> {
        let api = v.get("apiVersion").and_then(Value::as_str)?;
        if v.get("kind").and_then(Value::as_str) != Some("Kustomization") || !api.starts_with("kustomize.toolkit.fluxcd.io/") {
            return None;
        }
        let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(str::to_string);
        let path = s("/spec/path").unwrap_or_default();
        let path = path.trim_start_matches("./").trim_end_matches('/');
        Some(FluxKustomization {
            name: s("/metadata/name")?,
            namespace: s("/metadata/namespace").unwrap_or_else(|| "flux-system".into()),
            path: if path.is_empty() || path == "." { ".".into() } else { path.to_string() },
            prune: v.pointer("/spec/prune").and_then(Value::as_bool).unwrap_or(false),
            from: from.to_string(),
        })
    }

    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Does this Kustomization's path hold `dir` (repo-relative)?
    pub fn covers(&self, dir: &str) -> bool {
        self.path == "." || Path::new(dir).starts_with(&self.path)
    }
}

/// Every Flux Kustomization defined in the repo's YAML files (unreadable files are skipped:
/// this is advice for the plan, and the loader reports broken files of the converted folder).
pub fn kustomizations(root: &Path) -> Vec<FluxKustomization> {
    let mut out = Vec::new();
    for rel in yaml_files(root) {
        let Ok(text) = std::fs::read_to_string(root.join(&rel)) else { continue };
        if !text.contains("kustomize.toolkit.fluxcd.io") {
            continue;
        }
        out.extend(split_objects_lenient(&rel, &text).unwrap_or_default().iter().filter_map(|v| FluxKustomization::from_value(v, &rel)));
    }
    out
}

/// The Kustomizations that apply `file` (repo-relative): those whose path holds it, else, for an
/// overlay layout (`path: ./clusters/home/apps` listing `../../apps/base/ai`), those whose
/// kustomize tree reaches it.
pub fn applying<'k>(root: &Path, all: &'k [FluxKustomization], file: &str) -> Vec<&'k FluxKustomization> {
    let direct: Vec<&FluxKustomization> = all.iter().filter(|k| k.covers(file)).collect();
    if !direct.is_empty() {
        return direct;
    }
    all.iter().filter(|k| {
        let dir = root.join(&k.path);
        dir.join("kustomization.yaml").is_file() && crate::source::load(root, &dir).is_ok_and(|t| t.files.contains_key(file))
    }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_path_and_prune() {
        let v: Value = serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps"}, "spec": {"path": "./kubernetes/apps/", "prune": true}});
        let k = FluxKustomization::from_value(&v, "clusters/home/apps.yaml").expect("a Flux Kustomization");
        assert_eq!((k.path.as_str(), k.prune, k.namespace.as_str()), ("kubernetes/apps", true, "flux-system"));
        assert!(k.covers("kubernetes/apps/ai/ollama/statefulset.yaml"));
        assert!(!k.covers("kubernetes/apps-other/x.yaml"));
        let plain = serde_json::json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"});
        assert!(FluxKustomization::from_value(&plain, "k.yaml").is_none());
    }
}

//! The Flux Kustomizations that apply a folder of the repo: they decide whether objects that
//! leave Git are garbage-collected (`prune: true`), which the hand-over has to plan around.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::source::repo::{KUSTOMIZATION_NAMES, split_objects_lenient, yaml_files};

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
    /// `spec.targetNamespace`: the namespace of everything it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// `spec.components`, repo-relative (they are written relative to `spec.path`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Transformations Flux adds to the build itself (`spec.patches`, `images`, `namePrefix`,
    /// `nameSuffix`): what it applies differs from the files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transformers: Vec<String>,
    /// Those fields as written, for building the folder the way Flux does.
    #[serde(skip)]
    pub transforms: serde_json::Map<String, Value>,
    /// `status.lastAppliedRevision` of the live object (`main@sha1:…`): what Flux has applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<String>,
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
        let path = if path.is_empty() || path == "." { ".".to_string() } else { path.to_string() };
        let components = v.pointer("/spec/components").and_then(Value::as_array).into_iter().flatten()
            .filter_map(Value::as_str).map(|c| normalize(&format!("{}/{c}", if path == "." { "" } else { &path })))
            .collect();
        let transforms: serde_json::Map<String, Value> = ["patches", "images", "namePrefix", "nameSuffix"].iter()
            .filter_map(|t| Some((t.to_string(), v.pointer(&format!("/spec/{t}")).filter(|x| !x.is_null() && *x != &Value::Array(Vec::new()) && *x != "")?.clone())))
            .collect();
        let transformers = transforms.keys().cloned().collect();
        Some(FluxKustomization {
            name: s("/metadata/name")?,
            namespace: s("/metadata/namespace").unwrap_or_else(|| "flux-system".into()),
            path,
            prune: v.pointer("/spec/prune").and_then(Value::as_bool).unwrap_or(false),
            from: from.to_string(),
            target_namespace: s("/spec/targetNamespace").filter(|n| !n.is_empty()),
            components,
            transformers,
            transforms,
            applied_revision: s("/status/lastAppliedRevision").filter(|r| !r.is_empty()),
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

/// A repo-relative path with `.` and `..` segments resolved lexically (`.` for the root).
pub fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    if out.is_empty() { ".".into() } else { out.join("/") }
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

/// The Kustomizations that apply `file` (repo-relative): those whose build reaches it through
/// kustomizations (`resources`, `components`, folders), overlays included. A Kustomization
/// whose path merely holds the file's folder but reaches it only through another Flux
/// Kustomization (the `ks.yaml` layout) does not apply it.
pub fn applying<'k>(root: &Path, all: &'k [FluxKustomization], file: &str) -> Vec<&'k FluxKustomization> {
    let reached: Vec<(&FluxKustomization, HashSet<String>)> = all.iter().map(|k| (k, reached_files(root, &k.path))).collect();
    let direct: Vec<&FluxKustomization> = reached.iter().filter(|(_, r)| r.contains(file)).map(|(k, _)| *k).collect();
    if !direct.is_empty() {
        return direct;
    }
    // A file not (or no longer) listed, such as a HelmRelease a rollback removed: the
    // Kustomizations that read the other files of its folder.
    let dir = Path::new(file).parent();
    reached.iter().filter(|(_, r)| r.iter().any(|f| Path::new(f).parent() == dir)).map(|(k, _)| *k).collect()
}

/// Every file a build of the folder `dir` (repo-relative, `.` for the root) reads as a
/// resource, following kustomizations only (no manifest is parsed): cheap enough to ask for each
/// Flux Kustomization of a repo.
pub fn reached_files(root: &Path, dir: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut seen = HashSet::new();
    let start = if dir == "." { root.to_path_buf() } else { root.join(dir) };
    reach(root, &start, true, &mut seen, &mut out);
    out
}

fn reach(root: &Path, dir: &Path, entry: bool, seen: &mut HashSet<PathBuf>, out: &mut HashSet<String>) {
    let Ok(dir) = dir.canonicalize() else { return };
    if !dir.starts_with(root) || !seen.insert(dir.clone()) {
        return;
    }
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/");
    let kfile = KUSTOMIZATION_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let Some(kfile) = kfile else {
        if entry {
            // Flux generates a kustomization: every YAML file below, folders with their own whole.
            for f in yaml_files(&dir) {
                let p = dir.join(&f);
                match p.ancestors().skip(1).take_while(|a| *a != dir).find(|a| KUSTOMIZATION_NAMES.iter().any(|n| a.join(n).is_file())) {
                    Some(sub) => reach(root, sub, false, seen, out),
                    None => {
                        out.insert(rel(&p));
                    }
                }
            }
        }
        return;
    };
    let Ok(text) = std::fs::read_to_string(&kfile) else { return };
    let Ok(docs) = split_objects_lenient(&rel(&kfile), &text) else { return };
    let Some(k) = docs.first() else { return };
    for field in ["resources", "bases", "components"] {
        for e in k.get(field).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            let p = dir.join(e);
            if p.is_dir() {
                reach(root, &p, false, seen, out);
            } else if let Ok(real) = p.canonicalize() && real.starts_with(root) {
                out.insert(rel(&real));
            }
        }
    }
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

//! Kustomize entries that shaped a converted workload. Its values already carry their effect
//! (the model is the built object), so the entries naming it leave the kustomizations: one whose
//! target is gone either breaks the build (an untargeted patch, a `replicas` entry) or stays
//! behind as dead configuration. An entry that also shapes other objects cannot go, and blocks.

use serde_json::Value;

use super::files::FileSet;
use super::kustomization::remove_items;
use crate::mapping::Level;
use crate::mapping::Mapper;
use crate::error::Result;
use crate::source::repo::{Effective, Kustomization, read_text};
use crate::source::Tree;
use crate::yaml::{self, split_documents};

/// Does a kustomization list entry apply to the workload alone, to it among others, or not?
enum Hit {
    Only,
    Shared(String),
    No,
}

/// The workload's name as its file writes it (a `namePrefix` changes the built one).
fn source_name(tree: &Tree, object: usize) -> Option<String> {
    let o = &tree.objects[object];
    let doc = split_documents(&tree.files.get(&o.file)?.text).into_iter().nth(o.doc)?;
    let v = yaml::parse_document(&o.file, &doc).ok()?;
    v.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string)
}

/// Remove the entries of the kustomizations above the workload that patch or scale it alone.
pub fn unhook(tree: &Tree, object: usize, files: &mut FileSet, m: &mut Mapper) -> Result<()> {
    let o = &tree.objects[object];
    if o.effective != Effective::Built {
        return Ok(());
    }
    let names: Vec<String> = [Some(o.name.clone()), source_name(tree, object)].into_iter().flatten().collect();
    let mut k = Some(o.kustomization);
    while let Some(ki) = k {
        let kz = &tree.kustomizations[ki];
        k = kz.parent;
        if kz.generated || kz.transformers.is_empty() {
            continue;
        }
        let text = files.get(&kz.file)?.unwrap_or_default();
        let value = yaml::parse_str(&kz.file, &text)?;
        let mut edited = text.clone();
        let mut removed = Vec::new();
        for field in ["patches", "patchesStrategicMerge", "patchesJson6902", "replicas"] {
            let Some(items) = value.get(field).and_then(Value::as_array) else { continue };
            let mut remove = Vec::new();
            for (n, item) in items.iter().enumerate() {
                match hit(tree, kz, field, item, &o.kind, &names) {
                    Hit::Only => remove.push(n),
                    Hit::Shared(why) => m.warn(Level::Blocking, format!(
                        "{}: {field} entry {} of {} shapes it together with other objects ({why}); its effect is in the values, but the entry cannot be removed for this workload alone: split it, then convert",
                        o.name, n + 1, kz.file)),
                    Hit::No => {}
                }
            }
            if remove.is_empty() {
                continue;
            }
            match remove_items(&kz.file, &edited, field, &remove)? {
                Some(t) => {
                    edited = t;
                    removed.push(format!("{} {field} entr{}", remove.len(), if remove.len() == 1 { "y" } else { "ies" }));
                }
                None => m.warn(Level::Blocking, format!(
                    "{}: {} names it in `{field}` (entries {}), which helmigrate cannot remove without rewriting the file: remove them by hand (their effect is already in the values)",
                    o.name, kz.file, remove.iter().map(|n| (n + 1).to_string()).collect::<Vec<_>>().join(", "))),
            }
        }
        if edited != text {
            files.set(&kz.file, Some(edited))?;
            m.warn(Level::Info, format!("{}: {} of {} shaped it; their effect is in the values, so they are removed from the kustomization", o.name, removed.join(" and "), kz.file));
        }
    }
    Ok(())
}

fn hit(tree: &Tree, kz: &Kustomization, field: &str, item: &Value, kind: &str, names: &[String]) -> Hit {
    let named = |v: &Value| v.get("name").and_then(Value::as_str).is_some_and(|n| names.iter().any(|x| x == n));
    let kind_ok = |v: &Value| v.get("kind").and_then(Value::as_str).is_none_or(|k| k == kind);
    match field {
        "replicas" => if named(item) { Hit::Only } else { Hit::No },
        _ => {
            if let Some(target) = item.get("target") {
                let selects = ["labelSelector", "annotationSelector"].iter().any(|s| target.get(*s).is_some());
                return if !selects && named(target) && kind_ok(target) { Hit::Only } else { Hit::No };
            }
            // An untargeted patch names its objects itself: inline, or in a file.
            let text = match item {
                Value::String(s) if s.contains('\n') || s.contains("kind:") => Some(s.clone()),
                Value::String(path) => read_patch(tree, kz, path),
                Value::Object(_) => item.get("patch").and_then(Value::as_str).map(str::to_string)
                    .or_else(|| item.get("path").and_then(Value::as_str).and_then(|p| read_patch(tree, kz, p))),
                _ => None,
            };
            let Some(text) = text else { return Hit::No };
            let docs: Vec<Value> = split_documents(&text).iter().filter(|d| !d.is_blank())
                .filter_map(|d| yaml::parse_document(&kz.file, d).ok()).filter(|v| !v.is_null()).collect();
            let ours = |v: &Value| v.get("kind").and_then(Value::as_str) == Some(kind) && v.get("metadata").is_some_and(named);
            match docs.iter().filter(|v| ours(v)).count() {
                0 => Hit::No,
                n if n == docs.len() => Hit::Only,
                _ => Hit::Shared("the patch also names other objects".into()),
            }
        }
    }
}

fn read_patch(tree: &Tree, kz: &Kustomization, path: &str) -> Option<String> {
    let rel = crate::source::flux::normalize(&format!("{}/{path}", kz.dir));
    read_text(&tree.root.join(&rel), &rel).ok()
}

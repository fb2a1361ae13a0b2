//! Objects as Flux applies them. A folder whose kustomizations transform what they list
//! (patches, labels, images, generators, components that patch; or a Flux Kustomization's own
//! `patches`/`images`/`namePrefix`) is built with real kustomize — `kustomize build` or
//! `kubectl kustomize`, load restrictor off as in kustomize-controller — and each built object
//! replaces the value read from its file, found again through kustomize's origin annotations.
//! Plain folders never run kustomize: their files already are what Flux applies.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::flux::FluxKustomization;
use super::repo::{Effective, Kustomization, Object, Tree, is_sops, redact};
use crate::yaml::{self, split_documents};

/// How long one kustomize build may take.
const TIMEOUT: Duration = Duration::from_secs(60);
const ORIGIN: &str = "config.kubernetes.io/origin";

/// The kustomize to build with: `HELMIGRATE_KUSTOMIZE` (a `kustomize` or `kubectl` binary), else
/// `kustomize` on PATH, else `kubectl` on PATH (which ships kustomize as `kubectl kustomize`).
fn kustomize() -> Result<(PathBuf, bool), String> {
    let is_kubectl = |p: &Path| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("kubectl"));
    if let Some(p) = std::env::var_os("HELMIGRATE_KUSTOMIZE").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok((p.clone(), is_kubectl(&p))) } else { Err(format!("HELMIGRATE_KUSTOMIZE points at {}, which is not a file", p.display())) };
    }
    if let Ok(p) = which::which("kustomize") {
        return Ok((p, false));
    }
    which::which("kubectl").map(|p| (p, true)).map_err(|_| "neither kustomize nor kubectl was found on PATH".to_string())
}

/// Does the kustomization at `k` — or one above it up to its entry — transform what it lists?
/// Returns the entry's index and what transforms, or `None` when nothing does.
pub fn transforms(tree: &Tree, mut k: usize) -> Option<(usize, Vec<String>)> {
    let mut what = Vec::new();
    loop {
        let kz = &tree.kustomizations[k];
        what.extend(kz.transformers.iter().map(|t| format!("{t} ({})", kz.file)));
        match kz.parent {
            Some(p) => k = p,
            None => break,
        }
    }
    if let Some(f) = tree.kustomizations[k].applier.map(|i| &tree.flux[i]).filter(|f| f.path == tree.kustomizations[k].dir) {
        what.extend(f.transformers.iter().map(|t| format!("{t} (Flux Kustomization {})", f.name)));
    }
    (!what.is_empty()).then_some((k, what))
}

/// Replace the values of every object under a transforming kustomization with what kustomize
/// builds. A folder that does not build marks its objects `Unbuildable` with kustomize's message.
pub fn effective(tree: &mut Tree) {
    let units: BTreeSet<usize> = tree.objects.iter()
        .filter(|o| o.kustomization < tree.kustomizations.len())
        .filter_map(|o| transforms(tree, o.kustomization).map(|(entry, _)| entry))
        .collect();
    for unit in units {
        let members: Vec<usize> = (0..tree.objects.len())
            .filter(|&i| tree.objects[i].kustomization < tree.kustomizations.len() && entry_of(tree, tree.objects[i].kustomization) == unit)
            .collect();
        match build_unit(tree, unit) {
            Ok(built) => apply_built(tree, unit, &members, built),
            Err(why) => {
                for i in members {
                    tree.objects[i].effective = Effective::Unbuildable(why.clone());
                }
            }
        }
    }
}

/// The entry kustomization (PATH, or a Flux Kustomization's path) that `k` was reached from.
pub fn entry_of(tree: &Tree, mut k: usize) -> usize {
    while let Some(p) = tree.kustomizations[k].parent {
        k = p;
    }
    k
}

/// `to` (absolute) as a path relative to the folder `from` (absolute).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_c: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to_c).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_c[common..] {
        out.push(c);
    }
    out
}

/// Build one entry folder the way kustomize-controller would: through a wrapper kustomization
/// that adds the Flux Kustomization's namespace, components and transforms, and asks kustomize
/// to record where each object came from.
fn build_unit(tree: &Tree, unit: usize) -> Result<Vec<Value>, String> {
    let k = &tree.kustomizations[unit];
    let flux = k.applier.map(|i| &tree.flux[i]).filter(|f| f.path == k.dir);
    build_dir(&tree.root, k, flux)
}

/// Build the entry `k` of a tree whose files are under `root` (the repo, or a copy of it with
/// the plan's changes): the built objects, each with its origin as `__origin`.
pub fn build_dir(root: &Path, k: &Kustomization, flux: Option<&FluxKustomization>) -> Result<Vec<Value>, String> {
    let shown = if k.dir.is_empty() { ".".to_string() } else { k.dir.clone() };
    let fail = |why: String| format!("kustomize cannot build {shown}: {why}");
    let (bin, is_kubectl) = kustomize().map_err(|e| format!(
        "{shown} transforms its objects, so helmigrate reads it with kustomize, but {e}: install kubectl or kustomize (or set HELMIGRATE_KUSTOMIZE)"))?;
    let wrap = tempfile::Builder::new().prefix("helmigrate-build").tempdir().map_err(|e| fail(format!("no temporary folder: {e}")))?;
    let wdir = wrap.path().canonicalize().map_err(|e| fail(e.to_string()))?;
    let rel = |p: &Path| relative(&wdir, p).to_string_lossy().to_string();
    let dir = root.join(&k.dir);
    let resources: Vec<String> = if k.generated {
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        super::repo::generated_listing(root, &dir, false, &mut files, &mut dirs).map_err(|e| fail(e.to_string()))?;
        dirs.iter().chain(&files).map(|p| rel(p)).collect()
    } else {
        vec![rel(&dir)]
    };
    let mut w = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "buildMetadata": ["originAnnotations"],
    });
    if let Some(ns) = &k.outer_namespace {
        w["namespace"] = json!(ns);
    }
    if let Some(f) = flux {
        if !f.components.is_empty() {
            w["components"] = json!(f.components.iter().map(|c| rel(&root.join(c))).collect::<Vec<_>>());
        }
        for (key, v) in &f.transforms {
            w[key] = v.clone();
        }
    }
    std::fs::write(wdir.join("kustomization.yaml"), serde_json::to_string(&w).unwrap_or_default())
        .map_err(|e| fail(format!("cannot write the build wrapper: {e}")))?;
    let mut args: Vec<OsString> = Vec::new();
    if is_kubectl {
        args.push("kustomize".into());
    } else {
        args.push("build".into());
    }
    args.extend(["--load-restrictor".into(), "LoadRestrictionsNone".into(), wdir.clone().into_os_string()]);
    let out = crate::process::run("kustomize", &bin, &args, TIMEOUT).map_err(fail)?;
    if !out.success {
        let msg = out.stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("# Warning"))
            .map(|l| klog_message(l).unwrap_or(l)).collect::<Vec<_>>().join(" ");
        // kustomize names paths relative to the wrapper: show them from the repo root.
        let msg = msg.replace(&format!("{}/", rel(root)), "").replace(&wdir.to_string_lossy().to_string(), "(build)");
        return Err(fail(if msg.is_empty() { "it failed without a message".into() } else { msg }));
    }
    let mut objects = Vec::new();
    for doc in split_documents(&out.stdout).iter().filter(|d| !d.is_blank()) {
        let mut v = yaml::parse_document("kustomize output", doc).map_err(|e| fail(e.to_string()))?;
        if v.is_null() {
            continue;
        }
        // The origin, as a repo-relative path, moved to a private key.
        if let Some(origin) = v.pointer(&format!("/metadata/annotations/{}", ORIGIN.replace('/', "~1"))).and_then(Value::as_str).map(str::to_string) {
            let o = yaml::parse_str("kustomize origin", &origin).unwrap_or(Value::Null);
            let to_repo = |p: &str| wdir.join(p).canonicalize().ok().and_then(|a| a.strip_prefix(root).ok().map(|r| r.to_string_lossy().replace('\\', "/")));
            let path = o.get("path").and_then(Value::as_str).and_then(to_repo);
            let configured = o.get("configuredIn").and_then(Value::as_str).and_then(to_repo);
            if let Some(a) = v.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
                a.remove(ORIGIN);
                if a.is_empty() {
                    v["metadata"].as_object_mut().map(|m| m.remove("annotations"));
                }
            }
            v["__origin"] = json!({ "path": path, "configuredIn": configured });
        }
        objects.push(v);
    }
    Ok(objects)
}

/// kubectl's log line `E1202 13:13:21.5 28556 run.go:72] "command failed" err="…"`: the `err`.
fn klog_message(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("] ")?;
    let err = rest.split_once("err=\"")?.1;
    Some(err.strip_suffix('"').unwrap_or(err))
}

/// Put the built objects in place of the ones read from the files of `unit`.
fn apply_built(tree: &mut Tree, unit: usize, members: &[usize], built: Vec<Value>) {
    let mut by_file: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for &i in members {
        let o = &tree.objects[i];
        by_file.entry((o.file.clone(), o.kind.clone())).or_default().push(i);
    }
    let mut seen = BTreeSet::new();
    let kfile_index: BTreeMap<String, usize> = tree.kustomizations.iter().enumerate().map(|(i, k)| (k.file.clone(), i)).collect();
    for mut v in built {
        let origin = v.as_object_mut().and_then(|m| m.remove("__origin")).unwrap_or(Value::Null);
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let (Some(kind), Some(name)) = (s("/kind"), s("/metadata/name")) else { continue };
        let api_version = s("/apiVersion").unwrap_or_default();
        let namespace = s("/metadata/namespace");
        if kind == "Secret" || is_sops(&v) {
            v = redact(&v);
        }
        let from_file = origin.get("path").and_then(Value::as_str).and_then(|f| {
            let candidates = by_file.get(&(f.to_string(), kind.clone()))?;
            candidates.iter().copied().find(|&i| tree.objects[i].name == name)
                .or_else(|| {
                    let near: Vec<usize> = candidates.iter().copied().filter(|&i| !seen.contains(&i) && name.contains(tree.objects[i].name.as_str())).collect();
                    (near.len() == 1).then(|| near[0])
                })
        });
        match from_file {
            Some(i) => {
                seen.insert(i);
                let o = &mut tree.objects[i];
                o.name = name;
                if namespace.is_some() {
                    o.namespace = namespace;
                }
                o.api_version = api_version;
                o.value = v;
                o.effective = Effective::Built;
            }
            None => {
                // Made by a generator (or a resource the loader does not see): kept to resolve
                // references such as `envFrom`, never edited.
                let file = origin.get("configuredIn").and_then(Value::as_str)
                    .or_else(|| origin.get("path").and_then(Value::as_str))
                    .map_or_else(|| tree.kustomizations[unit].file.clone(), str::to_string);
                let kustomization = kfile_index.get(&file).copied().unwrap_or(unit);
                tree.objects.push(Object { file, doc: usize::MAX, line: 0, api_version, kind, name, namespace, kustomization, value: v, effective: Effective::Generated });
            }
        }
    }
    for &i in members {
        if !seen.contains(&i) {
            tree.objects[i].effective = Effective::Removed;
        }
    }
}

/// Check that every entry folder the plan changed and that transforms still builds once the
/// changes are made: the repo's files are copied (hidden folders left out) with `changes`
/// applied, and each such folder built there. Returns (entry folder, kustomize's message) for
/// each that fails.
pub fn rebuild_changed(tree: &Tree, entries: &BTreeSet<usize>, changes: &[(String, Option<String>)]) -> Vec<(String, String)> {
    if entries.is_empty() {
        return Vec::new();
    }
    let copy = match tempfile::Builder::new().prefix("helmigrate-after").tempdir() {
        Ok(d) => d,
        Err(e) => return vec![(".".into(), format!("no temporary folder to check the changed build in: {e}"))],
    };
    let root = match copy.path().canonicalize() {
        Ok(r) => r,
        Err(e) => return vec![(".".into(), e.to_string())],
    };
    if let Err(e) = copy_tree(&tree.root, &root) {
        return vec![(".".into(), format!("cannot copy the repo to check the changed build: {e}"))];
    }
    for (path, after) in changes {
        let p = root.join(path);
        let done = match after {
            Some(text) => p.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&p, text)),
            None => std::fs::remove_file(&p).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }),
        };
        if let Err(e) = done {
            return vec![(path.clone(), format!("cannot stage the change to check the build: {e}"))];
        }
    }
    entries.iter().filter_map(|&e| {
        let k = &tree.kustomizations[e];
        let flux = k.applier.map(|i| &tree.flux[i]).filter(|f| f.path == k.dir);
        build_dir(&root, k, flux).err().map(|why| (if k.dir.is_empty() { ".".to_string() } else { k.dir.clone() }, why))
    }).collect()
}

/// Copy the regular files below `from` into `to`, leaving out hidden folders (`.git`) and
/// build/dependency folders.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        let n = name.to_string_lossy();
        let ft = e.file_type()?;
        if n.starts_with('.') && ft.is_dir() || ["target", "node_modules"].contains(&n.as_ref()) {
            continue;
        }
        let dest = to.join(&name);
        if ft.is_dir() {
            std::fs::create_dir_all(&dest)?;
            copy_tree(&e.path(), &dest)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

/// Workloads whose file other Flux Kustomizations apply too (a base under several overlays):
/// each of those is read the way Flux builds it, and a workload it makes differently from the
/// one read here is `Divergent` — one HelmRelease in the shared file cannot be both.
pub fn shared_files(tree: &mut Tree) {
    let mut others: HashMap<usize, Option<Tree>> = HashMap::new();
    for i in 0..tree.objects.len() {
        let o = &tree.objects[i];
        if !matches!(o.kind.as_str(), "Deployment" | "StatefulSet") || !matches!(o.effective, Effective::AsWritten | Effective::Built)
            || o.kustomization >= tree.kustomizations.len() {
            continue;
        }
        let entry = &tree.kustomizations[entry_of(tree, o.kustomization)];
        let ours = entry.applier.filter(|&a| tree.flux[a].path == entry.dir);
        let appliers: Vec<usize> = tree.appliers(&o.file).into_iter().filter(|a| Some(*a) != ours).collect();
        let mut differs = Vec::new();
        for a in appliers {
            let other = others.entry(a).or_insert_with(|| {
                let f = &tree.flux[a];
                super::repo::load_with(&tree.root, &tree.root.join(if f.path == "." { "" } else { &f.path }), false).ok()
            });
            let Some(other) = other else { continue };
            let Some(theirs) = other.objects.iter().find(|x| x.file == o.file && x.doc == o.doc) else { continue };
            if let Some(field) = first_difference(o.value.get("spec"), theirs.value.get("spec"), "spec") {
                let f = &tree.flux[a];
                differs.push(format!("Flux Kustomization {} ({}, path {}) makes it with a different {field}", f.name, f.from, f.path));
            }
        }
        if !differs.is_empty() {
            let how = match ours {
                Some(a) => format!("as read through Flux Kustomization {} ({})", tree.flux[a].name, tree.flux[a].from),
                None => "as its file is written".to_string(),
            };
            let why = format!("{} is applied by more than one Flux Kustomization and they run different things: {how}, but {}; one HelmRelease in {} cannot reproduce both — keep it raw, or give each overlay its own copy of the workload (or make the overlays agree), then convert",
                o.file, differs.join("; "), o.file);
            tree.objects[i].effective = Effective::Divergent(why);
        }
    }
}

/// The first path where two values differ (`spec.template.spec.containers[0].env`), if any.
fn first_difference(a: Option<&Value>, b: Option<&Value>, path: &str) -> Option<String> {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| first_difference(x.get(k), y.get(k), &format!("{path}.{k}")))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(n, (p, q))| first_difference(Some(p), Some(q), &format!("{path}[{n}]")))
        }
        (x, y) if x == y => None,
        _ => Some(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(relative(Path::new("/tmp/w"), Path::new("/repo/a/b")), PathBuf::from("../../repo/a/b"));
        assert_eq!(relative(Path::new("/repo/x"), Path::new("/repo/a")), PathBuf::from("../a"));
    }
}

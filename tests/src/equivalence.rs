//! Equivalence harness: does a migrated repository still run the same thing?
//!
//! The picture of what runs is computed offline, the way Flux would produce it:
//!
//! 1. [`flux_build`] builds every Flux `Kustomization` of a repository as kustomize-controller
//!    does (generated kustomization for plain folders, `targetNamespace`, `components`,
//!    `patches`, `images`, `namePrefix`/`nameSuffix`, `commonMetadata`, `postBuild`
//!    substitution), following the Flux Kustomizations found in each build's output.
//! 2. [`render_releases`] renders every `HelmRelease` of that output with `helm template` from
//!    the packaged charts in a folder (values = `valuesFrom` merged in order, then `values`).
//! 3. [`workloads`], [`services`] and [`claims`] reduce the objects to comparable pictures with
//!    Kubernetes defaults folded away (protocol TCP, `securityContext: {}`, empty lists, probe
//!    defaults, quantities `1Gi` = `1024Mi`, ...).
//! 4. [`compare`] matches every old workload with its replacement and lists each difference in a
//!    [`Report`] (`Display` renders it for assertion messages).
//!
//! ```no_run
//! use helmigrate_tests::equivalence::{self, Tools};
//! let tools = Tools::locate().unwrap_or_else(|e| panic!("{e}"));
//! let packages = helmigrate_tests::workspace().join("../shared/charts/packages");
//! let before = equivalence::effective(std::path::Path::new("/tmp/repo"), &tools, &packages).unwrap();
//! // ... migrate ...
//! let after = equivalence::effective(std::path::Path::new("/tmp/repo"), &tools, &packages).unwrap();
//! println!("{}", equivalence::compare(&before, &after));
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// Tools

/// The pinned `kubectl` and `helm` built by `scripts/build-tools`.
#[derive(Debug, Clone)]
pub struct Tools {
    pub kubectl: PathBuf,
    pub helm: PathBuf,
}

impl Tools {
    /// The testenv binaries, or the testenv's "binaries missing: run scripts/build-tools" error.
    pub fn locate() -> Result<Tools, String> {
        let dir = crate::testenv::locate_bin_dir()?;
        let tools = Tools { kubectl: dir.join("kubectl"), helm: dir.join("helm") };
        for t in [&tools.kubectl, &tools.helm] {
            if !t.is_file() {
                return Err(format!("{} ({} is missing)", crate::testenv::MISSING_BINARIES, t.display()));
            }
        }
        Ok(tools)
    }
}

/// [`flux_build`] followed by [`render_releases`]: every object Flux and helm-controller would
/// apply for `repo`.
pub fn effective(repo: &Path, tools: &Tools, packages: &Path) -> Result<Vec<Value>, String> {
    let mut objects = flux_build(repo, &tools.kubectl)?;
    let rendered = render_releases(&objects, packages, &tools.helm)?;
    objects.extend(rendered);
    Ok(objects)
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

fn kind(v: &Value) -> &str {
    s(v, &["kind"])
}
fn name(v: &Value) -> &str {
    s(v, &["metadata", "name"])
}
fn namespace(v: &Value) -> &str {
    s(v, &["metadata", "namespace"])
}
fn group(v: &Value) -> &str {
    let api = s(v, &["apiVersion"]);
    api.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

fn is_flux_kustomization(v: &Value) -> bool {
    kind(v) == "Kustomization" && group(v) == "kustomize.toolkit.fluxcd.io"
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{what}: output is not UTF-8"))
}

/// Split a YAML stream at `---` lines and parse every non-empty document.
pub fn parse_stream(text: &str, what: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, docs: &mut Vec<Value>| -> Result<(), String> {
        let body = std::mem::take(cur);
        if body.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            return Ok(());
        }
        let v: Value = serde_saphyr::from_str(&body).map_err(|e| format!("{what}: YAML: {e}\n{body}"))?;
        if !v.is_null() {
            docs.push(v);
        }
        Ok(())
    };
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") || t == "..." {
            flush(&mut cur, &mut docs)?;
        } else {
            cur.push_str(line);
        }
    }
    flush(&mut cur, &mut docs)?;
    Ok(docs)
}

/// Canonical JSON (keys sorted), for comparisons and display.
fn canon(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                let mut out = Map::new();
                for (k, v) in sorted {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).unwrap_or_default()
}

/// Drop nulls, empty maps, empty lists and empty strings, recursively (Kubernetes treats them as
/// absent).
fn prune_empty(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if let Some(x) = prune_empty(x) {
                    out.insert(k.clone(), x);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) => {
            let out: Vec<Value> = a.iter().filter_map(prune_empty).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => Some(other.clone()),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let d = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(d);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A Secret's or ConfigMap's string data (`None` for a SOPS-encrypted Secret: unreadable).
fn config_data(obj: &Value) -> Option<BTreeMap<String, String>> {
    if kind(obj) == "Secret" && obj.get("sops").is_some() {
        return None;
    }
    let mut out = BTreeMap::new();
    if let Some(m) = obj["data"].as_object() {
        for (k, v) in m {
            let text = if kind(obj) == "Secret" {
                String::from_utf8(base64_decode(v.as_str().unwrap_or(""))?).ok()?
            } else {
                scalar(v)
            };
            out.insert(k.clone(), text);
        }
    }
    if let Some(m) = obj["stringData"].as_object() {
        for (k, v) in m {
            out.insert(k.clone(), scalar(v));
        }
    }
    Some(out)
}

fn find<'a>(objects: &'a [Value], k: &str, ns: &str, n: &str) -> Option<&'a Value> {
    objects.iter().find(|o| kind(o) == k && name(o) == n && (namespace(o) == ns || namespace(o).is_empty()))
}

/// Lexically normalize `a/./b/../c` (no filesystem access).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn copy_tree(src: &Path, dst: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dst).map_err(|e| format!("create {}: {e}", dst.display()))?;
    for e in std::fs::read_dir(src).map_err(|e| format!("read {}: {e}", src.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        if e.file_name() == ".git" {
            continue;
        }
        let to = dst.join(e.file_name());
        let ft = e.file_type().map_err(|e| e.to_string())?;
        if ft.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &to).map_err(|err| format!("copy {}: {err}", e.path().display()))?;
        }
    }
    Ok(())
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_name() == ".git" {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

fn has_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file())
}

// ---------------------------------------------------------------------------------------------
// 1. Flux build

/// Build every Flux Kustomization of `repo` offline, as kustomize-controller would, and return
/// all objects (the Flux Kustomizations themselves included), deduplicated by
/// (kind, namespace, name), first one wins.
///
/// Entry points: Flux Kustomizations in YAML files under `repo/clusters/` and in any
/// `repo/**/flux/cluster/*.yaml`. Every Flux Kustomization found in a build's output is built
/// too. Nothing in `repo` is written: the work happens in a temporary copy.
pub fn flux_build(repo: &Path, kubectl: &Path) -> Result<Vec<Value>, String> {
    let work = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let copy = work.path().join("repo");
    copy_tree(repo, &copy)?;

    // Entry points.
    let mut entry_files = Vec::new();
    yaml_files(&copy.join("clusters"), &mut entry_files);
    let mut all = Vec::new();
    yaml_files(&copy, &mut all);
    for f in all {
        let parent = f.parent().unwrap_or(Path::new(""));
        if parent.ends_with("flux/cluster") && !entry_files.contains(&f) {
            entry_files.push(f);
        }
    }
    let mut queue: VecDeque<Value> = VecDeque::new();
    for f in &entry_files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("read {}: {e}", f.display()))?;
        let rel = f.strip_prefix(&copy).unwrap_or(f).display().to_string();
        // Files that are not Kubernetes YAML (values files, SOPS configs) are not entry points.
        let Ok(docs) = parse_stream(&text, &rel) else { continue };
        queue.extend(docs.into_iter().filter(is_flux_kustomization));
    }
    if queue.is_empty() {
        return Err(format!("no Flux Kustomization under {}/clusters or **/flux/cluster", repo.display()));
    }

    // Substitution may need ConfigMaps built by Kustomizations that come later: build again
    // with everything the previous round found, until nothing more resolves.
    let mut cache = BTreeMap::new();
    let mut seed: Vec<Value> = Vec::new();
    let mut missing_before = usize::MAX;
    loop {
        let (objects, missing) = build_all(queue.clone(), &seed, &copy, work.path(), kubectl, &mut cache)?;
        if missing == 0 || missing >= missing_before {
            return Ok(objects);
        }
        missing_before = missing;
        seed = objects;
    }
}

/// One round of [`flux_build`]: every Kustomization reachable from `queue`, deduplicated.
/// Returns the objects and how many `substituteFrom` sources were not found.
fn build_all(
    mut queue: VecDeque<Value>,
    seed: &[Value],
    copy: &Path,
    work: &Path,
    kubectl: &Path,
    cache: &mut BTreeMap<String, Vec<Value>>,
) -> Result<(Vec<Value>, usize), String> {
    let mut seen = BTreeSet::new();
    let mut known: Vec<Value> = Vec::new();
    let mut missing = 0;
    while let Some(mut ks) = queue.pop_front() {
        if ks["metadata"]["namespace"].is_null() {
            ks["metadata"]["namespace"] = "flux-system".into();
        }
        let id = (namespace(&ks).to_string(), name(&ks).to_string());
        if !seen.insert(id) {
            continue;
        }
        known.push(ks.clone());
        let src = s(&ks, &["spec", "sourceRef", "kind"]);
        if src == "OCIRepository" || src == "Bucket" {
            continue; // not this repository
        }
        let docs = build_one(&ks, copy, work, kubectl, cache)?;
        let lookup: Vec<Value> = known.iter().chain(seed).cloned().collect();
        let (substituted, complete) = substitute_docs(&ks, &docs, &lookup)?;
        if !complete {
            missing += 1;
        }
        for d in &substituted {
            if is_flux_kustomization(d) {
                queue.push_back(d.clone());
            }
        }
        known.extend(substituted);
    }
    let mut out: Vec<Value> = Vec::new();
    let mut ids = BTreeSet::new();
    for v in known {
        let id = (kind(&v).to_string(), namespace(&v).to_string(), name(&v).to_string());
        if ids.insert(id) {
            out.push(v);
        }
    }
    Ok((out, missing))
}

/// `kubectl kustomize` of one Flux Kustomization through a wrapper kustomization.
fn build_one(
    ks: &Value,
    copy: &Path,
    work: &Path,
    kubectl: &Path,
    cache: &mut BTreeMap<String, Vec<Value>>,
) -> Result<Vec<Value>, String> {
    let what = format!("Kustomization {}/{}", namespace(ks), name(ks));
    let rel = s(ks, &["spec", "path"]);
    let rel = normalize(Path::new(rel.trim_start_matches('/')));
    let dir = copy.join(&rel);
    if !dir.is_dir() {
        return Err(format!("{what}: spec.path {} is not a folder of the repository", rel.display()));
    }
    if !has_kustomization(&dir) {
        generate_kustomization(&dir)?;
    }
    let up = PathBuf::from("..").join("repo").join(&rel);
    let mut k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [up.display().to_string()],
    });
    let spec = &ks["spec"];
    if let Some(c) = spec["components"].as_array().filter(|c| !c.is_empty()) {
        let comps: Vec<Value> = c
            .iter()
            .map(|c| Value::String(normalize(&up.join(c.as_str().unwrap_or(""))).display().to_string()))
            .collect();
        // normalize() dropped the leading "..": put it back.
        let comps: Vec<Value> = comps
            .into_iter()
            .map(|c| Value::String(format!("../{}", c.as_str().unwrap_or(""))))
            .collect();
        k["components"] = Value::Array(comps);
    }
    if let Some(ns) = spec["targetNamespace"].as_str().filter(|s| !s.is_empty()) {
        k["namespace"] = ns.into();
    }
    for key in ["patches", "images", "namePrefix", "nameSuffix"] {
        if !spec[key].is_null() {
            k[key] = spec[key].clone();
        }
    }
    if let Some(l) = spec["commonMetadata"]["labels"].as_object() {
        k["labels"] = json!([{ "pairs": l, "includeSelectors": false }]);
    }
    if let Some(a) = spec["commonMetadata"]["annotations"].as_object() {
        k["commonAnnotations"] = Value::Object(a.clone());
    }
    let key = canon(&k);
    if let Some(docs) = cache.get(&key) {
        return Ok(docs.clone());
    }
    let wrap = work.join(format!("wrap-{}", cache.len()));
    std::fs::create_dir_all(&wrap).map_err(|e| e.to_string())?;
    std::fs::write(wrap.join("kustomization.yaml"), serde_json::to_string_pretty(&k).unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let text = run_tool(
        Command::new(kubectl).arg("kustomize").arg("--load-restrictor").arg("LoadRestrictionsNone").arg(&wrap),
        &format!("{what}: kubectl kustomize {}", rel.display()),
    )?;
    let docs = parse_stream(&text, &what)?;
    cache.insert(key, docs.clone());
    Ok(docs)
}

/// Flux's generator for a folder without a kustomization: every Kubernetes YAML file found
/// recursively; a sub-folder holding a kustomization is listed as a folder and not descended.
fn generate_kustomization(dir: &Path) -> Result<(), String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            if p.is_dir() {
                if has_kustomization(&p) {
                    out.push(rel);
                } else {
                    walk(root, &p, out);
                }
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                let ok = std::fs::read_to_string(&p).ok().and_then(|t| parse_stream(&t, &rel).ok()).is_some_and(|docs| {
                    !docs.is_empty() && docs.iter().all(|d| !s(d, &["apiVersion"]).is_empty() && !kind(d).is_empty())
                });
                if ok {
                    out.push(rel);
                }
            }
        }
    }
    let mut resources = Vec::new();
    walk(dir, dir, &mut resources);
    let k = json!({ "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources });
    std::fs::write(dir.join("kustomization.yaml"), serde_json::to_string_pretty(&k).unwrap_or_default())
        .map_err(|e| format!("write generated kustomization in {}: {e}", dir.display()))
}

/// Apply a Flux Kustomization's `postBuild` to its built documents. Returns the documents and
/// whether every `substituteFrom` source was found.
fn substitute_docs(ks: &Value, docs: &[Value], known: &[Value]) -> Result<(Vec<Value>, bool), String> {
    let pb = &ks["spec"]["postBuild"];
    if pb.is_null() {
        return Ok((docs.to_vec(), true));
    }
    let mut vars = BTreeMap::new();
    let mut complete = true;
    for from in arr(&pb["substituteFrom"]) {
        let k = s(from, &["kind"]);
        match find(known, k, namespace(ks), s(from, &["name"])).and_then(config_data) {
            Some(data) => vars.extend(data),
            None => complete = false,
        }
    }
    if let Some(m) = pb["substitute"].as_object() {
        for (k, v) in m {
            vars.insert(k.clone(), scalar(v));
        }
    }
    let mut out = Vec::new();
    for d in docs {
        if s(d, &["metadata", "annotations", "kustomize.toolkit.fluxcd.io/substitute"]) == "disabled" {
            out.push(d.clone());
            continue;
        }
        let text = serde_saphyr::to_string(d).map_err(|e| format!("serialize: {e}"))?;
        let replaced = substitute(&text, &vars);
        if replaced == text {
            out.push(d.clone());
        } else {
            let v: Value = serde_saphyr::from_str(&replaced)
                .map_err(|e| format!("Kustomization {}: postBuild substitution broke YAML: {e}", name(ks)))?;
            out.push(v);
        }
    }
    Ok((out, complete))
}

/// Flux's variable substitution: `${VAR}`, `${VAR:=default}` / `${VAR:-default}` /
/// `${VAR=default}` / `${VAR-default}`; `$${` escapes. Unknown variables without a default are
/// left as they are.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'$') && b.get(i + 2) == Some(&b'{') {
            out.push_str("${");
            i += 3;
            continue;
        }
        if b[i] == b'$'
            && b.get(i + 1) == Some(&b'{')
            && let Some(end) = text[i + 2..].find('}')
        {
            let inner = &text[i + 2..i + 2 + end];
            let name_len = inner
                .char_indices()
                .find(|(j, c)| !(c.is_ascii_alphanumeric() || *c == '_') || (*j == 0 && c.is_ascii_digit()))
                .map(|(j, _)| j)
                .unwrap_or(inner.len());
            let (var, rest) = inner.split_at(name_len);
            let default = [":=", ":-", "=", "-"].iter().find_map(|op| rest.strip_prefix(op));
            if !var.is_empty() && (rest.is_empty() || default.is_some()) {
                match (vars.get(var), default) {
                    (Some(v), _) => out.push_str(v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => out.push_str(&text[i..i + 3 + end]),
                }
                i += 3 + end;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 2. Render HelmReleases

const CLUSTER_SCOPED: [&str; 17] = [
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "CSIDriver",
    "VolumeSnapshotClass",
    "GatewayClass",
    "Node",
    "ClusterIssuer",
];

/// Chart name and version a HelmRelease installs.
fn chart_of(hr: &Value, objects: &[Value]) -> Result<(String, String), String> {
    let what = format!("HelmRelease {}/{}", namespace(hr), name(hr));
    let spec = &hr["spec"];
    if spec["chart"]["spec"].is_object() {
        let c = &spec["chart"]["spec"];
        if s(c, &["sourceRef", "kind"]) == "GitRepository" || s(c, &["sourceRef", "kind"]) == "Bucket" {
            return Err(format!("{what}: charts from a {} are not supported", s(c, &["sourceRef", "kind"])));
        }
        return Ok((s(c, &["chart"]).to_string(), s(c, &["version"]).to_string()));
    }
    if spec["chartRef"].is_object() {
        let r = &spec["chartRef"];
        let ns = Some(s(r, &["namespace"])).filter(|n| !n.is_empty()).unwrap_or(namespace(hr));
        let k = s(r, &["kind"]);
        let src = find(objects, k, ns, s(r, &["name"]))
            .ok_or_else(|| format!("{what}: chartRef {k} {ns}/{} not found", s(r, &["name"])))?;
        return match k {
            "OCIRepository" => {
                let url = s(src, &["spec", "url"]).trim_end_matches('/');
                let chart = url.rsplit('/').next().unwrap_or(url).to_string();
                let tag = s(src, &["spec", "ref", "tag"]);
                let version = if tag.is_empty() { s(src, &["spec", "ref", "semver"]) } else { tag };
                Ok((chart, version.to_string()))
            }
            "HelmChart" => Ok((s(src, &["spec", "chart"]).to_string(), s(src, &["spec", "version"]).to_string())),
            other => Err(format!("{what}: chartRef kind {other} not supported")),
        };
    }
    Err(format!("{what}: neither spec.chart nor spec.chartRef"))
}

fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && v.is_object() => deep_merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Set `value` at a dot path (`a.b\.c.d`) inside `root`.
fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut keys = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some() => cur.push(chars.next().unwrap_or('.')),
            '.' => keys.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    keys.push(cur);
    let mut v = root;
    for (i, k) in keys.iter().enumerate() {
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        let m = v.as_object_mut().expect("object");
        if i + 1 == keys.len() {
            m.insert(k.clone(), value);
            return;
        }
        v = m.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The values a HelmRelease passes to its chart: `valuesFrom` merged in order, then `values`.
/// A value that cannot be read (SOPS or absent Secret/ConfigMap) becomes
/// `<from secret NAME/KEY>` (or `<from configmap NAME/KEY>`) at its `targetPath`.
pub fn release_values(hr: &Value, objects: &[Value]) -> Result<Value, String> {
    let what = format!("HelmRelease {}/{}", namespace(hr), name(hr));
    let mut values = json!({});
    for from in arr(&hr["spec"]["valuesFrom"]) {
        let k = s(from, &["kind"]);
        let n = s(from, &["name"]);
        let key = Some(s(from, &["valuesKey"])).filter(|k| !k.is_empty()).unwrap_or("values.yaml");
        let target = s(from, &["targetPath"]);
        let optional = from["optional"].as_bool().unwrap_or(false);
        let data = find(objects, k, namespace(hr), n).and_then(config_data);
        let text = data.as_ref().and_then(|d| d.get(key)).cloned();
        match (text, target.is_empty()) {
            (Some(t), false) => set_path(&mut values, target, Value::String(t)),
            (Some(t), true) => {
                let v: Value = serde_saphyr::from_str(&t).map_err(|e| format!("{what}: valuesFrom {k} {n}/{key}: {e}"))?;
                if !v.is_null() {
                    deep_merge(&mut values, &v);
                }
            }
            (None, _) if optional => {}
            (None, false) => {
                set_path(&mut values, target, Value::String(format!("<from {} {n}/{key}>", k.to_ascii_lowercase())))
            }
            (None, true) => {
                return Err(format!("{what}: valuesFrom {k} {n}/{key} is not readable offline (SOPS or absent) and has no targetPath"));
            }
        }
    }
    if hr["spec"]["values"].is_object() {
        deep_merge(&mut values, &hr["spec"]["values"]);
    }
    Ok(values)
}

/// Render every HelmRelease (`helm.toolkit.fluxcd.io/*`) in `objects` with `helm template` from
/// `<packages>/<chart>-<version>.tgz`; returns the rendered objects, each with its namespace.
/// Kustomize post-renderers run with the `kubectl` next to `helm`.
pub fn render_releases(objects: &[Value], packages: &Path, helm: &Path) -> Result<Vec<Value>, String> {
    let work = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut out = Vec::new();
    for (i, hr) in objects.iter().filter(|o| kind(o) == "HelmRelease" && group(o) == "helm.toolkit.fluxcd.io").enumerate() {
        let what = format!("HelmRelease {}/{}", namespace(hr), name(hr));
        let (chart, version) = chart_of(hr, objects)?;
        let tgz = packages.join(format!("{chart}-{version}.tgz"));
        if !tgz.is_file() {
            return Err(format!("{what}: chart package {} not found", tgz.display()));
        }
        let tns = s(hr, &["spec", "targetNamespace"]);
        let ns = if tns.is_empty() { namespace(hr) } else { tns };
        let release = match s(hr, &["spec", "releaseName"]) {
            "" if !tns.is_empty() => format!("{tns}-{}", name(hr)),
            "" => name(hr).to_string(),
            r => r.to_string(),
        };
        let values = release_values(hr, objects)?;
        let vfile = work.path().join(format!("values-{i}.json"));
        std::fs::write(&vfile, serde_json::to_vec(&values).unwrap_or_default()).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(helm);
        // The test control plane's version: charts check it (app-template wants >= 1.28).
        cmd.arg("template").arg(&release).arg(&tgz).arg("--namespace").arg(ns).arg("-f").arg(&vfile).arg("--kube-version").arg("v1.36.3");
        if chart == "app-template" {
            cmd.arg("--skip-schema-validation");
        }
        let h = work.path().join("helm-home");
        cmd.env("HELM_CACHE_HOME", h.join("cache")).env("HELM_CONFIG_HOME", h.join("config")).env("HELM_DATA_HOME", h.join("data"));
        let mut text = run_tool(&mut cmd, &format!("{what}: helm template {chart} {version}"))?;
        let renderers = arr(&hr["spec"]["postRenderers"]);
        if !renderers.is_empty() {
            text = post_render(&text, renderers, helm, work.path(), i).map_err(|e| format!("{what}: {e}"))?;
        }
        for mut obj in parse_stream(&text, &format!("{what}: helm template"))? {
            if !CLUSTER_SCOPED.contains(&kind(&obj)) && namespace(&obj).is_empty() && obj["metadata"].is_object() {
                obj["metadata"]["namespace"] = ns.into();
            }
            out.push(obj);
        }
    }
    Ok(out)
}

fn post_render(text: &str, renderers: &[Value], helm: &Path, work: &Path, i: usize) -> Result<String, String> {
    let kubectl = helm.with_file_name("kubectl");
    if !kubectl.is_file() {
        return Err(format!("postRenderers need {} (kubectl next to helm)", kubectl.display()));
    }
    let mut text = text.to_string();
    for (j, r) in renderers.iter().enumerate() {
        let k = &r["kustomize"];
        if k.is_null() {
            continue;
        }
        let dir = work.join(format!("post-{i}-{j}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("rendered.yaml"), &text).map_err(|e| e.to_string())?;
        let mut kz = json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["rendered.yaml"]});
        for key in ["patches", "images"] {
            if !k[key].is_null() {
                kz[key] = k[key].clone();
            }
        }
        std::fs::write(dir.join("kustomization.yaml"), serde_json::to_string(&kz).unwrap_or_default()).map_err(|e| e.to_string())?;
        text = run_tool(Command::new(&kubectl).arg("kustomize").arg(&dir), "post-renderer kustomize")?;
    }
    Ok(text)
}

// ---------------------------------------------------------------------------------------------
// 3. Pictures

/// One volume mount: what it mounts, `subPath`, `readOnly`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Mount {
    pub source: String,
    pub sub_path: String,
    pub read_only: bool,
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if !self.sub_path.is_empty() {
            write!(f, " subPath {}", self.sub_path)?;
        }
        if self.read_only {
            write!(f, " (read-only)")?;
        }
        Ok(())
    }
}

/// One container, normalized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerPicture {
    pub name: String,
    pub init: bool,
    /// Repository without `docker.io/` / `library/`.
    pub repository: String,
    pub tag: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Effective environment: envFrom ConfigMaps resolved, then `env` on top. Values are the
    /// literal, or `secret NAME/KEY`, `configMap NAME/KEY` (unresolved), `field PATH`, ...
    pub env: BTreeMap<String, String>,
    /// envFrom sources whose keys are not known offline: `secret NAME`, `configMap NAME`.
    pub env_from: BTreeSet<String>,
    /// mountPath → mount.
    pub mounts: BTreeMap<String, Mount>,
    /// `requests.cpu` → normalized quantity.
    pub resources: BTreeMap<String, String>,
    /// `8080/TCP`.
    pub ports: BTreeSet<String>,
    /// `liveness` / `readiness` / `startup` → canonical JSON without defaults.
    pub probes: BTreeMap<String, String>,
    pub security_context: String,
}

/// A Deployment's or StatefulSet's pods, normalized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodPicture {
    pub kind: String,
    pub replicas: i64,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<ContainerPicture>,
    pub runtime_class_name: String,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: BTreeSet<String>,
    pub affinity: String,
    pub security_context: String,
    pub host_network: bool,
    pub dns_policy: String,
    pub service_account_name: String,
    /// Claims the pods mount (StatefulSet templates as `<tpl>-<sts>-0`).
    pub claims: BTreeSet<String>,
}

impl PodPicture {
    /// Repository of the first regular container.
    pub fn main_repository(&self) -> &str {
        self.containers.iter().find(|c| !c.init).map(|c| c.repository.as_str()).unwrap_or("")
    }
}

fn named_ports(pod_spec: &Value) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for c in arr(&pod_spec["containers"]) {
        for p in arr(&c["ports"]) {
            if let (Some(n), Some(num)) = (p["name"].as_str(), p["containerPort"].as_i64()) {
                out.insert(n.to_string(), num);
            }
        }
    }
    out
}

/// `repository`, `tag` of an image reference, Docker Hub prefixes dropped.
pub fn split_image(image: &str) -> (String, String) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t.to_string()),
        _ => (rest, "latest".to_string()),
    };
    let tag = match digest {
        Some(d) => format!("{tag}@{d}"),
        None => tag,
    };
    let repo = repo.strip_prefix("docker.io/").or_else(|| repo.strip_prefix("index.docker.io/")).unwrap_or(repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    (repo.to_string(), tag)
}

/// A quantity normalized so that `1` = `"1"` = `1000m` and `1Gi` = `1024Mi`.
pub fn quantity(v: &Value) -> String {
    let text = scalar(v);
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let mult: f64 = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return t.to_string(),
    };
    let Ok(n) = num.parse::<f64>() else { return t.to_string() };
    let milli = (n * mult * 1000.0).round() as i128;
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let whole = milli / 1000;
    if whole == 0 {
        return "0".into();
    }
    for (suf, p) in [("Ei", 6), ("Pi", 5), ("Ti", 4), ("Gi", 3), ("Mi", 2), ("Ki", 1)] {
        let d = 1024i128.pow(p);
        if whole % d == 0 && whole >= d {
            return format!("{}{suf}", whole / d);
        }
    }
    for (suf, p) in [("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)] {
        let d = 10i128.pow(p);
        if whole % d == 0 && whole >= d {
            return format!("{}{suf}", whole / d);
        }
    }
    whole.to_string()
}

fn probe(p: &Value, ports: &BTreeMap<String, i64>) -> Option<String> {
    let mut p = p.clone();
    let m = p.as_object_mut()?;
    for (k, d) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3), ("initialDelaySeconds", 0)] {
        if m.get(k).and_then(Value::as_i64) == Some(d) {
            m.remove(k);
        }
    }
    for h in ["httpGet", "tcpSocket", "grpc"] {
        if let Some(x) = m.get_mut(h).and_then(Value::as_object_mut) {
            if let Some(n) = x.get("port").and_then(Value::as_str).and_then(|n| ports.get(n)) {
                x.insert("port".into(), (*n).into());
            }
            if h == "httpGet" {
                if x.get("scheme").and_then(Value::as_str) == Some("HTTP") {
                    x.remove("scheme");
                }
                if x.get("path").and_then(Value::as_str) == Some("/") {
                    x.remove("path");
                }
            }
        }
    }
    prune_empty(&p).map(|v| canon(&v))
}

fn opt_canon(v: &Value) -> String {
    prune_empty(v).map(|v| canon(&v)).unwrap_or_default()
}

fn string_list(v: &Value) -> Vec<String> {
    arr(v).iter().map(scalar).collect()
}

fn volume_source(vol: &Value) -> String {
    if let Some(c) = vol["persistentVolumeClaim"]["claimName"].as_str() {
        return format!("claim {c}");
    }
    if vol["emptyDir"].is_object() || vol.get("emptyDir").is_some_and(Value::is_null) {
        let medium = s(vol, &["emptyDir", "medium"]);
        return if medium.is_empty() { "emptyDir".into() } else { format!("emptyDir {medium}") };
    }
    if let Some(n) = vol["configMap"]["name"].as_str() {
        return format!("configMap {n}");
    }
    if let Some(n) = vol["secret"]["secretName"].as_str() {
        return format!("secret {n}");
    }
    if let Some(p) = vol["hostPath"]["path"].as_str() {
        return format!("hostPath {p}");
    }
    if vol["nfs"].is_object() {
        return format!("nfs {}:{}", s(vol, &["nfs", "server"]), s(vol, &["nfs", "path"]));
    }
    if vol["ephemeral"].is_object() {
        return "ephemeral claim".into();
    }
    let other: Vec<&String> = vol.as_object().map(|m| m.keys().filter(|k| *k != "name").collect()).unwrap_or_default();
    other.first().map(|k| k.to_string()).unwrap_or_else(|| "unknown volume".into())
}

fn container_picture(
    c: &Value,
    init: bool,
    ns: &str,
    volumes: &BTreeMap<String, String>,
    objects: &[Value],
) -> ContainerPicture {
    let (repository, tag) = split_image(s(c, &["image"]));
    let mut env = BTreeMap::new();
    let mut env_from = BTreeSet::new();
    for ef in arr(&c["envFrom"]) {
        let prefix = s(ef, &["prefix"]);
        if let Some(n) = ef["configMapRef"]["name"].as_str() {
            match find(objects, "ConfigMap", ns, n).and_then(config_data) {
                Some(data) => {
                    for (k, v) in data {
                        env.insert(format!("{prefix}{k}"), v);
                    }
                }
                None => {
                    env_from.insert(format!("configMap {n}"));
                }
            }
        }
        if let Some(n) = ef["secretRef"]["name"].as_str() {
            env_from.insert(format!("secret {n}"));
        }
    }
    for e in arr(&c["env"]) {
        let n = s(e, &["name"]).to_string();
        let vf = &e["valueFrom"];
        let v = if vf.is_object() {
            if vf["secretKeyRef"].is_object() {
                format!("secret {}/{}", s(vf, &["secretKeyRef", "name"]), s(vf, &["secretKeyRef", "key"]))
            } else if vf["configMapKeyRef"].is_object() {
                let (cm, key) = (s(vf, &["configMapKeyRef", "name"]), s(vf, &["configMapKeyRef", "key"]));
                find(objects, "ConfigMap", ns, cm)
                    .and_then(config_data)
                    .and_then(|d| d.get(key).cloned())
                    .unwrap_or_else(|| format!("configMap {cm}/{key}"))
            } else if vf["fieldRef"].is_object() {
                format!("field {}", s(vf, &["fieldRef", "fieldPath"]))
            } else if vf["resourceFieldRef"].is_object() {
                format!("resource {}", s(vf, &["resourceFieldRef", "resource"]))
            } else {
                canon(vf)
            }
        } else {
            scalar(&e["value"])
        };
        env.insert(n, v);
    }
    let mut mounts = BTreeMap::new();
    for m in arr(&c["volumeMounts"]) {
        let vname = s(m, &["name"]);
        mounts.insert(
            s(m, &["mountPath"]).trim_end_matches('/').to_string(),
            Mount {
                source: volumes.get(vname).cloned().unwrap_or_else(|| format!("missing volume {vname}")),
                sub_path: s(m, &["subPath"]).to_string(),
                read_only: m["readOnly"].as_bool().unwrap_or(false),
            },
        );
    }
    let mut resources = BTreeMap::new();
    for section in ["requests", "limits"] {
        if let Some(r) = c["resources"][section].as_object() {
            for (k, v) in r {
                resources.insert(format!("{section}.{k}"), quantity(v));
            }
        }
    }
    // A limit without a request: Kubernetes defaults the request to the limit.
    let limits: Vec<(String, String)> =
        resources.iter().filter_map(|(k, v)| k.strip_prefix("limits.").map(|r| (r.to_string(), v.clone()))).collect();
    for (r, v) in limits {
        resources.entry(format!("requests.{r}")).or_insert(v);
    }
    let mut ports = BTreeSet::new();
    for p in arr(&c["ports"]) {
        let proto = Some(s(p, &["protocol"])).filter(|p| !p.is_empty()).unwrap_or("TCP");
        let mut t = format!("{}/{proto}", scalar(&p["containerPort"]));
        if let Some(h) = p["hostPort"].as_i64() {
            t.push_str(&format!(" hostPort {h}"));
        }
        ports.insert(t);
    }
    let mut named = BTreeMap::new();
    for p in arr(&c["ports"]) {
        if let (Some(n), Some(num)) = (p["name"].as_str(), p["containerPort"].as_i64()) {
            named.insert(n.to_string(), num);
        }
    }
    let mut probes = BTreeMap::new();
    for (k, field) in [("liveness", "livenessProbe"), ("readiness", "readinessProbe"), ("startup", "startupProbe")] {
        if let Some(p) = probe(&c[field], &named) {
            probes.insert(k.to_string(), p);
        }
    }
    ContainerPicture {
        name: s(c, &["name"]).to_string(),
        init,
        repository,
        tag,
        command: string_list(&c["command"]),
        args: string_list(&c["args"]),
        env,
        env_from,
        mounts,
        resources,
        ports,
        probes,
        security_context: opt_canon(&c["securityContext"]),
    }
}

/// The picture of one Deployment/StatefulSet.
pub fn pod_picture(w: &Value, objects: &[Value]) -> PodPicture {
    let ns = namespace(w);
    let spec = &w["spec"]["template"]["spec"];
    let sts = (kind(w) == "StatefulSet").then(|| name(w));
    let mut volumes: BTreeMap<String, String> = BTreeMap::new();
    let mut claims = BTreeSet::new();
    if let Some(sts) = sts {
        for t in arr(&w["spec"]["volumeClaimTemplates"]) {
            let tn = name(t);
            volumes.insert(tn.to_string(), format!("claim {tn}-{sts}-0"));
        }
    }
    for v in arr(&spec["volumes"]) {
        volumes.insert(s(v, &["name"]).to_string(), volume_source(v));
    }
    let mut containers = Vec::new();
    for c in arr(&spec["initContainers"]) {
        containers.push(container_picture(c, true, ns, &volumes, objects));
    }
    for c in arr(&spec["containers"]) {
        containers.push(container_picture(c, false, ns, &volumes, objects));
    }
    for c in &containers {
        for m in c.mounts.values() {
            if let Some(claim) = m.source.strip_prefix("claim ") {
                claims.insert(claim.to_string());
            }
        }
    }
    let tolerations = arr(&spec["tolerations"])
        .iter()
        .filter_map(|t| {
            let mut t = t.clone();
            if t["operator"] == "Equal" {
                t.as_object_mut()?.remove("operator");
            }
            prune_empty(&t).map(|t| canon(&t))
        })
        .collect();
    let host_network = spec["hostNetwork"].as_bool().unwrap_or(false);
    PodPicture {
        kind: kind(w).to_string(),
        replicas: w["spec"]["replicas"].as_i64().unwrap_or(1),
        labels: w["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
            .unwrap_or_default(),
        containers,
        runtime_class_name: s(spec, &["runtimeClassName"]).to_string(),
        node_selector: spec["nodeSelector"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
            .unwrap_or_default(),
        tolerations,
        affinity: opt_canon(&spec["affinity"]),
        security_context: opt_canon(&spec["securityContext"]),
        host_network,
        dns_policy: Some(s(spec, &["dnsPolicy"])).filter(|d| !d.is_empty()).unwrap_or("ClusterFirst").to_string(),
        service_account_name: Some(s(spec, &["serviceAccountName"]))
            .filter(|d| !d.is_empty())
            .or_else(|| Some(s(spec, &["serviceAccount"])).filter(|d| !d.is_empty()))
            .unwrap_or("default")
            .to_string(),
        claims,
    }
}

fn is_workload(o: &Value) -> bool {
    matches!(kind(o), "Deployment" | "StatefulSet") && group(o) == "apps"
}

/// Every Deployment and StatefulSet, keyed `namespace/Kind/name`.
pub fn workloads(objects: &[Value]) -> BTreeMap<String, PodPicture> {
    objects
        .iter()
        .filter(|o| is_workload(o))
        .map(|w| (format!("{}/{}/{}", namespace(w), kind(w), name(w)), pod_picture(w, objects)))
        .collect()
}

/// A Service, normalized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicePicture {
    pub service_type: String,
    /// `port/protocol` → target port number (or the unresolved name).
    pub ports: BTreeMap<String, String>,
    pub selector: BTreeMap<String, String>,
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Every Service, keyed `namespace/name`; named target ports resolved through the pods it
/// selects.
pub fn services(objects: &[Value]) -> BTreeMap<String, ServicePicture> {
    let pods: Vec<(&Value, BTreeMap<String, String>)> = objects
        .iter()
        .filter(|o| is_workload(o))
        .map(|w| {
            let labels = w["spec"]["template"]["metadata"]["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
                .unwrap_or_default();
            (w, labels)
        })
        .collect();
    let mut out = BTreeMap::new();
    for svc in objects.iter().filter(|o| kind(o) == "Service" && s(o, &["apiVersion"]) == "v1") {
        let ns = namespace(svc);
        let selector: BTreeMap<String, String> = svc["spec"]["selector"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
            .unwrap_or_default();
        let mut named = BTreeMap::new();
        for (w, labels) in &pods {
            if namespace(w) == ns && selects(&selector, labels) {
                named.extend(named_ports(&w["spec"]["template"]["spec"]));
            }
        }
        let mut ports = BTreeMap::new();
        for p in arr(&svc["spec"]["ports"]) {
            let proto = Some(s(p, &["protocol"])).filter(|p| !p.is_empty()).unwrap_or("TCP");
            let port = scalar(&p["port"]);
            let target = match &p["targetPort"] {
                Value::Null => port.clone(),
                Value::String(n) => match n.parse::<i64>() {
                    Ok(num) => num.to_string(),
                    Err(_) => named.get(n).map(|x| x.to_string()).unwrap_or_else(|| format!("{n} (unresolved)")),
                },
                other => scalar(other),
            };
            ports.insert(format!("{port}/{proto}"), target);
        }
        out.insert(
            format!("{ns}/{}", name(svc)),
            ServicePicture {
                service_type: Some(s(svc, &["spec", "type"])).filter(|t| !t.is_empty()).unwrap_or("ClusterIP").to_string(),
                ports,
                selector,
            },
        );
    }
    out
}

/// Every claim that exists: PVC objects, and StatefulSet template claims (`<tpl>-<sts>-0`),
/// keyed `namespace/name`.
pub fn claims(objects: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for o in objects {
        if kind(o) == "PersistentVolumeClaim" {
            out.insert(format!("{}/{}", namespace(o), name(o)));
        }
        if kind(o) == "StatefulSet" && is_workload(o) {
            for t in arr(&o["spec"]["volumeClaimTemplates"]) {
                out.insert(format!("{}/{}-{}-0", namespace(o), name(t), name(o)));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 4. Compare

/// One difference between the old and the new picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// What differs: `env OLLAMA_BASE_URL`, `mount /app/backend/data`, `container pipelines`,
    /// `resources.limits.nvidia.com/gpu`, `label app`, `service open-webui port 80/TCP`, ...
    /// Fields of a container other than the main one are prefixed `container NAME: `.
    pub what: String,
    pub before: String,
    pub after: String,
}

impl Difference {
    fn new(what: impl Into<String>, before: impl Into<String>, after: impl Into<String>) -> Difference {
        let show = |s: String| if s.is_empty() { "(absent)".to_string() } else { s };
        Difference { what: what.into(), before: show(before.into()), after: show(after.into()) }
    }

    /// The distinctive word of [`what`](Self::what) a plan would mention: the env var name,
    /// the mount path, the resource name, the label key, the Service name, ...
    pub fn subject(&self) -> &str {
        let w = self.what.rsplit_once(": ").map(|(_, w)| w).unwrap_or(&self.what);
        if let Some(r) = w.strip_prefix("resources.") {
            return r.split_once('.').map(|(_, r)| r).unwrap_or(r);
        }
        if w.starts_with("service ") || w.starts_with("label ") {
            return w;
        }
        let w = w.strip_prefix("init ").unwrap_or(w);
        w.split_once(' ').map(|(_, x)| x).unwrap_or(w)
    }
}

/// What happened to one old workload (or a Service/claim no workload accounts for).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Outcome {
    Equal,
    Differs(Vec<Difference>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// `namespace/Kind/name` of the new workload that replaces the old one, if any.
    pub replaced_by: Option<String>,
    pub outcome: Outcome,
}

/// The result of [`compare`]: per old workload `namespace/Kind/name` (and per Service or claim
/// of the old picture that no workload accounts for), and the workloads that are new.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Report {
    pub entries: BTreeMap<String, Entry>,
    /// New workloads that replace nothing.
    pub added: Vec<String>,
}

impl Report {
    pub fn differences(&self, key: &str) -> &[Difference] {
        match self.entries.get(key).map(|e| &e.outcome) {
            Some(Outcome::Differs(d)) => d,
            _ => &[],
        }
    }
    pub fn is_equal(&self, key: &str) -> bool {
        matches!(self.entries.get(key).map(|e| &e.outcome), Some(Outcome::Equal))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, e) in &self.entries {
            let by = match &e.replaced_by {
                Some(n) if n != k => format!(" (now {n})"),
                _ => String::new(),
            };
            match &e.outcome {
                Outcome::Equal => writeln!(f, "{k}{by}: equal")?,
                Outcome::Differs(ds) => {
                    writeln!(f, "{k}{by}: {} difference(s)", ds.len())?;
                    for d in ds {
                        writeln!(f, "  - {}: {} -> {}", d.what, d.before, d.after)?;
                    }
                }
            }
        }
        for a in &self.added {
            writeln!(f, "{a}: added (replaces nothing)")?;
        }
        Ok(())
    }
}

fn cmp_maps(
    out: &mut Vec<Difference>,
    prefix: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    report_added: bool,
) {
    for (k, b) in before {
        match after.get(k) {
            Some(a) if a == b => {}
            a => out.push(Difference::new(format!("{prefix}{k}"), b.clone(), a.cloned().unwrap_or_default())),
        }
    }
    if report_added {
        for (k, a) in after {
            if !before.contains_key(k) {
                out.push(Difference::new(format!("{prefix}{k}"), "", a.clone()));
            }
        }
    }
}

fn cmp_sets(out: &mut Vec<Difference>, what: &str, before: &BTreeSet<String>, after: &BTreeSet<String>) {
    if before != after {
        let j = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        out.push(Difference::new(what, j(before), j(after)));
    }
}

fn cmp_containers(out: &mut Vec<Difference>, b: &PodPicture, a: &PodPicture) {
    let main = b.containers.iter().position(|c| !c.init);
    let mut used = BTreeSet::new();
    for (i, bc) in b.containers.iter().enumerate() {
        let candidates: Vec<usize> = (0..a.containers.len())
            .filter(|j| !used.contains(j) && a.containers[*j].init == bc.init)
            .collect();
        let pick = candidates
            .iter()
            .copied()
            .find(|j| a.containers[*j].repository == bc.repository && a.containers[*j].name == bc.name)
            .or_else(|| candidates.iter().copied().find(|j| a.containers[*j].repository == bc.repository))
            .or_else(|| candidates.iter().copied().find(|j| a.containers[*j].name == bc.name));
        let label = if bc.init { "init container" } else { "container" };
        let Some(j) = pick else {
            out.push(Difference::new(format!("{label} {}", bc.name), format!("{}:{}", bc.repository, bc.tag), ""));
            continue;
        };
        used.insert(j);
        let ac = &a.containers[j];
        let p = if Some(i) == main { String::new() } else { format!("{label} {}: ", bc.name) };
        let img = |c: &ContainerPicture| format!("{}:{}", c.repository, c.tag);
        if img(bc) != img(ac) {
            out.push(Difference::new(format!("{p}image"), img(bc), img(ac)));
        }
        if bc.command != ac.command {
            out.push(Difference::new(format!("{p}command"), bc.command.join(" "), ac.command.join(" ")));
        }
        if bc.args != ac.args {
            out.push(Difference::new(format!("{p}args"), bc.args.join(" "), ac.args.join(" ")));
        }
        cmp_maps(out, &format!("{p}env "), &bc.env, &ac.env, true);
        for e in bc.env_from.union(&ac.env_from) {
            if bc.env_from.contains(e) != ac.env_from.contains(e) {
                let has = |s: &BTreeSet<String>| if s.contains(e) { e.clone() } else { String::new() };
                out.push(Difference::new(format!("{p}envFrom {e}"), has(&bc.env_from), has(&ac.env_from)));
            }
        }
        let bm: BTreeMap<String, String> = bc.mounts.iter().map(|(k, m)| (k.clone(), m.to_string())).collect();
        let am: BTreeMap<String, String> = ac.mounts.iter().map(|(k, m)| (k.clone(), m.to_string())).collect();
        cmp_maps(out, &format!("{p}mount "), &bm, &am, true);
        cmp_maps(out, &format!("{p}resources."), &bc.resources, &ac.resources, true);
        for port in bc.ports.union(&ac.ports) {
            if bc.ports.contains(port) != ac.ports.contains(port) {
                let has = |s: &BTreeSet<String>| if s.contains(port) { port.clone() } else { String::new() };
                out.push(Difference::new(format!("{p}port {port}"), has(&bc.ports), has(&ac.ports)));
            }
        }
        cmp_maps(out, &format!("{p}probe "), &bc.probes, &ac.probes, true);
        if bc.security_context != ac.security_context {
            out.push(Difference::new(format!("{p}securityContext"), bc.security_context.clone(), ac.security_context.clone()));
        }
    }
    for (j, ac) in a.containers.iter().enumerate() {
        if !used.contains(&j) {
            let label = if ac.init { "init container" } else { "container" };
            out.push(Difference::new(format!("{label} {}", ac.name), "", format!("{}:{}", ac.repository, ac.tag)));
        }
    }
}

fn cmp_pods(b: &PodPicture, a: &PodPicture) -> Vec<Difference> {
    let mut out = Vec::new();
    if b.kind != a.kind {
        out.push(Difference::new("kind", b.kind.clone(), a.kind.clone()));
    }
    if b.replicas != a.replicas {
        out.push(Difference::new("replicas", b.replicas.to_string(), a.replicas.to_string()));
    }
    cmp_containers(&mut out, b, a);
    let pairs = [
        ("runtimeClassName", &b.runtime_class_name, &a.runtime_class_name),
        ("affinity", &b.affinity, &a.affinity),
        ("securityContext", &b.security_context, &a.security_context),
        ("dnsPolicy", &b.dns_policy, &a.dns_policy),
        ("serviceAccountName", &b.service_account_name, &a.service_account_name),
    ];
    for (what, x, y) in pairs {
        if x != y {
            out.push(Difference::new(what, x.clone(), y.clone()));
        }
    }
    cmp_maps(&mut out, "nodeSelector ", &b.node_selector, &a.node_selector, true);
    cmp_sets(&mut out, "tolerations", &b.tolerations, &a.tolerations);
    if b.host_network != a.host_network {
        out.push(Difference::new("hostNetwork", b.host_network.to_string(), a.host_network.to_string()));
    }
    // Pod labels: a lost or changed label matters (selectors, network policies); an added one
    // does not change what runs.
    cmp_maps(&mut out, "label ", &b.labels, &a.labels, false);
    out
}

/// Compare the old picture with the new one. See the module documentation.
pub fn compare(before: &[Value], after: &[Value]) -> Report {
    let bw = workloads(before);
    let aw = workloads(after);
    let bs = services(before);
    let asvc = services(after);
    // A claim a StatefulSet made is not in Git: it stays in the cluster when the StatefulSet goes
    // (the plan blocks a retention policy that would delete it), so it still exists after.
    let mut ac = claims(after);
    ac.extend(before.iter().filter(|o| kind(o) == "StatefulSet" && is_workload(o))
        .flat_map(|o| arr(&o["spec"]["volumeClaimTemplates"]).iter().map(move |t| format!("{}/{}-{}-0", namespace(o), name(t), name(o)))));
    let bc = claims(before);
    let mut report = Report::default();
    let mut replaced = BTreeSet::new();
    let split = |k: &str| -> (String, String, String) {
        let mut p = k.splitn(3, '/');
        (p.next().unwrap_or("").into(), p.next().unwrap_or("").into(), p.next().unwrap_or("").into())
    };
    // Which new workload replaces each old one.
    let mut matches: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (k, pic) in &bw {
        let (ns, kd, n) = split(k);
        let exact = format!("{ns}/{kd}/{n}");
        let m = aw
            .contains_key(&exact)
            .then(|| exact.clone())
            .or_else(|| aw.keys().find(|ak| split(ak).0 == ns && split(ak).2 == n).cloned())
            .or_else(|| {
                aw.iter()
                    .find(|(ak, ap)| {
                        split(ak).0 == ns && ap.main_repository() == pic.main_repository() && !replaced.contains(*ak)
                    })
                    .map(|(ak, _)| ak.clone())
            });
        if let Some(m) = &m {
            replaced.insert(m.clone());
        }
        matches.insert(k.clone(), m);
    }
    // Services of the old picture: which old workloads they select.
    let mut svc_owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (sk, sp) in &bs {
        let (sns, _) = sk.split_once('/').unwrap_or(("", sk));
        for (wk, wp) in &bw {
            if split(wk).0 == sns && selects(&sp.selector, &wp.labels) {
                svc_owner.entry(sk.clone()).or_default().push(wk.clone());
            }
        }
    }
    let check_service = |sk: &str, sp: &ServicePicture, new_pods: Option<&PodPicture>, out: &mut Vec<Difference>| {
        let short = sk.split_once('/').map(|(_, n)| n).unwrap_or(sk);
        let Some(np) = asvc.get(sk) else {
            out.push(Difference::new(format!("service {short}"), "exists", ""));
            return;
        };
        if sp.service_type != np.service_type {
            out.push(Difference::new(format!("service {short} type"), sp.service_type.clone(), np.service_type.clone()));
        }
        for (port, target) in &sp.ports {
            match np.ports.get(port) {
                Some(t) if t == target => {}
                t => out.push(Difference::new(
                    format!("service {short} port {port}"),
                    format!("-> {target}"),
                    t.map(|t| format!("-> {t}")).unwrap_or_default(),
                )),
            }
        }
        if let Some(pods) = new_pods
            && !selects(&np.selector, &pods.labels)
        {
            let j = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            out.push(Difference::new(
                format!("service {short} selector"),
                j(&sp.selector),
                format!("{} (new pods: {})", j(&np.selector), j(&pods.labels)),
            ));
        }
    };
    let mut accounted_claims = BTreeSet::new();
    for (k, pic) in &bw {
        let m = matches.get(k).cloned().flatten();
        let (ns, _, _) = split(k);
        let mut diffs = Vec::new();
        let new = m.as_ref().and_then(|m| aw.get(m));
        match new {
            None => diffs.push(Difference::new("workload", format!("{} running {}", pic.kind, pic.main_repository()), "")),
            Some(np) => diffs.extend(cmp_pods(pic, np)),
        }
        for (sk, owners) in &svc_owner {
            if owners.contains(k) {
                check_service(sk, &bs[sk], new, &mut diffs);
            }
        }
        for c in &pic.claims {
            let key = format!("{ns}/{c}");
            accounted_claims.insert(key.clone());
            let mounted = new.is_some_and(|np| np.claims.contains(c));
            let exists = ac.contains(&key);
            if !mounted || !exists {
                let state = match (mounted, exists) {
                    (false, true) => "exists, not mounted",
                    (true, false) => "mounted, but no such PVC",
                    _ => "",
                };
                diffs.push(Difference::new(format!("claim {c}"), "mounted", state));
            }
        }
        let outcome = if diffs.is_empty() { Outcome::Equal } else { Outcome::Differs(diffs) };
        report.entries.insert(k.clone(), Entry { replaced_by: m, outcome });
    }
    // Services and claims no old workload accounts for.
    for (sk, sp) in &bs {
        if !svc_owner.contains_key(sk) {
            let mut diffs = Vec::new();
            check_service(sk, sp, None, &mut diffs);
            let (ns, n) = sk.split_once('/').unwrap_or(("", sk));
            let outcome = if diffs.is_empty() { Outcome::Equal } else { Outcome::Differs(diffs) };
            report.entries.insert(format!("{ns}/Service/{n}"), Entry { replaced_by: None, outcome });
        }
    }
    for c in &bc {
        if !accounted_claims.contains(c) && !ac.contains(c) {
            let (ns, n) = c.split_once('/').unwrap_or(("", c));
            report.entries.insert(
                format!("{ns}/PersistentVolumeClaim/{n}"),
                Entry { replaced_by: None, outcome: Outcome::Differs(vec![Difference::new(format!("claim {n}"), "exists", "")]) },
            );
        }
    }
    report.added = aw.keys().filter(|k| !replaced.contains(*k)).cloned().collect();
    report
}

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::yaml::{self, split_documents};

/// Files larger than this are refused: no manifest is that big, and reading one would be slow.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
pub const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// Kustomize fields that change or generate objects: a folder under such a kustomization is read
/// as kustomize builds it (see `source::build`), not from its files alone.
pub const TRANSFORMERS: [&str; 16] = [
    "patches", "patchesStrategicMerge", "patchesJson6902", "images", "replicas", "namePrefix", "nameSuffix",
    "commonLabels", "labels", "commonAnnotations", "helmCharts", "replacements", "transformers", "generators",
    "configMapGenerator", "secretGenerator",
];

/// What was read: the repo root, every file read (by repo-relative path), the kustomizations
/// followed and the objects they produce.
#[derive(Debug, Default)]
pub struct Tree {
    pub root: PathBuf,
    pub files: BTreeMap<String, SourceFile>,
    pub kustomizations: Vec<Kustomization>,
    pub objects: Vec<Object>,
    /// The repo's Flux Kustomizations (see `source::flux`), and those followed from PATH.
    pub flux: Vec<super::flux::FluxKustomization>,
    /// Things the reader noticed that the plan should say (a Flux path outside this repo, …).
    pub notes: Vec<String>,
    /// Per Flux Kustomization, the files its build reads (computed once, on first use).
    pub reach: std::sync::OnceLock<Vec<HashSet<String>>>,
    /// With a cluster at hand: the live metadata of the tree's Services and workloads, to check
    /// the hand-over marks there. `None`: no cluster was read.
    pub live: Option<LiveMetadata>,
}

/// The metadata of objects as the cluster has them, and which (kind, namespace) lists were read.
#[derive(Debug, Default)]
pub struct LiveMetadata {
    /// The namespace of objects that name none (the kubeconfig context's).
    pub default_namespace: String,
    pub read: HashSet<(String, String)>,
    pub objects: BTreeMap<(String, String, String), Value>,
}

impl LiveMetadata {
    /// `None`: that kind in that namespace was not read; `Some(None)`: read, and not there.
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Option<&Value>> {
        let namespace = namespace.filter(|n| !n.is_empty()).unwrap_or(&self.default_namespace);
        if !self.read.contains(&(kind.to_string(), namespace.to_string())) {
            return None;
        }
        Some(self.objects.get(&(kind.to_string(), namespace.to_string(), name.to_string())))
    }

    /// Record a list of `kind` in `namespace` (`{metadata: …}` objects).
    pub fn add(&mut self, kind: &str, namespace: &str, items: impl IntoIterator<Item = Value>) {
        self.read.insert((kind.to_string(), namespace.to_string()));
        for v in items {
            if let Some(name) = v.pointer("/metadata/name").and_then(Value::as_str) {
                self.objects.insert((kind.to_string(), namespace.to_string(), name.to_string()), v);
            }
        }
    }
}

impl Tree {
    /// The Flux Kustomizations (indexes into `flux`) whose build reads `file`, overlays included.
    pub fn appliers(&self, file: &str) -> Vec<usize> {
        if self.root.as_os_str().is_empty() {
            return Vec::new();
        }
        let reach = self.reach.get_or_init(|| self.flux.iter()
            .map(|k| if k.from == "cluster" { HashSet::new() } else { super::flux::reached_files(&self.root, &k.path) })
            .collect());
        reach.iter().enumerate().filter(|(_, r)| r.contains(file)).map(|(i, _)| i).collect()
    }
}

#[derive(Debug)]
pub struct SourceFile {
    pub text: String,
    /// SOPS-encrypted: read for names only, never rewritten.
    pub sops: bool,
}

#[derive(Debug, Default)]
pub struct Kustomization {
    /// Repo-relative path of the kustomization file (`dir/(generated)` when Flux generates it).
    pub file: String,
    pub dir: String,
    pub namespace: Option<String>,
    /// Each `resources` entry as written, and the repo-relative path it resolves to.
    pub resources: Vec<(String, String)>,
    /// Transformer fields present (see `TRANSFORMERS`), and `components (…)` whose own
    /// kustomization transforms.
    pub transformers: Vec<String>,
    /// No kustomization file: Flux builds the folder from every YAML file below it, so a file
    /// added or removed there needs no listing.
    pub generated: bool,
    /// The kustomization listing this one (in `resources` or `components`); `None` for an entry.
    pub parent: Option<usize>,
    /// Entries: the Flux Kustomization (index into `Tree::flux`) that builds this folder.
    pub applier: Option<usize>,
    /// Entries: the namespace everything below gets (a Flux `targetNamespace`, or the
    /// `namespace:` of kustomizations above PATH that list it).
    pub outer_namespace: Option<String>,
}

/// How an object's `value` relates to the document it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Effective {
    /// As written: nothing transforms it.
    #[default]
    AsWritten,
    /// As kustomize builds it (patches, labels, images… applied); the document is its source.
    Built,
    /// Made by a generator (`configMapGenerator`, …) of the kustomization in `file`: no document.
    Generated,
    /// Its folder does not build: kustomize's message.
    Unbuildable(String),
    /// Gone from the build (a `$patch: delete`): nothing runs from it.
    Removed,
    /// Its file is applied by several Flux Kustomizations that make different objects of it:
    /// no single HelmRelease in that file reproduces them all (why).
    Divergent(String),
}

/// One Kubernetes object from a file in the tree.
#[derive(Debug, Clone)]
pub struct Object {
    pub file: String,
    /// Index among the file's documents (as split by `yaml::split_documents`).
    pub doc: usize,
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Effective namespace: the outermost kustomization's `namespace`, else the object's own.
    pub namespace: Option<String>,
    /// Index of the kustomization that lists the file.
    pub kustomization: usize,
    /// The object as Flux applies it (see `effective`). Secrets keep metadata only: their data
    /// is dropped as soon as it is parsed.
    pub value: Value,
    pub effective: Effective,
}

impl Object {
    pub fn origin(&self) -> crate::error::Origin {
        crate::error::Origin { file: self.file.clone(), line: self.line }
    }
}

/// Find the repo root for `start`: the nearest ancestor holding `.git` or a `.helmigrate.yaml`
/// marker (which lets a GitOps tree live inside another repository, as `examples/` does).
pub fn find_root(start: &Path) -> Result<PathBuf> {
    let start = canonical(start, &start.display().to_string())?;
    let mut dir = if start.is_dir() { start.as_path() } else { start.parent().unwrap_or(&start) };
    loop {
        if dir.join(".git").exists() || dir.join(".helmigrate.yaml").is_file() {
            return Ok(dir.to_path_buf());
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => {
                return Err(Error::input(
                    start.display().to_string(),
                    None,
                    "not inside a git repository: run helmigrate inside your GitOps repo (or add a .helmigrate.yaml at its root)",
                ));
            }
        }
    }
}

fn canonical(p: &Path, shown: &str) -> Result<PathBuf> {
    p.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(shown, None, "no such file or directory"),
        _ => Error::Read { path: shown.to_string(), source: e },
    })
}

/// Read a user file: regular files only, size-capped, UTF-8 checked, BOM dropped.
pub fn read_text(path: &Path, rel: &str) -> Result<String> {
    use std::io::Read;
    let rerr = |e| Error::Read { path: rel.to_string(), source: e };
    // Checked before opening: opening a FIFO would wait for a writer forever.
    let meta = std::fs::metadata(path).map_err(rerr)?;
    if !meta.is_file() {
        return Err(Error::input(rel, None, "is not a regular file (a folder, FIFO, socket or device): list only manifest files"));
    }
    let too_big = |len: u64| Error::input(rel, None, format!(
        "file is {len} bytes, over the {} MiB limit for a manifest: split it, or leave it out of the kustomization", MAX_FILE_BYTES >> 20));
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(rerr)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded even if the file grows while it is read.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(rerr)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..3);
            }
            Ok(s)
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(Error::input(rel, Some(line), "is not valid UTF-8: save it as UTF-8"))
        }
    }
}

/// The kustomization file in `dir`, refusing one that is a symlink to outside `root`.
fn kustomization_in(root: &Path, dir: &Path) -> Result<Option<(PathBuf, String)>> {
    let Some(kfile) = KUSTOMIZATION_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
        return Ok(None);
    };
    let rel = kfile.strip_prefix(root).unwrap_or(&kfile).to_string_lossy().replace('\\', "/");
    let real = canonical(&kfile, &rel)?;
    if !real.starts_with(root) {
        return Err(Error::input(rel, None, format!(
            "resolves outside the repository through a symlink: helmigrate only follows files inside {}", root.display())));
    }
    Ok(Some((real, rel)))
}

/// A kustomization's content: its first non-blank document (kustomize reads one), parsed.
/// `None` for an empty file.
fn kustomization_value<'t>(rel: &str, text: &'t str) -> Result<Option<(yaml::Document<'t>, Value)>> {
    let docs = split_documents(text);
    let Some(doc) = docs.into_iter().find(|d| !d.is_blank()) else { return Ok(None) };
    let value = yaml::parse_document(rel, &doc)?;
    Ok(Some((doc, value)))
}

/// Line (1-based, in the file) of the top-level key `field` in `doc`, when written in block style.
fn key_line(doc: &yaml::Document<'_>, field: &str) -> Option<usize> {
    key_index(doc.text, field).map(|i| doc.line + i)
}

fn key_index(text: &str, field: &str) -> Option<usize> {
    text.lines().position(|l| {
        [field.to_string(), format!("\"{field}\""), format!("'{field}'")]
            .iter()
            .any(|k| l.strip_prefix(k.as_str()).is_some_and(|r| r.trim_start().starts_with(':')))
    })
}

/// Line (1-based, in the file) of item `index` of the top-level block list `field` in `doc`.
fn item_line(doc: &yaml::Document<'_>, field: &str, index: usize) -> Option<usize> {
    let key = key_index(doc.text, field)?;
    let mut item_indent = None;
    let mut n = 0;
    for (i, l) in doc.text.lines().enumerate().skip(key + 1) {
        let t = l.trim_start_matches(' ');
        if t.trim().is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = l.len() - t.len();
        let is_item = t.trim_end() == "-" || t.starts_with("- ") || t.starts_with("-\t");
        match item_indent {
            None if is_item => item_indent = Some(indent),
            None => return None,
            Some(ii) if indent < ii || (indent == ii && !is_item) => return None,
            Some(ii) if indent > ii => continue,
            Some(_) => {}
        }
        if n == index {
            return Some(doc.line + i);
        }
        n += 1;
    }
    None
}

struct Loader {
    root: PathBuf,
    tree: Tree,
    /// Kustomization dirs on the current path (cycle detection) and all visited (dir → index).
    stack: Vec<PathBuf>,
    visited: std::collections::HashMap<PathBuf, usize>,
    /// Resource files to parse: (repo-relative path, kustomization index, effective namespace).
    pending: Vec<(String, usize, Option<String>)>,
    seen_files: HashSet<String>,
}

/// A list field of a kustomization (`resources`, `components`): each entry with its line.
fn entries_of(map: &serde_json::Map<String, Value>, doc: Option<&yaml::Document<'_>>, k_rel: &str, field: &str) -> Result<Vec<(String, Option<usize>)>> {
    let line_of = |field: &str| doc.and_then(|d| key_line(d, field));
    let mut entries = Vec::new();
    match map.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = doc.and_then(|d| item_line(d, field, i)).or_else(|| line_of(field));
                let Value::String(s) = item else {
                    return Err(Error::input(k_rel, at, format!("`{field}` entries must be strings: write each as a path")));
                };
                entries.push((s.clone(), at));
            }
        }
        Some(_) => return Err(Error::input(k_rel, line_of(field), format!("`{field}` must be a list of paths"))),
    }
    Ok(entries)
}

impl Loader {
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().replace('\\', "/")
    }

    /// Resolve a `resources` entry of the kustomization at `k_rel` (in `dir`, line `at`),
    /// staying inside the root.
    fn resolve(&self, dir: &Path, raw: &str, k_rel: &str, at: Option<usize>) -> Result<PathBuf> {
        let entry = printable(raw);
        if entry.contains("://") || entry.starts_with("git@") || entry.contains("?ref=")
            || entry.starts_with("github.com/") || entry.starts_with("gitlab.com/")
        {
            return Err(Error::input(k_rel, at, format!(
                "remote resource `{entry}` is not supported: vendor it into the repo or convert a folder without it")));
        }
        if Path::new(raw).is_absolute() {
            return Err(Error::input(k_rel, at, format!("resource `{entry}` is an absolute path: use a path relative to the kustomization")));
        }
        let outside = |how: &str| Error::input(k_rel, at, format!(
            "resource `{entry}` resolves outside the repository{how}: helmigrate only follows files inside {}",
            self.root.display()));
        let joined = dir.join(raw);
        // Checked before the path is touched: nothing outside the root is even looked at.
        if !lexically_inside(&self.root, &joined) {
            return Err(outside(""));
        }
        let real = joined.canonicalize().map_err(|_| {
            Error::input(k_rel, at, format!("resource `{entry}` does not exist: fix or remove the entry"))
        })?;
        if !real.starts_with(&self.root) {
            return Err(outside(" through a symlink"));
        }
        Ok(real)
    }

    fn shown(&self, dir: &Path) -> String {
        let rel = self.rel(dir);
        if rel.is_empty() { ".".into() } else { rel }
    }

    /// Read an entry folder: the kustomization in it, or — as Flux does for a path without
    /// one — every YAML file below it. `flux_only`: list only the folder's own files that hold
    /// Flux Kustomizations (PATH is an app's `ks.yaml` folder, which Flux never builds itself).
    fn enter(&mut self, dir: &Path, outer_ns: Option<String>, applier: Option<usize>, flux_only: bool) -> Result<usize> {
        if let Some(&i) = self.visited.get(dir) {
            return Ok(i);
        }
        let index = if kustomization_in(&self.root, dir)?.is_some() {
            self.visit(dir, outer_ns.clone(), None)?
        } else {
            self.generated(dir, outer_ns.clone(), flux_only)?
        };
        let k = &mut self.tree.kustomizations[index];
        k.applier = applier;
        k.outer_namespace = outer_ns;
        Ok(index)
    }

    /// A folder Flux builds without a kustomization file: every `.yaml`/`.yml` below it, a
    /// sub-folder holding a kustomization taken as a whole (Flux's generator does the same).
    fn generated(&mut self, dir: &Path, ns: Option<String>, flux_only: bool) -> Result<usize> {
        let shown = self.shown(dir);
        let index = self.tree.kustomizations.len();
        self.visited.insert(dir.to_path_buf(), index);
        self.tree.kustomizations.push(Kustomization {
            file: format!("{}/(generated)", self.rel(dir)).trim_start_matches('/').to_string(),
            dir: self.rel(dir),
            generated: true,
            ..Default::default()
        });
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        generated_listing(&self.root, dir, flux_only, &mut files, &mut dirs)?;
        if files.is_empty() && dirs.is_empty() {
            return Err(Error::input(shown, None,
                "has no kustomization.yaml and no YAML manifests: point helmigrate at a folder of your GitOps repo"));
        }
        for d in dirs {
            let rel = self.rel(&d);
            self.tree.kustomizations[index].resources.push((rel.clone(), rel));
            self.stack.push(dir.to_path_buf());
            let child = self.visit(&d, ns.clone(), Some(index));
            self.stack.pop();
            child?;
        }
        for f in files {
            let rel = self.rel(&f);
            self.tree.kustomizations[index].resources.push((rel.clone(), rel.clone()));
            if self.seen_files.insert(rel.clone()) {
                self.pending.push((rel, index, ns.clone()));
            }
        }
        Ok(index)
    }

    /// Read the kustomization in `dir` and everything it lists; returns its index.
    fn visit(&mut self, dir: &Path, outer_ns: Option<String>, parent: Option<usize>) -> Result<usize> {
        let shown = self.shown(dir);
        if self.stack.iter().any(|d| d == dir) {
            return Err(Error::input(shown, None, format!("kustomization cycle: {}", self.cycle(dir))));
        }
        if let Some(&i) = self.visited.get(dir) {
            return Ok(i); // reached twice through a diamond: its objects are already in.
        }
        let Some((kfile, k_rel)) = kustomization_in(&self.root, dir)? else {
            return Err(Error::input(shown, None,
                "no kustomization.yaml here: point helmigrate at a folder with a kustomization.yaml"));
        };
        let text = read_text(&kfile, &k_rel)?;
        let parsed = kustomization_value(&k_rel, &text)?;
        let doc = parsed.as_ref().map(|(d, _)| *d);
        let empty = serde_json::Map::new();
        let map = match &parsed {
            None => &empty,
            Some((_, Value::Object(map))) => map,
            Some((d, _)) => return Err(Error::input(&k_rel, Some(d.line), "a kustomization must be a YAML mapping")),
        };
        let line_of = |field: &str| doc.as_ref().and_then(|d| key_line(d, field));
        let namespace = match map.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::input(&k_rel, line_of("namespace"), "`namespace` must be a string")),
        };
        let mut entries = entries_of(map, doc.as_ref(), &k_rel, "resources")?;
        entries.extend(entries_of(map, doc.as_ref(), &k_rel, "bases")?);
        let components = entries_of(map, doc.as_ref(), &k_rel, "components")?;
        let transformers = TRANSFORMERS.iter().filter(|t| map.contains_key(**t)).map(|t| t.to_string()).collect();
        let index = self.tree.kustomizations.len();
        self.visited.insert(dir.to_path_buf(), index);
        let child_ns = outer_ns.or_else(|| namespace.clone());
        self.tree.kustomizations.push(Kustomization {
            file: k_rel.clone(),
            dir: self.rel(dir),
            namespace,
            transformers,
            parent,
            ..Default::default()
        });
        drop(parsed);
        self.tree.files.insert(k_rel.clone(), SourceFile { text, sops: false });

        self.stack.push(dir.to_path_buf());
        for (entry, at) in entries {
            let real = self.resolve(dir, &entry, &k_rel, at)?;
            let rel = self.rel(&real);
            self.tree.kustomizations[index].resources.push((entry.clone(), rel.clone()));
            if real.is_dir() {
                self.child(&real, &entry, &k_rel, at, child_ns.clone(), index)?;
            } else if self.seen_files.insert(rel.clone()) {
                self.pending.push((rel, index, child_ns.clone()));
            }
        }
        // A component's resources join this kustomization's; its patches transform them.
        for (entry, at) in components {
            let real = self.resolve(dir, &entry, &k_rel, at)?;
            if !real.is_dir() {
                return Err(Error::input(&k_rel, at, format!("component `{}` is not a folder: a component is a folder with a kustomization.yaml", printable(&entry))));
            }
            let ci = self.child(&real, &entry, &k_rel, at, child_ns.clone(), index)?;
            if !self.tree.kustomizations[ci].transformers.is_empty() {
                self.tree.kustomizations[index].transformers.push(format!("components ({})", printable(&entry)));
            }
        }
        self.stack.pop();
        Ok(index)
    }

    /// A folder listed by the kustomization at `k_rel`.
    fn child(&mut self, real: &Path, entry: &str, k_rel: &str, at: Option<usize>, ns: Option<String>, parent: usize) -> Result<usize> {
        if self.stack.iter().any(|d| d == real) {
            return Err(Error::input(k_rel, at, format!(
                "kustomization cycle: {}: remove the entry `{}`", self.cycle(real), printable(entry))));
        }
        if kustomization_in(&self.root, real)?.is_none() {
            return Err(Error::input(k_rel, at, format!(
                "resource `{}` is a folder with no kustomization.yaml: add one, or list its files instead", printable(entry))));
        }
        self.visit(real, ns, Some(parent))
    }

    /// The kustomization chain from the start to `dir`, which is already on it.
    fn cycle(&self, dir: &Path) -> String {
        let chain: Vec<String> = self.stack.iter().map(PathBuf::as_path).chain([dir]).map(|d| self.shown(d)).collect();
        chain.join(" -> ")
    }

    /// Parse the pending resource files on every core; results come back in listing order.
    fn parse_pending(&mut self) -> Result<Vec<usize>> {
        let pending = std::mem::take(&mut self.pending);
        let root = &self.root;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(pending.len().max(1));
        let chunk = pending.len().div_ceil(threads).max(1);
        let results: Vec<Result<Vec<(String, String, Vec<Object>, bool)>>> = std::thread::scope(|s| {
            let handles: Vec<_> = pending
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(rel, k, ns)| {
                                let text = read_text(&root.join(rel), rel)?;
                                let (objects, sops) = parse_objects(rel, &text, *k, ns)?;
                                Ok((rel.clone(), text, objects, sops))
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::usage("parse manifests", "a parser thread panicked")))).collect()
        });
        let first = self.tree.objects.len();
        for part in results {
            for (rel, text, objects, sops) in part? {
                self.tree.objects.extend(objects);
                self.tree.files.insert(rel, SourceFile { text, sops });
            }
        }
        Ok((first..self.tree.objects.len()).collect())
    }

    /// Follow the Flux Kustomizations among `objects` to the folders they build, as
    /// kustomize-controller does: `spec.path` from the repo root, `targetNamespace` on all of it.
    fn follow_flux(&mut self, objects: &[usize]) -> Result<()> {
        for &i in objects {
            let o = &self.tree.objects[i];
            let Some(k) = super::flux::FluxKustomization::from_value(&o.value, &o.file) else { continue };
            let index = match self.tree.flux.iter().position(|f| f.from == k.from && f.name == k.name && f.namespace == k.namespace) {
                Some(i) => i,
                None => {
                    self.tree.flux.push(k.clone());
                    self.tree.flux.len() - 1
                }
            };
            let dir = self.root.join(if k.path == "." { "" } else { &k.path });
            if !lexically_inside(&self.root, &dir) || !dir.is_dir() {
                self.tree.notes.push(format!(
                    "Flux Kustomization {} ({}:{}) builds `{}`, which is not a folder of this repository (another source?): not followed",
                    k.name, o.file, o.line, k.path));
                continue;
            }
            let real = canonical(&dir, &k.path)?;
            let ns = k.target_namespace.clone();
            let entry = self.enter(&real, ns.clone(), Some(index), false)?;
            for c in k.components.clone() {
                let real = canonical(&self.root.join(&c), &c)?;
                let ci = self.child(&real, &c, &k.from, None, ns.clone(), entry)?;
                if !self.tree.kustomizations[ci].transformers.is_empty() {
                    self.tree.kustomizations[entry].transformers.push(format!("components ({c})"));
                }
            }
        }
        Ok(())
    }
}

/// A folder's entries by name, leaving out symlinks (never followed) and hidden ones.
fn visible_entries(rd: std::fs::ReadDir) -> Vec<(String, std::fs::FileType, PathBuf)> {
    let mut entries: Vec<_> = rd.flatten()
        .filter_map(|e| Some((e.file_name().to_string_lossy().to_string(), e.file_type().ok()?, e.path())))
        .filter(|(name, ft, _)| !ft.is_symlink() && !name.starts_with('.'))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// What Flux's generated kustomization for `dir` lists: every `.yaml`/`.yml` file below it,
/// and the sub-folders holding a kustomization of their own (taken whole, not descended).
/// `flux_only`: only the folder's own files that define Flux Kustomizations.
pub fn generated_listing(root: &Path, dir: &Path, flux_only: bool, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) -> Result<()> {
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/");
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Read { path: rel(dir), source: e })?;
    for (name, ft, p) in visible_entries(rd) {
        if ft.is_dir() {
            if flux_only {
                continue;
            }
            if kustomization_in(root, &p)?.is_some() {
                dirs.push(p);
            } else {
                generated_listing(root, &p, false, files, dirs)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            if flux_only && !read_text(&p, &rel(&p))?.contains("kustomize.toolkit.fluxcd.io") {
                continue;
            }
            files.push(p);
        }
    }
    Ok(())
}

/// `s` with control characters escaped, so a message about it stays on one line.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn lexically_inside(root: &Path, p: &Path) -> bool {
    let mut depth: i64 = 0;
    let rel = match p.strip_prefix(root) {
        Ok(r) => r,
        Err(_) => return false,
    };
    for c in rel.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Does this document carry a SOPS envelope (a top-level `sops` map with a MAC)?
pub fn is_sops(value: &Value) -> bool {
    value.get("sops").and_then(Value::as_object).is_some_and(|s| s.contains_key("mac") || s.contains_key("lastmodified"))
}

/// Parse one resource file into objects. Secrets (and anything SOPS-encrypted) keep only their
/// identity: helmigrate needs their names, never their data.
pub fn parse_objects(rel: &str, text: &str, kustomization: usize, ns: &Option<String>) -> Result<(Vec<Object>, bool)> {
    let mut objects = Vec::new();
    let mut sops = false;
    for (i, doc) in split_documents(text).iter().enumerate() {
        if doc.is_blank() {
            continue;
        }
        let mut value = yaml::parse_document(rel, doc)?;
        let at = Some(doc.line);
        if value.is_null() {
            continue;
        }
        let Some(map) = value.as_object() else {
            return Err(Error::input(rel, at, "a Kubernetes manifest must be a YAML mapping"));
        };
        let text_field = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(api_version), Some(kind)) = (text_field("apiVersion"), text_field("kind")) else {
            return Err(Error::input(rel, at, "document has no apiVersion/kind: is this a Kubernetes manifest?"));
        };
        if kind.ends_with("List") && map.contains_key("items") {
            return Err(Error::input(rel, at, format!("{kind} documents are not supported: write one object per document")));
        }
        let meta = map.get("metadata");
        let Some(name) = meta.and_then(|m| m.get("name")).and_then(Value::as_str).map(str::to_string) else {
            return Err(Error::input(rel, at, format!("{kind} has no metadata.name")));
        };
        let own_ns = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(str::to_string);
        for (field, v) in [("name", Some(&name)), ("namespace", own_ns.as_ref())] {
            if let Some(v) = v.filter(|v| !valid_name(v)) {
                return Err(Error::input(rel, at, format!(
                    "{kind} metadata.{field} {v:?} is not a valid Kubernetes name: it may not be empty, `.` or `..`, or hold `/`, `\\`, `%` or control characters")));
            }
        }
        let encrypted = is_sops(&value);
        sops |= encrypted;
        if encrypted || kind == "Secret" {
            value = redact(&value);
        }
        objects.push(Object {
            file: rel.to_string(),
            doc: i,
            line: doc.line,
            api_version,
            kind,
            name,
            namespace: ns.clone().or(own_ns),
            kustomization,
            value,
            effective: Effective::AsWritten,
        });
    }
    Ok((objects, sops))
}

/// The API server's rule for names that are path segments (every object's name): not empty,
/// not `.` or `..`, no `/` or `%`. Backslashes and control characters are refused too: names
/// become file names in the plan, and no DNS-style name holds them.
fn valid_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..") && !name.chars().any(|c| matches!(c, '/' | '\\' | '%') || c.is_control())
}

/// Keep an object's identity and nothing else.
pub fn redact(value: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = value.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    let mut meta = serde_json::Map::new();
    for k in ["name", "namespace"] {
        if let Some(v) = value.get("metadata").and_then(|m| m.get(k)) {
            meta.insert(k.into(), v.clone());
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    Value::Object(out)
}

/// Namespace set on `dir` by kustomizations above it that list it (walking up while each
/// parent lists the child), outermost wins as in kustomize.
fn inherited_namespace(root: &Path, dir: &Path) -> Result<Option<String>> {
    let mut found = None;
    let mut child = dir.to_path_buf();
    while let Some(parent) = child.parent().filter(|p| p.starts_with(root)).map(Path::to_path_buf) {
        let Some((kfile, rel)) = kustomization_in(root, &parent)? else { break };
        let text = read_text(&kfile, &rel)?;
        let Some((_, value)) = kustomization_value(&rel, &text)? else { break };
        let lists_child = value.get("resources").and_then(Value::as_array).is_some_and(|items| {
            items.iter().filter_map(Value::as_str).any(|e| {
                let p = parent.join(e);
                lexically_inside(root, &p) && p.canonicalize().ok().as_deref() == Some(&child)
            })
        });
        if !lists_child {
            break;
        }
        if let Some(ns) = value.get("namespace").and_then(Value::as_str) {
            found = Some(ns.to_string());
        }
        child = parent;
    }
    Ok(found)
}

/// Load the tree at `start` (inside repo `root`) as Flux applies it: the kustomization there
/// (or, without one, every YAML file below it), the Flux Kustomizations found in it followed to
/// the folders they build, and every object that kustomize transforms read as built.
pub fn load(root: &Path, start: &Path) -> Result<Tree> {
    load_with(root, start, true)
}

/// `load`; `shared_check`: also read the folders of the other Flux Kustomizations that apply
/// the same files, to find workloads they make differently (see `build::shared_files`).
pub fn load_with(root: &Path, start: &Path, shared_check: bool) -> Result<Tree> {
    let root = canonical(root, &root.display().to_string())?;
    let shown = start.display().to_string();
    let dir = canonical(start, &shown)?;
    if !dir.starts_with(&root) {
        return Err(Error::input(shown, None, "is outside the repository"));
    }
    if !dir.is_dir() {
        return Err(Error::input(shown, None, "is a file: pass the folder that holds its kustomization.yaml"));
    }
    let mut tree = Tree { root: root.clone(), flux: super::flux::kustomizations(&root), ..Default::default() };
    // The Flux Kustomization building the folder PATH is in (the deepest path holding it).
    let rel = dir.strip_prefix(&root).unwrap_or(&dir).to_string_lossy().replace('\\', "/");
    let applier = tree.flux.iter().enumerate().filter(|(_, k)| k.covers(&rel))
        .max_by_key(|(_, k)| if k.path == "." { 0 } else { k.path.len() }).map(|(i, _)| i);
    let outer = applier.and_then(|i| tree.flux[i].target_namespace.clone()).map_or_else(|| inherited_namespace(&root, &dir), |ns| Ok(Some(ns)))?;
    // A folder of `ks.yaml` files only (no kustomization, Flux Kustomizations beside an app
    // folder): read just those, then follow them.
    let flux_only = kustomization_in(&root, &dir)?.is_none() && has_flux_files(&dir);
    let mut loader = Loader {
        root: root.clone(),
        tree: std::mem::take(&mut tree),
        stack: Vec::new(),
        visited: Default::default(),
        pending: Vec::new(),
        seen_files: HashSet::new(),
    };
    loader.enter(&dir, outer, applier, flux_only)?;
    loop {
        let parsed = loader.parse_pending()?;
        if parsed.is_empty() {
            break;
        }
        loader.follow_flux(&parsed)?;
    }
    let mut tree = loader.tree;
    super::build::effective(&mut tree);
    if shared_check {
        super::build::shared_files(&mut tree);
    }
    Ok(tree)
}

/// Does `dir` itself hold a YAML file defining a Flux Kustomization?
fn has_flux_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let name = e.file_name().to_string_lossy().to_string();
        (name.ends_with(".yaml") || name.ends_with(".yml")) && e.file_type().is_ok_and(|t| t.is_file())
            && std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("kustomize.toolkit.fluxcd.io") && t.contains("Kustomization"))
    })
}

/// Every document of a file parsed as plain YAML values (no Kubernetes shape required), for
/// files read outside the kustomization tree such as the HelmRepository sources.
pub fn split_objects_lenient(rel: &str, text: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in split_documents(text).iter().filter(|d| !d.is_blank()) {
        let v = yaml::parse_document(rel, doc)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Folders never searched for manifests (build output, dependencies).
const SKIP_DIRS: [&str; 3] = ["target", "node_modules", "vendor"];

/// Every `.yaml`/`.yml` file of the repo (repo-relative, sorted), skipping hidden folders,
/// symlinks and build/dependency folders: for the few searches that go beyond the
/// kustomization tree (HelmRepository sources, Flux Kustomizations).
pub fn yaml_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for (name, ft, p) in visible_entries(rd) {
            if ft.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) {
                    walk(root, &p, out);
                }
            } else if ft.is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
                // Regular files only: reading a FIFO would wait for a writer forever.
                out.push(p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> yaml::Document<'_> {
        split_documents(text).into_iter().find(|d| !d.is_blank()).expect("a document")
    }

    #[test]
    fn lines_of_keys_and_items() {
        let t = "# k\n---\nkind: Kustomization\nresources:\n  # c\n  - a.yaml\n\n  - b.yaml # x\n  - name: {x: 1}\n    more: 2\n  - c\nnamespace: ai\n";
        let d = doc(t);
        assert_eq!(key_line(&d, "resources"), Some(4));
        assert_eq!(key_line(&d, "namespace"), Some(12));
        assert_eq!((item_line(&d, "resources", 0), item_line(&d, "resources", 1)), (Some(6), Some(8)));
        assert_eq!((item_line(&d, "resources", 2), item_line(&d, "resources", 3)), (Some(9), Some(11)));
        assert_eq!(item_line(&d, "resources", 4), None);
        // Unindented items, CRLF, flow lists (no line for items), quoted keys.
        let d = doc("resources:\r\n- a\r\n- b\r\nx: 1\r\n");
        assert_eq!((item_line(&d, "resources", 1), item_line(&d, "resources", 2)), (Some(3), None));
        let d = doc("\"resources\": [a, b]\n");
        assert_eq!((key_line(&d, "resources"), item_line(&d, "resources", 0)), (Some(1), None));
        assert_eq!(key_line(&doc("resourcesX: 1\n"), "resources"), None);
    }

    #[test]
    fn names_that_are_not_path_segments_are_refused() {
        for bad in ["", ".", "..", "a/../../b", "a\\b", "50%", "a\nb"] {
            let text = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n", serde_json::to_string(bad).unwrap());
            let e = parse_objects("f.yaml", &text, 0, &None).unwrap_err().to_string();
            assert!(e.starts_with("failed to load f.yaml:1: ConfigMap metadata.name"), "{bad:?}: {e}");
        }
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n  namespace: ../x\n";
        assert!(parse_objects("f.yaml", text, 0, &None).unwrap_err().to_string().contains("metadata.namespace"));
        assert!(parse_objects("f.yaml", "apiVersion: v1\nkind: ClusterRole\nmetadata:\n  name: system:a.b-C\n", 0, &None).is_ok());
    }

    #[test]
    fn lexical_escapes() {
        let root = Path::new("/r");
        assert!(lexically_inside(root, Path::new("/r/a/../b")));
        assert!(!lexically_inside(root, Path::new("/r/a/../../b")));
        assert!(!lexically_inside(root, Path::new("/elsewhere")));
    }

    #[test]
    fn read_text_refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_text(dir.path(), "d").unwrap_err().to_string();
        assert!(e.starts_with("failed to load d: is not a regular file"), "{e}");
        let f = dir.path().join("f.yaml");
        std::fs::write(&f, b"\xef\xbb\xbfa: 1\nb: \xff\n").unwrap();
        assert_eq!(read_text(&f, "f.yaml").unwrap_err().to_string(), "failed to load f.yaml:2: is not valid UTF-8: save it as UTF-8");
        std::fs::write(&f, b"\xef\xbb\xbfa: 1\n").unwrap();
        assert_eq!(read_text(&f, "f.yaml").unwrap(), "a: 1\n");
    }
}

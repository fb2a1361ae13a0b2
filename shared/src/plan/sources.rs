//! Chart sources (HelmRepository, or OCIRepository for a chart published as an OCI artifact):
//! find the ones the repo already has, and add the missing ones where the repo keeps them (kept lossless: a new document or file, and one `resources` entry):
//! - a central sources folder of one file per repository → a new `<name>.yaml` there, listed in
//!   that folder's kustomization.yaml;
//! - a central multi-document file → appended to it;
//! - beside the HelmReleases in the app folders, or no sources yet → a new file in the app's folder.
//!
//! Never into another app's folder, and never into a file of `type: oci` repositories.

use std::path::Path;

use serde_json::{Value, json};

use super::files::FileSet;
use crate::error::Result;
use crate::profiles::SourceKind;
use crate::source::repo::{read_text, split_objects_lenient};
use crate::yaml;

#[derive(Debug, Clone)]
pub struct Source {
    pub kind: SourceKind,
    pub name: String,
    pub namespace: Option<String>,
    pub url: String,
    /// An OCIRepository's `ref.tag`: the chart version it serves.
    pub tag: Option<String>,
    pub file: String,
    pub interval: Option<String>,
    /// For a source without `metadata.namespace`: the namespace it lands in (kustomize's or
    /// Flux's), when known. A HelmRelease can only name it from that namespace.
    pub in_namespace: Option<String>,
    /// Whether `in_namespace` is known (a file outside the tree being converted may be applied
    /// anywhere: such a source is not reused).
    pub namespace_known: bool,
}

/// The source a chart needs: its kind, URL, the name a new one gets and the chart version.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub kind: SourceKind,
    pub url: String,
    pub name: String,
    pub version: String,
}

/// The layer of an OCI artifact that holds a Helm chart, and how Flux takes it.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Where the repo keeps its HelmRepositories, and so where a new one goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Placement {
    /// A new file in the converted app's folder: the repo has no sources yet, or each app keeps
    /// its own beside its HelmRelease.
    #[default]
    AppFolder,
    /// A new `<name>.yaml` in this central folder (one file per repository), listed in its
    /// kustomization.yaml when it has one.
    Folder { dir: String, namespace: Option<String> },
    /// Appended to this central multi-document file.
    File { file: String, namespace: Option<String> },
}

/// A HelmRepository document found in the repo.
#[derive(Debug, Clone)]
struct Found {
    file: String,
    name: String,
    namespace: Option<String>,
    oci: bool,
}

#[derive(Debug, Default)]
pub struct Sources {
    pub known: Vec<Source>,
    /// The repo's convention for new HelmRepositories (see [`Placement`]).
    pub placement: Placement,
    /// The central file or folder file the last new HelmRepository went into (None: the app's
    /// folder, which the app's kustomization lists).
    pub file: Option<String>,
    pub interval: Option<String>,
    /// Namespace for new HelmRepositories when there is no file to follow.
    pub default_namespace: Option<String>,
    /// Files that mention HelmRepository but could not be read (reported, not fatal: they are
    /// outside the tree being converted).
    pub unreadable: Vec<String>,
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Source {
    /// The source's document: a HelmRepository, or an OCIRepository of one chart version.
    pub fn document(&self) -> String {
        let mut meta = json!({ "name": self.name });
        if let Some(ns) = &self.namespace {
            meta["namespace"] = json!(ns);
        }
        let mut spec = json!({ "interval": self.interval.as_deref().unwrap_or("1h"), "url": self.url });
        if self.kind == SourceKind::OciRepository {
            spec["ref"] = json!({ "tag": self.tag.as_deref().unwrap_or_default() });
            spec["layerSelector"] = json!({ "mediaType": HELM_CHART_LAYER, "operation": "copy" });
        }
        let doc = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": self.kind.kind(),
            "metadata": meta,
            "spec": spec,
        });
        format!("---\n{}", yaml::to_yaml(&doc, &Default::default()))
    }

    /// The HelmRelease's reference to it: `chart.spec.sourceRef` or `chartRef`, naming its
    /// namespace whenever it is known (a release in another namespace finds it too).
    pub fn reference(&self) -> Value {
        let mut r = json!({ "kind": self.kind.kind(), "name": self.name });
        if let Some(ns) = self.namespace.as_ref().or(self.in_namespace.as_ref()) {
            r["namespace"] = json!(ns);
        }
        r
    }
}

impl Sources {
    /// Scan every YAML file of the repo that mentions HelmRepository or HelmRelease.
    pub fn scan(root: &Path) -> Result<Sources> {
        let files = crate::source::repo::yaml_files(root);
        let mut s = Sources::default();
        let mut found: Vec<Found> = Vec::new();
        // (folder of the HelmRelease, the HelmRepository it uses)
        let mut releases: Vec<(String, String)> = Vec::new();
        for rel in files {
            let Ok(text) = read_text(&root.join(&rel), &rel) else { continue };
            if !text.contains("HelmRe") && !text.contains("OCIRepository") {
                continue;
            }
            let docs = match split_objects_lenient(&rel, &text) {
                Ok(docs) => docs,
                Err(e) => {
                    if text.contains("HelmRepository") {
                        s.unreadable.push(e.to_string());
                    }
                    continue;
                }
            };
            for v in docs {
                let str_at = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
                match v.get("kind").and_then(Value::as_str) {
                    Some("HelmRelease") => {
                        let named = |kind: &str, at: &str| (str_at(&format!("{at}/kind")).as_deref() == Some(kind)).then(|| str_at(&format!("{at}/name"))).flatten();
                        if let Some(name) = named("HelmRepository", "/spec/chart/spec/sourceRef").or_else(|| named("OCIRepository", "/spec/chartRef")) {
                            releases.push((dir_of(&rel), name));
                        }
                    }
                    Some(kind @ ("HelmRepository" | "OCIRepository")) if v.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("source.toolkit.fluxcd.io/")) => {
                        let kind = if kind == "HelmRepository" { SourceKind::HelmRepository } else { SourceKind::OciRepository };
                        let Some(url) = str_at("/spec/url") else { continue };
                        if s.interval.is_none() && kind == SourceKind::HelmRepository {
                            s.interval = str_at("/spec/interval");
                        }
                        let source = Source {
                            kind,
                            name: str_at("/metadata/name").unwrap_or_default(),
                            namespace: str_at("/metadata/namespace"),
                            url,
                            tag: str_at("/spec/ref/tag"),
                            file: rel.clone(),
                            interval: str_at("/spec/interval"),
                            in_namespace: None,
                            namespace_known: false,
                        };
                        found.push(Found { file: rel.clone(), name: source.name.clone(), namespace: source.namespace.clone(),
                            oci: kind == SourceKind::OciRepository || str_at("/spec/type").as_deref() == Some("oci") });
                        s.known.push(source);
                    }
                    _ => {}
                }
            }
        }
        s.placement = placement(&found, &releases);
        for src in s.known.iter_mut().filter(|x| x.namespace.is_none()) {
            if let Some(ns) = kustomization_namespace(root, &src.file) {
                src.in_namespace = Some(ns);
                src.namespace_known = true;
            }
        }
        Ok(s)
    }

    /// Learn, from the objects of the tree being converted (read the way Flux applies them), the
    /// namespace each source without `metadata.namespace` lands in.
    pub fn resolve_namespaces(&mut self, tree: &crate::source::Tree) {
        for s in self.known.iter_mut().filter(|s| s.namespace.is_none()) {
            if let Some(o) = tree.objects.iter().find(|o| o.kind == s.kind.kind() && o.name == s.name && o.file == s.file) {
                s.in_namespace = o.namespace.clone();
                s.namespace_known = true;
            }
        }
    }

    /// The source for a chart: an existing one of the same kind and URL (usable from the app's
    /// namespace), else a new document appended to the sources file (or, without one, a file in
    /// `app_dir`). Returns the source and, when it is new, the path it was written to.
    pub fn ensure(&mut self, wanted: &Wanted, app_dir: &str, app_namespace: Option<&str>, files: Option<&mut FileSet>) -> Result<(Source, Option<String>)> {
        let usable = |s: &&Source| s.kind == wanted.kind && same_url(&s.url, &wanted.url) && (s.namespace.is_some() || s.namespace_known);
        if let Some(existing) = self.known.iter().find(usable) {
            return Ok((existing.clone(), None));
        }
        let mut name = wanted.name.clone();
        // A name taken where the new source lands (or possibly: a namespace not known) is taken.
        while self.known.iter().any(|s| s.name == name && (s.namespace.is_some() || !s.namespace_known || s.in_namespace.as_deref() == app_namespace)) {
            name.push_str("-charts");
        }
        let tag = (wanted.kind == SourceKind::OciRepository).then(|| wanted.version.clone());
        let kind = wanted.kind;
        let file_prefix = if kind == SourceKind::OciRepository { "ocirepository" } else { "helmrepository" };
        let Some(files) = files else {
            // Nothing to write into (a plan from a cluster): Flux's own namespace.
            let namespace = Some(self.default_namespace.clone().unwrap_or_else(|| "flux-system".into()));
            let source = Source { kind, name, namespace, url: wanted.url.clone(), tag, file: String::new(), interval: self.interval.clone(), in_namespace: None, namespace_known: true };
            self.known.push(source.clone());
            return Ok((source, None));
        };
        let in_dir = |dir: &str, f: &str| if dir.is_empty() { f.to_string() } else { format!("{}/{f}", dir.trim_end_matches('/')) };
        let (file, namespace, list_in) = match &self.placement {
            Placement::File { file, namespace } => (file.clone(), namespace.clone(), None),
            Placement::Folder { dir, namespace } => {
                let mut file = in_dir(dir, &format!("{name}.yaml"));
                if files.get(&file)?.is_some() {
                    file = in_dir(dir, &format!("{file_prefix}-{name}.yaml"));
                }
                (file, namespace.clone(), Some(dir.clone()))
            }
            Placement::AppFolder => (in_dir(app_dir, &format!("{file_prefix}-{name}.yaml")), None, None),
        };
        // The app's kustomization lists a file in the app folder; a central one is listed here.
        self.file = (self.placement != Placement::AppFolder).then(|| file.clone());
        let in_namespace = if namespace.is_none() { app_namespace.map(str::to_string) } else { None };
        let source = Source { kind, name, namespace, url: wanted.url.clone(), tag, file: file.clone(), interval: self.interval.clone(), in_namespace, namespace_known: true };
        self.known.push(source.clone());
        if let Some(dir) = list_in {
            let k = in_dir(&dir, "kustomization.yaml");
            if let Some(text) = files.get(&k)? {
                let entry = Path::new(&file).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                let edited = super::kustomization::edit_resources(&k, &text, &[], &[entry])?;
                files.set(&k, Some(edited))?;
            }
        }
        let mut current = files.get(&file)?.unwrap_or_default();
        let eol = if current.contains("\r\n") { "\r\n" } else { "\n" };
        if !current.is_empty() && !current.ends_with('\n') {
            current.push_str(eol);
        }
        current.push_str(&source.document().replace('\n', eol));
        files.set(&file, Some(current))?;
        Ok((source, Some(file)))
    }
}

/// The `namespace:` the nearest kustomization.yaml above `file` sets, if one does.
fn kustomization_namespace(root: &Path, file: &str) -> Option<String> {
    let mut dir = Path::new(file).parent();
    while let Some(d) = dir {
        for name in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
            let rel = d.join(name);
            let Ok(text) = read_text(&root.join(&rel), &rel.to_string_lossy()) else { continue };
            let v = crate::yaml::parse_str(&rel.to_string_lossy(), &text).ok()?;
            if let Some(ns) = v.get("namespace").and_then(Value::as_str) {
                return Some(ns.to_string());
            }
        }
        dir = d.parent();
    }
    None
}

fn dir_of(file: &str) -> String {
    Path::new(file).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The repo's convention, from where its HelmRepositories sit relative to the HelmReleases that
/// use them. A folder that holds a HelmRelease is an app's folder: never a central one.
fn placement(found: &[Found], releases: &[(String, String)]) -> Placement {
    let app_dirs: std::collections::BTreeSet<&str> = releases.iter().map(|(d, _)| d.as_str()).collect();
    let beside = found.iter().filter(|f| releases.iter().any(|(d, n)| *d == dir_of(&f.file) && *n == f.name)).count();
    let central: Vec<&Found> = found.iter().filter(|f| !app_dirs.contains(dir_of(&f.file).as_str())).collect();
    if central.is_empty() || beside > central.len() {
        return Placement::AppFolder;
    }
    // The folder holding the most central repositories (https ones first: that is what is added).
    let mut dirs: Vec<(usize, usize, String)> = Vec::new();
    for f in &central {
        let d = dir_of(&f.file);
        match dirs.iter_mut().find(|(_, _, x)| *x == d) {
            Some(e) => { e.0 += usize::from(!f.oci); e.1 += 1; }
            None => dirs.push((usize::from(!f.oci), 1, d)),
        }
    }
    dirs.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)).then_with(|| a.2.cmp(&b.2)));
    let dir = dirs[0].2.clone();
    let here: Vec<&&Found> = central.iter().filter(|f| dir_of(&f.file) == dir).collect();
    let mut namespaces: Vec<(usize, &str)> = Vec::new();
    for ns in here.iter().filter_map(|f| f.namespace.as_deref()) {
        match namespaces.iter_mut().find(|(_, n)| *n == ns) {
            Some(e) => e.0 += 1,
            None => namespaces.push((1, ns)),
        }
    }
    namespaces.sort_by_key(|n| std::cmp::Reverse(n.0));
    let namespace = namespaces.first().map(|(_, n)| n.to_string());
    // One file holding them all (`sources.yaml`) is appended to, unless it is a file per
    // repository (`bitnami.yaml` holding bitnami); a file of OCI repositories never is.
    let mut https_files: Vec<&str> = here.iter().filter(|f| !f.oci).map(|f| f.file.as_str()).collect();
    https_files.dedup();
    let single = https_files.len() == 1 && {
        let in_file: Vec<&&&Found> = here.iter().filter(|f| f.file == https_files[0]).collect();
        let stem = Path::new(https_files[0]).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        !(in_file.len() == 1 && in_file[0].name == stem)
    };
    if single {
        let file = https_files[0].to_string();
        let namespace = here.iter().filter(|f| f.file == file && !f.oci).find_map(|f| f.namespace.clone()).or(namespace);
        Placement::File { file, namespace }
    } else {
        Placement::Folder { dir, namespace }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Tree;

    fn chart() -> Wanted {
        Wanted { kind: SourceKind::HelmRepository, url: "https://otwld.github.io/ollama-helm/".into(), name: "ollama".into(), version: "1.39.0".into() }
    }

    fn repo(name: &str, ns: Option<&str>, url: &str) -> String {
        let ns = ns.map(|n| format!("  namespace: {n}\n")).unwrap_or_default();
        format!("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: {name}\n{ns}spec:\n  interval: 2h\n  url: {url}\n")
    }

    fn oci(name: &str) -> String {
        format!("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: {name}\nspec:\n  type: oci\n  url: oci://ghcr.io/{name}\n")
    }

    fn release(name: &str, source: &str) -> String {
        format!("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\nspec:\n  chart:\n    spec:\n      chart: {name}\n      sourceRef:\n        kind: HelmRepository\n        name: {source}\n")
    }

    /// Plan the ollama source for `apps/ollama` in a repo of `files`: (placement, the source, the
    /// file changes as path → new text).
    fn ensure(files: &[(&str, String)]) -> (Placement, Source, BTreeMap<String, Option<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let mut all = files.to_vec();
        all.push(("apps/ollama/kustomization.yaml", "resources:\n  - deployment.yaml\n".into()));
        for (p, t) in &all {
            std::fs::create_dir_all(dir.path().join(p).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(p), t).unwrap();
        }
        let tree = Tree { root: dir.path().to_path_buf(), ..Tree::default() };
        let mut set = FileSet::new(&tree);
        let mut s = Sources::scan(dir.path()).unwrap();
        let (source, _) = s.ensure(&chart(), "apps/ollama", None, Some(&mut set)).unwrap();
        let changes = set.changes().into_iter().map(|c| (c.path, c.after)).collect();
        (s.placement, source, changes)
    }

    use std::collections::BTreeMap;

    #[test]
    fn a_central_folder_of_one_file_per_repository_gets_a_new_file_listed_there() {
        let d = "kubernetes/flux/repositories/helm";
        let (p, source, changes) = ensure(&[
            (&format!("{d}/bitnami.yaml"), repo("bitnami", Some("flux-system"), "https://charts.bitnami.com/bitnami")),
            (&format!("{d}/jetstack.yaml"), repo("jetstack", Some("flux-system"), "https://charts.jetstack.io")),
            (&format!("{d}/kustomization.yaml"), "resources:\n  - bitnami.yaml # b\n  - jetstack.yaml\n".into()),
            ("apps/grafana/helmrelease.yaml", release("grafana", "bitnami")),
        ]);
        assert_eq!(p, Placement::Folder { dir: d.into(), namespace: Some("flux-system".into()) });
        assert_eq!(source.namespace.as_deref(), Some("flux-system"));
        assert_eq!(changes.keys().collect::<Vec<_>>(), [&format!("{d}/kustomization.yaml"), &format!("{d}/ollama.yaml")]);
        assert_eq!(changes[&format!("{d}/kustomization.yaml")].as_deref(), Some("resources:\n  - bitnami.yaml # b\n  - jetstack.yaml\n  - ollama.yaml\n"));
        let new = changes[&format!("{d}/ollama.yaml")].as_deref().unwrap();
        assert!(new.contains("name: ollama\n  namespace: flux-system\n") && new.contains("url: https://otwld.github.io/ollama-helm/"), "{new}");
    }

    #[test]
    fn a_central_multi_document_file_is_appended_to() {
        let f = "clusters/home/sources.yaml";
        let text = format!("# all sources\n{}{}", repo("bitnami", Some("flux-system"), "https://charts.bitnami.com/bitnami"), repo("jetstack", Some("flux-system"), "https://charts.jetstack.io"));
        let (p, source, changes) = ensure(&[(f, text.clone()), ("apps/grafana/helmrelease.yaml", release("grafana", "bitnami"))]);
        assert_eq!(p, Placement::File { file: f.into(), namespace: Some("flux-system".into()) });
        assert_eq!(source.file, f);
        assert_eq!(changes.keys().collect::<Vec<_>>(), [f]);
        let after = changes[f].as_deref().unwrap();
        assert!(after.starts_with(&text) && after[text.len()..].contains("name: ollama"), "{after}");
    }

    #[test]
    fn per_app_sources_beside_their_releases_mean_a_file_in_the_converted_apps_folder() {
        let (p, source, changes) = ensure(&[
            ("apps/grafana/helmrelease.yaml", release("grafana", "grafana")),
            ("apps/grafana/repository.yaml", repo("grafana", None, "https://grafana.github.io/helm-charts")),
            ("apps/podinfo/helmrelease.yaml", release("podinfo", "podinfo")),
            ("apps/podinfo/repository.yaml", format!("{}{}", oci("podinfo"), oci("stefanprodan"))),
        ]);
        assert_eq!(p, Placement::AppFolder);
        assert_eq!(source.namespace, None, "inherits the app's namespace");
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["apps/ollama/helmrepository-ollama.yaml"], "never another app's file");
    }

    #[test]
    fn a_file_of_oci_repositories_is_never_appended_to() {
        let d = "infrastructure/sources";
        let (p, _, changes) = ensure(&[
            (&format!("{d}/oci-repositories.yaml"), format!("{}{}", oci("podinfo"), oci("stefanprodan"))),
            (&format!("{d}/kustomization.yaml"), "resources:\n  - oci-repositories.yaml\n".into()),
        ]);
        assert_eq!(p, Placement::Folder { dir: d.into(), namespace: None });
        assert_eq!(changes.keys().collect::<Vec<_>>(), [&format!("{d}/kustomization.yaml"), &format!("{d}/ollama.yaml")]);
        // An app's own file of many OCI repositories does not outweigh the central file.
        let (p, _, changes) = ensure(&[
            ("apps/podinfo/helmrelease.yaml", release("podinfo", "podinfo")),
            ("apps/podinfo/repository.yaml", format!("{}{}{}", oci("podinfo"), oci("a"), oci("b"))),
            ("infrastructure/sources/helm-repositories.yaml", repo("bitnami", Some("flux-system"), "https://charts.bitnami.com/bitnami")),
        ]);
        assert_eq!(p, Placement::File { file: "infrastructure/sources/helm-repositories.yaml".into(), namespace: Some("flux-system".into()) });
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["infrastructure/sources/helm-repositories.yaml"]);
    }

    #[test]
    fn no_sources_at_all_means_a_file_in_the_apps_folder() {
        let (p, source, changes) = ensure(&[]);
        assert_eq!(p, Placement::AppFolder);
        assert_eq!((source.name.as_str(), source.namespace.as_deref()), ("ollama", None));
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["apps/ollama/helmrepository-ollama.yaml"]);
    }
}

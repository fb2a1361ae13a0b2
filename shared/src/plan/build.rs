use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use super::files::{FileChange, FileSet};
use super::handover::{self, Handover};
use super::kustomization::edit_resources;
use crate::mapping::{Entry, Level, Status, Warning, leaf_paths, merge};
use crate::mapping::Mapper;
use super::overrides::Overrides;
use super::sources::Sources;
use crate::error::{Error, Origin, Result};
use crate::model::{App, collect};
use crate::profiles::{self, Profile};
use crate::source::{self, Tree};
use crate::yaml::{self, split_documents};

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub overrides: Overrides,
    /// chart name → version to pin instead of the profile's.
    pub chart_versions: BTreeMap<String, String>,
    /// Step 1 of the hand-over only: mark what the chart takes over, move nothing.
    pub prepare: bool,
    /// Point routes whose backend the chart's Service would not match at that Service.
    pub fix_routes: bool,
    /// A chart that runs any workload, for every workload no profile recognises (`--fallback`).
    pub fallback: Option<String>,
    /// app → chart, whatever the profiles recognise (`--chart APP=CHART`).
    pub charts: BTreeMap<String, String>,
    /// The source kind to write instead of the chart's usual one (`--chart-source`).
    pub source_kind: Option<crate::profiles::SourceKind>,
    /// chart → the repository URL to write and pull from instead of the published one
    /// (`--chart-repo`, for mirrors); an `oci://` URL makes the source an OCIRepository.
    pub chart_repos: BTreeMap<String, String>,
}

impl Options {
    /// The chart profile that converts `app`: the one the user named for it, else the one that
    /// recognises it, else the fallback.
    pub fn profile_for(&self, app: &App) -> Option<&'static dyn Profile> {
        if let Some(chart) = self.charts.get(&app.workload.name) {
            return profiles::by_chart_name(chart);
        }
        profiles::detect(app).or_else(|| self.fallback.as_deref().and_then(profiles::by_chart_name))
    }

    /// Where and how Flux fetches `chart` for this plan.
    fn wanted_source(&self, chart: &crate::profiles::Chart, version: &str) -> super::sources::Wanted {
        use crate::profiles::SourceKind;
        let mirror = self.chart_repos.get(chart.name);
        let kind = match (mirror, self.source_kind) {
            (Some(url), _) if url.starts_with("oci://") => SourceKind::OciRepository,
            (Some(_), _) => SourceKind::HelmRepository,
            (None, Some(k)) if k != SourceKind::OciRepository || chart.oci.is_some() => k,
            (None, _) => chart.source,
        };
        let url = match (mirror, kind) {
            (Some(u), _) => u.clone(),
            (None, SourceKind::OciRepository) => chart.oci.unwrap_or(chart.repository).to_string(),
            (None, SourceKind::HelmRepository) => chart.repository.to_string(),
        };
        super::sources::Wanted { kind, url, name: chart.source_name.to_string(), version: version.to_string() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartInfo {
    pub name: String,
    pub version: String,
    /// Where the chart is pulled from: a Helm repository URL or an `oci://` artifact.
    pub repository: String,
    /// `HelmRepository` or `OCIRepository`.
    pub source_kind: &'static str,
}

/// The migration of one workload onto its chart.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPlan {
    pub name: String,
    pub namespace: Option<String>,
    pub chart: ChartInfo,
    /// The old workload: `Deployment` at `file:line`.
    pub workload: String,
    pub origin: Origin,
    /// Index into `Tree::objects` of the old workload.
    #[serde(skip)]
    pub object: usize,
    pub release_name: String,
    /// The HelmRepository (namespace/name) the release uses.
    pub source: String,
    pub values: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<Value>,
    pub ledger: Vec<Entry>,
    pub warnings: Vec<Warning>,
    pub handover: Handover,
    /// Route backends `--fix-routes` pointed at the chart's Service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixed_routes: Vec<FixedRoute>,
    /// `prepare` (step 1 of the hand-over: marks only) or `move`.
    pub step: &'static str,
    pub helmrelease: String,
    /// Files of the app that stay (routes, secrets, claims).
    pub kept: Vec<String>,
    pub deleted: Vec<String>,
    /// HelmRelease (and new HelmRepository) documents.
    #[serde(skip)]
    pub documents: String,
    /// File changes this app adds on top of the apps before it (for one commit per app).
    #[serde(skip)]
    pub changes: Vec<FileChange>,
    /// The render check (`convert --render`), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render: Option<crate::render::Report>,
}

impl AppPlan {
    pub fn blocked(&self) -> bool {
        self.warnings.iter().any(|w| w.level == Level::Blocking)
    }
}

/// One route backend rewritten by `--fix-routes`: `route` now sends `from` traffic to `to`:`port`.
#[derive(Debug, Clone, Serialize)]
pub struct FixedRoute {
    pub route: String,
    pub from: String,
    pub to: String,
    pub port: i64,
}

/// A workload left as it is, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub namespace: Option<String>,
    pub origin: Origin,
    pub reason: String,
    /// The chart whose profile recognises the workload, when one does: a skip then leaves
    /// something convertible behind, which the summary says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
}

/// A workload a Helm release rendered, read from the cluster: helm-controller labels what it
/// installs (`helm.toolkit.fluxcd.io/name`); plain helm marks it `managed-by: Helm` without
/// kustomize-controller's labels (an object carrying both is a raw one marked for the hand-over).
fn rendered_by_helm(tree: &Tree, o: &source::Object) -> bool {
    let label = |k: &str| o.value.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str);
    let live = tree.root.as_os_str().is_empty();
    live && (label("helm.toolkit.fluxcd.io/name").is_some()
        || label("app.kubernetes.io/managed-by") == Some("Helm") && label("kustomize.toolkit.fluxcd.io/name").is_none())
}

/// The chart whose profile recognises one of the object's container images.
fn recognised(value: &Value) -> Option<String> {
    let images = ["containers", "initContainers"].into_iter()
        .flat_map(|k| value.pointer(&format!("/spec/template/spec/{k}")).and_then(Value::as_array).into_iter().flatten())
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .map(crate::model::Image::parse);
    let images: Vec<_> = images.collect();
    profiles::all().iter().find(|p| images.iter().any(|i| p.detects(i))).map(|p| p.chart().name.to_string())
}

#[derive(Debug, Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub root: PathBuf,
    /// Where the objects came from when not from files (`cluster https://… namespace ai`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub apps: Vec<AppPlan>,
    pub skipped: Vec<Skipped>,
    /// HelmReleases already in the tree (a finished migration shows up here).
    pub migrated: Vec<String>,
    pub warnings: Vec<Warning>,
    pub files: Vec<FileChange>,
    /// Secret data, SOPS payloads and secret-looking env literals seen in the input: every
    /// rendering of the plan masks them (the written files keep them).
    #[serde(skip)]
    pub hidden: crate::redact::Hidden,
}

impl Plan {
    pub fn blocked(&self) -> bool {
        self.apps.iter().any(AppPlan::blocked) || self.warnings.iter().any(|w| w.level == Level::Blocking)
    }
}

/// Plan the conversion of the tree at `path`.
pub fn build(path: &Path, opts: &Options) -> Result<Plan> {
    plan_tree(&load(path)?, opts)
}

/// The tree at `path` with the repo's Flux Kustomizations.
pub fn load(path: &Path) -> Result<Tree> {
    let root = source::repo::find_root(path)?;
    source::load(&root, path)
}

/// Plan a tree read from the repo: values, ledger and the file edits.
pub fn plan_tree(tree: &Tree, opts: &Options) -> Result<Plan> {
    let mut sources = Sources::scan(&tree.root)?;
    sources.resolve_namespaces(tree);
    let mut files = FileSet::new(tree);
    let mut plan = plan_apps(tree, opts, sources, Some(&mut files))?;
    plan.files = files.changes();
    // A folder that kustomize transforms must still build once the workload leaves it.
    let entries: std::collections::BTreeSet<usize> = plan.apps.iter()
        .map(|a| &tree.objects[a.object])
        .filter(|o| o.effective == source::repo::Effective::Built)
        .map(|o| source::build::entry_of(tree, o.kustomization))
        .collect();
    let changes: Vec<(String, Option<String>)> = plan.files.iter().map(|f| (f.path.clone(), f.after.clone())).collect();
    for (dir, why) in source::build::rebuild_changed(tree, &entries, &changes) {
        plan.warnings.push(Warning { level: Level::Blocking, message: format!(
            "with these changes {dir} would no longer build ({why}); nothing is written: edit what kustomize names, then convert again") });
    }
    Ok(plan)
}

/// Plan objects read from a cluster: values, ledger and documents, no file edits.
pub fn plan_live(tree: &Tree, opts: &Options, sources: Sources) -> Result<Plan> {
    plan_apps(tree, opts, sources, None)
}

/// What no rendering of a plan of `tree` may show (see [`crate::redact`]).
fn hidden_in(tree: &Tree) -> crate::redact::Hidden {
    let mut h = crate::redact::Hidden::default();
    // Secret and SOPS data from the files (the loader keeps only those objects' identity);
    // everything else, env literals included, from the objects already parsed.
    for f in tree.files.values().filter(|f| f.sops || f.text.contains("Secret")) {
        h.add_text(&f.text);
    }
    for o in &tree.objects {
        h.add_value(&o.value);
    }
    h
}

fn plan_apps(tree: &Tree, opts: &Options, mut sources: Sources, mut files: Option<&mut FileSet>) -> Result<Plan> {
    let (apps, unreadable) = collect(tree);
    let volumes = handover::Volumes::index(tree);
    let unreadable_sources = std::mem::take(&mut sources.unreadable);
    let mut plan = Plan { root: tree.root.clone(), cluster: None, apps: Vec::new(), skipped: Vec::new(), migrated: Vec::new(), warnings: Vec::new(), files: Vec::new(), hidden: hidden_in(tree) };
    // A `--set` of a secret-looking key (`open-webui.openaiApiKey=…`) is shown like one in a file.
    for (_, path, v, _) in &opts.overrides.sets {
        if let (Some(s), Some(leaf)) = (v.as_str(), path.rsplit('.').next())
            && crate::model::workload::looks_secret(leaf) {
                plan.hidden.add_keyed(s, Some(leaf));
            }
    }
    for (i, why) in unreadable {
        let o = &tree.objects[i];
        plan.skipped.push(Skipped { name: o.name.clone(), namespace: o.namespace.clone(), origin: o.origin(), reason: format!("not converted: {why}"), chart: recognised(&o.value) });
    }
    for note in &tree.notes {
        plan.warnings.push(Warning { level: Level::Info, message: note.clone() });
    }
    for e in unreadable_sources {
        plan.warnings.push(Warning { level: Level::Warning, message: format!("skipped while looking for HelmRepositories: {e}") });
    }
    let releases: Vec<&source::Object> = tree.objects.iter().filter(|o| o.kind == "HelmRelease").collect();
    plan.migrated = releases.iter().map(|o| format!("{}/{}", o.namespace.as_deref().unwrap_or("-"), o.name)).collect();

    for name in opts.overrides.apps().chain(opts.charts.keys().map(String::as_str)) {
        if !apps.iter().any(|a| a.workload.name == name && opts.profile_for(a).is_some()) {
            let known: Vec<&str> = apps.iter().filter(|a| opts.profile_for(a).is_some()).map(|a| a.workload.name.as_str()).collect();
            return Err(Error::usage("apply overrides", format!("no convertible app named `{name}` here (apps: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") })));
        }
    }
    for chart in opts.chart_versions.keys() {
        if profiles::by_chart_name(chart).is_none() {
            let names: Vec<&str> = profiles::all().iter().map(|p| p.chart().name).collect();
            return Err(Error::usage("parse --chart-version", format!("no chart profile named `{chart}` (known: {})", names.join(", "))));
        }
    }

    for app in apps {
        let w = &app.workload;
        if rendered_by_helm(tree, &tree.objects[app.object]) {
            continue; // a chart's own workload (read from the cluster): already on a chart
        }
        let Some(profile) = opts.profile_for(&app) else {
            let images: Vec<String> = w.containers.iter().map(|c| c.image.reference()).collect();
            let generic: Vec<&str> = profiles::generic().map(|p| p.chart().name).collect();
            plan.skipped.push(Skipped {
                name: w.name.clone(),
                namespace: w.namespace.clone(),
                origin: w.origin.clone(),
                reason: format!("no chart profile for {} (kept as raw manifests; --fallback {} converts it)", images.join(", "), generic.join("|")),
                chart: None,
            });
            continue;
        };
        if releases.iter().any(|r| r.name == w.name && r.namespace == w.namespace) {
            plan.warnings.push(Warning { level: Level::Blocking, message: format!(
                "{}: both the raw {} ({}) and a HelmRelease of the same name exist; finish or undo that migration first", w.name, w.kind, w.origin) });
            continue;
        }
        let before = files.as_ref().map(|f| f.snapshot());
        let mut app_plan = plan_app(tree, &volumes, app, profile, opts, &mut sources, files.as_deref_mut())?;
        if let (Some(f), Some(before)) = (files.as_ref(), before) {
            app_plan.changes = f.changes_since(&before);
        }
        plan.apps.push(app_plan);
    }
    Ok(plan)
}

fn plan_app(tree: &Tree, volumes: &handover::Volumes, mut app: App, profile: &dyn Profile, opts: &Options, sources: &mut Sources, mut files: Option<&mut FileSet>) -> Result<AppPlan> {
    let chart = profile.chart();
    let name = app.workload.name.clone();
    let release = name.clone();
    let namespace = app.workload.namespace.clone();
    let workload_desc = app.workload.kind.to_string();
    let origin = app.workload.origin.clone();
    let explicit_ns = app.workload.explicit_namespace;
    let old_services = app.services.clone();
    let routes = app.routes.clone();
    let expected = expectations(&app);
    let before = app.clone();

    let mut m = Mapper::default();
    hashed_config_maps(tree, &app, &mut m);
    profile.map(&release, &mut app, &mut m);
    m.leftovers(&app.workload, chart.name);

    // User overrides win over the mapping; each changed path is ledgered.
    let mut values = Value::Object(std::mem::take(&mut m.values.root));
    let mut over = Value::Object(Default::default());
    for (_, file, v) in opts.overrides.files.iter().filter(|f| f.0 == name) {
        merge(&mut over, v);
        let mut leaves = Vec::new();
        leaf_paths(v, "", &mut leaves);
        for (p, val) in leaves {
            m.ledger.push(Entry { field: format!("--values {file}"), value: crate::model::workload::compact(&val), path: p, status: Status::Overridden, why: "set by the user".into() });
        }
    }
    for (_, path, v, arg) in opts.overrides.sets.iter().filter(|s| s.0 == name) {
        let mut tmp = super::Values::default();
        tmp.set(path, v.clone());
        merge(&mut over, &Value::Object(tmp.root));
        let secret = v.is_string() && path.rsplit('.').next().is_some_and(crate::model::workload::looks_secret);
        let shown = if secret { "(literal, hidden)".to_string() } else { crate::model::workload::compact(v) };
        m.ledger.push(Entry { field: format!("--set {arg}"), value: shown, path: path.clone(), status: Status::Overridden, why: "set by the user".into() });
    }
    merge(&mut values, &over);
    let values_view = super::Values { root: values.as_object().cloned().unwrap_or_default(), comments: Default::default() };

    let version = opts.chart_versions.get(chart.name).cloned().unwrap_or_else(|| chart.version.to_string());
    // The chart's own schema, where helm cannot check it offline: wrong values fail the install.
    if let Some(schema) = profile.values_schema().filter(|s| s.version == version) {
        let errors = schema.validate(&values);
        for e in errors.iter().take(10) {
            m.warn(Level::Blocking, format!("the values do not fit chart {} {}'s schema at {e}; fix the --set/--values that put it there", chart.name, schema.version));
        }
        if errors.len() > 10 {
            m.warn(Level::Blocking, format!("{} more schema errors in the values", errors.len() - 10));
        }
    }
    if version != chart.version {
        m.warn(Level::Warning, format!("chart {} {version} requested; the {} profile was written for {} and a different version may read values differently",
            chart.name, chart.name, chart.version));
    }

    // Routes and other clients must still reach the Services the chart renders.
    let chart_services = profile.services(&release, &values_view);
    let (svc_name, svc_port) = chart_services.first().map(|s| (s.name.clone(), s.ports.first().copied().unwrap_or(80))).unwrap_or_default();
    let rendered = |name: &str, port: Option<i64>| chart_services.iter().any(|s| s.name == name && port.is_none_or(|p| s.ports.contains(&p)));
    let mut fixed_routes = Vec::new();
    for r in &routes {
        let mut fixed = Vec::new();
        for (backend, port) in &r.backends {
            if !old_services.iter().any(|s| &s.name == backend) || fixed.contains(backend) || rendered(backend, *port) {
                continue;
            }
            let shown = format!("{} {} ({}) sends traffic to {backend}:{}, but the chart's Service will be {svc_name}:{svc_port}",
                r.kind, r.name, r.origin, port.map_or("-".into(), |p| p.to_string()));
            match files.as_deref_mut() {
                Some(files) if opts.fix_routes && !opts.prepare => match point_route(tree, r, backend, &svc_name, svc_port, files)? {
                    Ok(()) => {
                        fixed.push(backend.clone());
                        fixed_routes.push(FixedRoute { route: r.name.clone(), from: backend.clone(), to: svc_name.clone(), port: svc_port });
                        m.warn(Level::Info, format!("{shown}: pointed it at {svc_name}:{svc_port} (--fix-routes)"));
                    }
                    Err(why) => m.warn(Level::Blocking, format!("{shown}; --fix-routes cannot rewrite it: {why}")),
                },
                _ => m.warn(Level::Blocking, format!("{shown}; rerun with --fix-routes to point the route at it, or keep the name and port with the chart's override keys")),
            }
        }
    }
    // The old Services the chart replaces: the ones it renders under the same name, and the
    // first (the app's own, which routes are pointed away from when the chart renames it).
    let replaced_services: Vec<crate::model::Service> = old_services.iter().enumerate()
        .filter(|(i, s)| *i == 0 || chart_services.iter().any(|c| c.name == s.name))
        .map(|(_, s)| s.clone()).collect();
    if replaced_services.len() < old_services.len() {
        let extra: Vec<&str> = old_services.iter().filter(|s| !replaced_services.iter().any(|r| r.name == s.name)).map(|s| s.name.as_str()).collect();
        m.warn(Level::Warning, format!("{name} has more than one Service ({}); only the first is replaced by the chart's, the others are kept", extra.join(", ")));
    }
    let chart_service_names: Vec<String> = chart_services.iter().map(|s| s.name.clone()).collect();

    // Objects that Flux would prune and the chart takes over under the same name.
    let (handover, handover_warnings) = handover::plan(tree, volumes, &before, &release, &profile.workload(&release, &values_view), &chart_service_names, opts.prepare);
    m.warnings.extend(handover_warnings);
    if let Some(why) = profile.selector_problem(&release, &values_view) {
        m.warn(Level::Blocking, why);
    }

    // Where things go: the folder of the kustomization that lists the workload (repo mode).
    let workload_obj = &tree.objects[app.object];
    let app_dir = tree.kustomizations.get(workload_obj.kustomization).map(|k| k.dir.clone()).unwrap_or_default();
    // Step 1 adds no HelmRepository yet: it only marks objects.
    let source_files = if opts.prepare { None } else { files.as_deref_mut() };
    let wanted = opts.wanted_source(&chart, &version);
    let (source, source_file) = sources.ensure(&wanted, &app_dir, namespace.as_deref(), source_files)?;
    // An existing OCIRepository pins its own version: that is the chart the release gets.
    let version = match &source.tag {
        Some(tag) if *tag != version => {
            m.warn(Level::Warning, format!("OCIRepository {} already serves {} {tag}, which the release uses; the {} profile was written for {}: bump its ref.tag to change that",
                source.name, chart.name, chart.name, chart.version));
            tag.clone()
        }
        _ => version,
    };

    // The HelmRelease document.
    let mut meta = json!({ "name": name });
    if explicit_ns {
        meta["namespace"] = json!(namespace);
    }
    meta["annotations"] = Value::Object(expected.into_iter().map(|(k, v)| (format!("{ANNOTATION_PREFIX}{k}"), Value::String(v))).collect());
    // releaseName, the profile's interval and timeout, the chart, then the rest of its settings.
    let mut spec = serde_json::Map::new();
    spec.insert("releaseName".into(), json!(release));
    let settings = profile.release_spec().as_object().cloned().unwrap_or_default();
    let first = |k: &String| k == "interval" || k == "timeout";
    spec.extend(settings.iter().filter(|(k, _)| first(k)).map(|(k, v)| (k.clone(), v.clone())));
    match source.kind {
        crate::profiles::SourceKind::HelmRepository =>
            spec.insert("chart".into(), json!({ "spec": { "chart": chart.name, "version": version, "sourceRef": source.reference(), "interval": "12h" } })),
        crate::profiles::SourceKind::OciRepository => spec.insert("chartRef".into(), source.reference()),
    };
    spec.extend(settings.into_iter().filter(|(k, _)| !first(k)));
    let mut spec = Value::Object(spec);
    if !m.values_from.is_empty() {
        spec["valuesFrom"] = Value::Array(m.values_from.clone());
    }
    if handover.ready && !handover.takeovers.is_empty() {
        handover::adopting_release(&mut spec);
    }
    spec["values"] = values.clone();
    let release_doc = json!({ "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": meta, "spec": spec });
    let comments = m.values.comments.iter().map(|(k, v)| (format!("spec.values.{k}"), v.clone())).collect();
    let release_text = format!("---\n{}", yaml::to_yaml(&release_doc, &comments));

    let (hr_path, kept, deleted) = match files {
        Some(files) if opts.prepare => {
            mark_files(tree, &before, &handover, &release, files, &mut m)?;
            (String::new(), Vec::new(), Vec::new())
        }
        Some(files) => {
            let edited = edit_files(tree, app.object, &replaced_services, &name, &release_text, source_file.as_deref(), sources, files, &mut m)?;
            super::transforms::unhook(tree, app.object, files, &mut m)?;
            edited
        }
        None => (String::new(), Vec::new(), Vec::new()),
    };

    let documents = format!("{}{release_text}", source.document());

    Ok(AppPlan {
        name: name.clone(),
        namespace,
        chart: ChartInfo { name: chart.name.into(), version, repository: source.url.clone(), source_kind: source.kind.kind() },
        workload: workload_desc,
        origin,
        object: app.object,
        release_name: release,
        source: format!("{} {}/{}", source.kind.kind(), source.namespace.as_deref().unwrap_or("-"), source.name),
        values,
        values_from: m.values_from,
        ledger: m.ledger,
        warnings: m.warnings,
        handover,
        fixed_routes,
        step: if opts.prepare { "prepare" } else { "move" },
        helmrelease: hr_path,
        kept,
        deleted,
        documents,
        changes: Vec::new(),
        render: None,
    })
}

/// Swap the raw manifests for the HelmRelease in the repo's files: (HelmRelease path, kept, deleted).
#[allow(clippy::too_many_arguments)]
fn edit_files(tree: &Tree, object: usize, old_services: &[crate::model::Service], name: &str, release_text: &str, source_file: Option<&str>,
              sources: &Sources, files: &mut FileSet, m: &mut Mapper) -> Result<(String, Vec<String>, Vec<String>)> {
    let workload_obj = &tree.objects[object];
    let k_index = workload_obj.kustomization;
    let k = &tree.kustomizations[k_index];
    let app_dir = k.dir.clone();
    let in_dir = |f: &str| if app_dir.is_empty() { f.to_string() } else { format!("{app_dir}/{f}") };
    let mut hr_path = in_dir("helmrelease.yaml");
    if files.get(&hr_path)?.is_some() {
        hr_path = in_dir(&format!("helmrelease-{name}.yaml"));
    }
    files.set(&hr_path, Some(release_text.to_string()))?;

    // Remove the replaced objects: the workload and the Service the chart takes over.
    let mut removals: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    removals.entry(workload_obj.file.clone()).or_default().push(workload_obj.doc);
    for svc in old_services {
        let o = &tree.objects[svc.object];
        removals.entry(o.file.clone()).or_default().push(o.doc);
    }
    let mut deleted = Vec::new();
    let mut unlist: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (file, docs) in &removals {
        let original = &tree.files[file];
        if original.sops {
            m.warn(Level::Blocking, format!("{file} is SOPS-encrypted and holds objects to replace; helmigrate never rewrites encrypted files: move them out first"));
            continue;
        }
        let orig_docs = split_documents(&original.text);
        let current = files.get(file)?.unwrap_or_default();
        let mut text = current.clone();
        for d in docs {
            let Some(od) = orig_docs.get(*d) else { continue };
            let cur_docs = split_documents(&text);
            if let Some(cd) = cur_docs.iter().find(|cd| cd.text == od.text) {
                text = format!("{}{}", &text[..cd.cut.0], &text[cd.cut.1..]);
            }
        }
        if split_documents(&text).iter().all(|d| d.is_blank()) {
            files.set(file, None)?;
            deleted.push(file.clone());
            let owner = tree.objects.iter().find(|o| &o.file == file).map_or(k_index, |o| o.kustomization);
            let entry = tree.kustomizations[owner].resources.iter().find(|(_, rel)| rel == file).map(|(e, _)| e.clone());
            if let Some(e) = entry {
                unlist.entry(owner).or_default().push(e);
            }
        } else {
            files.set(file, Some(text))?;
        }
    }

    // Kustomizations: drop deleted files, list the HelmRelease (and a new in-folder source).
    unlist.entry(k_index).or_default();
    for (ki, remove) in &unlist {
        let kz = &tree.kustomizations[*ki];
        if kz.generated {
            continue; // Flux lists the folder's files itself: nothing to edit.
        }
        let mut add = Vec::new();
        if *ki == k_index {
            add.push(relative_to(&hr_path, &kz.dir));
            if let Some(sf) = source_file
                && (sources.file.is_none() || Path::new(sf).parent() == Some(Path::new(&kz.dir)) && sources.file.as_deref() == Some(sf) && !tree.files.contains_key(sf)) {
                    add.push(relative_to(sf, &kz.dir));
                }
        }
        let current = files.get(&kz.file)?.unwrap_or_default();
        let edited = edit_resources(&kz.file, &current, remove, &add)?;
        files.set(&kz.file, Some(edited))?;
    }
    let kept: Vec<String> = k.resources.iter().map(|(_, rel)| rel.clone())
        .filter(|rel| !deleted.contains(rel) && *rel != hr_path && !tree.kustomizations.iter().any(|kz| &kz.dir == rel))
        .collect();

    Ok((hr_path, kept, deleted))
}

/// What became of a lossless edit of one object's document.
enum DocEdit {
    Edited,
    Unchanged,
    /// The file is SOPS-encrypted: never rewritten.
    Sops,
    /// Not a file of the repo (objects read from a cluster).
    NotInRepo,
    /// The document is no longer in the file as it was read (an earlier edit of this plan took it).
    Moved,
    /// `edit` could not change it without rewriting the document.
    Layout,
}

/// Edit the document of `tree.objects[object]` in its file as planned so far: `edit` gets the
/// document's text and returns the new text, or `None` when it cannot edit it losslessly.
fn edit_document(tree: &Tree, object: usize, files: &mut FileSet, edit: impl FnOnce(&str) -> Result<Option<String>>) -> Result<DocEdit> {
    let o = &tree.objects[object];
    let Some(original) = tree.files.get(&o.file) else { return Ok(DocEdit::NotInRepo) };
    if original.sops {
        return Ok(DocEdit::Sops);
    }
    let Some(orig_doc) = split_documents(&original.text).get(o.doc).map(|d| d.text) else { return Ok(DocEdit::Moved) };
    let current = files.get(&o.file)?.unwrap_or_default();
    let docs = split_documents(&current);
    let Some(doc) = docs.iter().find(|d| d.text == orig_doc) else { return Ok(DocEdit::Moved) };
    match edit(doc.text)? {
        None => Ok(DocEdit::Layout),
        Some(new) if new == doc.text => Ok(DocEdit::Unchanged),
        Some(new) => {
            let start = doc.text.as_ptr() as usize - current.as_ptr() as usize;
            let text = format!("{}{new}{}", &current[..start], &current[start + doc.text.len()..]);
            files.set(&o.file, Some(text))?;
            Ok(DocEdit::Edited)
        }
    }
}

/// Rewrite one route's backends named `from` to `to`:`port` in its file. The inner `Err` says
/// why it could not be done safely.
fn point_route(tree: &Tree, r: &crate::model::Route, from: &str, to: &str, port: i64, files: &mut FileSet) -> Result<std::result::Result<(), String>> {
    let o = &tree.objects[r.object];
    Ok(match edit_document(tree, r.object, files, |doc| super::routes::point_backends(&o.file, &r.kind, doc, from, to, port))? {
        DocEdit::Edited | DocEdit::Unchanged => Ok(()),
        DocEdit::Sops => Err(format!("{} is SOPS-encrypted", o.file)),
        DocEdit::NotInRepo => Err(format!("{} is not a file of this repo (live mode writes no files)", o.file)),
        DocEdit::Moved => Err(format!("{} changed while planning", o.file)),
        DocEdit::Layout => Err(format!("its layout in {}:{} is not one helmigrate edits without rewriting it; edit the backend by hand", o.file, o.line)),
    })
}

/// Step 1 of the hand-over: the marks on the objects the chart takes over (and, under a pruning
/// Kustomization, `prune: disabled` on the claims), edited losslessly into their documents.
fn mark_files(tree: &Tree, app: &App, handover: &Handover, release: &str, files: &mut FileSet, m: &mut Mapper) -> Result<()> {
    let ns = app.workload.namespace.clone().unwrap_or_default();
    let pruning = handover.prune == Some(true);
    let (annotations, labels) = handover::marks(release, &ns, pruning);
    let mut targets: Vec<(usize, handover::Marks, handover::Marks)> = handover.takeovers.iter().filter(|t| !t.marked)
        .map(|t| (t.object, annotations.clone(), labels.clone())).collect();
    if pruning {
        for claim in &handover.claims {
            if let Some(i) = tree.objects.iter().position(|o| o.kind == "PersistentVolumeClaim" && &o.name == claim && o.namespace == app.workload.namespace) {
                targets.push((i, vec![(handover::PRUNE_ANNOTATION, "disabled")], Vec::new()));
            }
        }
    }
    for (i, annotations, labels) in targets {
        let o = &tree.objects[i];
        let what = format!("{} {} ({}:{})", o.kind, o.name, o.file, o.line);
        let wanted = || annotations.iter().chain(&labels).map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
        match edit_document(tree, i, files, |doc| super::marks::mark(&o.file, doc, &annotations, &labels))? {
            DocEdit::Edited | DocEdit::Unchanged | DocEdit::NotInRepo | DocEdit::Moved => {}
            DocEdit::Sops => m.warn(Level::Blocking, format!("{what} is in a SOPS-encrypted file, which helmigrate never rewrites: add the hand-over marks yourself ({})", wanted())),
            DocEdit::Layout => m.warn(Level::Blocking, format!("{what}: its metadata is not in a layout helmigrate edits without rewriting the document; add the marks by hand ({})", wanted())),
        }
    }
    Ok(())
}

/// A ConfigMap made by a kustomize generator carries a hash of its content in its name, and
/// kustomize rewrites references to it only in the objects it knows: never in HelmRelease
/// values. The values name today's hash; the next content change renames the ConfigMap.
fn hashed_config_maps(tree: &Tree, app: &App, m: &mut Mapper) {
    let hashed = |n: &str| n.rsplit_once('-').is_some_and(|(_, h)| h.len() == 10 && h.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    for name in app.config_maps.keys() {
        let generated = tree.objects.iter().any(|o| o.kind == "ConfigMap" && &o.name == name && o.namespace == app.workload.namespace
            && o.effective == source::repo::Effective::Generated);
        if generated && hashed(name) {
            let base = name.rsplit_once('-').map_or(name.as_str(), |(b, _)| b);
            m.warn(Level::Warning, format!(
                "{}: the values reference ConfigMap {name}, whose name kustomize's configMapGenerator `{base}` derives from its content; kustomize does not rewrite HelmRelease values, so the next change to it would leave the pods reading the old one: add `options: {{disableNameSuffixHash: true}}` to that generator and point the values at `{base}`",
                app.workload.name));
        }
    }
}

/// Prefix of the HelmRelease annotations that record what the old workload had, for `verify`.
pub const ANNOTATION_PREFIX: &str = "helmigrate.io/";

/// What `verify` must find again after the move: the replaced workload (gone), its GPU limit
/// and runtime class (on the new pods), its claims (mounted again) and Services (still there).
fn expectations(app: &App) -> Vec<(&'static str, String)> {
    let w = &app.workload;
    let mut out = vec![("replaces", format!("{}/{}", w.kind, w.name))];
    let gpu: Vec<String> = w.containers.iter()
        .flat_map(|c| c.limits.iter())
        .filter(|(k, _)| k.starts_with("nvidia.com/") || k.as_str() == "amd.com/gpu")
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    if !gpu.is_empty() {
        out.push(("gpu", gpu.join(",")));
    }
    if let Some(rc) = w.pod.get("runtimeClassName").and_then(Value::as_str) {
        out.push(("runtime-class", rc.to_string()));
    }
    let claims = w.claims();
    if !claims.is_empty() {
        out.push(("claims", claims.join(",")));
    }
    let services: Vec<String> = app.services.iter().flat_map(|s| s.ports.iter().map(move |p| format!("{}:{}", s.name, p.port))).collect();
    if !services.is_empty() {
        out.push(("services", services.join(",")));
    }
    out
}

/// `path` relative to `dir` (both repo-relative), as a kustomization entry.
fn relative_to(path: &str, dir: &str) -> String {
    if dir.is_empty() {
        return path.to_string();
    }
    match path.strip_prefix(&format!("{dir}/")) {
        Some(rest) => rest.to_string(),
        None => {
            let up = dir.split('/').count();
            format!("{}{path}", "../".repeat(up))
        }
    }
}

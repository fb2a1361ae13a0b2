//! `convert PATH`: plan the move onto charts; `--write` applies it, `--commit` commits per app.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::apply;
use crate::cluster::KubeArgs;
use crate::error::{Error, Result, exit};
use crate::output;
use crate::plan::{self, Options, Overrides};
use crate::render;
use crate::source::Tree;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ledger tables and a unified diff
    Text,
    /// The whole plan as JSON
    Json,
    /// Only the HelmRepository and HelmRelease documents
    Yaml,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// A folder of the GitOps repo with a kustomization.yaml (an app group or a single app).
    /// Without it, the workloads of the namespace (-n) are read from the cluster.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Apply the plan to the files (default: dry run, nothing written)
    #[arg(long)]
    pub write: bool,
    /// With --write: one git commit per app (never pushes)
    #[arg(long, requires = "write")]
    pub commit: bool,
    /// With --commit: allow a working tree with uncommitted changes
    #[arg(long, requires = "commit")]
    pub allow_dirty: bool,
    /// Step 1 of the hand-over: only mark the objects the chart takes over (Helm ownership, Flux
    /// prune disabled); push and reconcile that, then convert --write moves the app. With
    /// --kubeconfig/--context the move is blocked until the marks are live in the cluster
    #[arg(long)]
    pub prepare: bool,
    /// Point HTTPRoute/Ingress backends at the Service the chart renders when its name or port
    /// differs from what they use (default: such a plan is blocked)
    #[arg(long)]
    pub fix_routes: bool,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Override one app's value, e.g. open-webui.tika.enabled=true (repeatable)
    #[arg(long = "set", value_name = "APP.PATH=VALUE")]
    pub set: Vec<String>,
    /// Merge a values file into one app's values, e.g. open-webui=extra.yaml (repeatable)
    #[arg(long = "values", value_name = "APP=FILE")]
    pub values: Vec<String>,
    /// Pin a chart version instead of the profile's, e.g. ollama=1.40.0 (repeatable)
    #[arg(long = "chart-version", value_name = "CHART=VERSION")]
    pub chart_version: Vec<String>,
    /// Also write each app's HelmRepository + HelmRelease documents to DIR/<app>.yaml
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render each chart with the generated values (`helm template`) and compare it with the old
    /// workload; failing to render is then an error (default: on when helm is found)
    #[arg(long, conflicts_with = "no_render")]
    pub render: bool,
    /// Skip the render check
    #[arg(long)]
    pub no_render: bool,
    /// Render chart CHART from an unpacked chart folder instead of pulling it (repeatable)
    #[arg(long = "chart-dir", value_name = "CHART=DIR")]
    pub chart_dir: Vec<String>,
    /// Exit 1 (nothing written) when the render changes or drops a field the ledger does not explain
    #[arg(long)]
    pub strict: bool,
    /// Convert every workload no chart profile recognises with this chart, which runs any
    /// Deployment or StatefulSet (app-template)
    #[arg(long, value_name = "CHART")]
    pub fallback: Option<String>,
    /// Convert one app with this chart whatever the profiles recognise, e.g. comfyui=app-template (repeatable)
    #[arg(long = "chart", value_name = "APP=CHART")]
    pub chart: Vec<String>,
    /// The Flux source to write for the charts: a HelmRepository (https index) or an
    /// OCIRepository (default: how each chart is usually published)
    #[arg(long, value_enum, value_name = "KIND")]
    pub chart_source: Option<ChartSource>,
    /// Fetch chart CHART from this repository instead of the published one, e.g. a mirror:
    /// ollama=https://charts.example.internal/ or app-template=oci://registry.local/helm/app-template
    /// (written into the source and used by the render check; repeatable)
    #[arg(long = "chart-repo", value_name = "CHART=URL")]
    pub chart_repo: Vec<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartSource {
    /// A HelmRepository and the HelmRelease's chart.spec
    Helmrepository,
    /// An OCIRepository and the HelmRelease's chartRef
    Ocirepository,
}

/// `KEY=VALUE` arguments of `flag` as pairs; a malformed one is a usage error.
fn pairs<'a>(flag: &str, what: &str, list: &'a [String]) -> Result<Vec<(&'a str, &'a str)>> {
    list.iter().map(|a| a.split_once('=').filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| Error::usage(format!("parse {flag}"), format!("`{a}` is not {what}"))))
        .collect()
}

/// A chart name a profile exists for (`generic`: one that runs any workload).
fn known_chart(flag: &str, chart: &str, generic: bool) -> Result<()> {
    let candidates: Vec<&dyn crate::profiles::Profile> = if generic { crate::profiles::generic().collect() } else { crate::profiles::all().to_vec() };
    if candidates.iter().any(|p| p.chart().name == chart) {
        return Ok(());
    }
    let names: Vec<&str> = candidates.iter().map(|p| p.chart().name).collect();
    let what = if generic { "chart profile that runs any workload" } else { "chart profile" };
    Err(Error::usage(format!("parse {flag}"), format!("no {what} named `{chart}` (known: {})", names.join(", "))))
}

impl ConvertArgs {
    fn options(&self) -> Result<Options> {
        let mut overrides = Overrides::default();
        for s in &self.set {
            overrides.add_set(s)?;
        }
        for v in &self.values {
            overrides.add_values_file(v)?;
        }
        let owned = |v: Vec<(&str, &str)>| v.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeMap<_, _>>();
        let chart_versions = owned(pairs("--chart-version", "CHART=VERSION", &self.chart_version)?);
        let charts = owned(pairs("--chart", "APP=CHART", &self.chart)?);
        for chart in charts.values() {
            known_chart("--chart", chart, false)?;
        }
        if let Some(f) = &self.fallback {
            known_chart("--fallback", f, true)?;
        }
        let chart_repos = owned(pairs("--chart-repo", "CHART=URL", &self.chart_repo)?);
        for (chart, url) in &chart_repos {
            known_chart("--chart-repo", chart, false)?;
            if !["https://", "http://", "oci://"].iter().any(|p| url.starts_with(p)) {
                return Err(Error::usage("parse --chart-repo", format!("`{url}` is not an https://, http:// or oci:// URL")));
            }
        }
        let source_kind = self.chart_source.map(|k| match k {
            ChartSource::Helmrepository => crate::profiles::SourceKind::HelmRepository,
            ChartSource::Ocirepository => crate::profiles::SourceKind::OciRepository,
        });
        Ok(Options { overrides, chart_versions, prepare: self.prepare, fix_routes: self.fix_routes, fallback: self.fallback.clone(), charts, source_kind, chart_repos })
    }

    fn render_options(&self) -> Result<render::Options> {
        let mode = if self.no_render { render::Mode::Off } else if self.render { render::Mode::On } else { render::Mode::Auto };
        let mut chart_dirs = BTreeMap::new();
        for (chart, dir) in pairs("--chart-dir", "CHART=DIR", &self.chart_dir)? {
            known_chart("--chart-dir", chart, false)?;
            let dir = PathBuf::from(dir);
            if !dir.join("Chart.yaml").is_file() {
                return Err(Error::usage("parse --chart-dir", format!("{} has no Chart.yaml: pass an unpacked chart folder", dir.display())));
            }
            chart_dirs.insert(chart.to_string(), dir);
        }
        Ok(render::Options { mode, chart_dirs })
    }
}

fn plan_from_cluster(kube: &KubeArgs, opts: &Options) -> Result<(plan::Plan, Tree)> {
    crate::cluster::runtime()?.block_on(async {
        let cluster = crate::cluster::connect(kube, crate::cluster::Role::Readonly).await?;
        let (tree, sources) = crate::cluster::live::load(&cluster).await?;
        let mut plan = plan::plan_live(&tree, opts, sources)?;
        plan.cluster = Some(format!("{} namespace {}", cluster.server, cluster.namespace));
        Ok((plan, tree))
    })
}

/// Plan the tree at `path`, keeping the tree: the render check compares against its workloads.
/// With an explicit --kubeconfig/--context the hand-over also reads the live Flux Kustomizations
/// and volumes; an unreachable cluster is a warning, since the files are the plan.
fn plan_from_repo(kube: &KubeArgs, path: &std::path::Path, opts: &Options) -> Result<(plan::Plan, Tree)> {
    let mut tree = plan::load(path)?;
    let note = if kube.kubeconfig.is_some() || kube.context.is_some() {
        crate::cluster::runtime()?.block_on(async {
            match crate::cluster::connect(kube, crate::cluster::Role::Readonly).await {
                Ok(cluster) => crate::cluster::live::enrich_repo_tree(&cluster, &mut tree).await,
                Err(e) => Some(format!("{e}: prune, volumes and the hand-over marks judged from the repo only")),
            }
        })
    } else {
        None
    };
    let mut plan = plan::plan_tree(&tree, opts)?;
    if let Some(message) = note {
        plan.warnings.push(plan::Warning { level: plan::Level::Warning, message });
    }
    Ok((plan, tree))
}

/// `--out DIR`: each app's documents as DIR/<app>.yaml, written atomically.
fn write_out(dir: &std::path::Path, plan: &plan::Plan) -> Result<()> {
    let changes: Vec<plan::FileChange> = plan.apps.iter().map(|a| {
        let path = format!("{}.yaml", a.name);
        let before = std::fs::read_to_string(dir.join(&path)).ok();
        let action = if before.is_some() { plan::Action::Modify } else { plan::Action::Create };
        plan::FileChange { path, action, before, after: Some(a.documents.clone()) }
    }).collect();
    apply::write(dir, &changes)
}

pub fn run(kube: &KubeArgs, args: &ConvertArgs) -> Result<i32> {
    let opts = args.options()?;
    let render_opts = args.render_options()?;
    let (mut plan, tree) = match &args.path {
        Some(path) => plan_from_repo(kube, path, &opts)?,
        None if args.write => return Err(Error::usage("convert", "--write needs PATH: the files of a GitOps repo to change (without PATH, convert reads the cluster and writes nothing; use --out DIR)")),
        None => plan_from_cluster(kube, &opts)?,
    };
    render::check(&mut plan, &tree, &render_opts)?;
    // A namespace's worth of parsed objects takes a while to free and the process ends soon:
    // leave that to the OS (`plan` is the same, below).
    std::mem::forget(tree);
    let plan = std::mem::ManuallyDrop::new(plan);
    let blocked = plan.blocked();
    let mut out = std::io::stdout().lock();
    let rendered = match args.output {
        Format::Text => output::text(&plan),
        Format::Json => output::json(&plan),
        Format::Yaml => output::documents(&plan),
    };
    let _ = out.write_all(rendered.as_bytes());
    if args.output == Format::Yaml {
        // The documents carry no warnings: a chart that does not render still has to be said.
        for e in plan.apps.iter().filter_map(|a| a.render.as_ref()?.error.as_ref()) {
            eprintln!("error: {e}");
        }
    }
    if blocked {
        eprintln!("error: the plan has blocking problems (see above); nothing was written");
        return Ok(exit::BLOCKED);
    }
    if args.strict {
        let unexplained: Vec<String> = plan.apps.iter()
            .flat_map(|a| a.render.iter().flat_map(move |r| r.unexplained().map(move |row| format!("{}: {} ({}: {} → {})", a.name, row.field,
                row.status.as_str(), row.old.as_deref().unwrap_or("-"), row.rendered.as_deref().unwrap_or("-")))))
            .collect();
        if !unexplained.is_empty() {
            for u in &unexplained {
                eprintln!("unexplained: {u}");
            }
            eprintln!("error: --strict: the render changes or drops {} field(s) the ledger does not explain; nothing was written", unexplained.len());
            return Ok(exit::BLOCKED);
        }
        if plan.apps.iter().any(|a| a.render.is_none()) {
            eprintln!("warning: --strict: not every app was rendered (see above), so not every field was checked");
        }
    }
    if let Some(dir) = &args.out {
        write_out(dir, &plan)?;
    }
    if args.write && !plan.files.is_empty() {
        if args.commit {
            apply::commit_per_app(&plan, args.allow_dirty)?;
        } else {
            apply::write(&plan.root, &plan.files)?;
        }
        if let Some(path) = &args.path {
            // What `rollback` needs to undo this write, saved after the files.
            crate::cmd::rollback::save_record(&plan, path, args.commit)?;
        }
        if args.output == Format::Text {
            let _ = writeln!(out, "{}", output::written_summary(&plan, args.commit));
        }
    } else if args.output == Format::Text && !plan.files.is_empty() {
        let _ = writeln!(out, "dry run: nothing written (add --write to apply)");
    }
    Ok(0)
}

//! `reconcile [helmrelease|source [helm]|kustomization] NAME`: ask Flux to reconcile an object
//! now and wait until it has, like `flux reconcile`.
//!
//! It annotates the object with `reconcile.fluxcd.io/requestedAt=<RFC 3339 time>` (with `--force`
//! also `forceAt`, with `--reset` also `resetAt`; a JSON merge patch, field manager `helmigrate`),
//! then watches it until `status.lastHandledReconcileAt` equals that token and the object is
//! current (Ready for its generation, not Reconciling). `--with-source` first does the same to the
//! object's source: for a HelmRelease its HelmRepository (or GitRepository/Bucket) and then the
//! HelmChart helm-controller generated from it (`<ns>-<name>`), or its `chartRef`. Everything
//! is checked (Flux API served, objects exist, none suspended) before anything is annotated.
//! `--timeout` bounds the whole command.
//!
//! Progress goes to stdout (`► annotating …`, `◎ waiting …`, `✔ …`, and last the revision);
//! when stderr is a terminal, the wait is a spinner on stderr showing the Ready message. Errors
//! are one line on stderr.
//!
//! Exit codes:
//! - 0: reconciled and Ready
//! - 1: the object (or one of its sources) is suspended, or the controller reported
//!   Ready=False/Stalled for this request
//! - 2: bad arguments
//! - 4: the cluster can't be reached
//! - 5: a permission is missing (get, list, watch or patch; see docs/rbac-reconcile.yaml)
//! - 6: Flux's API is not served by the cluster
//! - 7: the object (or its source) does not exist
//! - 8: `--timeout` passed before the reconciliation finished

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use crate::cluster::KubeArgs;
use crate::cluster::flux::{self, FluxKind, ObjectRef, Reconciliation, WatchEnd};
use crate::cluster::{self, Cluster, Role};
use crate::error::{Error, Fault, Result, exit};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  reconcile ollama -n ai --with-source        # repository, chart, then release
  reconcile helmrelease ollama -n ai --force  # one-off upgrade
  reconcile source helm ollama -n ai          # re-fetch the repository index
  reconcile kustomization apps -n flux-system --timeout 10m

Exit codes:
  0 reconciled   1 suspended, or the reconciliation failed   2 bad arguments
  4 cluster unreachable   5 permission missing (docs/rbac-reconcile.yaml)
  6 Flux not installed   7 not found   8 timed out")]
pub struct ReconcileArgs {
    /// [KIND] NAME: `helmrelease` (`hr`, the default), `source [helm]` (a HelmRepository; also
    /// `source chart|git|oci|bucket`) or `kustomization` (`ks`), then the object's name
    #[arg(value_name = "[KIND] NAME", required = true, num_args = 1..=3)]
    pub target: Vec<String>,
    /// Reconcile the object's source first (a HelmRelease's HelmRepository and HelmChart)
    #[arg(long)]
    pub with_source: bool,
    /// How long to wait for the whole reconciliation, e.g. 30s, 5m, 1h
    #[arg(long, default_value = "5m", value_parser = flux::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// HelmRelease: force a one-off install or upgrade (reconcile.fluxcd.io/forceAt)
    #[arg(long)]
    pub force: bool,
    /// HelmRelease: reset the failure counters (reconcile.fluxcd.io/resetAt)
    #[arg(long)]
    pub reset: bool,
}

/// `[KIND [SUBKIND]] NAME` → the kind and the name.
fn target(args: &[String]) -> Result<(FluxKind, String)> {
    let bad = |msg: String| Error::usage("parse the reconcile arguments", msg);
    let kind = |word: &str| match word {
        "helmrelease" | "helmreleases" | "hr" => Some(FluxKind::HelmRelease),
        "kustomization" | "kustomizations" | "ks" => Some(FluxKind::Kustomization),
        _ => None,
    };
    let source = |word: &str| match word {
        "helm" | "helmrepository" => Some(FluxKind::HelmRepository),
        "chart" | "helmchart" => Some(FluxKind::HelmChart),
        "git" | "gitrepository" => Some(FluxKind::GitRepository),
        "oci" | "ocirepository" => Some(FluxKind::OCIRepository),
        "bucket" => Some(FluxKind::Bucket),
        _ => None,
    };
    let usage = "expected [helmrelease|source [helm|chart|git|oci|bucket]|kustomization] NAME";
    let name = |n: &str| -> Result<String> {
        if n.is_empty() || n.starts_with('-') {
            return Err(bad(format!("`{n}` is not an object name ({usage})")));
        }
        Ok(n.to_string())
    };
    match args {
        [n] if n == "source" || kind(n).is_some() => Err(bad(format!("NAME is missing after `{n}` ({usage})"))),
        [n] => Ok((FluxKind::HelmRelease, name(n)?)),
        [s, sub] if s == "source" && source(sub).is_some() => Err(bad(format!("NAME is missing after `source {sub}` ({usage})"))),
        [s, n] if s == "source" => Ok((FluxKind::HelmRepository, name(n)?)),
        [k, n] => match kind(k) {
            Some(k) => Ok((k, name(n)?)),
            None => Err(bad(format!("unknown kind `{k}` ({usage})"))),
        },
        [s, sub, n] if s == "source" => match source(sub) {
            Some(k) => Ok((k, name(n)?)),
            None => Err(bad(format!("unknown source kind `{sub}` (expected helm, chart, git, oci or bucket)"))),
        },
        _ => Err(bad(format!("too many arguments: {} ({usage})", args.join(" ")))),
    }
}

/// Why the command stopped: an error with its own exit code, or a refusal/failure reported by
/// Flux itself (exit 1), printed here as one line.
enum Halt {
    Error(Error),
    Failed(String),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Error(e)
    }
}

type Step<T> = std::result::Result<T, Halt>;

/// One object to reconcile, in order; `skip` says why nothing is done to it.
struct Item {
    obj: ObjectRef,
    skip: Option<String>,
}

/// Progress for people: plain lines on stdout, and on a terminal a spinner on stderr while
/// waiting.
struct Progress {
    tty: bool,
    spinner: Option<Spinner>,
}

struct Spinner {
    text: Arc<Mutex<String>>,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress { tty: std::io::stderr().is_terminal(), spinner: None }
    }

    fn line(&self, symbol: &str, msg: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{symbol} {msg}");
        let _ = out.flush();
    }

    async fn action(&mut self, msg: &str) {
        self.stop().await;
        self.line("►", msg);
    }

    async fn success(&mut self, msg: &str) {
        self.stop().await;
        self.line("✔", msg);
    }

    async fn waiting(&mut self, msg: &str) {
        self.stop().await;
        if !self.tty {
            self.line("◎", msg);
            return;
        }
        let text = Arc::new(Mutex::new(msg.to_string()));
        let shown = text.clone();
        let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<usize>().ok()).unwrap_or(80).max(20);
        let task = tokio::spawn(async move {
            const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut i = 0usize;
            loop {
                tick.tick().await;
                let t = shown.lock().map(|t| t.clone()).unwrap_or_default();
                let t: String = t.chars().take(width - 3).collect();
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{} {t}", FRAMES[i % FRAMES.len()]);
                let _ = err.flush();
                i += 1;
            }
        });
        self.spinner = Some(Spinner { text, base: msg.to_string(), task });
    }

    /// The current Ready message while waiting (terminal only; plain output stays quiet).
    fn status(&self, msg: &str) {
        if let Some(s) = &self.spinner
            && let Ok(mut t) = s.text.lock()
        {
            *t = format!("{}: {msg}", s.base);
        }
    }

    async fn stop(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.task.abort();
            let _ = s.task.await;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

fn controller(kind: FluxKind) -> &'static str {
    match kind {
        FluxKind::HelmRelease => "helm-controller",
        FluxKind::Kustomization => "kustomize-controller",
        _ => "source-controller",
    }
}

fn not_found(obj: &ObjectRef, context: &str) -> Error {
    Error::Cluster {
        fault: Fault::NotFound,
        what: format!("get {obj}{context}"),
        msg: format!(
            "no {} named {} in namespace {} (check the name and -n; list them with `kubectl get {} -n {}`)",
            obj.kind.resource(),
            obj.name,
            obj.namespace,
            obj.kind.resource(),
            obj.namespace
        ),
    }
}

fn suspended(obj: &ObjectRef) -> Halt {
    Halt::Failed(format!(
        "failed to reconcile {obj}: {obj} is suspended: resume it with `flux resume {} {} -n {}`",
        obj.kind.flux_cli(),
        obj.name,
        obj.namespace
    ))
}

/// GET an object that must exist and must not be suspended (its API must be served).
async fn load(cluster: &Cluster, obj: &ObjectRef, context: &str) -> Step<Value> {
    cluster.require_flux(obj.kind.table()).await?;
    let value = flux::get(cluster, obj).await?.ok_or_else(|| not_found(obj, context))?;
    if flux::suspended(&value) {
        return Err(suspended(obj));
    }
    Ok(value)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A `sourceRef`/`chartRef` (`{kind, name, namespace?}`) of `owner`, as one of `allowed` kinds.
fn reference(owner: &ObjectRef, r: Option<&Value>, field: &str, allowed: &[FluxKind]) -> Step<ObjectRef> {
    let r = r.ok_or_else(|| Error::usage(format!("reconcile the source of {owner}"), format!("{owner} has no {field}")))?;
    let kind = str_at(r, "/kind").unwrap_or_default();
    let name = str_at(r, "/name").unwrap_or_default();
    let namespace = str_at(r, "/namespace").unwrap_or(&owner.namespace);
    match FluxKind::from_kind(kind).filter(|k| allowed.contains(k)) {
        Some(k) if !name.is_empty() => Ok(ObjectRef::new(k, namespace, name)),
        _ => Err(Error::usage(
            format!("reconcile the source of {owner}"),
            format!(
                "its {field} is {kind} {namespace}/{name}, which helmigrate cannot reconcile (it handles {}): run `flux reconcile source ...` for it, or drop --with-source",
                allowed.iter().map(|k| k.kind()).collect::<Vec<_>>().join(", ")
            ),
        )
        .into()),
    }
}

/// The sources to reconcile before `main`, in order, each checked to exist and not be suspended.
async fn sources(cluster: &Cluster, main: &ObjectRef, value: &Value) -> Step<Vec<Item>> {
    let mut items = Vec::new();
    let of = format!(" (the source of {main})");
    let chart_sources = [FluxKind::HelmRepository, FluxKind::GitRepository, FluxKind::Bucket];
    match main.kind {
        FluxKind::HelmRelease if value.pointer("/spec/chartRef").is_some() => {
            let r = reference(main, value.pointer("/spec/chartRef"), "spec.chartRef", &[FluxKind::HelmChart, FluxKind::OCIRepository])?;
            let chart = load(cluster, &r, &of).await?;
            if r.kind == FluxKind::HelmChart {
                let src = reference(&r, chart.pointer("/spec/sourceRef"), "spec.sourceRef", &chart_sources)?;
                let src = ObjectRef::new(src.kind, &r.namespace, src.name);
                items.push(source_item(cluster, src, &format!(" (the source of {r})")).await?);
            }
            items.push(Item { obj: r, skip: None });
        }
        FluxKind::HelmRelease => {
            let src = reference(main, value.pointer("/spec/chart/spec/sourceRef"), "spec.chart.spec.sourceRef", &chart_sources)?;
            let chart_ns = src.namespace.clone();
            items.push(source_item(cluster, src, &of).await?);
            // helm-controller names the chart it generates `<ns>-<name>` and records it in status
            let (ns, name) = match str_at(value, "/status/helmChart").and_then(|s| s.split_once('/')) {
                Some((ns, name)) => (ns.to_string(), name.to_string()),
                None => (chart_ns, format!("{}-{}", main.namespace, main.name)),
            };
            let chart = ObjectRef::new(FluxKind::HelmChart, ns, name);
            match flux::get(cluster, &chart).await? {
                None => {
                    let why = format!("{chart} does not exist yet: helm-controller creates it when it reconciles {main}");
                    items.push(Item { obj: chart, skip: Some(why) });
                }
                Some(v) if flux::suspended(&v) => return Err(suspended(&chart)),
                Some(_) => items.push(Item { obj: chart, skip: None }),
            }
        }
        FluxKind::HelmChart => {
            let src = reference(main, value.pointer("/spec/sourceRef"), "spec.sourceRef", &chart_sources)?;
            let src = ObjectRef::new(src.kind, &main.namespace, src.name);
            items.push(source_item(cluster, src, &of).await?);
        }
        FluxKind::Kustomization => {
            let kinds = [FluxKind::GitRepository, FluxKind::OCIRepository, FluxKind::Bucket];
            let src = reference(main, value.pointer("/spec/sourceRef"), "spec.sourceRef", &kinds)?;
            items.push(source_item(cluster, src, &of).await?);
        }
        _ => {
            return Err(Error::usage("reconcile", format!("--with-source applies to helmrelease, kustomization and source chart, not to {}", main.kind.kind())).into());
        }
    }
    Ok(items)
}

/// A source that must exist; a HelmRepository of type oci has nothing to reconcile.
async fn source_item(cluster: &Cluster, obj: ObjectRef, context: &str) -> Step<Item> {
    let value = load(cluster, &obj, context).await?;
    let skip = (obj.kind == FluxKind::HelmRepository && str_at(&value, "/spec/type") == Some("oci"))
        .then(|| format!("{obj} is of type oci: source-controller does not reconcile it"));
    Ok(Item { obj, skip })
}

/// Annotate one object and wait for its controller to handle the request.
async fn reconcile_one(
    cluster: &Cluster,
    obj: &ObjectRef,
    extra: &[&str],
    deadline: Instant,
    timeout: Duration,
    progress: &mut Progress,
) -> Step<Value> {
    let token = flux::request_token();
    let mut annotations = vec![(flux::REQUESTED_AT, token.as_str())];
    annotations.extend(extra.iter().map(|k| (*k, token.as_str())));
    progress.action(&format!("annotating {obj}")).await;
    flux::annotate(cluster, obj, &annotations).await?;
    progress.waiting(&format!("waiting for {} reconciliation", obj.kind.kind())).await;
    let end = obj.objects(cluster).watch_until(&obj.name, deadline, |v| match flux::reconciliation(v, &token) {
        Reconciliation::Pending { readiness, .. } => {
            progress.status(&readiness.summary());
            None
        }
        Reconciliation::Succeeded(_) => Some(Ok(v.clone())),
        Reconciliation::Failed(msg) => Some(Err(msg)),
    })
    .await?;
    progress.stop().await;
    match end {
        WatchEnd::Done(Ok(v)) => {
            progress.success(&format!("{} reconciliation completed", obj.kind.kind())).await;
            Ok(v)
        }
        WatchEnd::Done(Err(msg)) => Err(Halt::Failed(format!("failed to reconcile {obj}: reconciliation failed: {msg}"))),
        WatchEnd::Deleted => Err(Error::Cluster {
            fault: Fault::NotFound,
            what: format!("reconcile {obj}"),
            msg: "it was deleted while waiting for its reconciliation".into(),
        }
        .into()),
        WatchEnd::TimedOut(last) => {
            let (status, handled) = match &last {
                Some(v) => (flux::ready(v).summary(), flux::last_handled(v) == Some(token.as_str())),
                None => ("unknown (no state received)".to_string(), false),
            };
            let hint = if handled {
                String::new()
            } else {
                format!(" ({} has not picked up the request: is it running and watching namespace {}?)", controller(obj.kind), obj.namespace)
            };
            Err(Error::Cluster {
                fault: Fault::Timeout,
                what: format!("reconcile {obj}"),
                msg: format!(
                    "timed out waiting for {obj} after {}: last status: {status}{hint}",
                    flux::format_duration(timeout)
                ),
            }
            .into())
        }
    }
}

async fn reconcile(kube: &KubeArgs, args: &ReconcileArgs, kind: FluxKind, name: &str, progress: &mut Progress) -> Step<()> {
    let deadline = Instant::now() + args.timeout;
    let cluster = cluster::connect(kube, Role::Reconcile).await?;
    let main = ObjectRef::new(kind, &cluster.namespace, name);
    let value = load(&cluster, &main, "").await?;

    let mut items = Vec::new();
    if args.with_source {
        items = sources(&cluster, &main, &value).await?;
    }
    let main_skip = (main.kind == FluxKind::HelmRepository && str_at(&value, "/spec/type") == Some("oci"))
        .then(|| format!("{main} is of type oci: source-controller does not reconcile it"));
    items.push(Item { obj: main.clone(), skip: main_skip });

    let mut extra = Vec::new();
    if args.force {
        extra.push(flux::FORCE_AT);
    }
    if args.reset {
        extra.push(flux::RESET_AT);
    }
    for item in &items {
        if let Some(why) = &item.skip {
            progress.success(&format!("skipping {}: {why}", item.obj)).await;
            continue;
        }
        let extra: &[&str] = if item.obj == main { &extra } else { &[] };
        let v = reconcile_one(&cluster, &item.obj, extra, deadline, args.timeout, progress).await?;
        if let Some(rev) = item.obj.kind.revision(&v) {
            let verb = if item.obj.kind.is_source() { "fetched" } else { "applied" };
            progress.success(&format!("{verb} revision {rev}")).await;
        }
    }
    Ok(())
}

pub fn run(kube: &KubeArgs, args: &ReconcileArgs) -> Result<i32> {
    let (kind, name) = target(&args.target)?;
    if (args.force || args.reset) && kind != FluxKind::HelmRelease {
        return Err(Error::usage("reconcile", format!("--force and --reset apply to a HelmRelease, not to a {}", kind.kind())));
    }
    if args.timeout.is_zero() {
        return Err(Error::usage("parse --timeout", "the timeout must be longer than 0s"));
    }
    let outcome = cluster::runtime()?.block_on(async {
        let mut progress = Progress::new();
        let outcome = reconcile(kube, args, kind, &name, &mut progress).await;
        progress.stop().await;
        outcome
    });
    match outcome {
        Ok(()) => Ok(0),
        Err(Halt::Error(e)) => Err(e),
        Err(Halt::Failed(line)) => {
            eprintln!("error: {line}");
            Ok(exit::BLOCKED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(args: &[&str]) -> Result<(FluxKind, String)> {
        target(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn targets() {
        assert_eq!(t(&["web"]).unwrap(), (FluxKind::HelmRelease, "web".into()));
        assert_eq!(t(&["hr", "web"]).unwrap(), (FluxKind::HelmRelease, "web".into()));
        assert_eq!(t(&["helmrelease", "web"]).unwrap(), (FluxKind::HelmRelease, "web".into()));
        assert_eq!(t(&["source", "repo"]).unwrap(), (FluxKind::HelmRepository, "repo".into()));
        assert_eq!(t(&["source", "helm", "repo"]).unwrap(), (FluxKind::HelmRepository, "repo".into()));
        assert_eq!(t(&["source", "chart", "c"]).unwrap(), (FluxKind::HelmChart, "c".into()));
        assert_eq!(t(&["kustomization", "apps"]).unwrap(), (FluxKind::Kustomization, "apps".into()));
        assert_eq!(t(&["ks", "apps"]).unwrap(), (FluxKind::Kustomization, "apps".into()));
        for bad in [&["source"][..], &["helmrelease"], &["source", "helm"], &["deployment", "x"], &["source", "svn", "x"], &["a", "b", "c"]] {
            assert!(t(bad).is_err(), "{bad:?}");
        }
    }
}

//! The render check: run `helm template` with the values the plan generated and compare what
//! the chart renders with the old workload (`fidelity`), report values keys the chart never
//! reads (`keys`), env names set twice, and Services that routes would no longer find.
//! Offline without a chart, the check is skipped with one warning (an error with `--render`).

pub mod fidelity;
pub mod helm;
pub mod keys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{App, Service, collect_apps};
use crate::plan::{AppPlan, Level, Plan, Values, Warning};
use crate::profiles::{self, Profile};
use crate::source::Tree;
pub use fidelity::{DuplicateEnv, Row, RowStatus};

/// Whether to render: on when helm is found (`Auto`), demanded (`On`: failures are errors), or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub mode: Mode,
    /// chart name → an unpacked chart folder to render from instead of pulling.
    pub chart_dirs: BTreeMap<String, PathBuf>,
}

/// The render check of one app, shown under it in text and JSON output.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `ollama 1.39.0`
    pub chart: String,
    /// Where the chart came from: a `--chart-dir` folder, the cache, or a pull.
    pub source: String,
    /// The render failed: this one line says why (helm's message and the values path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rows: Vec<Row>,
    pub unread_keys: Vec<String>,
    pub duplicate_env: Vec<DuplicateEnv>,
    /// Rendered Services that differ from what the old Service and the HTTPRoutes use.
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    /// Rows that changed or disappeared without a reason in the ledger.
    pub fn unexplained(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.unexplained)
    }
}

/// The hint for a Service that routes or clients would no longer find.
pub const SERVICE_HINT: &str = "run with --fix-routes to rewrite the backendRef, or keep the name with the chart's override key (fullnameOverride/nameOverride/service.port)";

/// Render every app of the plan and attach a `Report` to it. Failures to render a chart are
/// blocking warnings on the app; a missing helm or chart is an error only in `Mode::On`.
pub fn check(plan: &mut Plan, tree: &Tree, opts: &Options) -> Result<()> {
    if opts.mode == Mode::Off || plan.apps.is_empty() {
        return Ok(());
    }
    let helm = match helm::find() {
        Ok(h) => h,
        Err(msg) if opts.mode == Mode::On => {
            return Err(Error::Tool { what: "render the charts".into(), msg: format!("{msg}; install helm 3, point HELMIGRATE_HELM at it, or pass --no-render") });
        }
        Err(msg) => {
            // Without helm on PATH the check is simply not available; a broken explicit
            // setting deserves a word.
            if std::env::var_os("HELMIGRATE_HELM").is_some_and(|v| !v.is_empty()) {
                plan.warnings.push(Warning { level: Level::Warning, message: format!("render check skipped: {msg}") });
            }
            return Ok(());
        }
    };
    let limit = helm::timeout();
    let old_apps = collect_apps(tree)?;
    // (repository, chart, version) → (unpacked folder, where it came from) or why not.
    type Located = std::result::Result<(PathBuf, String), String>;
    let mut charts: BTreeMap<(String, String, String), Located> = BTreeMap::new();
    // Once a pull fails (offline), the other charts are not tried: one warning says it all.
    let mut pull_failed: Option<String> = None;
    let mut skipped: Vec<String> = Vec::new();
    for app in &mut plan.apps {
        let Some(profile) = profiles::by_chart_name(&app.chart.name) else { continue };
        let Some(old) = old_apps.iter().find(|a| a.workload.name == app.name && a.workload.namespace == app.namespace && a.workload.origin == app.origin) else { continue };
        let (dir, source) = match opts.chart_dirs.get(&app.chart.name) {
            Some(d) => (d.clone(), format!("chart folder {}", d.display())),
            None if pull_failed.is_some() => {
                skipped.push(app.name.clone());
                continue;
            }
            None => {
                let key = (app.chart.repository.clone(), app.chart.name.clone(), app.chart.version.clone());
                let got = charts.entry(key).or_insert_with(|| {
                    helm::pull_cached(&helm, &app.chart.repository, &app.chart.name, &app.chart.version, limit).map(|(dir, cached)| {
                        let how = if cached { "cached" } else { "pulled" };
                        let s = format!("{how} from {} into {}", app.chart.repository, dir.display());
                        (dir, s)
                    })
                });
                match got {
                    Ok(found) => found.clone(),
                    Err(msg) => {
                        let why = format!("could not pull chart {} {} from {}: {msg}", app.chart.name, app.chart.version, app.chart.repository);
                        if opts.mode == Mode::On {
                            return Err(Error::Tool { what: format!("render {}", app.name),
                                msg: format!("{why}; render from an unpacked chart with --chart-dir {}=DIR, or pass --no-render", app.chart.name) });
                        }
                        pull_failed = Some(format!("{why}; to check offline, pass --chart-dir {}=DIR with the unpacked chart (or --no-render)", app.chart.name));
                        skipped.push(app.name.clone());
                        continue;
                    }
                }
            }
        };
        let report = render_app(&helm, limit, app, old, profile, &dir, source);
        if let Some(e) = &report.error {
            app.warnings.push(Warning { level: Level::Blocking, message: e.clone() });
        }
        app.render = Some(report);
    }
    if let Some(why) = pull_failed {
        plan.warnings.push(Warning { level: Level::Warning, message: format!("render check skipped for {}: {why}", skipped.join(", ")) });
    }
    Ok(())
}

/// The values helm renders with: the plan's values, and for each HelmRelease `valuesFrom`
/// entry a placeholder at its target path (the Secret is only read by Flux, never here).
pub fn values_for_render(values: &Value, values_from: &[Value]) -> Value {
    let mut v = Values { root: values.as_object().cloned().unwrap_or_default(), comments: Default::default() };
    for vf in values_from {
        let Some(target) = vf.get("targetPath").and_then(Value::as_str).filter(|t| !t.is_empty()) else { continue };
        let kind = vf.get("kind").and_then(Value::as_str).unwrap_or("Secret");
        let name = vf.get("name").and_then(Value::as_str).unwrap_or("-");
        let key = vf.get("valuesKey").and_then(Value::as_str).unwrap_or("values.yaml");
        v.set(target, format!("<from {kind} {name} key {key}>"));
    }
    Value::Object(v.root)
}

fn render_app(helm: &Path, limit: std::time::Duration, app: &AppPlan, old: &App, profile: &dyn Profile, dir: &Path, source: String) -> Report {
    let mut report = Report { chart: format!("{} {}", app.chart.name, app.chart.version), source, ..Report::default() };
    let fail = |msg: &str, path: Option<String>| format!("failed to render chart {} {} with the generated values{}: {msg}",
        app.chart.name, app.chart.version, path.map(|p| format!(" (values path {p})")).unwrap_or_default());
    if let Some(v) = chart_version(dir).filter(|v| *v != app.chart.version) {
        report.notes.push(format!("the chart folder holds {} {v}; the HelmRelease pins {}", app.chart.name, app.chart.version));
    }
    // Known before rendering: a key the chart never reads is worth saying even when it fails.
    report.unread_keys = keys::ChartKeys::load(dir).unread(&app.values);
    let tmp = match tempfile::Builder::new().prefix("helmigrate-render-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            report.error = Some(fail(&format!("cannot create a temporary folder: {e}"), None));
            return report;
        }
    };
    // JSON is YAML: helm reads it as a values file, with no quoting questions.
    let values_file = tmp.path().join("values.yaml");
    let text = serde_json::to_string_pretty(&values_for_render(&app.values, &app.values_from)).unwrap_or_default();
    if let Err(e) = std::fs::write(&values_file, text) {
        report.error = Some(fail(&format!("cannot write {}: {e}", values_file.display()), None));
        return report;
    }
    let namespace = app.namespace.clone().unwrap_or_else(|| "default".into());
    let out = match helm::template(helm, &app.release_name, dir, &namespace, &values_file, profile.render_args(), limit) {
        Ok(o) if o.success => o,
        Ok(o) => {
            let msg = helm::one_line(&o.stderr).replace(&values_file.display().to_string(), "the generated values");
            report.error = Some(fail(&msg, values_path(&o.stderr)));
            return report;
        }
        Err(msg) => {
            report.error = Some(fail(&msg, None));
            return report;
        }
    };
    let rendered = match rendered_apps(&out.stdout, &namespace) {
        Ok(a) => a,
        Err(msg) => {
            report.error = Some(fail(&format!("helm's output is not readable: {msg}"), None));
            return report;
        }
    };
    let values = Values { root: app.values.as_object().cloned().unwrap_or_default(), comments: Default::default() };
    let svc_name = profile.services(&app.release_name, &values).first().map(|s| s.name.clone()).unwrap_or_default();
    let workload_name = profile.workload(&app.release_name, &values).name;
    let detects = |i: &crate::model::Image| profile.detects(i);
    let picked = rendered.iter().find(|a| a.workload.containers.iter().any(|c| detects(&c.image)))
        .or_else(|| rendered.iter().find(|a| a.workload.name == workload_name))
        .or_else(|| rendered.iter().find(|a| a.workload.name == svc_name))
        .or_else(|| if rendered.len() == 1 { rendered.first() } else { None });
    let Some(new) = picked else {
        let names: Vec<String> = rendered.iter().map(|a| format!("{} {}", a.workload.kind, a.workload.name)).collect();
        report.error = Some(fail(&format!("the render has no Deployment or StatefulSet for the app (found: {})",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }), None));
        return report;
    };
    let services: Vec<Service> = if new.services.is_empty() { rendered.iter().flat_map(|a| a.services.clone()).collect() } else { new.services.clone() };
    report.rows = fidelity::compare(app, old, &new.workload, &services, &detects);
    report.duplicate_env = fidelity::duplicate_env(&old.workload, "old");
    report.duplicate_env.extend(fidelity::duplicate_env(&new.workload, "rendered"));
    report.services = service_problems(old, &services, &app.fixed_routes);
    report
}

fn chart_version(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Chart.yaml")).ok()?;
    let v = crate::yaml::parse_str("Chart.yaml", &text).ok()?;
    v.get("version").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

/// helm's output read the way the repo is read: the same object parser (Secrets redacted on
/// the spot), then the same app grouping (workload + the Services selecting it).
pub fn rendered_apps(stdout: &str, namespace: &str) -> std::result::Result<Vec<App>, String> {
    let (objects, _) = crate::source::repo::parse_objects("helm template output", stdout, 0, &Some(namespace.to_string()))
        .map_err(|e| e.to_string())?;
    let tree = Tree { objects, ..Tree::default() };
    collect_apps(&tree).map_err(|e| e.to_string())
}

/// The values path a helm error names: schema errors (`at '/a/b'`, `- a.b: …`) first, then a
/// template's `.Values.a.b`.
pub fn values_path(stderr: &str) -> Option<String> {
    if let Some(i) = stderr.find("at '/") {
        let rest = &stderr[i + 5..];
        let p = &rest[..rest.find('\'')?];
        if !p.is_empty() {
            return Some(p.split('/').map(|s| s.replace("~1", "/").replace("~0", "~").replace('.', "\\.")).collect::<Vec<_>>().join("."));
        }
    }
    for line in stderr.lines() {
        if let Some((p, _)) = line.trim().strip_prefix("- ").and_then(|l| l.split_once(": "))
            && !p.is_empty() && !p.contains(' ') && !p.starts_with('(') {
            return Some(p.to_string());
        }
    }
    let i = stderr.find(".Values.")?;
    let p: String = stderr[i + 8..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')).collect();
    let p = p.trim_end_matches('.');
    (!p.is_empty()).then(|| p.to_string())
}

/// The old Service the chart replaces and the HTTPRoutes/Ingresses that use it, against the rendered Services.
/// Backends rewritten by `--fix-routes` are checked where they now point.
fn service_problems(old: &App, rendered: &[Service], fixed: &[crate::plan::FixedRoute]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(svc) = old.services.first() else { return out };
    let shown = |s: &Service| format!("{}:{}", s.name, s.ports.iter().map(|p| p.port.to_string()).collect::<Vec<_>>().join(","));
    let all = if rendered.is_empty() { "none".to_string() } else { rendered.iter().map(shown).collect::<Vec<_>>().join(", ") };
    match rendered.iter().find(|r| r.name == svc.name) {
        None => out.push(format!("the old Service {} is not in the render (the chart renders Service {all}): its clients break; {SERVICE_HINT}", shown(svc))),
        Some(r) => {
            if let Some(p) = svc.ports.first().filter(|p| !r.ports.iter().any(|rp| rp.port == p.port)) {
                out.push(format!("the old Service {}:{} is rendered as {}: clients of port {} break; {SERVICE_HINT}", svc.name, p.port, shown(r), p.port));
            }
        }
    }
    for route in &old.routes {
        for (name, port) in route.backends.iter().filter(|(n, _)| *n == svc.name) {
            let (name, port) = match fixed.iter().find(|f| f.route == route.name && &f.from == name) {
                Some(f) => (&f.to, Some(f.port)),
                None => (name, *port),
            };
            let ok = rendered.iter().any(|r| &r.name == name && port.is_none_or(|p| r.ports.iter().any(|rp| rp.port == p)));
            if !ok {
                out.push(format!("{} {} ({}) sends traffic to {name}:{}, but the render has Service {all}; {SERVICE_HINT}",
                    route.kind, route.name, route.origin, port.map_or("-".into(), |p| p.to_string())));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_paths_from_helm_errors() {
        assert_eq!(values_path("Error: values don't meet the specifications of the schema(s) in the following chart(s):\nollama:\n- at '/ollama/gpu/number': got string, want integer\n").as_deref(), Some("ollama.gpu.number"));
        assert_eq!(values_path("ollama:\n- ollama.gpu.number: Invalid type. Expected: integer, given: string\n").as_deref(), Some("ollama.gpu.number"));
        assert_eq!(values_path("- (root): Additional property x is not allowed").as_deref(), None);
        assert_eq!(values_path("template: x/templates/d.yaml:3:4: executing \"x\" at <.Values.sso.oidc.clientId>: nil pointer").as_deref(), Some("sso.oidc.clientId"));
        assert_eq!(values_path("execution error at (x/templates/d.yaml:1:4): boom"), None);
    }

    #[test]
    fn garbage_output_is_an_error_not_a_panic() {
        assert!(rendered_apps("kind: [\n", "ai").is_err());
        assert!(rendered_apps("\u{0}\u{1}---\n- a\n", "ai").is_err());
        assert!(rendered_apps("", "ai").is_ok_and(|a| a.is_empty()));
    }

    /// The render rows of a one-app repo (`manifests` in `apps/ollama.yaml`, namespace `ai`),
    /// planned and compared against the chart's rendered Deployment `rendered`.
    fn rows(manifests: &str, rendered: &str) -> Vec<Row> {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (".helmigrate.yaml", ""),
            ("apps/kustomization.yaml", "namespace: ai\nresources:\n  - ollama.yaml\n"),
            ("apps/ollama.yaml", manifests),
        ];
        for (p, t) in files {
            std::fs::create_dir_all(dir.path().join(p).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(p), t).unwrap();
        }
        let tree = crate::plan::load(&dir.path().join("apps")).unwrap();
        let plan = crate::plan::plan_tree(&tree, &Default::default()).unwrap();
        let old = collect_apps(&tree).unwrap().remove(0);
        let rendered = rendered_apps(rendered, "ai").unwrap();
        let detects = |i: &crate::model::Image| i.short_repository() == "ollama/ollama";
        fidelity::compare(&plan.apps[0], &old, &rendered[0].workload, &[], &detects)
    }

    /// A one-app repo (ollama, port `port_yaml`, Service `target`) planned, and the chart's
    /// rendered Deployment with the port named `http`: the port row.
    fn port_row(port_yaml: &str, target: &str) -> Row {
        let manifests = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels:\n      app: ollama\n  template:\n    metadata:\n      labels:\n        app: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n          ports:\n            - {port_yaml}\n\
                ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ollama\nspec:\n  selector:\n    app: ollama\n  ports:\n    - port: 11434\n      targetPort: {target}\n");
        let rendered = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ollama\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n          ports:\n            - name: http\n              containerPort: 11434\n              protocol: TCP\n";
        rows(&manifests, rendered).into_iter().find(|r| r.field.starts_with("port ")).expect("a port row")
    }

    #[test]
    fn a_port_the_chart_only_names_is_explained() {
        let row = port_row("containerPort: 11434", "11434");
        assert_eq!((row.status, row.unexplained, row.old.as_deref(), row.rendered.as_deref()),
            (RowStatus::Changed, false, Some("- 11434/TCP"), Some("http 11434/TCP")), "{row:?}");
        assert!(row.why.contains("the chart names the port"), "{row:?}");
        // Renamed although a Service reaches it by its old name: that Service breaks.
        let row = port_row("{name: api, containerPort: 11434}", "api");
        assert!(row.unexplained, "{row:?}");
    }

    /// An ollama app with a GPU limit and a readiness probe that sets only its period, planned,
    /// and the rows against a rendered Deployment `rendered_container` (YAML, indented 8).
    fn gpu_rows(rendered_container: &str) -> Vec<Row> {
        let manifests = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels:\n      app: ollama\n  template:\n    metadata:\n      labels:\n        app: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n          readinessProbe:\n            httpGet:\n              path: /api/version\n              port: 11434\n            periodSeconds: 15\n          resources:\n            limits:\n              nvidia.com/gpu: 1\n";
        rows(manifests, &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels:\n      app: ollama\n  template:\n    metadata:\n      labels:\n        app: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n{rendered_container}"))
    }

    #[test]
    fn a_lost_gpu_limit_is_not_explained_by_the_charts_gpu_notes() {
        // The ledger notes at `ollama.gpu.enabled` that the chart adds PATH and a toleration in
        // GPU mode: those name other fields, not a reason for the limit to go.
        let rows = gpu_rows("          env:\n            - name: PATH\n              value: /usr/local/nvidia/bin:/usr/bin\n");
        let gpu = rows.iter().find(|r| r.field == "resources.limits.nvidia.com/gpu").expect("a GPU row");
        assert_eq!((gpu.status, gpu.unexplained), (RowStatus::Dropped, true), "{gpu:?}");
        // The same limit rendered: preserved.
        let rows = gpu_rows("          resources:\n            limits:\n              nvidia.com/gpu: 1\n");
        let gpu = rows.iter().find(|r| r.field == "resources.limits.nvidia.com/gpu").expect("a GPU row");
        assert_eq!(gpu.status, RowStatus::Preserved, "{gpu:?}");
    }

    #[test]
    fn probe_timings_compare_with_kubernetes_defaults_filled_in() {
        // The chart writes every timing out; the old probe left all but the period to Kubernetes.
        let same = "          readinessProbe:\n            httpGet:\n              path: /api/version\n              port: 11434\n              scheme: HTTP\n            initialDelaySeconds: 0\n            periodSeconds: 15\n            timeoutSeconds: 1\n            successThreshold: 1\n            failureThreshold: 3\n";
        let rows = gpu_rows(same);
        let probe = rows.iter().find(|r| r.field == "readinessProbe").expect("a probe row");
        assert_eq!(probe.status, RowStatus::Preserved, "{probe:?}");
        // The chart's own defaults (a 30 s delay, 6 failures) are a change nothing explains.
        let rows = gpu_rows(&same.replace("initialDelaySeconds: 0", "initialDelaySeconds: 30").replace("failureThreshold: 3", "failureThreshold: 6"));
        let probe = rows.iter().find(|r| r.field == "readinessProbe").expect("a probe row");
        assert_eq!((probe.status, probe.unexplained), (RowStatus::Changed, true), "{probe:?}");
    }

    #[test]
    fn values_from_targets_get_placeholders() {
        let vf = [serde_json::json!({"kind": "Secret", "name": "s", "valuesKey": "client-id", "targetPath": "sso.oidc.clientId"}),
                  serde_json::json!({"kind": "Secret", "name": "whole"})];
        let v = values_for_render(&serde_json::json!({"sso": {"enabled": true}}), &vf);
        assert_eq!(v, serde_json::json!({"sso": {"enabled": true, "oidc": {"clientId": "<from Secret s key client-id>"}}}));
    }
}

//! Rendering plans: ledger tables and diffs for people, JSON for machines, YAML documents for
//! `kubectl apply`. Colours follow NO_COLOR / FORCE_COLOR and whether stdout is a terminal.

mod diff;
pub(crate) mod table;

use serde::Serialize;

pub use diff::unified;

use crate::plan::{Action, AppPlan, Level, Plan, Skipped, Warning};

/// Should stdout get colours (NO_COLOR, FORCE_COLOR, terminal)?
pub fn color() -> bool {
    owo_colors::Stream::Stdout.supports_color()
}

trait SupportsColor {
    fn supports_color(&self) -> bool;
}

impl SupportsColor for owo_colors::Stream {
    fn supports_color(&self) -> bool {
        use owo_colors::OwoColorize;
        // supports-color decides (NO_COLOR, FORCE_COLOR, CI, TTY); probe it once per call.
        let probe = "x".if_supports_color(*self, |t| t.red()).to_string();
        probe != "x"
    }
}

fn paint(s: &str, style: fn(&str) -> String) -> String {
    if color() { style(s) } else { s.to_string() }
}

fn warning_line(w: &Warning) -> String {
    use owo_colors::OwoColorize;
    let (tag, f): (&str, fn(&str) -> String) = match w.level {
        Level::Blocking => ("BLOCKING", |s| s.red().bold().to_string()),
        Level::Warning => ("warning", |s| s.yellow().to_string()),
        Level::Info => ("note", |s| s.cyan().to_string()),
    };
    format!("  {} {}\n", paint(&format!("{tag}:"), f), w.message)
}

/// The dry-run report: per app, the chart and the ledger; then skipped apps; then the diff.
/// Hidden values (secret data, secret-looking env literals) are masked.
pub fn text(plan: &Plan) -> String {
    plan.hidden.redact(&text_unmasked(plan)).into_owned()
}

fn text_unmasked(plan: &Plan) -> String {
    use owo_colors::OwoColorize;
    let mut out = String::new();
    for app in &plan.apps {
        out.push_str(&paint(&format!("{} → chart {} {}", app_title(app), app.chart.name, app.chart.version), |s| s.bold().to_string()));
        out.push_str(&format!("\n  repository {} ({}), release {}\n", app.chart.repository, app.source, app.release_name));
        out.push_str(&table::ledger(&app.ledger, color()));
        out.push('\n');
        for w in &app.warnings {
            out.push_str(&warning_line(w));
        }
        if let Some(r) = &app.render {
            out.push_str(&render_section(r));
        }
        out.push_str(&handover(&app.handover));
        out.push('\n');
    }
    for w in &plan.warnings {
        out.push_str(&warning_line(w));
    }
    for s in &plan.skipped {
        out.push_str(&format!("{} {}\n", paint(&format!("skipped {}:", skipped_title(s)), |s| s.dimmed().to_string()), s.reason));
    }
    if !plan.migrated.is_empty() && plan.apps.is_empty() {
        out.push_str(&format!("already on charts: {}\n", plan.migrated.join(", ")));
    }
    if plan.cluster.is_some() {
        if plan.apps.is_empty() {
            out.push_str("nothing to convert\n");
        }
        out.push_str(&documents_unmasked(plan));
    } else if plan.files.is_empty() {
        let held = plan.skipped.iter().filter(|s| s.chart.is_some()).count();
        if held > 0 {
            out.push_str(&format!("nothing to change: {held} workload(s) that a chart profile recognises were not converted (the reasons are above)\n"));
        } else if plan.apps.is_empty() && plan.skipped.is_empty() && plan.migrated.is_empty() {
            out.push_str("nothing to change: no Deployment or StatefulSet is applied from this folder\n");
        } else {
            out.push_str("nothing to change\n");
        }
    } else {
        out.push('\n');
        for f in &plan.files {
            out.push_str(&unified(f, color()));
        }
        out.push_str(&format!("\n{} app(s) to convert, {} skipped; {} file(s) to change\n", plan.apps.len(), plan.skipped.len(), plan.files.len()));
    }
    out
}

fn handover(h: &crate::plan::handover::Handover) -> String {
    let by = if h.kustomizations.is_empty() { "no Flux Kustomization in the repo applies this folder".to_string() } else { format!("applied by Kustomization {}", h.kustomizations.join(", ")) };
    let mut s = format!("  hand-over ({by}):\n");
    for step in &h.steps {
        s.push_str(&format!("    - {step}\n"));
    }
    s
}

/// The render check under an app: where the chart came from, the fidelity table, then one line
/// per finding (duplicate env, unread values keys, Services, unexplained rows).
fn render_section(r: &crate::render::Report) -> String {
    use owo_colors::OwoColorize;
    let mut out = String::new();
    let warn = |message: String| warning_line(&Warning { level: Level::Warning, message });
    let unread = |out: &mut String| for k in &r.unread_keys {
        out.push_str(&warn(format!("values key {k} is not in the chart's values.yaml or schema: the chart never reads it")));
    };
    if r.error.is_some() {
        // The blocking warning above already says why, in one line; a key the chart never
        // reads may be the cause.
        unread(&mut out);
        return out;
    }
    out.push_str(&format!("  {} chart {} ({})\n", paint("render check:", |s| s.bold().to_string()), r.chart, r.source));
    out.push_str(&table::fidelity(&r.rows, color()));
    out.push('\n');
    for n in &r.notes {
        out.push_str(&warning_line(&Warning { level: Level::Info, message: n.clone() }));
    }
    for d in &r.duplicate_env {
        out.push_str(&warn(format!("env {} is set {} times in the {} workload (container {}): Kubernetes uses the last, {}",
            d.name, d.count, d.workload, d.container, d.used)));
    }
    unread(&mut out);
    for s in &r.services {
        out.push_str(&warn(s.clone()));
    }
    let unexplained: Vec<&str> = r.unexplained().map(|row| row.field.as_str()).collect();
    if !unexplained.is_empty() {
        out.push_str(&warn(format!("{} unexplained difference(s) in the render: {} (--strict fails on these)", unexplained.len(), unexplained.join(", "))));
    }
    out
}

fn app_title(app: &AppPlan) -> String {
    format!("{}/{} ({} at {})", app.namespace.as_deref().unwrap_or("-"), app.name, app.workload, app.origin)
}

fn skipped_title(s: &Skipped) -> String {
    format!("{}/{} ({})", s.namespace.as_deref().unwrap_or("-"), s.name, s.origin)
}

pub fn written_summary(plan: &Plan, committed: bool) -> String {
    let count = |a| plan.files.iter().filter(|f| f.action == a).count();
    let mut s = format!("wrote {} file(s): {} created, {} modified, {} deleted",
        plan.files.len(), count(Action::Create), count(Action::Modify), count(Action::Delete));
    if committed {
        s.push_str(&format!("; {} commit(s)", plan.apps.iter().filter(|a| !a.changes.is_empty()).count()));
    }
    s
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
    apps: &'a [AppPlan],
    files: Vec<JsonFile<'a>>,
    skipped: &'a [Skipped],
    migrated: &'a [String],
    warnings: &'a [Warning],
    blocked: bool,
}

pub fn json(plan: &Plan) -> String {
    let files = plan.files.iter().map(|f| JsonFile {
        path: &f.path,
        action: f.action,
        content: (f.action == Action::Create).then(|| f.after.as_deref().unwrap_or_default()),
        diff: (f.action == Action::Modify).then(|| unified(f, false)),
    }).collect();
    let doc = JsonPlan { cluster: plan.cluster.as_deref(), apps: &plan.apps, files, skipped: &plan.skipped, migrated: &plan.migrated, warnings: &plan.warnings, blocked: plan.blocked() };
    // Masked as a document: a hidden value that is also an ordinary word is masked where it is
    // a secret's value, which a diff or file content (one JSON string) shows line by line.
    let mut s = serde_json::to_value(&doc)
        .and_then(|mut v| {
            plan.hidden.redact_json(&mut v);
            serde_json::to_string_pretty(&v)
        })
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The HelmRepository + HelmRelease documents of every app (each source once), hidden values
/// masked: stdout ends up in terminals and CI logs. `--out DIR` and `--write` keep them exact.
pub fn documents(plan: &Plan) -> String {
    plan.hidden.redact(&documents_unmasked(plan)).into_owned()
}

fn documents_unmasked(plan: &Plan) -> String {
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for app in &plan.apps {
        let mut docs = crate::yaml::split_documents(&app.documents).into_iter();
        if let Some(src) = docs.next()
            && seen.insert(src.text.to_string()) {
                out.push_str("---\n");
                out.push_str(src.text);
            }
        for d in docs {
            out.push_str("---\n");
            out.push_str(d.text);
        }
    }
    out
}

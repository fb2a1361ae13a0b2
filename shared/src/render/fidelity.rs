//! The fidelity diff: the old workload and the one the chart rendered, both read into the same
//! `Workload` model, compared field by field. Each row that changed or disappeared is looked up
//! in the plan's ledger: a drop, default or user override recorded there explains it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::workload::compact;
use crate::model::{App, Container, Env, Mount, Workload};
use crate::plan::{AppPlan, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    Preserved,
    Changed,
    Dropped,
    AddedByChart,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Preserved => "preserved",
            RowStatus::Changed => "changed",
            RowStatus::Dropped => "dropped",
            RowStatus::AddedByChart => "added by chart",
        }
    }
}

/// One compared field. Values are shown the ledger's way: secret-looking literals never appear.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub field: String,
    pub old: Option<String>,
    pub rendered: Option<String>,
    pub status: RowStatus,
    /// A change or drop the plan's ledger does not account for.
    pub unexplained: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// An env name set more than once in one container: Kubernetes keeps the last.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateEnv {
    /// `old` or `rendered`.
    pub workload: &'static str,
    pub container: String,
    pub name: String,
    pub count: usize,
    /// The entry Kubernetes uses, shown the ledger's way.
    pub used: String,
}

/// Comparable form of a value: quantities and ports as written (`1` = `"1"`), empty = absent.
fn norm(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Null => None,
        Value::Object(m) if m.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Number(n) => Some(Value::String(n.to_string())),
        Value::Bool(b) => Some(Value::String(b.to_string())),
        other => Some(other.clone()),
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

/// Pod fields at the value Kubernetes gives them when left out: a chart that writes them out
/// changes nothing.
const POD_DEFAULTS: [(&str, &str); 9] = [
    ("automountServiceAccountToken", "true"), ("enableServiceLinks", "true"), ("hostIPC", "false"), ("hostNetwork", "false"),
    ("hostPID", "false"), ("dnsPolicy", "\"ClusterFirst\""), ("serviceAccountName", "\"default\""), ("restartPolicy", "\"Always\""),
    ("schedulerName", "\"default-scheduler\""),
];

/// A pod field as Kubernetes runs it: absent when it is the default. (Compared as JSON text:
/// `true` the boolean, `"ClusterFirst"` the string — never a number against a string.)
#[allow(clippy::cmp_owned)]
fn pod_value(k: &str, v: Option<&Value>) -> Option<Value> {
    let v = v?;
    if POD_DEFAULTS.iter().any(|(d, dv)| *d == k && v.to_string() == *dv) || (k == "terminationGracePeriodSeconds" && v.as_i64() == Some(30)) {
        return None;
    }
    Some(v.clone())
}

/// Lists whose order carries no meaning (tolerations) compare as sets.
fn unordered(v: Option<Value>) -> Option<Value> {
    v.map(|v| match v {
        Value::Array(mut a) => {
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        other => other,
    })
}

/// A probe as Kubernetes runs it: the timings it left out at their defaults, `scheme: HTTP`
/// implied, a named port resolved to its number. A chart that writes every timing out then compares equal to a probe that did not.
fn probe_defaults(mut p: Value, c: &Container) -> Value {
    if let Some(m) = p.as_object_mut() {
        // A port given by name is the container port of that name.
        for handler in ["httpGet", "tcpSocket", "grpc"] {
            if let Some(port) = m.get_mut(handler).and_then(|h| h.get_mut("port"))
                && let Some(n) = port.as_str().and_then(|name| c.ports.iter().find(|p| p.name.as_deref() == Some(name))).map(|p| p.container_port) {
                    *port = Value::from(n);
                }
        }
        for (k, d) in crate::model::workload::PROBE_DEFAULTS {
            m.entry(k).or_insert(Value::from(d));
        }
        if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut)
            && h.get("scheme").and_then(Value::as_str) == Some("HTTP") {
            h.remove("scheme");
        }
    }
    p
}

/// The container a profile deploys: the first whose image it detects, else the first.
pub fn main_container<'a>(w: &'a Workload, detects: &dyn Fn(&crate::model::Image) -> bool) -> Option<&'a Container> {
    w.containers.iter().find(|c| detects(&c.image)).or(w.containers.first())
}

/// Env names set more than once in any container of `w`.
pub fn duplicate_env(w: &Workload, which: &'static str) -> Vec<DuplicateEnv> {
    let mut out = Vec::new();
    for c in w.containers.iter().chain(&w.init_containers) {
        let mut seen: BTreeMap<&str, (usize, &Env)> = BTreeMap::new();
        let mut order = Vec::new();
        for e in &c.env {
            let entry = seen.entry(&e.name).or_insert_with(|| {
                order.push(e.name.as_str());
                (0, e)
            });
            *entry = (entry.0 + 1, e);
        }
        for name in order {
            let (count, last) = seen[name];
            if count > 1 {
                out.push(DuplicateEnv { workload: which, container: c.name.clone(), name: name.to_string(), count, used: last.describe() });
            }
        }
    }
    out
}

/// `v` with every object's keys in order: the same volume written in another key order (a
/// chart's template) shows the same.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// What a mount brings into the container, without the volume's name (charts rename volumes).
fn mount_shown(m: &Mount, w: &Workload) -> String {
    use crate::model::VolumeSource;
    let source = match w.volume(&m.volume).map(|v| &v.source) {
        Some(VolumeSource::Claim { claim, .. }) => format!("pvc {claim}"),
        Some(VolumeSource::ClaimTemplate { template, .. }) => format!("pvc {template}-{}-0", w.name),
        Some(VolumeSource::EmptyDir { .. }) => "emptyDir".to_string(),
        Some(VolumeSource::Other { volume }) => {
            let mut v = sorted(volume);
            if let Some(o) = v.as_object_mut() {
                o.remove("name");
            }
            compact(&v)
        }
        None => format!("missing volume {}", m.volume),
    };
    let mut s = source;
    if let Some(sp) = &m.sub_path {
        s.push_str(&format!(" subPath {sp}"));
    }
    if m.read_only {
        s.push_str(" read-only");
    }
    for (k, v) in &m.rest {
        s.push_str(&format!(" {k}={}", shown(v)));
    }
    s
}

/// Row builder: fields named the way the ledger names them, so explanations are a lookup.
struct Rows<'a> {
    plan: &'a AppPlan,
    rows: Vec<Row>,
}

impl Rows<'_> {
    fn push(&mut self, field: String, old: Option<String>, rendered: Option<String>, keys: &[String], paths: &[&str]) {
        let status = match (&old, &rendered) {
            (None, None) => return,
            (Some(a), Some(b)) if a == b => RowStatus::Preserved,
            (Some(_), Some(_)) => RowStatus::Changed,
            (Some(_), None) => RowStatus::Dropped,
            (None, Some(_)) => RowStatus::AddedByChart,
        };
        let mut keys = keys.to_vec();
        keys.insert(0, field.clone());
        let why = if status == RowStatus::Preserved { None } else { explain(self.plan, &keys, paths) };
        let unexplained = matches!(status, RowStatus::Changed | RowStatus::Dropped) && why.is_none();
        self.rows.push(Row { field, old, rendered, status, unexplained, why: why.unwrap_or_default() });
    }

    /// A change the chart always makes and that changes nothing for clients.
    fn explained(&mut self, field: String, old: String, rendered: String, why: &str) {
        self.rows.push(Row { field, old: Some(old), rendered: Some(rendered), status: RowStatus::Changed, unexplained: false, why: why.into() });
    }

    fn value(&mut self, field: String, old: Option<Value>, rendered: Option<Value>, keys: &[String], paths: &[&str]) {
        // Compare normalized values, show them as written.
        let (o, r) = (norm(old.as_ref()), norm(rendered.as_ref()));
        let (so, sr) = (o.as_ref().map(shown), r.as_ref().map(shown));
        match (so, sr) {
            (Some(a), Some(b)) if o == r && a != b => self.push(field, Some(a.clone()), Some(a), keys, paths),
            (a, b) => self.push(field, a, b, keys, paths),
        }
    }
}

/// Does one ledger field name `key` or something below it (`volumeMount /x` ⊂ `volumeMount /x subPath`)?
fn field_matches(field: &str, key: &str) -> bool {
    field == key || field.strip_prefix(key).is_some_and(|r| r.starts_with(' ') || r.starts_with('.'))
}

/// Values paths overlap when one is a prefix of the other, segment by segment.
fn paths_overlap(a: &str, b: &str) -> bool {
    let a = crate::plan::split_path(a.rsplit(' ').next().unwrap_or(a));
    let b = crate::plan::split_path(b.rsplit(' ').next().unwrap_or(b));
    let n = a.len().min(b.len());
    n > 0 && a[..n] == b[..n]
}

/// The ledger's reason for a difference in the field named by `keys`, if it records one:
/// the field dropped or defaulted, a user override of a values path the field went to, or a
/// mapping made with a stated reason.
fn explain(plan: &AppPlan, keys: &[String], extra_paths: &[&str]) -> Option<String> {
    let reason = |e: &crate::plan::Entry| match e.status {
        Status::Overridden => format!("{} ({})", e.why, e.field),
        _ if e.why.is_empty() => format!("{} in the ledger", e.status.as_str()),
        _ => e.why.clone(),
    };
    let direct: Vec<&crate::plan::Entry> = plan.ledger.iter().filter(|e| keys.iter().any(|k| field_matches(&e.field, k))).collect();
    if let Some(e) = direct.iter().find(|e| e.status != Status::Mapped) {
        return Some(reason(e));
    }
    let mut paths: Vec<&str> = direct.iter().map(|e| e.path.as_str()).filter(|p| !p.is_empty()).collect();
    paths.extend_from_slice(extra_paths);
    let overlaps = |e: &&crate::plan::Entry| !e.path.is_empty() && paths.iter().any(|p| paths_overlap(p, &e.path));
    // The user's own --set/--values first: it is the nearest cause of a change at its path.
    if let Some(e) = plan.ledger.iter().filter(|e| e.status == Status::Overridden).find(overlaps) {
        return Some(reason(e));
    }
    // Then a default helmigrate set at that path. A note on what the chart does by itself at a
    // path (`in GPU mode the chart sets PATH…`, recorded at `ollama.gpu.enabled`) names another
    // field: it must not explain a GPU limit the render lost.
    if let Some(e) = plan.ledger.iter().filter(|e| e.status == Status::Defaulted && sets_value(plan, e)).find(overlaps) {
        return Some(reason(e));
    }
    // A mapping with a stated reason explains only its own field's rename or rewrite (an env
    // var the chart writes itself, the GPU toleration, a `latest` tag), never a neighbour's
    // change: "reuse the existing claim" must not hide a lost subPath.
    let rewrites = keys[0].starts_with("env ") || keys[0] == "image" || keys[0] == "pod tolerations";
    direct.iter().find(|e| rewrites && (e.field == keys[0] || keys[0] == "image" && e.field == "image tag") && !e.why.is_empty() && e.why != "chart default")
        .map(|e| reason(e))
}

/// Whether a defaulted ledger entry records a value helmigrate put into the values (`defaulted`),
/// rather than a note on what the chart does on its own (`chart_default`, whose value describes
/// the chart's addition).
fn sets_value(plan: &AppPlan, e: &crate::plan::Entry) -> bool {
    let mut v = &plan.values;
    for seg in crate::plan::split_path(&e.path) {
        match v.get(&seg) {
            Some(next) => v = next,
            None => return false,
        }
    }
    let shown = match v {
        Value::String(s) => format!("{s:?}"),
        other => compact(other),
    };
    shown == e.value
}

/// The rows of one container pair: image, effective env, resources, mounts, ports and every
/// other field. `prefix` names the container for all but the app's main one (`container x `).
fn container_rows(rows: &mut Rows, old: &App, (ow, oc): (&Workload, &Container), (rw, rc): (&Workload, &Container), prefix: &str) {
    rows.push(format!("{prefix}image"), Some(oc.image.reference()), Some(rc.image.reference()), &[format!("{prefix}image tag")], &["image"]);

    // The effective env, as the process sees it: envFrom ConfigMaps resolved (both sides read
    // the same ones), env beating envFrom, the last of a repeated name winning.
    let last = |c: &Container| -> Vec<(String, Env)> {
        crate::model::effective_env(c, &old.config_maps).0.into_iter().map(|e| (e.env.name.clone(), e.env)).collect()
    };
    // A valuesFrom placeholder is helmigrate's own text, not a secret: show it as it is.
    let describe = |e: &Env| match &e.source {
        crate::model::EnvSource::Value { value } if value.starts_with("<from ") && value.ends_with('>') => value.clone(),
        _ => e.describe(),
    };
    let (oe, re) = (last(oc), last(rc));
    for (name, e) in &oe {
        let r = re.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        let (so, sr) = (e.describe(), r.map(describe));
        // Equal sources show equal even when hidden (same length, different secret).
        let sr = match r {
            Some(r) if r.source == e.source => Some(so.clone()),
            Some(_) if sr.as_deref() == Some(so.as_str()) => Some(format!("{so} (differs)")),
            _ => sr,
        };
        rows.push(format!("{prefix}env {name}"), Some(so), sr, &[], &[]);
    }
    for (name, r) in re.iter().filter(|(n, _)| !oe.iter().any(|(o, _)| o == n)) {
        rows.push(format!("{prefix}env {name}"), None, Some(describe(r)), &[], &[]);
    }
    for (which, o, r) in [("requests", &oc.requests, &rc.requests), ("limits", &oc.limits, &rc.limits)] {
        let mut keys: Vec<&String> = o.keys().chain(r.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            rows.value(format!("{prefix}resources.{which}.{k}"), o.get(k).cloned(), r.get(k).cloned(), &[], &[]);
        }
    }

    // Volumes: by mount path, showing what is mounted there (claim, subPath).
    let mut paths: Vec<&str> = oc.mounts.iter().chain(&rc.mounts).map(|m| m.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    for p in paths {
        let om = oc.mounts.iter().find(|m| m.path == p);
        let rm = rc.mounts.iter().find(|m| m.path == p);
        let mut keys = Vec::new();
        if let Some(m) = om {
            keys.push(format!("volume {}", m.volume));
            keys.push(format!("{prefix}volumeMount {p}"));
            if let Some(crate::model::VolumeSource::ClaimTemplate { template, .. }) = ow.volume(&m.volume).map(|v| &v.source) {
                keys.push(format!("volumeClaimTemplate {template}"));
            }
        }
        rows.push(format!("{prefix}volumeMount {p}"), om.map(|m| mount_shown(m, ow)), rm.map(|m| mount_shown(m, rw)), &keys, &[]);
    }

    // Ports by number; the name is part of the value.
    let port = |p: &crate::model::Port| format!("{} {}/{}", p.name.as_deref().unwrap_or("-"), p.container_port, p.protocol.as_deref().unwrap_or("TCP"));
    let protocol = |p: &crate::model::Port| p.protocol.clone().unwrap_or_else(|| "TCP".into());
    // A Service that reaches the old port by its name would lose it on a rename.
    let targeted = |name: &str| old.services.iter().flat_map(|s| &s.ports).any(|sp| sp.target_port.as_ref().and_then(Value::as_str) == Some(name));
    for p in &oc.ports {
        let r = rc.ports.iter().find(|r| r.container_port == p.container_port)
            .or_else(|| (oc.ports.len() == 1 && rc.ports.len() == 1).then(|| &rc.ports[0]));
        let field = format!("{prefix}port {}", p.name.as_deref().unwrap_or("-"));
        match r {
            // Same number and protocol, another name: harmless unless a Service targets the old name.
            Some(r) if r.container_port == p.container_port && protocol(r) == protocol(p) && r.name != p.name
                && p.name.as_deref().is_none_or(|n| !targeted(n)) =>
                rows.explained(field, port(p), port(r), "the chart names the port; no Service targets the old name"),
            _ => rows.push(field, Some(port(p)), r.map(port), &[format!("{prefix}port")], &[]),
        }
    }
    for r in rc.ports.iter().filter(|r| !oc.ports.iter().any(|p| p.container_port == r.container_port)) {
        if oc.ports.len() == 1 && rc.ports.len() == 1 {
            continue;
        }
        rows.push(format!("{prefix}port {}", r.name.as_deref().unwrap_or("-")), None, Some(port(r)), &[], &[]);
    }

    // Every other container field (probes, securityContext, args, command, envFrom…).
    let mut keys: Vec<&String> = oc.rest.keys().chain(rc.rest.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (o, r) = (oc.rest.get(k).cloned(), rc.rest.get(k).cloned());
        let (o, r) = if k.ends_with("Probe") { (o.map(|p| probe_defaults(p, oc)), r.map(|p| probe_defaults(p, rc))) } else { (o, r) };
        rows.value(format!("{prefix}{k}"), o, r, &[], &[]);
    }

}

/// Compare the old app with the rendered one: one row per field a user would check.
pub fn compare(plan: &AppPlan, old: &App, rendered: &Workload, rendered_services: &[crate::model::Service],
               detects: &dyn Fn(&crate::model::Image) -> bool) -> Vec<Row> {
    let mut rows = Rows { plan, rows: Vec::new() };
    let (ow, rw) = (&old.workload, rendered);
    let Some(oc) = main_container(ow, detects) else { return rows.rows };
    let Some(rc) = rw.containers.iter().find(|c| c.name == oc.name).or_else(|| main_container(rw, detects)) else { return rows.rows };

    // The kind: only a plan warning can explain a change (profiles say so there).
    if ow.kind != rw.kind {
        let (a, b) = (ow.kind.to_string(), rw.kind.to_string());
        // "keeps the workload kind" is the plan's intent, not a reason for the chart to differ.
        let why = plan.warnings.iter().find(|w| w.message.contains(&a) && w.message.contains(&b)).map(|w| w.message.clone())
            .or_else(|| explain(plan, &["-kind".to_string()], &["workload.kind"]));
        rows.rows.push(Row { field: "kind".into(), unexplained: why.is_none(), old: Some(a), rendered: Some(b), status: RowStatus::Changed, why: why.unwrap_or_default() });
    } else {
        rows.push("kind".into(), Some(ow.kind.to_string()), Some(rw.kind.to_string()), &[], &[]);
    }
    rows.value("spec.replicas".into(), Some(ow.spec.get("replicas").cloned().unwrap_or(Value::from(1))),
        Some(rw.spec.get("replicas").cloned().unwrap_or(Value::from(1))), &[], &["replicaCount"]);
    container_rows(&mut rows, old, (ow, oc), (rw, rc), "");

    // Pod fields: runtimeClassName, securityContext, scheduling and the rest.
    let mut keys: Vec<&String> = ow.pod.keys().chain(rw.pod.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (o, r) = (pod_value(k, ow.pod.get(k)), pod_value(k, rw.pod.get(k)));
        let (o, r) = if k == "tolerations" { (unordered(o), unordered(r)) } else { (o, r) };
        rows.value(format!("pod {k}"), o, r, &[], &[]);
    }
    for (k, v) in &ow.pod_labels {
        rows.value(format!("pod label {k}"), Some(v.clone()), rw.pod_labels.get(k).cloned(), &[], &[]);
    }
    for (k, v) in &ow.pod_annotations {
        rows.value(format!("pod annotation {k}"), Some(v.clone()), rw.pod_annotations.get(k).cloned(), &[], &[]);
    }

    // Init containers run one after the other: their order is behaviour.
    if ow.init_containers.len() > 1 {
        let order = |w: &Workload| w.init_containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        rows.push("initContainers order".into(), Some(order(ow)), Some(order(rw)), &["initContainer".into()], &[]);
    }

    // Other containers, by name: compared whole when the chart runs them too.
    for (what, o, r) in [("container", &ow.containers, &rw.containers), ("initContainer", &ow.init_containers, &rw.init_containers)] {
        for c in o.iter().filter(|c| !std::ptr::eq(*c, oc)) {
            match r.iter().find(|x| x.name == c.name && !std::ptr::eq(*x, rc)) {
                Some(rc2) => container_rows(&mut rows, old, (ow, c), (rw, rc2), &format!("{what} {} ", c.name)),
                None => rows.push(format!("{what} {}", c.name), Some(c.image.reference()), None, &[], &[]),
            }
        }
        for c in r.iter().filter(|c| !std::ptr::eq(*c, rc) && !o.iter().any(|x| x.name == c.name)) {
            rows.push(format!("{what} {}", c.name), None, Some(c.image.reference()), &[], &[]);
        }
    }

    // The Services the chart takes over: name and ports (the app's first one may be renamed).
    for (n, svc) in old.services.iter().enumerate() {
        let Some(main) = rendered_services.iter().find(|s| s.name == svc.name).or(if n == 0 { rendered_services.first() } else { None }) else {
            rows.push(format!("service {} port", svc.name), Some(format!("{}:{}", svc.name, svc.ports.first().map_or(0, |p| p.port))), None, &[format!("service {}", svc.name)], &["service"]);
            continue;
        };
        for (i, p) in svc.ports.iter().enumerate() {
            let field = if i == 0 { format!("service {} port", svc.name) } else { format!("service {} port {}", svc.name, p.name.as_deref().unwrap_or("-")) };
            let rp = main.ports.iter().find(|rp| rp.name.is_some() && rp.name == p.name)
                .or_else(|| main.ports.iter().find(|rp| rp.port == p.port))
                .or_else(|| if i == 0 { main.ports.first() } else { None });
            rows.push(field, Some(format!("{}:{}", svc.name, p.port)), rp.map(|rp| format!("{}:{}", main.name, rp.port)), &[format!("service {}", svc.name)], &["service.port"]);
        }
        let t = |s: &crate::model::Service| s.service_type.clone().unwrap_or_else(|| "ClusterIP".into());
        rows.push(format!("service {} type", svc.name), Some(t(svc)), Some(t(main)), &[], &[]);
    }
    rows.rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_fields_and_paths_match_by_segment() {
        assert!(field_matches("volumeMount /x subPath", "volumeMount /x"));
        assert!(!field_matches("volumeMount /xy", "volumeMount /x"));
        assert!(paths_overlap("ollama.gpu.number", "ollama.gpu"));
        assert!(paths_overlap("valuesFrom → sso.oidc.clientId", "sso.oidc"));
        assert!(!paths_overlap("service.port", "serviceAccount.name"));
    }

    #[test]
    fn numbers_and_strings_compare_equal() {
        assert_eq!(norm(Some(&Value::from(1))), norm(Some(&Value::from("1"))));
        assert_eq!(norm(Some(&serde_json::json!({}))), None);
    }
}

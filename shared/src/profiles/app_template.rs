//! bjw-s app-template 4.1.1 (the `common` library chart 4.1.1): the chart that runs any
//! Deployment or StatefulSet, used for every workload no other profile claims.
//!
//! What this file relies on, read from the chart's templates (`charts/common/templates`):
//! - Every object is named after the release (`global.nameOverride` is set to the release name
//!   by app-template itself), unless an item sets `forceRename`; with more than one enabled item
//!   of a kind the name gets `-<identifier>` appended, unless the identifier already equals or
//!   ends the name. The selector is `app.kubernetes.io/{controller,name,instance}` =
//!   `<controller id>`, `<release>`, `<release>`; Services select the same labels.
//! - `controllers.<id>`: `type` (deployment by default), `replicas` (1 when absent),
//!   `strategy` — **Recreate** by default for a Deployment (Kubernetes: RollingUpdate) —,
//!   `rollingUpdate.{surge,unavailable,partition}` (a `0` is skipped as empty: it is written as
//!   the string `"0"`), `revisionHistoryLimit` — **3** by default (Kubernetes: 10) —,
//!   `labels`/`annotations` of the workload, `serviceAccount.name`, `statefulset.{serviceName,
//!   podManagementPolicy, persistentVolumeClaimRetentionPolicy, volumeClaimTemplates}`.
//! - `controllers.<id>.pod`: the pod spec fields by their Kubernetes names; `enableServiceLinks`
//!   is **false** by default (Kubernetes: true); `dnsPolicy` becomes `ClusterFirstWithHostNet`
//!   with `hostNetwork` (Kubernetes keeps `ClusterFirst`); `labels` override the chart's own pod
//!   labels on a clash (so they must never repeat a selector label).
//! - `containers.<name>` / `initContainers.<name>` are maps: the key is the container's name;
//!   order comes from `dependsOn`, else the key order, so init containers are chained.
//!   `image.repository` + `:` + `image.tag` is the image (no tag: no image at all). `env` values
//!   and `valueFrom`, probe specs, affinity and names are run through `tpl`: a literal `{{` in
//!   them is escaped. `envFrom` items keep only `name` and `prefix` (not `optional`). Probes
//!   render only when enabled; `custom: true` with `spec` renders the probe as written.
//! - `persistence.<name>` is the pod volume `<name>`: `existingClaim` (type persistentVolumeClaim),
//!   `emptyDir` (medium, sizeLimit), `configMap`/`secret` (name, defaultMode, items: no
//!   `optional`), `hostPath` (+ hostPathType), `nfs` (server, path: no readOnly), else `custom`
//!   with the whole `volumeSpec`. Mounts go to `advancedMounts.<controller>.<container>` (path,
//!   subPath, subPathExpr, readOnly, mountPropagation); without any mounts the chart would mount
//!   the volume into every container at `/<name>`.
//! - `service.<id>`: `controller`, `type`, `ports.<name>.{port, targetPort, protocol (TCP unless
//!   UDP/SCTP), nodePort, appProtocol}` (every port is named), `clusterIP`, `loadBalancerIP`,
//!   `loadBalancerSourceRanges`, `loadBalancerClass`, `externalName`, `internal/
//!   externalTrafficPolicy`, `allocateLoadBalancerNodePorts`, `sessionAffinity(Config)`,
//!   `externalIPs`, `publishNotReadyAddresses`, `ipFamilyPolicy`, `ipFamilies`, labels, annotations.
//! - The chart's `values.schema.json` points at remote schema files, so helm cannot check it
//!   offline: the render check passes `--skip-schema-validation` and helmigrate validates the
//!   values itself.

use serde_json::{Map, Value, json};

use super::common::{self, CHART_SETS};
use super::{Chart, ChartService, ChartWorkload, Profile, SourceKind};
use crate::mapping::{Level, Mapper, Values};
use crate::model::{App, Container, Mount, VolumeSource, WorkloadKind};
use crate::model::workload::compact;

pub struct AppTemplate;

const NAME: &str = "app-template";

/// Pod spec fields the chart exposes under `controllers.<id>.pod`, by the same name.
const POD_KEYS: [&str; 23] = [
    "affinity", "automountServiceAccountToken", "dnsConfig", "dnsPolicy", "enableServiceLinks", "hostAliases", "hostIPC",
    "hostNetwork", "hostPID", "hostUsers", "hostname", "imagePullSecrets", "nodeSelector", "priorityClassName", "resources",
    "restartPolicy", "runtimeClassName", "schedulerName", "securityContext", "shareProcessNamespace",
    "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints",
];
/// Container fields the chart writes out as given.
const CONTAINER_KEYS: [&str; 10] = [
    "command", "args", "workingDir", "securityContext", "lifecycle", "terminationMessagePath", "terminationMessagePolicy",
    "restartPolicy", "stdin", "tty",
];
/// Service spec fields the chart writes out as given.
const SERVICE_KEYS: [&str; 13] = [
    "clusterIP", "loadBalancerIP", "loadBalancerSourceRanges", "loadBalancerClass", "externalName", "internalTrafficPolicy",
    "externalTrafficPolicy", "allocateLoadBalancerNodePorts", "sessionAffinity", "sessionAffinityConfig", "externalIPs",
    "publishNotReadyAddresses", "ipFamilyPolicy",
];

/// A key of a values map as a path segment (`a.b` → `a\.b`).
fn key(s: &str) -> String {
    s.replace('.', "\\.")
}

/// A string the chart passes through `tpl`, kept literal: `{{` inside it would be run as a
/// template, so the whole text is wrapped in a raw-string action. Returns (text, escaped).
fn literal_for_tpl(s: &str) -> (String, bool) {
    if s.contains("{{") && !s.contains('`') { (format!("{{{{`{s}`}}}}"), true) } else { (s.to_string(), false) }
}

/// The same for every string inside a JSON value.
fn literal_tree(v: &mut Value) -> bool {
    match v {
        Value::String(s) => {
            let (t, e) = literal_for_tpl(s);
            *s = t;
            e
        }
        Value::Array(a) => a.iter_mut().fold(false, |acc, x| literal_tree(x) | acc),
        Value::Object(m) => m.values_mut().fold(false, |acc, x| literal_tree(x) | acc),
        _ => false,
    }
}

/// The single controller of values written by this profile: (id, its values).
fn controller(values: &Values) -> Option<(String, &Map<String, Value>)> {
    let (id, v) = values.get("controllers").and_then(Value::as_object)?.iter().next()?;
    Some((id.clone(), v.as_object()?))
}

/// The name the chart gives an item of a kind with `count` enabled items.
fn item_name(release: &str, id: &str, item: Option<&Map<String, Value>>, count: usize) -> String {
    if let Some(n) = item.and_then(|i| i.get("forceRename")).and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return n.to_lowercase();
    }
    let name = if count > 1 && id != release && !release.ends_with(&format!("-{id}")) { format!("{release}-{id}") } else { release.to_string() };
    name.to_lowercase()
}

impl Profile for AppTemplate {
    fn chart(&self) -> Chart {
        Chart {
            name: NAME,
            version: "4.1.1",
            repository: "https://bjw-s-labs.github.io/helm-charts/",
            oci: Some("oci://ghcr.io/bjw-s-labs/helm/app-template"),
            source: SourceKind::OciRepository,
            source_name: NAME,
        }
    }

    fn detects(&self, _image: &crate::model::Image) -> bool {
        false
    }

    fn generic(&self) -> bool {
        true
    }

    fn services(&self, release: &str, values: &Values) -> Vec<ChartService> {
        let Some(services) = values.get("service").and_then(Value::as_object) else { return Vec::new() };
        let enabled: Vec<(&String, &Map<String, Value>)> = services.iter()
            .filter_map(|(id, s)| Some((id, s.as_object()?)))
            .filter(|(_, s)| s.get("enabled") != Some(&Value::Bool(false)))
            .collect();
        enabled.iter().map(|(id, s)| ChartService {
            name: item_name(release, id, Some(s), enabled.len()),
            ports: s.get("ports").and_then(Value::as_object).into_iter().flatten()
                .filter_map(|(_, p)| p.get("port").and_then(Value::as_i64)).collect(),
        }).collect()
    }

    fn workload(&self, release: &str, values: &Values) -> ChartWorkload {
        let (id, c) = controller(values).map_or_else(|| (release.to_string(), None), |(id, c)| (id, Some(c)));
        let kind = if c.and_then(|c| c.get("type")).and_then(Value::as_str) == Some("statefulset") { WorkloadKind::StatefulSet } else { WorkloadKind::Deployment };
        ChartWorkload {
            kind,
            name: item_name(release, &id, c, 1),
            selector: vec![
                ("app.kubernetes.io/controller".into(), id),
                ("app.kubernetes.io/instance".into(), release.into()),
                ("app.kubernetes.io/name".into(), release.into()),
            ],
        }
    }

    fn chart_pod_labels(&self, release: &str, values: &Values) -> Vec<(&'static str, Option<String>)> {
        let id = controller(values).map_or_else(|| release.to_string(), |(id, _)| id);
        vec![
            ("app.kubernetes.io/controller", Some(id)),
            ("app.kubernetes.io/instance", Some(release.to_string())),
            ("app.kubernetes.io/name", Some(release.to_string())),
        ]
    }

    fn pod_labels_path(&self, release: &str, values: &Values) -> String {
        let id = controller(values).map_or_else(|| release.to_string(), |(id, _)| id);
        format!("controllers.{}.pod.labels", key(&id))
    }

    fn values_schema(&self) -> Option<&'static crate::schema::ChartSchema> {
        Some(&crate::schema::APP_TEMPLATE_4_1_1)
    }

    fn render_args(&self) -> &'static [&'static str] {
        &["--skip-schema-validation"]
    }

    fn verify_probes(&self, values: &Value) -> Vec<(String, String)> {
        // The app's own HTTP readiness (else liveness) probe path, on its main Service.
        let containers = values.pointer("/controllers").and_then(Value::as_object).into_iter().flatten()
            .filter_map(|(_, c)| c.get("containers")?.as_object()).flatten();
        for (_, c) in containers {
            for p in ["readiness", "liveness", "startup"] {
                if let Some(path) = c.pointer(&format!("/probes/{p}/spec/httpGet/path")).and_then(Value::as_str) {
                    return vec![(String::new(), path.to_string())];
                }
            }
        }
        Vec::new()
    }

    fn map(&self, release: &str, app: &mut App, m: &mut Mapper) {
        let id = app.workload.name.clone();
        let ctl = format!("controllers.{}", key(&id));
        workload_spec(m, app, &ctl);
        pod_spec(m, app, &ctl, release);
        let main = app.workload.containers.first().map(|c| c.name.clone()).unwrap_or_default();
        persistence(m, app, &id);
        for (list, what) in [(std::mem::take(&mut app.workload.containers), "containers"), (std::mem::take(&mut app.workload.init_containers), "initContainers")] {
            let mut previous: Option<String> = None;
            for mut c in list {
                let field = |f: &str| if what == "containers" && c.name == main { f.to_string() } else { format!("{} {} {f}", &what[..what.len() - 1], c.name) };
                let path = format!("{ctl}.{what}.{}", key(&c.name));
                let prefix = field("");
                container(m, &mut c, &path, prefix.trim_end());
                // Init containers run one after the other, in the order written: the chart
                // orders its map by `dependsOn`, so each one names the one before it.
                if what == "initContainers" {
                    if let Some(prev) = &previous {
                        m.map_why(format!("initContainer {} order", c.name), &format!("{path}.dependsOn"), prev.clone(), "init containers run in the order written");
                    }
                    previous = Some(c.name.clone());
                }
                m.leftover_container(&c, NAME);
            }
        }
        services(m, app, release, &id);
    }
}

/// The workload object: kind, replicas, strategy, history, StatefulSet settings, metadata.
fn workload_spec(m: &mut Mapper, app: &mut App, ctl: &str) {
    let w = &mut app.workload;
    let sts = w.kind == WorkloadKind::StatefulSet;
    if sts {
        m.map("kind", &format!("{ctl}.type"), "statefulset");
    } else {
        m.record("kind", "Deployment", &format!("{ctl}.type"), "the chart's default controller type");
    }
    if let Some(r) = w.spec.remove("replicas") {
        m.map("spec.replicas", &format!("{ctl}.replicas"), r);
    }
    if let Some(h) = w.spec.remove("revisionHistoryLimit") {
        m.map("spec.revisionHistoryLimit", &format!("{ctl}.revisionHistoryLimit"), h);
    } else {
        m.defaulted(&format!("{ctl}.revisionHistoryLimit"), 10, "Kubernetes' default; the chart would keep 3");
    }
    let strategy_key = if sts { "updateStrategy" } else { "strategy" };
    match w.spec.remove(strategy_key) {
        Some(s) => {
            let kind = s.get("type").and_then(Value::as_str).unwrap_or("RollingUpdate").to_string();
            m.map(format!("spec.{strategy_key}.type"), &format!("{ctl}.strategy"), kind);
            for (field, to) in [("maxSurge", "surge"), ("maxUnavailable", "unavailable"), ("partition", "partition")] {
                let Some(v) = s.pointer(&format!("/rollingUpdate/{field}")) else { continue };
                if sts && field == "maxUnavailable" {
                    m.drop(format!("spec.{strategy_key}.rollingUpdate.{field}"), compact(v), "the chart's StatefulSet takes only a partition");
                    continue;
                }
                // The chart skips a 0 as empty; a string "0" renders as 0.
                let v = if v.as_i64() == Some(0) && field != "partition" { Value::from("0") } else { v.clone() };
                m.map(format!("spec.{strategy_key}.rollingUpdate.{field}"), &format!("{ctl}.rollingUpdate.{to}"), v);
            }
        }
        None if !sts => m.defaulted(&format!("{ctl}.strategy"), "RollingUpdate", "Kubernetes' default; the chart would use Recreate"),
        None => {}
    }
    if sts {
        for (field, path) in [("serviceName", "serviceName"), ("podManagementPolicy", "podManagementPolicy"),
                              ("persistentVolumeClaimRetentionPolicy", "persistentVolumeClaimRetentionPolicy")] {
            if let Some(v) = w.spec.remove(field) {
                m.map(format!("spec.{field}"), &format!("{ctl}.statefulset.{path}"), v);
            }
        }
    }
    for (what, from) in [("labels", std::mem::take(&mut w.labels)), ("annotations", std::mem::take(&mut w.annotations))] {
        for (k, v) in from {
            let mut v = v;
            literal_tree(&mut v);
            m.map(format!("{} {k}", &what[..what.len() - 1]), &format!("{ctl}.{what}.{}", key(&k)), v);
        }
    }
}

/// Pod spec fields, ServiceAccount, pod labels and annotations, and the chart's own defaults
/// that differ from Kubernetes'.
fn pod_spec(m: &mut Mapper, app: &mut App, ctl: &str, release: &str) {
    let w = &mut app.workload;
    let pod = format!("{ctl}.pod");
    let host_network = w.pod.get("hostNetwork") == Some(&Value::Bool(true));
    if !w.pod.contains_key("enableServiceLinks") {
        m.defaulted(&format!("{pod}.enableServiceLinks"), true, "Kubernetes' default; the chart would turn service links off");
    }
    if host_network && !w.pod.contains_key("dnsPolicy") {
        m.defaulted(&format!("{pod}.dnsPolicy"), "ClusterFirst", "Kubernetes' default; with hostNetwork the chart would use ClusterFirstWithHostNet");
    }
    w.pod.remove("serviceAccount"); // deprecated alias of serviceAccountName
    match w.pod.remove("serviceAccountName") {
        Some(sa) if sa != "default" => m.map("pod serviceAccountName", &format!("{ctl}.serviceAccount.name"), sa),
        Some(sa) => m.record("pod serviceAccountName", compact(&sa), &format!("{ctl}.serviceAccount.name"), "the chart's default"),
        None => {}
    }
    for k in POD_KEYS {
        if let Some(mut v) = w.pod.remove(k) {
            if matches!(k, "affinity" | "topologySpreadConstraints") {
                literal_tree(&mut v);
            }
            m.map(format!("pod {k}"), &format!("{pod}.{k}"), v);
        }
    }
    let values = Values { root: m.values.root.clone(), comments: Default::default() };
    let chart_labels = AppTemplate.chart_pod_labels(release, &values);
    common::pod_metadata(m, w, &format!("{pod}.labels"), &format!("{pod}.annotations"), &chart_labels);
    m.chart_default(CHART_SETS, "pod labels app.kubernetes.io/controller, name, instance", "the chart's selector labels, on its pods and in its Services' selectors");
}

/// One container: image, env, envFrom, ports, probes, resources and the plain fields.
/// `field` prefixes ledger names for every container but the main one.
fn container(m: &mut Mapper, c: &mut Container, path: &str, field: &str) {
    let f = |s: &str| if field.is_empty() { s.to_string() } else { format!("{field} {s}") };
    // image: repository `:` tag; a digest-only reference keeps its exact text split at its `:`.
    let img = c.image.clone();
    match img.tag.as_deref() {
        Some(t) if t.starts_with('@') => {
            let (alg, hex) = t[1..].split_once(':').unwrap_or((&t[1..], ""));
            m.map_why(f("image"), &format!("{path}.image.repository"), format!("{}@{alg}", img.repository), "the chart joins repository and tag with `:`; a digest-only image is split at the digest's `:`");
            m.map_why(f("image"), &format!("{path}.image.tag"), hex.to_string(), "the chart joins repository and tag with `:`");
        }
        Some(t) => {
            m.map(f("image"), &format!("{path}.image.repository"), img.repository.clone());
            m.map(f("image tag"), &format!("{path}.image.tag"), t.to_string());
        }
        None => {
            m.map(f("image"), &format!("{path}.image.repository"), img.repository.clone());
            m.map_why(f("image tag"), &format!("{path}.image.tag"), "latest", "no tag in the old image means `latest`; the chart renders no image without a tag");
        }
    }
    if let Some(policy) = &img.policy {
        let base = policy.trim_end_matches(":tag").trim_end_matches(":name");
        m.values.comment(&format!("{path}.image.repository"), format!("{{\"$imagepolicy\": \"{base}:name\"}}"));
        m.values.comment(&format!("{path}.image.tag"), format!("{{\"$imagepolicy\": \"{base}:tag\"}}"));
        m.record(f("image automation marker"), policy.clone(), &format!("{path}.image.tag"), "Flux image automation keeps updating the tag");
    }
    if let Some(p) = c.rest.remove("imagePullPolicy") {
        m.map(f("imagePullPolicy"), &format!("{path}.image.pullPolicy"), p);
    }

    for e in std::mem::take(&mut c.env) {
        let shown = e.describe();
        let mut v = e.to_k8s();
        let escaped = v.get_mut("value").map(literal_tree).unwrap_or(false) | v.get_mut("valueFrom").map(literal_tree).unwrap_or(false);
        m.values.push(&format!("{path}.env"), v);
        m.record(f(&format!("env {}", e.name)), shown, &format!("{path}.env"),
            if escaped { "the chart runs env values through tpl: the literal `{{` is escaped" } else { "" });
    }
    if let Some(Value::Array(list)) = c.rest.remove("envFrom") {
        for item in list {
            let (kind, name) = match (item.pointer("/configMapRef/name"), item.pointer("/secretRef/name")) {
                (Some(n), _) => ("configMapRef", n.clone()),
                (_, Some(n)) => ("secretRef", n.clone()),
                _ => {
                    m.drop(f("envFrom"), compact(&item), "the chart takes only configMapRef and secretRef sources");
                    continue;
                }
            };
            let mut out = json!({ kind: { "name": name } });
            if let Some(p) = item.get("prefix") {
                out["prefix"] = p.clone();
            }
            let shown = format!("{} {}", if kind == "configMapRef" { "configmap" } else { "secret" }, name.as_str().unwrap_or_default());
            m.values.push(&format!("{path}.envFrom"), out);
            m.record(f(&format!("envFrom {shown}")), shown.clone(), &format!("{path}.envFrom"), "");
            if let Some(o) = item.pointer(&format!("/{kind}/optional")) {
                m.drop(f(&format!("envFrom {shown} optional")), compact(o), "the chart's envFrom has no `optional`: the pod now needs the source to exist");
            }
        }
    }
    if !c.ports.is_empty() {
        let ports: Vec<Value> = std::mem::take(&mut c.ports).iter().map(|p| {
            m.record(f(&format!("port {}", p.name.as_deref().unwrap_or("-"))), p.container_port.to_string(), &format!("{path}.ports"), "");
            let mut o = json!({ "containerPort": p.container_port });
            if let Some(n) = &p.name {
                o["name"] = json!(n);
            }
            if let Some(pr) = &p.protocol {
                o["protocol"] = json!(pr);
            }
            o
        }).collect();
        m.values.set(&format!("{path}.ports"), Value::Array(ports));
    }
    for (k, probe) in [("livenessProbe", "liveness"), ("readinessProbe", "readiness"), ("startupProbe", "startup")] {
        if let Some(mut spec) = c.rest.remove(k) {
            literal_tree(&mut spec);
            m.map_why(f(&format!("{k} enabled")), &format!("{path}.probes.{probe}.enabled"), true, "the probe as written (custom)");
            m.map(f(&format!("{k} custom")), &format!("{path}.probes.{probe}.custom"), true);
            m.map(f(k), &format!("{path}.probes.{probe}.spec"), spec);
        }
    }
    for (which, list) in [("requests", std::mem::take(&mut c.requests)), ("limits", std::mem::take(&mut c.limits))] {
        for (k, v) in list {
            // A whole-number quantity as a number, however it was read: the apiserver serves
            // `1` as "1", a file may say either.
            let v = match v.as_str().filter(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) && (q.len() == 1 || !q.starts_with('0'))) {
                Some(q) => q.parse::<i64>().map_or(v.clone(), Value::from),
                None => v,
            };
            m.map(f(&format!("resources.{which}.{k}")), &format!("{path}.resources.{which}.{}", key(&k)), v);
        }
    }
    for k in CONTAINER_KEYS {
        if let Some(v) = c.rest.remove(k) {
            m.map(f(k), &format!("{path}.{k}"), v);
        }
    }
}

/// Every pod volume as a `persistence` item named like it, mounted where each container
/// mounted it; StatefulSet claim templates as the claims that exist.
fn persistence(m: &mut Mapper, app: &mut App, id: &str) {
    let workload_name = app.workload.name.clone();
    let w = &mut app.workload;
    let replicas = w.spec.get("replicas").and_then(Value::as_i64).or_else(|| m.values.get(&format!("controllers.{}.replicas", key(id))).and_then(Value::as_i64)).unwrap_or(1);
    let main = w.containers.first().map(|c| c.name.clone()).unwrap_or_default();
    for v in std::mem::take(&mut w.volumes) {
        let base = format!("persistence.{}", key(&v.name));
        let field = format!("volume {}", v.name);
        // The mounts of this volume, per container.
        let mut mounts: Vec<(String, String, Mount)> = Vec::new();
        for (what, list) in [("container", &mut w.containers), ("initContainer", &mut w.init_containers)] {
            for c in list.iter_mut() {
                let (mine, rest): (Vec<Mount>, Vec<Mount>) = std::mem::take(&mut c.mounts).into_iter().partition(|mt| mt.volume == v.name);
                c.mounts = rest;
                let prefix = if what == "container" && c.name == main { String::new() } else { format!("{what} {} ", c.name) };
                mounts.extend(mine.into_iter().map(|mt| (c.name.clone(), prefix.clone(), mt)));
            }
        }
        if mounts.is_empty() {
            m.drop(field, compact(&v.to_k8s()), "no container mounts it; the chart would mount it into every container");
            continue;
        }
        let template = match &v.source {
            VolumeSource::ClaimTemplate { template, spec } if replicas > 1 => Some((template.clone(), spec.clone())),
            _ => None,
        };
        let mount_root = match &template {
            Some(_) => None,
            None => {
                volume_source(m, &v, &base, &field, &workload_name, replicas);
                Some(format!("{base}.advancedMounts.{}", key(id)))
            }
        };
        let mut vct_mounts = Map::new();
        for (container, prefix, mt) in mounts {
            let mut o = json!({ "path": mt.path });
            if let Some(sp) = &mt.sub_path {
                o["subPath"] = json!(sp);
            }
            if mt.read_only {
                o["readOnly"] = json!(true);
            }
            for (k, val) in &mt.rest {
                if matches!(k.as_str(), "subPathExpr" | "mountPropagation") {
                    o[k.as_str()] = val.clone();
                } else {
                    m.drop(format!("{prefix}volumeMount {} {k}", mt.path), compact(val), "the chart's mounts take path, subPath, subPathExpr, readOnly and mountPropagation");
                }
            }
            match &mount_root {
                Some(root) => {
                    let path = format!("{root}.{}", key(&container));
                    m.values.push(&path, o);
                    m.record(format!("{prefix}volumeMount {}", mt.path), mt.volume.clone(), &path, "");
                }
                None => {
                    let list = vct_mounts.entry(container.clone()).or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = list {
                        a.push(o);
                    }
                    m.record(format!("{prefix}volumeMount {}", mt.path), mt.volume.clone(), &format!("controllers.{}.statefulset.volumeClaimTemplates", key(id)), "");
                }
            }
        }
        if let Some((name, spec)) = template {
            claim_template(m, &name, &spec, vct_mounts, id, replicas);
        }
    }
}

/// A StatefulSet with more than one replica keeps its claim templates: the new StatefulSet of
/// the same name finds each pod's existing claim `<template>-<name>-<ordinal>` again.
fn claim_template(m: &mut Mapper, name: &str, spec: &Value, mounts: Map<String, Value>, id: &str, replicas: i64) {
    let field = format!("volumeClaimTemplate {name}");
    let mut t = json!({ "name": name, "advancedMounts": mounts });
    let modes = spec.get("accessModes").and_then(Value::as_array).cloned().unwrap_or_default();
    match modes.as_slice() {
        [one] => t["accessMode"] = one.clone(),
        [] => {}
        [first, rest @ ..] => {
            t["accessMode"] = first.clone();
            m.drop(format!("{field} accessModes"), compact(&Value::Array(rest.to_vec())), "the chart's claim template takes one access mode (the claims that exist keep theirs)");
        }
    }
    match spec.pointer("/resources/requests/storage") {
        Some(s) => t["size"] = Value::String(s.as_str().map_or_else(|| s.to_string(), str::to_string)),
        None => m.warn(Level::Blocking, format!("volumeClaimTemplate {name} has no storage request, which the chart requires")),
    }
    if let Some(sc) = spec.get("storageClassName").and_then(Value::as_str) {
        t["storageClass"] = json!(if sc.is_empty() { "-" } else { sc });
    }
    for k in ["dataSource", "dataSourceRef"] {
        if let Some(v) = spec.get(k) {
            t[k] = v.clone();
        }
    }
    for (k, v) in spec.as_object().into_iter().flatten() {
        if !matches!(k.as_str(), "accessModes" | "resources" | "storageClassName" | "dataSource" | "dataSourceRef") {
            m.drop(format!("{field} {k}"), compact(v), "the chart's claim template has no such field; the claims that exist keep it");
        }
    }
    m.values.push(&format!("controllers.{}.statefulset.volumeClaimTemplates", key(id)), t);
    m.record(field, name.to_string(), &format!("controllers.{}.statefulset.volumeClaimTemplates", key(id)),
        format!("{replicas} replicas: each pod keeps its own claim {name}-<statefulset>-<ordinal>"));
}

/// The volume's source as a persistence item of the matching type, or `custom` when the typed
/// form cannot carry every field.
fn volume_source(m: &mut Mapper, v: &crate::model::Volume, base: &str, field: &str, workload: &str, replicas: i64) {
    let custom = |m: &mut Mapper, why: &str| {
        let mut spec = v.to_k8s();
        if let Some(o) = spec.as_object_mut() {
            o.remove("name");
        }
        m.map(field, &format!("{base}.type"), "custom");
        m.map_why(field, &format!("{base}.volumeSpec"), spec, why);
    };
    match &v.source {
        VolumeSource::Claim { claim, read_only: false } => m.map(field, &format!("{base}.existingClaim"), claim.clone()),
        VolumeSource::Claim { .. } => custom(m, "a read-only claim: the chart's persistentVolumeClaim type has no readOnly"),
        VolumeSource::ClaimTemplate { template, .. } => {
            let why = if replicas <= 1 { "created by the StatefulSet controller, not in Git: the chart mounts it as it is" } else { "" };
            m.map_why(format!("volumeClaimTemplate {template}"), &format!("{base}.existingClaim"), format!("{template}-{workload}-0"), why);
        }
        VolumeSource::EmptyDir { spec } => {
            let extra = spec.as_object().is_some_and(|o| o.keys().any(|k| k != "medium" && k != "sizeLimit"));
            if extra {
                return custom(m, "an emptyDir with fields the chart's emptyDir type does not take");
            }
            m.map(field, &format!("{base}.type"), "emptyDir");
            for k in ["medium", "sizeLimit"] {
                if let Some(x) = spec.get(k) {
                    m.map(field, &format!("{base}.{k}"), x.clone());
                }
            }
        }
        VolumeSource::Other { volume } => {
            let typed = |kind: &str, name_key: &str, allowed: &[&str]| -> Option<Map<String, Value>> {
                let src = volume.get(kind)?.as_object()?;
                src.keys().all(|k| k == name_key || allowed.contains(&k.as_str())).then(|| src.clone())
            };
            if let Some(src) = typed("configMap", "name", &["defaultMode", "items"]).or_else(|| typed("secret", "secretName", &["defaultMode", "items"])) {
                let kind = if volume.get("configMap").is_some() { "configMap" } else { "secret" };
                m.map(field, &format!("{base}.type"), kind);
                for (k, x) in src {
                    let to = if k == "secretName" { "name".to_string() } else { k };
                    m.map(field, &format!("{base}.{to}"), x);
                }
            } else if let Some(src) = typed("hostPath", "path", &["type"]) {
                m.map(field, &format!("{base}.type"), "hostPath");
                for (k, x) in src {
                    m.map(field, &format!("{base}.{}", if k == "path" { "hostPath" } else { "hostPathType" }), x);
                }
            } else if let Some(src) = typed("nfs", "server", &["path"]) {
                m.map(field, &format!("{base}.type"), "nfs");
                for (k, x) in src {
                    m.map(field, &format!("{base}.{k}"), x);
                }
            } else {
                custom(m, "the volume as written (custom)");
            }
        }
    }
}

/// Every Service selecting the pods, under its own name and ports.
fn services(m: &mut Mapper, app: &App, release: &str, id: &str) {
    let count = app.services.len();
    for svc in &app.services {
        let sid = svc.name.clone();
        let base = format!("service.{}", key(&sid));
        let field = format!("service {}", svc.name);
        m.map_why(field.clone(), &format!("{base}.controller"), id.to_string(), "the chart's Service selects this controller's pods");
        let default = item_name(release, &sid, None, count);
        if default != svc.name {
            m.map_why(field.clone(), &format!("{base}.forceRename"), svc.name.clone(), "keeps the Service name that clients use");
        }
        if let Some(t) = &svc.service_type {
            m.map(format!("{field} type"), &format!("{base}.type"), t.clone());
        }
        for (i, p) in svc.ports.iter().enumerate() {
            let pname = p.name.clone().unwrap_or_else(|| if count == 1 && svc.ports.len() == 1 { "http".into() } else { format!("port-{}", p.port) });
            let pbase = format!("{base}.ports.{}", key(&pname));
            let pfield = if i == 0 { format!("{field} port") } else { format!("{field} port {}", p.name.as_deref().unwrap_or("-")) };
            m.map(pfield.clone(), &format!("{pbase}.port"), p.port);
            if p.name.is_none() {
                m.record(pfield.clone(), pname.clone(), &pbase, "the chart names every port");
            }
            match &p.target_port {
                Some(t) if t.as_i64() != Some(p.port) => m.map(format!("{pfield} targetPort"), &format!("{pbase}.targetPort"), t.clone()),
                _ => {}
            }
            if let Some(pr) = p.protocol.as_deref().filter(|pr| *pr != "TCP") {
                m.map(format!("{pfield} protocol"), &format!("{pbase}.protocol"), pr);
            }
            if let Some(np) = p.node_port {
                m.map(format!("{pfield} nodePort"), &format!("{pbase}.nodePort"), np);
            }
            if let Some(ap) = &p.app_protocol {
                m.map(format!("{pfield} appProtocol"), &format!("{pbase}.appProtocol"), ap.clone());
            }
        }
        for (what, map) in [("annotations", &svc.annotations), ("labels", &svc.labels)] {
            for (k, v) in map {
                let mut v = v.clone();
                literal_tree(&mut v);
                m.map(format!("{field} {} {k}", &what[..what.len() - 1]), &format!("{base}.{what}.{}", key(k)), v);
            }
        }
        for (k, v) in &svc.rest {
            if SERVICE_KEYS.contains(&k.as_str()) || k == "ipFamilies" {
                m.map(format!("{field} {k}"), &format!("{base}.{k}"), v.clone());
            } else {
                m.drop(format!("{field} {k}"), compact(v), "the chart's Service has no such field");
            }
        }
        m.chart_default(CHART_SETS, format!("service {} label app.kubernetes.io/service", svc.name), "the chart labels each Service with its name");
    }
}

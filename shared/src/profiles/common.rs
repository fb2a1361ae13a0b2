//! Mapping steps several charts share. Each step *takes* fields off the model.

use serde_json::{Map, Value};

use crate::model::{Container, EnvSource, VolumeSource, Workload};
use crate::mapping::{Level, Mapper};

/// The ledger's "chart value" for what a chart adds on its own, whatever the values say (no
/// values path to overlap, so it explains no other row of the render check).
pub const CHART_SETS: &str = "(set by the chart)";

/// Take the container this profile deploys out of the workload.
pub fn take_main(w: &mut Workload, detects: impl Fn(&crate::model::Image) -> bool) -> Container {
    let i = w.containers.iter().position(|c| detects(&c.image)).unwrap_or(0);
    w.containers.remove(i)
}

/// image.repository / image.tag / image.pullPolicy, carrying a Flux image-automation marker.
pub fn image(m: &mut Mapper, c: &mut Container, prefix: &str) {
    let img = &c.image;
    m.map("image", &format!("{prefix}.repository"), img.repository.clone());
    let tag = img.tag.clone().unwrap_or_else(|| "latest".into());
    if img.tag.is_some() {
        m.map("image tag", &format!("{prefix}.tag"), tag);
    } else {
        m.map_why("image tag", &format!("{prefix}.tag"), tag, "no tag in the old image means `latest`; pinned explicitly so the chart's appVersion is not used");
    }
    if let Some(policy) = &img.policy {
        // A whole-image marker becomes a name marker and a tag marker on the split fields.
        let base = policy.trim_end_matches(":tag").trim_end_matches(":name");
        m.values.comment(&format!("{prefix}.repository"), format!("{{\"$imagepolicy\": \"{base}:name\"}}"));
        m.values.comment(&format!("{prefix}.tag"), format!("{{\"$imagepolicy\": \"{base}:tag\"}}"));
        m.record("image automation marker", policy.clone(), &format!("{prefix}.tag"), "Flux image automation keeps updating the tag");
    }
    if let Some(p) = c.rest.remove("imagePullPolicy") {
        m.map("imagePullPolicy", &format!("{prefix}.pullPolicy"), p);
    }
}

/// Take a GPU limit (nvidia.com/*, amd.com/gpu) off the container: (resource name, count).
pub fn take_gpu(c: &mut Container) -> Option<(String, Value)> {
    let key = c.limits.keys().find(|k| k.starts_with("nvidia.com/") || *k == "amd.com/gpu")?.clone();
    let n = c.limits.remove(&key)?;
    // Extended resources must have requests == limits; Kubernetes fills the request in itself.
    if c.requests.get(&key) == Some(&n) {
        c.requests.remove(&key);
    }
    // A count: the apiserver serves quantities as strings ("1"); the chart wants a number.
    let n = n.as_str().and_then(|s| s.parse::<i64>().ok()).map_or(n, Value::from);
    Some((key, n))
}

/// requests/limits as one `resources` object.
pub fn resources(m: &mut Mapper, c: &mut Container, path: &str) {
    let mut r = Map::new();
    for (which, list) in [("requests", std::mem::take(&mut c.requests)), ("limits", std::mem::take(&mut c.limits))] {
        if list.is_empty() {
            continue;
        }
        for (k, v) in &list {
            m.record(format!("resources.{which}.{k}"), quantity(v), &format!("{path}.{which}.{}", k.replace('.', "\\.")), "");
        }
        r.insert(which.into(), Value::Object(list));
    }
    if !r.is_empty() {
        m.values.set(path, Value::Object(r));
    }
}

fn quantity(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Move pod-spec keys that the chart exposes under the same meaning.
pub fn pod_keys(m: &mut Mapper, w: &mut Workload, keys: &[(&str, &str)]) {
    for (field, path) in keys {
        if let Some(v) = w.pod.remove(*field) {
            m.map(format!("pod {field}"), path, v);
        }
    }
}

/// Move container keys that the chart exposes under the same meaning.
pub fn container_keys(m: &mut Mapper, c: &mut Container, keys: &[(&str, &str)]) {
    for (field, path) in keys {
        if let Some(v) = c.rest.remove(*field) {
            m.map(*field, path, v);
        }
    }
}

/// Pod template labels and annotations, kept so NetworkPolicies and tooling keep matching. A
/// label the chart puts on the pods itself (`chart_labels`, from the profile) is never repeated in
/// `labels`: that is a duplicate key in the pod template, and a different value would take the
/// pods out of the chart's own selector.
pub fn pod_metadata(m: &mut Mapper, w: &mut Workload, labels: &str, annotations: &str, chart_labels: &[(&str, Option<String>)]) {
    for (field, from, path) in [("pod label", &mut w.pod_labels, labels), ("pod annotation", &mut w.pod_annotations, annotations)] {
        for (k, v) in std::mem::take(from) {
            let field = format!("{field} {k}");
            match chart_labels.iter().find(|(c, _)| *c == k && field.starts_with("pod label ")) {
                Some((_, Some(chart))) if v.as_str() == Some(chart.as_str()) =>
                    m.record(field, format!("{v}"), "-", "the chart sets it itself, to the same value"),
                Some((_, chart)) => m.drop(field, format!("{v}"),
                    format!("the chart sets it itself{}", chart.as_ref().map(|c| format!(" (to {c:?})")).unwrap_or_default())),
                None => m.map(field, &format!("{path}.{}", k.replace('.', "\\.")), v),
            }
        }
    }
}

/// Env entries as a list of EnvVar with string values (charts copy lists verbatim and do not
/// quote: a bare `2` would fail Kubernetes validation).
pub fn env_list(m: &mut Mapper, envs: Vec<crate::model::Env>, path: &str) {
    for e in envs {
        let shown = e.describe();
        m.values.push(path, e.to_k8s());
        m.record(format!("env {}", e.name), shown, path, "");
    }
}

/// Replicas, kept only when not 1 (the charts' default) or when explicitly 0.
pub fn replicas(m: &mut Mapper, w: &mut Workload, path: &str) {
    if let Some(r) = w.spec.remove("replicas") {
        if r.as_i64().is_some_and(|n| n > 1) {
            m.warn(Level::Warning, format!("{} runs {r} replicas: check the chart's volume access mode allows that", w.name));
        }
        m.map("spec.replicas", path, r);
    }
}

/// ServiceAccount: an explicit one is reused (returns true); otherwise the profile decides.
pub fn service_account(m: &mut Mapper, w: &mut Workload, create: &str, name: &str) -> bool {
    w.pod.remove("serviceAccount"); // deprecated alias of serviceAccountName
    match w.pod.remove("serviceAccountName") {
        Some(sa) if sa != "default" => {
            m.map("pod serviceAccountName", name, sa);
            m.defaulted(create, false, "the old workload used an existing ServiceAccount");
            true
        }
        _ => false,
    }
}

/// The pod's volumes that a container's leftover mounts use, as extra chart volumes.
pub fn extra_volumes(m: &mut Mapper, w: &mut Workload, c: &mut Container, volumes: &str, mounts: &str) {
    for mount in std::mem::take(&mut c.mounts) {
        if let Some(i) = w.volumes.iter().position(|v| v.name == mount.volume) {
            let v = w.volumes.remove(i);
            m.values.push(volumes, v.to_k8s());
            m.record(format!("volume {}", v.name), crate::model::workload::compact(&v.to_k8s()), volumes, "");
        }
        m.values.push(mounts, mount.to_k8s());
        m.record(format!("volumeMount {}", mount.path), mount.volume.clone(), mounts, "");
    }
}

/// Is this env value, read the way the app reads booleans, true?
pub fn truthy(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The literal value of an env entry, if it has one.
pub fn literal(source: &EnvSource) -> Option<&str> {
    match source {
        EnvSource::Value { value } => Some(value),
        _ => None,
    }
}

/// Port (when not the chart's `default_port`), type, annotations, labels and nodePort of the
/// old Service, for charts with a flat `service` block. A label the chart puts on its Service
/// itself (`chart_labels`, from the profile) is not repeated in `labels`: helm would render the
/// key twice, and the manifest does not install.
pub fn service_extras(m: &mut Mapper, svc: &crate::model::Service, prefix: &str, default_port: i64, chart_labels: &[(&str, Option<String>)]) {
    if let Some(p) = svc.ports.first() {
        let field = format!("service {} port", svc.name);
        if p.port != default_port {
            m.map(field, &format!("{prefix}.port"), p.port);
        } else {
            m.record(field, p.port.to_string(), &format!("{prefix}.port"), "chart default");
        }
    }
    if let Some(t) = &svc.service_type {
        m.map(format!("service {} type", svc.name), &format!("{prefix}.type"), t.clone());
    }
    for (what, map) in [("annotations", &svc.annotations), ("labels", &svc.labels)] {
        let mut map = map.clone();
        if what == "labels" {
            for (k, chart) in chart_labels {
                let Some(v) = map.remove(*k) else { continue };
                let field = format!("service {} label {k}", svc.name);
                match chart {
                    Some(c) if v.as_str() == Some(c.as_str()) => m.record(field, format!("{v}"), "-", "the chart sets it itself, to the same value"),
                    _ => m.drop(field, format!("{v}"), format!("the chart sets it itself{}", chart.as_ref().map(|c| format!(" (to {c:?})")).unwrap_or_default())),
                }
            }
        }
        if !map.is_empty() {
            m.map(format!("service {} {what}", svc.name), &format!("{prefix}.{what}"), Value::Object(map));
        }
    }
    if let Some(np) = svc.ports.first().and_then(|p| p.node_port) {
        m.map(format!("service {} nodePort", svc.name), &format!("{prefix}.nodePort"), np);
    }
    for p in svc.ports.iter().skip(1) {
        m.drop(format!("service {} port {}", svc.name, p.name.as_deref().unwrap_or("-")), p.port.to_string(), "the chart's Service has one port");
    }
    for (k, v) in &svc.rest {
        m.drop(format!("service {} {k}", svc.name), crate::model::workload::compact(v), "the chart's Service has no value for it");
    }
}

/// Init containers copied whole into the chart's list of extra init containers (`path`). Their
/// mounts must name the pod's volumes as the chart renders them: the data volume under the
/// chart's name (`renames`: old name → chart's), any other volume carried into the chart's extra
/// volumes (`volumes`) unless the main container's mounts already carried it.
pub fn init_containers(m: &mut Mapper, w: &mut Workload, path: &str, volumes: &str, renames: &[(String, &str)]) {
    for mut ic in std::mem::take(&mut w.init_containers) {
        for mt in &mut ic.mounts {
            if let Some((_, to)) = renames.iter().find(|(from, _)| *from == mt.volume) {
                m.record(format!("initContainer {} volumeMount {}", ic.name, mt.path), mt.volume.clone(), path,
                    format!("the chart names the volume {to}; the init container mounts it under that name"));
                mt.volume = (*to).to_string();
            } else if let Some(i) = w.volumes.iter().position(|v| v.name == mt.volume) {
                let v = w.volumes.remove(i);
                m.values.push(volumes, v.to_k8s());
                m.record(format!("volume {}", v.name), crate::model::workload::compact(&v.to_k8s()), volumes, "");
            }
        }
        m.values.push(path, ic.to_k8s());
        m.record(format!("initContainer {}", ic.name), ic.image.reference(), path, "");
    }
}

/// The app's data volume onto the chart's persistence block (`prefix.enabled/existingClaim/subPath`):
/// an existing claim is reused, a StatefulSet's template claim too, an emptyDir stays ephemeral;
/// anything else blocks the plan. `what` names the volume in messages ("models", "data").
pub fn data_volume(m: &mut Mapper, w: &mut Workload, mount: crate::model::Mount, prefix: &str, what: &str) {
    let volume = w.volumes.iter().position(|v| v.name == mount.volume).map(|i| w.volumes.remove(i));
    let field = format!("volume {}", mount.volume);
    match volume.map(|v| v.source) {
        Some(VolumeSource::Claim { claim, .. }) => {
            m.map_why(field.clone(), &format!("{prefix}.enabled"), true, "reuse the existing claim: no new empty PVC");
            m.map(field, &format!("{prefix}.existingClaim"), claim);
        }
        Some(VolumeSource::ClaimTemplate { template, .. }) => {
            let field = format!("volumeClaimTemplate {template}");
            m.map_why(field.clone(), &format!("{prefix}.enabled"), true, "reuse the claim the StatefulSet created");
            m.map_why(field, &format!("{prefix}.existingClaim"), format!("{template}-{}-0", w.name),
                "created by the StatefulSet controller, not in Git: Flux will not prune it");
        }
        Some(VolumeSource::EmptyDir { .. }) => {
            m.map_why(field, &format!("{prefix}.enabled"), false, format!("the old {what} volume was an emptyDir; so is the chart's without persistence"));
        }
        other => {
            let shown = other.map(|s| format!("{s:?}")).unwrap_or_else(|| "missing volume".into());
            m.drop(field, shown, format!("the chart mounts only a PVC or an emptyDir at the {what} path"));
            m.warn(Level::Blocking, format!("{}: the {what} volume {} is neither a PVC nor an emptyDir; create a PVC for it first", w.name, mount.volume));
        }
    }
    if let Some(sp) = mount.sub_path {
        m.map(format!("volumeMount {} subPath", mount.path), &format!("{prefix}.subPath"), sp);
    }
    if mount.read_only {
        m.drop(format!("volumeMount {} readOnly", mount.path), "true", format!("the chart mounts the {what} volume read-write"));
    }
}

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::workload::Workload;
use crate::error::{Error, Origin, Result};
use crate::source::{Tree, repo::Effective};
use crate::yaml::split_documents;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: i64,
    pub target_port: Option<Value>,
    pub protocol: Option<String>,
    pub node_port: Option<i64>,
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    pub origin: Origin,
    /// Index into `Tree::objects`.
    #[serde(skip)]
    pub object: usize,
    pub service_type: Option<String>,
    pub ports: Vec<ServicePort>,
    pub selector: Map<String, Value>,
    pub annotations: Map<String, Value>,
    pub labels: Map<String, Value>,
    /// Every other `spec` field (clusterIP, externalTrafficPolicy, loadBalancerIP…) as written.
    pub rest: Map<String, Value>,
}

/// An HTTPRoute or Ingress and the Services it sends traffic to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// `HTTPRoute` or `Ingress`.
    pub kind: String,
    pub name: String,
    /// Index into `Tree::objects`.
    #[serde(skip)]
    pub object: usize,
    pub origin: Origin,
    /// (service name, port number) per backendRef of kind Service / Ingress service backend
    /// (a port given by name has no number).
    pub backends: Vec<(String, Option<i64>)>,
}

/// A workload with everything around it that a migration must keep working.
#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub workload: Workload,
    /// Index into `Tree::objects` of the workload.
    #[serde(skip)]
    pub object: usize,
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    /// Names of Secrets the workload reads, and whether the manifest for each is in the tree.
    pub secrets: Vec<String>,
    /// The data of the ConfigMaps its containers pull in with `envFrom` that the tree holds
    /// (files, generators, or the cluster), by name: what [`effective_env`] resolves.
    #[serde(skip)]
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
}

/// One variable of a container's effective environment, and where it comes from when that is
/// an `envFrom` source (`configmap NAME`).
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveEnv {
    pub env: super::Env,
    pub via: Option<String>,
}

/// The environment a container's process sees: its `envFrom` sources in order (a later one
/// wins, `prefix` applied), then `env`, which beats `envFrom` (the last of a repeated name wins).
/// Variables from a Secret, or from a ConfigMap not in `config_maps`, cannot be listed: their
/// sources are returned as the second value (`secret NAME`).
pub fn effective_env(c: &super::Container, config_maps: &BTreeMap<String, BTreeMap<String, String>>) -> (Vec<EffectiveEnv>, Vec<String>) {
    let mut out: Vec<EffectiveEnv> = Vec::new();
    let mut unknown = Vec::new();
    let set = |out: &mut Vec<EffectiveEnv>, e: EffectiveEnv| match out.iter_mut().find(|x| x.env.name == e.env.name) {
        Some(slot) => *slot = e,
        None => out.push(e),
    };
    for ef in c.rest.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
        let prefix = ef.get("prefix").and_then(Value::as_str).unwrap_or("");
        if let Some(name) = ef.pointer("/configMapRef/name").and_then(Value::as_str) {
            match config_maps.get(name) {
                Some(data) => {
                    for (k, v) in data {
                        let env = super::Env { name: format!("{prefix}{k}"), source: super::EnvSource::Value { value: v.clone() } };
                        set(&mut out, EffectiveEnv { env, via: Some(format!("configmap {name}")) });
                    }
                }
                None => unknown.push(format!("configmap {name}")),
            }
        } else if let Some(name) = ef.pointer("/secretRef/name").and_then(Value::as_str) {
            unknown.push(format!("secret {name}"));
        }
    }
    for e in &c.env {
        set(&mut out, EffectiveEnv { env: e.clone(), via: None });
    }
    (out, unknown)
}

/// ConfigMaps by (namespace, name) → their string data.
fn config_map_index(tree: &Tree) -> std::collections::HashMap<(Option<&str>, &str), BTreeMap<String, String>> {
    tree.objects.iter()
        .filter(|o| o.kind == "ConfigMap" && !matches!(o.effective, Effective::Removed))
        .map(|o| {
            let data = o.value.get("data").and_then(Value::as_object).into_iter().flatten()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect();
            ((o.namespace.as_deref(), o.name.as_str()), data)
        })
        .collect()
}

fn map_of(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

fn service_from(value: &Value, name: &str, origin: Origin, object: usize) -> Service {
    let spec = value.get("spec");
    let ports = spec.and_then(|s| s.get("ports")).and_then(Value::as_array).cloned().unwrap_or_default().iter()
        .filter_map(|p| Some(ServicePort {
            name: p.get("name").and_then(Value::as_str).map(str::to_string),
            port: p.get("port").and_then(Value::as_i64)?,
            target_port: p.get("targetPort").cloned(),
            protocol: p.get("protocol").and_then(Value::as_str).map(str::to_string),
            node_port: p.get("nodePort").and_then(Value::as_i64),
            app_protocol: p.get("appProtocol").and_then(Value::as_str).map(str::to_string),
        }))
        .collect();
    Service {
        name: name.to_string(),
        origin,
        object,
        service_type: spec.and_then(|s| s.get("type")).and_then(Value::as_str).map(str::to_string),
        ports,
        selector: map_of(spec.and_then(|s| s.get("selector"))),
        annotations: super::workload::own_metadata(value.pointer("/metadata/annotations")),
        labels: super::workload::own_metadata(value.pointer("/metadata/labels")),
        rest: spec.and_then(Value::as_object).map(|m| {
            let mut m = m.clone();
            for k in ["type", "ports", "selector"] {
                m.remove(k);
            }
            m
        }).unwrap_or_default(),
    }
}

/// Flux image-automation markers on `image:` lines of one document: (image, policy).
pub fn image_policies(doc_text: &str) -> Vec<(String, String)> {
    doc_text
        .lines()
        .filter_map(|line| {
            let (code, comment) = line.split_once(" #")?;
            let image = code.trim().trim_start_matches("- ").trim().strip_prefix("image:")?.trim().trim_matches(['"', '\'']);
            let marker: Value = serde_json::from_str(comment.trim()).ok()?;
            let policy = marker.get("$imagepolicy")?.as_str()?;
            Some((image.to_string(), policy.to_string()))
        })
        .collect()
}

/// The Service backends of an HTTPRoute or Ingress; `None` for any other object.
pub fn route_backends(kind: &str, api_version: &str, v: &Value) -> Option<Vec<(String, Option<i64>)>> {
    let rules = v.pointer("/spec/rules").and_then(Value::as_array).into_iter().flatten();
    match kind {
        "HTTPRoute" if api_version.starts_with("gateway.networking.k8s.io/") => Some(rules
            .flat_map(|rule| rule.get("backendRefs").and_then(Value::as_array).into_iter().flatten())
            .filter(|b| b.get("kind").and_then(Value::as_str).unwrap_or("Service") == "Service")
            .filter_map(|b| Some((b.get("name")?.as_str()?.to_string(), b.get("port").and_then(Value::as_i64))))
            .collect()),
        "Ingress" if api_version.starts_with("networking.k8s.io/") => Some(rules
            .flat_map(|rule| rule.pointer("/http/paths").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|p| p.pointer("/backend/service"))
            .chain(v.pointer("/spec/defaultBackend/service"))
            .filter_map(|s| Some((s.get("name")?.as_str()?.to_string(), s.pointer("/port/number").and_then(Value::as_i64))))
            .collect()),
        _ => None,
    }
}

/// Group the tree's objects into apps: one per Deployment/StatefulSet. The first workload that
/// cannot be read is an error (see [`collect`] to read past it).
pub fn collect_apps(tree: &Tree) -> Result<Vec<App>> {
    let (apps, unreadable) = collect(tree);
    match unreadable.into_iter().next() {
        Some((i, why)) => Err(Error::input(&tree.objects[i].file, Some(tree.objects[i].line), why)),
        None => Ok(apps),
    }
}

/// Group the tree's objects into apps, one per Deployment/StatefulSet Flux applies, and the
/// workloads that cannot be read as one (index into `Tree::objects`, why): those are reported
/// and skipped, never a reason to stop reading the others.
pub fn collect(tree: &Tree) -> (Vec<App>, Vec<(usize, String)>) {
    let applied = |o: &&crate::source::Object| !matches!(o.effective, Effective::Removed | Effective::Unbuildable(_));
    // Services and routes are read once; each workload then only compares selectors.
    let all_services: Vec<(Option<&str>, Service)> = tree.objects.iter().enumerate()
        .filter(|(_, s)| s.kind == "Service" && applied(s))
        .map(|(j, s)| (s.namespace.as_deref(), service_from(&s.value, &s.name, s.origin(), j)))
        .collect();
    // A Service selects a pod only if the pod has its first selector pair: index by that pair.
    let mut by_first_pair: std::collections::HashMap<(&str, String), Vec<usize>> = std::collections::HashMap::new();
    for (i, (_, svc)) in all_services.iter().enumerate() {
        if let Some((k, v)) = svc.selector.iter().next() {
            by_first_pair.entry((k.as_str(), v.to_string())).or_default().push(i);
        }
    }
    let all_routes: Vec<(Option<&str>, Route)> = tree.objects.iter().enumerate()
        .filter(|(_, r)| applied(r))
        .filter_map(|(i, r)| {
            let backends = route_backends(&r.kind, &r.api_version, &r.value)?;
            Some((r.namespace.as_deref(), Route { kind: r.kind.clone(), name: r.name.clone(), object: i, origin: r.origin(), backends }))
        })
        .collect();
    let config_maps = config_map_index(tree);
    let mut apps = Vec::new();
    let mut unreadable = Vec::new();
    for (i, o) in tree.objects.iter().enumerate() {
        if o.api_version != "apps/v1" || o.effective == Effective::Removed {
            continue;
        }
        if let Effective::Unbuildable(why) | Effective::Divergent(why) = &o.effective {
            if matches!(o.kind.as_str(), "Deployment" | "StatefulSet") {
                unreadable.push((i, why.clone()));
            }
            continue;
        }
        let mut workload = match Workload::from_object(&o.kind, &o.value, o.namespace.clone(), o.origin()) {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(why) => {
                unreadable.push((i, why));
                continue;
            }
        };
        if let Some(text) = tree.files.get(&o.file).map(|f| f.text.as_str()) {
            let docs = split_documents(text);
            if let Some(doc) = docs.get(o.doc) {
                let policies = image_policies(doc.text);
                for c in workload.containers.iter_mut().chain(workload.init_containers.iter_mut()) {
                    let reference = c.image.reference();
                    c.image.policy = policies.iter().find(|(img, _)| *img == reference).map(|(_, p)| p.clone());
                }
            }
        }
        let mut candidates: Vec<usize> = workload.pod_labels.iter()
            .filter_map(|(k, v)| by_first_pair.get(&(k.as_str(), v.to_string())))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let services: Vec<Service> = candidates.into_iter()
            .map(|i| &all_services[i])
            .filter(|(ns, s)| *ns == o.namespace.as_deref() && s.selector.iter().all(|(k, v)| workload.pod_labels.get(k) == Some(v)))
            .map(|(_, s)| s.clone())
            .collect();
        let routes = all_routes.iter()
            .filter(|(ns, r)| *ns == o.namespace.as_deref() && r.backends.iter().any(|(n, _)| services.iter().any(|s| &s.name == n)))
            .map(|(_, r)| r.clone())
            .collect();
        let mut secrets: Vec<String> = Vec::new();
        for c in workload.containers.iter().chain(&workload.init_containers) {
            for e in &c.env {
                if let super::EnvSource::Secret { name, .. } = &e.source {
                    secrets.push(name.clone());
                }
            }
            for ef in c.rest.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
                if let Some(n) = ef.pointer("/secretRef/name").and_then(Value::as_str) {
                    secrets.push(n.to_string());
                }
            }
        }
        secrets.sort();
        secrets.dedup();
        let referenced: BTreeMap<String, BTreeMap<String, String>> = workload.containers.iter().chain(&workload.init_containers)
            .flat_map(|c| c.rest.get("envFrom").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|ef| ef.pointer("/configMapRef/name").and_then(Value::as_str))
            .filter_map(|n| Some((n.to_string(), config_maps.get(&(o.namespace.as_deref(), n))?.clone())))
            .collect();
        apps.push(App { workload, object: i, services, routes, secrets, config_maps: referenced });
    }
    (apps, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_image_policy_markers() {
        let doc = "spec:\n  containers:\n    - name: a\n      image: ollama/ollama:0.15.2 # {\"$imagepolicy\": \"flux-system:ollama\"}\n";
        assert_eq!(image_policies(doc), vec![("ollama/ollama:0.15.2".into(), "flux-system:ollama".into())]);
        assert!(image_policies("image: x # just a comment\n").is_empty());
    }
}

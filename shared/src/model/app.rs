use serde::Serialize;
use serde_json::{Map, Value};

use super::workload::Workload;
use crate::error::{Error, Origin, Result};
use crate::source::Tree;
use crate::yaml::split_documents;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: i64,
    pub target_port: Option<Value>,
    pub protocol: Option<String>,
    pub node_port: Option<i64>,
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
        }))
        .collect();
    Service {
        name: name.to_string(),
        origin,
        object,
        service_type: spec.and_then(|s| s.get("type")).and_then(Value::as_str).map(str::to_string),
        ports,
        selector: map_of(spec.and_then(|s| s.get("selector"))),
        annotations: map_of(value.pointer("/metadata/annotations")),
        labels: map_of(value.pointer("/metadata/labels")),
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

/// Group the tree's objects into apps: one per Deployment/StatefulSet.
pub fn collect_apps(tree: &Tree) -> Result<Vec<App>> {
    // Services and routes are read once; each workload then only compares selectors.
    let all_services: Vec<(Option<&str>, Service)> = tree.objects.iter().enumerate()
        .filter(|(_, s)| s.kind == "Service")
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
        .filter_map(|(i, r)| {
            let backends = route_backends(&r.kind, &r.api_version, &r.value)?;
            Some((r.namespace.as_deref(), Route { kind: r.kind.clone(), name: r.name.clone(), object: i, origin: r.origin(), backends }))
        })
        .collect();
    let mut apps = Vec::new();
    for (i, o) in tree.objects.iter().enumerate() {
        if o.api_version != "apps/v1" {
            continue;
        }
        let Some(mut workload) = Workload::from_object(&o.kind, &o.value, o.namespace.clone(), o.origin())
            .map_err(|m| Error::input(&o.file, Some(o.line), m))?
        else {
            continue;
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
        apps.push(App { workload, object: i, services, routes, secrets });
    }
    Ok(apps)
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

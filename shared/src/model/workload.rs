use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Origin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        })
    }
}

/// A container image reference, split the way charts take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub repository: String,
    /// Tag, with `@digest` appended when the reference pins one.
    pub tag: Option<String>,
    /// A Flux image-automation marker found on the image line (`flux-system:name`).
    pub policy: Option<String>,
}

impl Image {
    pub fn parse(reference: &str) -> Image {
        let (name, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (reference, None),
        };
        // A ':' after the last '/' separates the tag (a ':' before it is a registry port).
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
            None => (name, None),
        };
        let tag = match (tag, digest) {
            (Some(t), Some(d)) => Some(format!("{t}@{d}")),
            (None, Some(d)) => Some(format!("@{d}")),
            (t, None) => t.map(str::to_string),
        };
        Image { repository: repository.to_string(), tag, policy: None }
    }

    /// The repository without a default registry prefix, for matching (`docker.io/ollama/ollama` = `ollama/ollama`).
    pub fn short_repository(&self) -> &str {
        let r = self.repository.as_str();
        r.strip_prefix("docker.io/").or_else(|| r.strip_prefix("index.docker.io/")).unwrap_or(r)
    }

    pub fn reference(&self) -> String {
        match &self.tag {
            Some(t) if t.starts_with('@') => format!("{}{t}", self.repository),
            Some(t) => format!("{}:{t}", self.repository),
            None => self.repository.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EnvSource {
    Value { value: String },
    Secret { name: String, key: String, optional: Option<bool> },
    ConfigMap { name: String, key: String, optional: Option<bool> },
    /// fieldRef, resourceFieldRef, or anything newer: kept verbatim.
    Other { value_from: Value },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Env {
    pub name: String,
    pub source: EnvSource,
}

impl Env {
    /// The EnvVar object as Kubernetes takes it, with literal values always strings.
    pub fn to_k8s(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        match &self.source {
            EnvSource::Value { value } => {
                m.insert("value".into(), value.clone().into());
            }
            EnvSource::Secret { name, key, optional } | EnvSource::ConfigMap { name, key, optional } => {
                let mut r = Map::new();
                r.insert("name".into(), name.clone().into());
                r.insert("key".into(), key.clone().into());
                if let Some(o) = optional {
                    r.insert("optional".into(), (*o).into());
                }
                let kind = if matches!(self.source, EnvSource::Secret { .. }) { "secretKeyRef" } else { "configMapKeyRef" };
                m.insert("valueFrom".into(), serde_json::json!({ kind: r }));
            }
            EnvSource::Other { value_from } => {
                m.insert("valueFrom".into(), value_from.clone());
            }
        }
        Value::Object(m)
    }

    /// How the ledger shows it: never a secret's value, only where it comes from.
    pub fn describe(&self) -> String {
        match &self.source {
            EnvSource::Value { value } if looks_secret(&self.name) => format!("(literal, {} chars, hidden)", value.len()),
            EnvSource::Value { value } => format!("{value:?}"),
            EnvSource::Secret { name, key, .. } => format!("secret {name}/{key}"),
            EnvSource::ConfigMap { name, key, .. } => format!("configmap {name}/{key}"),
            EnvSource::Other { value_from } => format!("valueFrom {}", compact(value_from)),
        }
    }
}

/// Names that usually hold credentials: their literal values are never shown. Judged by the
/// name's words (split at `_`, `-`, `.`, `/` and camelCase humps), so `OAUTH_SCOPES`,
/// `OAUTH_PROVIDER_NAME` or `TOKENIZERS_PARALLELISM` are settings while `OAUTH_CLIENT_SECRET`,
/// `WEBUI_SECRET_KEY`, `PGPASSWORD`, `openaiApiKey` or `BASIC_AUTH` are credentials.
pub fn looks_secret(name: &str) -> bool {
    const WORDS: [&str; 10] = ["SECRET", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "TOKEN", "CREDENTIAL", "AUTH", "AUTHORIZATION", "KEY"];
    // Run-together words that end in a credential: PGPASSWORD, APIKEY, CLIENTSECRET, AUTHTOKEN.
    const SUFFIXES: [&str; 5] = ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY"];
    name_words(name).iter().any(|w| {
        let w = w.strip_suffix('S').filter(|s| WORDS.contains(s)).unwrap_or(w);
        WORDS.contains(&w) || SUFFIXES.iter().any(|s| w.ends_with(s))
    })
}

/// The words of a name, upper-cased: `openaiApiKey` → OPENAI, API, KEY; `OAUTH_SCOPES` → OAUTH, SCOPES.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_ascii_alphanumeric() {
            words.push(std::mem::take(&mut cur));
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_uppercase());
    }
    words.push(cur);
    words.retain(|w| !w.is_empty());
    words
}

#[cfg(test)]
mod secret_names {
    use super::looks_secret;

    #[test]
    fn secret_looking_names_by_word() {
        for n in ["OAUTH_CLIENT_SECRET", "WEBUI_SECRET_KEY", "OPENAI_API_KEY", "OPENAI_API_KEYS", "ADMIN_PASSWORD", "PGPASSWORD", "DB_PASS",
                  "API_TOKEN", "AUTH_TOKEN", "BASIC_AUTH", "AWS_CREDENTIALS", "MYSQL_PASSWD", "openaiApiKey", "clientSecret", "apiKey",
                  "open-webui.openaiApiKey", "GITHUB_APIKEY", "SSH_PRIVATE_KEY", "passphrase"] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["OAUTH_PROVIDER_NAME", "OAUTH_SCOPES", "OAUTH_MERGE_ACCOUNTS_BY_EMAIL", "ENABLE_OAUTH_SIGNUP", "TOKENIZERS_PARALLELISM",
                  "KEYCLOAK_URL", "OLLAMA_KEEP_ALIVE", "TZ", "PATH", "PASSTHROUGH", "AUTHOR", "OPENID_PROVIDER_URL", "OAUTH_CLIENT_ID"] {
            assert!(!looks_secret(n), "{n}");
        }
    }
}

/// The probe timings Kubernetes fills in when a probe leaves them out.
pub const PROBE_DEFAULTS: [(&str, i64); 5] =
    [("initialDelaySeconds", 0), ("periodSeconds", 10), ("timeoutSeconds", 1), ("failureThreshold", 3), ("successThreshold", 1)];

pub fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 { format!("{}…", &s[..s.char_indices().nth(59).map_or(s.len(), |(i, _)| i)]) } else { s }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    pub name: Option<String>,
    pub container_port: i64,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    pub volume: String,
    pub path: String,
    pub sub_path: Option<String>,
    pub read_only: bool,
    /// mountPropagation, subPathExpr, recursiveReadOnly…
    pub rest: Map<String, Value>,
}

impl Mount {
    pub fn to_k8s(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.volume.clone().into());
        m.insert("mountPath".into(), self.path.clone().into());
        if let Some(s) = &self.sub_path {
            m.insert("subPath".into(), s.clone().into());
        }
        if self.read_only {
            m.insert("readOnly".into(), true.into());
        }
        m.extend(self.rest.clone());
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum VolumeSource {
    Claim { claim: String, read_only: bool },
    /// A StatefulSet volumeClaimTemplate: the claims are `<template>-<sts>-<ordinal>`.
    ClaimTemplate { template: String, spec: Value },
    EmptyDir { spec: Value },
    /// nfs, hostPath, configMap, secret…: the volume object verbatim.
    Other { volume: Value },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

impl Volume {
    pub fn to_k8s(&self) -> Value {
        match &self.source {
            VolumeSource::Claim { claim, read_only } => {
                let mut c = serde_json::json!({ "claimName": claim });
                if *read_only {
                    c["readOnly"] = true.into();
                }
                serde_json::json!({ "name": self.name, "persistentVolumeClaim": c })
            }
            VolumeSource::EmptyDir { spec } => serde_json::json!({ "name": self.name, "emptyDir": spec }),
            VolumeSource::ClaimTemplate { spec, .. } => serde_json::json!({ "name": self.name, "ephemeral": spec }),
            VolumeSource::Other { volume } => volume.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub name: String,
    pub image: Image,
    pub env: Vec<Env>,
    /// requests / limits, quantity values as written.
    pub requests: Map<String, Value>,
    pub limits: Map<String, Value>,
    pub ports: Vec<Port>,
    pub mounts: Vec<Mount>,
    /// Every other container field (command, args, probes, securityContext, envFrom…), to be
    /// taken by a profile or reported as dropped.
    pub rest: Map<String, Value>,
}

impl Container {
    /// The container object as Kubernetes takes it (env values as strings).
    pub fn to_k8s(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), self.name.clone().into());
        o.insert("image".into(), self.image.reference().into());
        if !self.env.is_empty() {
            o.insert("env".into(), self.env.iter().map(Env::to_k8s).collect::<Vec<_>>().into());
        }
        let mut res = Map::new();
        for (k, list) in [("requests", &self.requests), ("limits", &self.limits)] {
            if !list.is_empty() {
                res.insert(k.into(), Value::Object(list.clone()));
            }
        }
        if !res.is_empty() {
            o.insert("resources".into(), Value::Object(res));
        }
        if !self.ports.is_empty() {
            let ports = self.ports.iter().map(|p| {
                let mut pm = Map::new();
                if let Some(n) = &p.name {
                    pm.insert("name".into(), n.clone().into());
                }
                pm.insert("containerPort".into(), p.container_port.into());
                if let Some(pr) = &p.protocol {
                    pm.insert("protocol".into(), pr.clone().into());
                }
                Value::Object(pm)
            });
            o.insert("ports".into(), ports.collect::<Vec<_>>().into());
        }
        if !self.mounts.is_empty() {
            o.insert("volumeMounts".into(), self.mounts.iter().map(Mount::to_k8s).collect::<Vec<_>>().into());
        }
        o.extend(self.rest.clone());
        Value::Object(o)
    }
}

/// A Deployment or StatefulSet, normalized. Profiles *take* what they map (`Option::take`,
/// `remove`), so whatever is left afterwards is exactly what the chart could not express.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
    pub namespace: Option<String>,
    /// Whether the manifest itself set metadata.namespace (else a kustomization does).
    pub explicit_namespace: bool,
    pub origin: Origin,
    /// The workload object's own labels and annotations, without the ones Flux, Helm and the
    /// apiserver put there (see [`own_metadata`]).
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
    /// Labels on the pod template, used to match Services.
    pub pod_labels: Map<String, Value>,
    pub pod_annotations: Map<String, Value>,
    /// Workload-spec fields besides selector/template (replicas, strategy, serviceName…).
    pub spec: Map<String, Value>,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    /// Pod-spec fields besides containers/volumes (runtimeClassName, nodeSelector…).
    pub pod: Map<String, Value>,
}

impl Workload {
    /// Build the model from a Deployment/StatefulSet object. Returns `None` for other kinds and
    /// an error string for a malformed workload.
    pub fn from_object(kind: &str, value: &Value, namespace: Option<String>, origin: Origin) -> Result<Option<Workload>, String> {
        let kind = match kind {
            "Deployment" => WorkloadKind::Deployment,
            "StatefulSet" => WorkloadKind::StatefulSet,
            _ => return Ok(None),
        };
        let meta = value.get("metadata").cloned().unwrap_or_default();
        let name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut spec = obj(value.get("spec")).ok_or_else(|| format!("{kind} {name} has no spec"))?;
        let mut template = spec.remove("template").and_then(into_obj).ok_or_else(|| format!("{kind} {name} has no spec.template"))?;
        spec.remove("selector");
        let tmeta = template.remove("metadata").and_then(into_obj).unwrap_or_default();
        let mut pod = template.remove("spec").and_then(into_obj).ok_or_else(|| format!("{kind} {name} has no spec.template.spec"))?;
        let mut volumes = Vec::new();
        if let Some(vcts) = spec.remove("volumeClaimTemplates") {
            for t in vcts.as_array().cloned().unwrap_or_default() {
                let tname = t.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                volumes.push(Volume {
                    name: tname.clone(),
                    source: VolumeSource::ClaimTemplate { template: tname, spec: t.get("spec").cloned().unwrap_or_default() },
                });
            }
        }
        for v in pod.remove("volumes").and_then(|v| v.as_array().cloned()).unwrap_or_default() {
            volumes.push(parse_volume(&v).ok_or_else(|| format!("{kind} {name} has a volume without a name"))?);
        }
        let containers = parse_containers(pod.remove("containers"), &kind, &name)?;
        if containers.is_empty() {
            return Err(format!("{kind} {name} has no containers"));
        }
        let init_containers = parse_containers(pod.remove("initContainers"), &kind, &name)?;
        Ok(Some(Workload {
            kind,
            explicit_namespace: meta.get("namespace").is_some(),
            namespace,
            name,
            origin,
            labels: own_metadata(meta.get("labels")),
            annotations: own_metadata(meta.get("annotations")),
            pod_labels: obj(tmeta.get("labels")).unwrap_or_default(),
            pod_annotations: obj(tmeta.get("annotations")).unwrap_or_default(),
            spec,
            containers,
            init_containers,
            volumes,
            pod,
        }))
    }

    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// Claims this workload mounts (including the ones a StatefulSet template creates).
    pub fn claims(&self) -> Vec<String> {
        self.volumes
            .iter()
            .filter_map(|v| match &v.source {
                VolumeSource::Claim { claim, .. } => Some(claim.clone()),
                VolumeSource::ClaimTemplate { template, .. } => Some(format!("{template}-{}-0", self.name)),
                _ => None,
            })
            .collect()
    }
}

/// Object metadata (labels or annotations) as its author wrote it: without what
/// kustomize-controller (`kustomize.toolkit.fluxcd.io/…`), Helm (`meta.helm.sh/…`,
/// `app.kubernetes.io/managed-by: Helm`, the hand-over marks) and the apiserver or kubectl
/// (`deployment.kubernetes.io/revision`, `kubectl.kubernetes.io/last-applied-configuration`) add.
pub fn own_metadata(v: Option<&Value>) -> Map<String, Value> {
    let mut m = obj(v).unwrap_or_default();
    m.retain(|k, v| {
        !(k.starts_with("kustomize.toolkit.fluxcd.io/") || k.starts_with("meta.helm.sh/") || k.starts_with("helm.toolkit.fluxcd.io/")
            || k == "deployment.kubernetes.io/revision" || k == "kubectl.kubernetes.io/last-applied-configuration"
            || (k == "app.kubernetes.io/managed-by" && v == "Helm"))
    });
    m
}

fn obj(v: Option<&Value>) -> Option<Map<String, Value>> {
    v.and_then(Value::as_object).cloned()
}

fn into_obj(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_volume(v: &Value) -> Option<Volume> {
    let name = v.get("name")?.as_str()?.to_string();
    let source = if let Some(c) = v.get("persistentVolumeClaim") {
        VolumeSource::Claim {
            claim: c.get("claimName").and_then(Value::as_str).unwrap_or_default().to_string(),
            read_only: c.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
        }
    } else if let Some(e) = v.get("emptyDir") {
        VolumeSource::EmptyDir { spec: e.clone() }
    } else {
        VolumeSource::Other { volume: v.clone() }
    };
    Some(Volume { name, source })
}

fn parse_containers(list: Option<Value>, kind: &WorkloadKind, workload: &str) -> Result<Vec<Container>, String> {
    let mut out = Vec::new();
    for c in list.and_then(|v| v.as_array().cloned()).unwrap_or_default() {
        let Value::Object(mut rest) = c else { return Err(format!("{kind} {workload} has a container that is not a mapping")) };
        let name = rest.remove("name").and_then(|v| as_string(&v)).unwrap_or_default();
        let image = rest.remove("image").and_then(|v| as_string(&v))
            .ok_or_else(|| format!("{kind} {workload}: container {name} has no image"))?;
        let mut env = Vec::new();
        for e in rest.remove("env").and_then(|v| v.as_array().cloned()).unwrap_or_default() {
            let ename = e.get("name").and_then(as_string_ref).ok_or_else(|| format!("{kind} {workload}: an env entry has no name"))?;
            let source = if let Some(vf) = e.get("valueFrom") {
                let keyref = |k: &str| vf.get(k).map(|r| {
                    (r.get("name").and_then(as_string_ref).unwrap_or_default(), r.get("key").and_then(as_string_ref).unwrap_or_default(),
                     r.get("optional").and_then(Value::as_bool))
                });
                if let Some((name, key, optional)) = keyref("secretKeyRef") {
                    EnvSource::Secret { name, key, optional }
                } else if let Some((name, key, optional)) = keyref("configMapKeyRef") {
                    EnvSource::ConfigMap { name, key, optional }
                } else {
                    EnvSource::Other { value_from: vf.clone() }
                }
            } else {
                // YAML may have typed `value: 2`; Kubernetes wants a string.
                EnvSource::Value { value: e.get("value").and_then(as_string_ref).unwrap_or_default() }
            };
            env.push(Env { name: ename, source });
        }
        let mut requests = Map::new();
        let mut limits = Map::new();
        if let Some(Value::Object(mut r)) = rest.remove("resources") {
            requests = r.remove("requests").and_then(into_obj).unwrap_or_default();
            limits = r.remove("limits").and_then(into_obj).unwrap_or_default();
            // claims and anything newer stay visible to the profile.
            if !r.is_empty() {
                rest.insert("resources".into(), Value::Object(r));
            }
        }
        let ports = rest.remove("ports").and_then(|v| v.as_array().cloned()).unwrap_or_default().iter()
            .filter_map(|p| Some(Port {
                name: p.get("name").and_then(as_string_ref),
                container_port: p.get("containerPort").and_then(Value::as_i64)?,
                protocol: p.get("protocol").and_then(as_string_ref),
            }))
            .collect();
        let mut mounts = Vec::new();
        for m in rest.remove("volumeMounts").and_then(|v| v.as_array().cloned()).unwrap_or_default() {
            let Value::Object(mut m) = m else { continue };
            let volume = m.remove("name").and_then(|v| as_string(&v)).unwrap_or_default();
            let path = m.remove("mountPath").and_then(|v| as_string(&v)).unwrap_or_default();
            let sub_path = m.remove("subPath").and_then(|v| as_string(&v));
            let read_only = m.remove("readOnly").and_then(|v| v.as_bool()).unwrap_or(false);
            mounts.push(Mount { volume, path, sub_path, read_only, rest: m });
        }
        out.push(Container { name, image: Image::parse(&image), env, requests, limits, ports, mounts, rest });
    }
    Ok(out)
}

fn as_string_ref(v: &Value) -> Option<String> {
    as_string(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let i = Image::parse("registry:5000/team/app:1.2@sha256:abc");
        assert_eq!((i.repository.as_str(), i.tag.as_deref()), ("registry:5000/team/app", Some("1.2@sha256:abc")));
        let i = Image::parse("ollama/ollama");
        assert_eq!((i.repository.as_str(), i.tag), ("ollama/ollama", None));
        assert_eq!(Image::parse("docker.io/ollama/ollama:0.1").short_repository(), "ollama/ollama");
        assert_eq!(Image::parse("a/b@sha256:x").reference(), "a/b@sha256:x");
    }
}

//! The one way helmigrate talks to the apiserver: a table of every kind it touches (GVK → plural,
//! namespaced) and the verbs it uses on them, all through `Api<DynamicObject>`. Each verb turns a
//! refusal into one error naming the verb, the resource and the role file of the command
//! ([`Role`]); nothing outside this file builds a request path.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use super::Cluster;
use crate::error::{Error, Fault, Result};

/// The field manager of every write helmigrate makes (visible in `metadata.managedFields`).
pub const FIELD_MANAGER: &str = "helmigrate";

/// A kind helmigrate reads or writes.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Served only when a CRD or an optional API is installed: a 404 on list reads as "none".
    pub optional: bool,
}

const fn core(kind: &'static str, plural: &'static str, namespaced: bool) -> Resource {
    Resource { group: "", version: "v1", kind, plural, namespaced, optional: false }
}

const fn grouped(group: &'static str, version: &'static str, kind: &'static str, plural: &'static str, optional: bool) -> Resource {
    Resource { group, version, kind, plural, namespaced: true, optional }
}

pub const DEPLOYMENT: Resource = grouped("apps", "v1", "Deployment", "deployments", false);
pub const STATEFUL_SET: Resource = grouped("apps", "v1", "StatefulSet", "statefulsets", false);
pub const SERVICE: Resource = core("Service", "services", true);
pub const POD: Resource = core("Pod", "pods", true);
pub const PERSISTENT_VOLUME_CLAIM: Resource = core("PersistentVolumeClaim", "persistentvolumeclaims", true);
pub const PERSISTENT_VOLUME: Resource = core("PersistentVolume", "persistentvolumes", false);
pub const SECRET: Resource = core("Secret", "secrets", true);
pub const CONFIG_MAP: Resource = core("ConfigMap", "configmaps", true);
pub const NAMESPACE: Resource = core("Namespace", "namespaces", false);
pub const ENDPOINT_SLICE: Resource = grouped("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", false);
pub const INGRESS: Resource = grouped("networking.k8s.io", "v1", "Ingress", "ingresses", true);
pub const HTTP_ROUTE: Resource = grouped("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", true);
pub const HELM_RELEASE: Resource = grouped("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases", true);
pub const KUSTOMIZATION: Resource = grouped("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", true);
pub const HELM_REPOSITORY: Resource = grouped("source.toolkit.fluxcd.io", "v1", "HelmRepository", "helmrepositories", true);
pub const OCI_REPOSITORY: Resource = grouped("source.toolkit.fluxcd.io", "v1", "OCIRepository", "ocirepositories", true);
pub const GIT_REPOSITORY: Resource = grouped("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories", true);
pub const HELM_CHART: Resource = grouped("source.toolkit.fluxcd.io", "v1", "HelmChart", "helmcharts", true);
pub const BUCKET: Resource = grouped("source.toolkit.fluxcd.io", "v1", "Bucket", "buckets", true);

/// Every kind helmigrate touches.
pub const RESOURCES: [&Resource; 19] = [
    &DEPLOYMENT, &STATEFUL_SET, &SERVICE, &POD, &PERSISTENT_VOLUME_CLAIM, &PERSISTENT_VOLUME, &SECRET, &CONFIG_MAP, &NAMESPACE,
    &ENDPOINT_SLICE, &INGRESS, &HTTP_ROUTE, &HELM_RELEASE, &KUSTOMIZATION, &HELM_REPOSITORY, &OCI_REPOSITORY, &GIT_REPOSITORY,
    &HELM_CHART, &BUCKET,
];

impl Resource {
    /// `apps/v1`, `v1`
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `deployments.apps`, `services`: the resource as RBAC rules and apiserver messages name it.
    pub fn rbac_name(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural)
    }
}

/// The RBAC role a command needs, as shipped in `docs/`: named by every permission error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// convert (live mode and the hand-over reads), verify
    #[default]
    Readonly,
    Reconcile,
    Rollback,
}

impl Role {
    pub fn file(self) -> &'static str {
        match self {
            Role::Readonly => "docs/rbac-readonly.yaml",
            Role::Reconcile => "docs/rbac-reconcile.yaml",
            Role::Rollback => "docs/rbac-rollback.yaml",
        }
    }
}

/// How a watch ended.
#[derive(Debug)]
pub enum WatchEnd<T> {
    /// `check` returned a value.
    Done(T),
    /// The deadline passed; the last state seen, if any.
    TimedOut(Option<Value>),
    /// The object was deleted (or is gone).
    Deleted,
}

/// One kind in one namespace (or cluster-wide): the verbs helmigrate uses.
pub struct Objects<'a> {
    cluster: &'a Cluster,
    resource: &'static Resource,
    namespace: Option<String>,
    api: Api<DynamicObject>,
}

fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn items(list: kube::core::ObjectList<DynamicObject>) -> Vec<Value> {
    list.items.into_iter().map(to_value).collect()
}

fn write_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() }
}

/// A watch error that retrying will not heal (401/403), with the verb refused. Anything else (a
/// dropped connection, an expired resourceVersion) the watcher retries after a backoff.
fn refusal(e: watcher::Error) -> Option<(&'static str, kube::Error)> {
    let (verb, e) = match e {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", e),
        _ => return None,
    };
    matches!(&e, kube::Error::Api(s) if matches!(s.code, 401 | 403)).then_some((verb, e))
}

impl Cluster {
    /// `resource` in `namespace` (`None`: all namespaces, or a cluster-scoped kind).
    pub fn objects(&self, resource: &'static Resource, namespace: Option<&str>) -> Objects<'_> {
        let ar = resource.api_resource();
        let api = match namespace {
            Some(ns) if resource.namespaced => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        Objects { cluster: self, resource, namespace: namespace.filter(|_| resource.namespaced).map(str::to_string), api }
    }

    /// `resource` in the command's namespace.
    pub fn here(&self, resource: &'static Resource) -> Objects<'_> {
        self.objects(resource, Some(&self.namespace))
    }

    /// The error for `what`: a 403 names the verb, the resource and the command's role file;
    /// anything else as [`Cluster::fail`] says it.
    pub fn refused(&self, what: impl Into<String>, verb: &str, resource: &Resource, namespace: Option<&str>, e: kube::Error) -> Error {
        match e {
            kube::Error::Api(s) if s.code == 403 => {
                let msg = if s.message.is_empty() { format!("{} {}", s.code, s.reason) } else { super::flux::one_line(&s.message) };
                let scope = namespace.map(|ns| format!(" in namespace {ns}")).unwrap_or_default();
                Error::Cluster { fault: Fault::Forbidden, what: what.into(), msg: format!(
                    "{msg} (needs `{verb}` on {}{scope}: bind the RBAC role in {}, or use another --context)", resource.rbac_name(), self.role.file()) }
            }
            other => self.fail(what, other),
        }
    }
}

impl Objects<'_> {
    fn title(&self, name: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{name}", self.resource.kind),
            None => format!("{} {name}", self.resource.kind),
        }
    }

    fn where_(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} in namespace {ns}", self.resource.plural),
            None => self.resource.plural.to_string(),
        }
    }

    fn refused(&self, what: String, verb: &str, e: kube::Error) -> Error {
        self.cluster.refused(what, verb, self.resource, self.namespace.as_deref(), e)
    }

    /// GET one object; `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Value>> {
        match self.api.get_opt(name).await {
            Ok(o) => Ok(o.map(to_value)),
            Err(e) => Err(self.refused(format!("read {}", self.title(name)), "get", e)),
        }
    }

    /// GET, for best-effort reads: anything but the object (absent, refused, unreachable) is `None`.
    pub async fn try_get(&self, name: &str) -> Option<Value> {
        self.get(name).await.ok().flatten()
    }

    /// LIST every object (an optional API that is not served lists as empty).
    pub async fn list(&self) -> Result<Vec<Value>> {
        match self.api.list(&ListParams::default()).await {
            Ok(list) => Ok(items(list)),
            Err(kube::Error::Api(s)) if self.resource.optional && s.code == 404 => Ok(Vec::new()),
            Err(e) => Err(self.refused(format!("list {}", self.where_()), "list", e)),
        }
    }

    /// The objects' metadata only (PartialObjectMetadata): for Secrets, whose data must never
    /// leave the apiserver. Returns `{apiVersion, kind, metadata}` per object.
    pub async fn list_metadata(&self, selector: Option<&str>) -> Result<Vec<Value>> {
        let params = selector.map_or_else(ListParams::default, |s| ListParams::default().labels(s));
        match self.api.list_metadata(&params).await {
            Ok(list) => Ok(list.items.into_iter().map(|m| serde_json::json!({
                "apiVersion": self.resource.api_version(), "kind": self.resource.kind,
                "metadata": serde_json::to_value(m.metadata).unwrap_or(Value::Null) })).collect()),
            Err(kube::Error::Api(s)) if self.resource.optional && s.code == 404 => Ok(Vec::new()),
            Err(e) => Err(self.refused(format!("list {}", self.where_()), "list", e)),
        }
    }

    /// JSON merge patch (field manager [`FIELD_MANAGER`]); `what` says why, for the error.
    pub async fn merge_patch(&self, name: &str, patch: &Value, what: &str) -> Result<Value> {
        self.api.patch(name, &write_params(), &Patch::Merge(patch)).await.map(to_value).map_err(|e| self.refused(what.to_string(), "patch", e))
    }

    /// JSON patch (RFC 6902 operations): to remove keys a merge patch cannot name.
    pub async fn json_patch(&self, name: &str, ops: &[Value], what: &str) -> Result<Value> {
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec()))
            .map_err(|e| Error::usage(what.to_string(), format!("bad JSON patch: {e}")))?;
        self.api.patch(name, &write_params(), &Patch::<()>::Json(patch)).await.map(to_value).map_err(|e| self.refused(what.to_string(), "patch", e))
    }

    /// Server-side apply of the whole object, taking over conflicting fields (`force`).
    pub async fn apply(&self, name: &str, object: &Value, what: &str) -> Result<Value> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api.patch(name, &params, &Patch::Apply(object)).await.map(to_value).map_err(|e| self.refused(what.to_string(), "patch", e))
    }

    /// DELETE with background propagation (the object goes now, its dependents after); an object
    /// that is gone already is fine.
    pub async fn delete(&self, name: &str, what: &str) -> Result<()> {
        match self.api.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.refused(what.to_string(), "delete", e)),
        }
    }

    /// Wait until the object is gone (its finalizers ran); false when `limit` passed first.
    pub async fn wait_deleted(&self, name: &str, limit: Duration) -> Result<bool> {
        let end = self.watch_until(name, Instant::now() + limit, |_| None::<()>).await?;
        Ok(matches!(end, WatchEnd::Deleted))
    }

    /// Watch one object (a list+watch with `fieldSelector=metadata.name=NAME`, re-connecting with
    /// backoff when the stream breaks) and call `check` on every state of it, starting with the
    /// current one, until `check` returns `Some`, the object is deleted or `deadline` passes.
    /// Nothing is polled: each call of `check` follows an event from the apiserver.
    pub async fn watch_until<T>(&self, name: &str, deadline: Instant, mut check: impl FnMut(&Value) -> Option<T>) -> Result<WatchEnd<T>> {
        let fields = format!("metadata.name={name}");
        // bounded server-side watch timeout: re-connects are cheap and survive idle-connection reapers
        let config = watcher::Config::default().fields(&fields).timeout(120);
        let mut stream = watcher(self.api.clone(), config).default_backoff().boxed();
        let mut last: Option<Value> = None;
        let mut seen = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match tokio::time::timeout(left, stream.next()).await {
                Err(_) | Ok(None) => return Ok(WatchEnd::TimedOut(last)),
                Ok(Some(e)) => e,
            };
            match event {
                Ok(watcher::Event::Init) => seen = false,
                Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => {
                    seen = true;
                    let v = to_value(o);
                    if let Some(t) = check(&v) {
                        return Ok(WatchEnd::Done(t));
                    }
                    last = Some(v);
                }
                Ok(watcher::Event::InitDone) if !seen => return Ok(WatchEnd::Deleted),
                Ok(watcher::Event::InitDone) => {}
                Ok(watcher::Event::Delete(_)) => return Ok(WatchEnd::Deleted),
                Err(e) => {
                    if let Some((verb, e)) = refusal(e) {
                        return Err(self.refused(format!("watch {}", self.title(name)), verb, e));
                    }
                }
            }
        }
    }

    /// A stream that yields whenever any of these objects changes (a watch, re-connecting with
    /// backoff): for re-checking on events instead of polling. A refusal (401/403) is yielded
    /// as the error, worded like every other; other stream errors are retried by the watcher.
    pub fn changes(&self) -> futures::stream::BoxStream<'_, Result<()>> {
        watcher(self.api.clone(), watcher::Config::default()).default_backoff()
            .filter_map(move |event| futures::future::ready(match event {
                Ok(_) => Some(Ok(())),
                Err(e) => refusal(e).map(|(verb, e)| Err(self.refused(format!("watch {}", self.where_()), verb, e))),
            }))
            .boxed()
    }

    /// GET `path` from a Service through the apiserver's service proxy (`get` on
    /// `services/proxy`). The error is the apiserver's answer, for the caller to word.
    pub async fn proxy_get(&self, service: &str, port: &str, path: &str) -> std::result::Result<String, kube::Error> {
        let url = format!("{}/{service}:{port}/proxy{path}", self.api.resource_url());
        let req = http::Request::get(url).body(Vec::new()).map_err(kube::Error::HttpError)?;
        self.cluster.client.request_text(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(DEPLOYMENT.rbac_name(), "deployments.apps");
        assert_eq!(SERVICE.rbac_name(), "services");
        assert_eq!(HELM_RELEASE.api_version(), "helm.toolkit.fluxcd.io/v2");
        let scoped: Vec<&str> = RESOURCES.iter().filter(|r| !r.namespaced).map(|r| r.kind).collect();
    assert_eq!(scoped, ["PersistentVolume", "Namespace"]);
        let ar = OCI_REPOSITORY.api_resource();
        assert_eq!((ar.plural.as_str(), ar.api_version.as_str()), ("ocirepositories", "source.toolkit.fluxcd.io/v1"));
        for (i, r) in RESOURCES.iter().enumerate() {
            assert!(RESOURCES[..i].iter().all(|o| o.kind != r.kind), "{} twice", r.kind);
        }
    }
}

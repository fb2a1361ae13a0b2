//! The cluster as a source: the objects of one namespace, stripped of what the apiserver added,
//! in the same `Tree` shape the repo loader produces, so the same profiles and ledger apply.

use std::path::PathBuf;

use serde_json::Value;

use super::{Cluster, defaults};
use crate::error::Result;
use crate::profiles::SourceKind;
use crate::plan::{Source, Sources};
use crate::source::flux::FluxKustomization;
use crate::source::{Object, Tree};

/// (API path prefix, kind, plural, optional: a missing API is not an error)
const KINDS: [(&str, &str, &str, bool); 7] = [
    ("/apis/apps/v1", "Deployment", "deployments", false),
    ("/apis/apps/v1", "StatefulSet", "statefulsets", false),
    ("/api/v1", "Service", "services", false),
    ("/api/v1", "PersistentVolumeClaim", "persistentvolumeclaims", false),
    ("/apis/gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", true),
    ("/apis/networking.k8s.io/v1", "Ingress", "ingresses", true),
    ("/apis/helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases", true),
];

pub(crate) async fn get_list(cluster: &Cluster, path: &str) -> std::result::Result<Vec<Value>, kube::Error> {
    let req = http::Request::get(path).body(Vec::new()).map_err(kube::Error::HttpError)?;
    let list: Value = cluster.client.request(req).await?;
    Ok(match list {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

async fn get_one(cluster: &Cluster, path: String) -> Option<Value> {
    let req = http::Request::get(path).body(Vec::new()).ok()?;
    cluster.client.request::<Value>(req).await.ok()
}

/// Repo mode with a cluster at hand: the live side of the hand-over. The Flux Kustomizations
/// found in the repo are read back from the cluster (`prune` there is what counts), and the
/// claims' volumes are looked up (a dynamically provisioned volume is usually `Delete`).
/// Returns a note for the plan when the cluster could not be read.
pub async fn enrich_repo_tree(cluster: &Cluster, tree: &mut Tree) -> Option<String> {
    let live = futures::future::join_all(tree.flux.iter().map(|k|
        get_one(cluster, format!("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{}/kustomizations/{}", k.namespace, k.name))));
    let claims = futures::future::join_all(tree.objects.iter().filter(|o| o.kind == "PersistentVolumeClaim").map(|o| {
        let ns = o.namespace.clone().unwrap_or_else(|| cluster.namespace.clone());
        get_one(cluster, format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{}", o.name))
    }));
    let (live, claims) = tokio::join!(live, claims);
    if !tree.flux.is_empty() && live.iter().all(Option::is_none) && claims.iter().all(Option::is_none) {
        return Some(format!("read nothing from the cluster at {} (unreachable, or no access): prune and volumes judged from the repo only", cluster.server));
    }
    for (k, l) in tree.flux.iter_mut().zip(live) {
        if let Some(l) = l.as_ref().and_then(|l| FluxKustomization::from_value(l, "cluster")) {
            k.prune = l.prune;
            k.from = format!("{}, live", k.from);
        }
    }
    let mut claims = claims.into_iter();
    for o in tree.objects.iter_mut().filter(|o| o.kind == "PersistentVolumeClaim") {
        let volume = claims.next().flatten().and_then(|c| c.pointer("/spec/volumeName").and_then(Value::as_str).map(str::to_string));
        if let (Some(v), Some(spec)) = (volume, o.value.get_mut("spec").and_then(Value::as_object_mut)) {
            spec.entry("volumeName").or_insert(Value::String(v));
        }
    }
    add_volumes(cluster, tree).await;
    None
}

/// What the hand-over plan needs beyond the namespace: the Flux Kustomizations that applied the
/// workloads (kustomize-controller labels each object with its name), to read `prune`. Best
/// effort: a role that cannot read them still converts, and the plan then says it found none.
async fn hand_over_context(cluster: &Cluster, tree: &mut Tree) {
    let label = |o: &Object, k: &str| o.value.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str).map(str::to_string);
    let mut applied_by: Vec<(String, String)> = tree.objects.iter()
        .filter(|o| o.kind == "Deployment" || o.kind == "StatefulSet")
        .filter_map(|o| Some((label(o, "kustomize.toolkit.fluxcd.io/namespace")?, label(o, "kustomize.toolkit.fluxcd.io/name")?)))
        .collect();
    applied_by.sort();
    applied_by.dedup();
    let ks = futures::future::join_all(applied_by.iter().map(|(ns, name)|
        get_one(cluster, format!("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations/{name}"))));
    let ks = ks.await;
    tree.flux = ks.into_iter().flatten().filter_map(|k| FluxKustomization::from_value(&k, "cluster")).collect();
}

/// The PersistentVolumes bound to the tree's claims, as objects of the tree.
async fn add_volumes(cluster: &Cluster, tree: &mut Tree) {
    let volumes: Vec<String> = tree.objects.iter().filter(|o| o.kind == "PersistentVolumeClaim")
        .filter_map(|o| o.value.pointer("/spec/volumeName").and_then(Value::as_str).map(str::to_string)).collect();
    // A few volumes: one GET each; many: one list of them all (same cost as one GET per 100).
    let pvs = async {
        if volumes.len() <= 20 {
            futures::future::join_all(volumes.iter().map(|v| get_one(cluster, format!("/api/v1/persistentvolumes/{v}")))).await.into_iter().flatten().collect()
        } else {
            get_list(cluster, "/api/v1/persistentvolumes").await.unwrap_or_default().into_iter()
                .filter(|pv| pv.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| volumes.iter().any(|v| v == n))).collect::<Vec<Value>>()
        }
    };
    push_volumes(tree, pvs.await);
}

fn push_volumes(tree: &mut Tree, pvs: impl IntoIterator<Item = Value>) {
    for pv in pvs {
        let name = pv.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        tree.objects.push(cluster_object("v1", "PersistentVolume", None, name, defaults::strip("PersistentVolume", pv)));
    }
}

/// An object read from the cluster, in the tree's shape (its "file" is `kind/name`).
fn cluster_object(api_version: &str, kind: &str, namespace: Option<String>, name: String, value: Value) -> Object {
    Object { file: format!("{}/{name}", kind.to_lowercase()), doc: 0, line: 0, api_version: api_version.to_string(), kind: kind.to_string(), effective: Default::default(),
             namespace, name, kustomization: usize::MAX, value }
}

fn api_version(prefix: &str) -> String {
    prefix.trim_start_matches("/apis/").trim_start_matches("/api/").to_string()
}

/// Read the namespace's workloads, Services, claims, routes, HelmReleases and Secret names.
pub async fn load(cluster: &Cluster) -> Result<(Tree, Sources)> {
    let ns = &cluster.namespace;
    let lists = KINDS.iter().map(|(prefix, kind, plural, optional)| async move {
        let path = format!("{prefix}/namespaces/{ns}/{plural}");
        match get_list(cluster, &path).await {
            Ok(items) => Ok((*prefix, *kind, items)),
            Err(kube::Error::Api(s)) if *optional && s.code == 404 => Ok((*prefix, *kind, Vec::new())),
            Err(e) => Err(cluster.fail(format!("list {plural} in namespace {ns}"), e)),
        }
    });
    // Secrets: names only, as metadata; their data never leaves the apiserver.
    let secrets = async {
        let req = http::Request::get(format!("/api/v1/namespaces/{ns}/secrets"))
            .header("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
            .body(Vec::new())
            .map_err(kube::Error::HttpError);
        match req {
            Ok(req) => cluster.client.request::<Value>(req).await,
            Err(e) => Err(e),
        }
    };
    // ConfigMaps, for the effective env of `envFrom`; optional like Secrets.
    let config_maps_path = format!("/api/v1/namespaces/{ns}/configmaps");
    let config_maps = get_list(cluster, &config_maps_path);
    let repos = get_list(cluster, "/apis/source.toolkit.fluxcd.io/v1/helmrepositories");
    let oci_repos = get_list(cluster, "/apis/source.toolkit.fluxcd.io/v1/ocirepositories");
    // The volumes behind the namespace's claims, for the hand-over's reclaim-policy check: one
    // list beside the others (no extra round trip); a role without it still converts.
    let volumes = get_list(cluster, "/api/v1/persistentvolumes");
    let (lists, secrets, config_maps, repos, oci_repos, volumes) = tokio::join!(futures::future::join_all(lists), secrets, config_maps, repos, oci_repos, volumes);

    let mut tree = Tree { root: PathBuf::new(), ..Default::default() };
    for list in lists {
        let (prefix, kind, items) = list?;
        for item in items {
            let value = defaults::strip(kind, item);
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            tree.objects.push(cluster_object(&api_version(prefix), kind, Some(ns.clone()), name, value));
        }
    }
    // Secrets are optional for planning: a role without `list secrets` still converts.
    if let Ok(meta) = secrets {
        for item in meta.get("items").and_then(Value::as_array).into_iter().flatten() {
            let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            let value = serde_json::json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name, "namespace": ns } });
            tree.objects.push(cluster_object("v1", "Secret", Some(ns.clone()), name, value));
        }
    }
    for item in config_maps.unwrap_or_default() {
        let value = defaults::strip("ConfigMap", item);
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        tree.objects.push(cluster_object("v1", "ConfigMap", Some(ns.clone()), name, value));
    }
    let ours = volumes.unwrap_or_default().into_iter().filter(|pv| pv.pointer("/spec/claimRef/namespace").and_then(Value::as_str) == Some(ns.as_str()));
    push_volumes(&mut tree, ours);
    hand_over_context(cluster, &mut tree).await;
    let mut sources = Sources { default_namespace: Some("flux-system".into()), ..Default::default() };
    // Existing sources are reused when readable; a namespaced role may not see them.
    let kinds = [(SourceKind::HelmRepository, repos), (SourceKind::OciRepository, oci_repos)];
    for (kind, r) in kinds.into_iter().flat_map(|(k, list)| list.unwrap_or_default().into_iter().map(move |r| (k, r))) {
        let Some(url) = r.pointer("/spec/url").and_then(Value::as_str) else { continue };
        let at = |p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
        sources.known.push(Source {
            kind,
            name: at("/metadata/name").unwrap_or_default(),
            namespace: at("/metadata/namespace"),
            url: url.to_string(),
            tag: at("/spec/ref/tag"),
            file: String::new(),
            interval: at("/spec/interval"),
            in_namespace: None,
            namespace_known: true,
        });
    }
    Ok((tree, sources))
}

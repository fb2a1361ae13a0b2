//! The cluster as a source: the objects of one namespace, stripped of what the apiserver added,
//! in the same `Tree` shape the repo loader produces, so the same profiles and ledger apply.

use std::path::PathBuf;

use serde_json::Value;

use super::api::{self, Resource};
use super::{Cluster, defaults};
use crate::error::Result;
use crate::profiles::SourceKind;
use crate::plan::{Source, Sources};
use crate::source::flux::FluxKustomization;
use crate::source::{LiveMetadata, Object, Tree};

/// The kinds a chart may take over under the same name: their live marks gate the move.
const HANDED_OVER: [&Resource; 3] = [&api::SERVICE, &api::DEPLOYMENT, &api::STATEFUL_SET];

/// The namespace's kinds a conversion reads (optional APIs list as empty when not served).
const KINDS: [&Resource; 7] = [&api::DEPLOYMENT, &api::STATEFUL_SET, &api::SERVICE, &api::PERSISTENT_VOLUME_CLAIM, &api::HTTP_ROUTE, &api::INGRESS, &api::HELM_RELEASE];

/// Repo mode with a cluster at hand: the live side of the hand-over. The Flux Kustomizations
/// found in the repo are read back from the cluster (`prune` there is what counts), and the
/// claims' volumes are looked up (a dynamically provisioned volume is usually `Delete`).
/// The live metadata of the tree's Services and workloads is read too, namespace by namespace,
/// for the hand-over's check that step 1's marks are live before the move.
/// Returns a note for the plan when the cluster could not be read.
pub async fn enrich_repo_tree(cluster: &Cluster, tree: &mut Tree) -> Option<String> {
    let mut wanted: Vec<(&'static Resource, String)> = tree.objects.iter()
        .filter_map(|o| Some((HANDED_OVER.into_iter().find(|r| r.kind == o.kind)?, o.namespace.clone().unwrap_or_else(|| cluster.namespace.clone()))))
        .collect();
    wanted.sort_by(|a, b| (a.0.kind, &a.1).cmp(&(b.0.kind, &b.1)));
    wanted.dedup();
    let metadata = futures::future::join_all(wanted.iter().map(|(r, ns)| async move { cluster.objects(r, Some(ns)).list_metadata(None).await }));
    let live = futures::future::join_all(tree.flux.iter().map(|k|
        async { cluster.objects(&api::KUSTOMIZATION, Some(&k.namespace)).try_get(&k.name).await }));
    let claims = futures::future::join_all(tree.objects.iter().filter(|o| o.kind == "PersistentVolumeClaim").map(|o| async {
        let ns = o.namespace.clone().unwrap_or_else(|| cluster.namespace.clone());
        cluster.objects(&api::PERSISTENT_VOLUME_CLAIM, Some(&ns)).try_get(&o.name).await
    }));
    let (live, claims, metadata) = tokio::join!(live, claims, metadata);
    let mut marks = LiveMetadata { default_namespace: cluster.namespace.clone(), ..Default::default() };
    for ((r, ns), items) in wanted.iter().zip(metadata) {
        if let Ok(items) = items {
            marks.add(r.kind, ns, items);
        }
    }
    let read_marks = !marks.read.is_empty();
    tree.live = read_marks.then_some(marks);
    if !tree.flux.is_empty() && live.iter().all(Option::is_none) && claims.iter().all(Option::is_none) && !read_marks {
        return Some(format!("read nothing from the cluster at {} (unreachable, or no access): prune, volumes and the hand-over marks judged from the repo only", cluster.server));
    }
    for (k, l) in tree.flux.iter_mut().zip(live) {
        if let Some(l) = l.as_ref().and_then(|l| FluxKustomization::from_value(l, "cluster")) {
            k.prune = l.prune;
            k.applied_revision = l.applied_revision;
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
        async { cluster.objects(&api::KUSTOMIZATION, Some(ns)).try_get(name).await }));
    let ks = ks.await;
    tree.flux = ks.into_iter().flatten().filter_map(|k| FluxKustomization::from_value(&k, "cluster")).collect();
}

/// The PersistentVolumes bound to the tree's claims, as objects of the tree.
async fn add_volumes(cluster: &Cluster, tree: &mut Tree) {
    let volumes: Vec<String> = tree.objects.iter().filter(|o| o.kind == "PersistentVolumeClaim")
        .filter_map(|o| o.value.pointer("/spec/volumeName").and_then(Value::as_str).map(str::to_string)).collect();
    // A few volumes: one GET each; many: one list of them all (same cost as one GET per 100).
    let pvs = cluster.objects(&api::PERSISTENT_VOLUME, None);
    let pvs = async {
        if volumes.len() <= 20 {
            futures::future::join_all(volumes.iter().map(|v| pvs.try_get(v))).await.into_iter().flatten().collect()
        } else {
            pvs.list().await.unwrap_or_default().into_iter()
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

/// Read the namespace's workloads, Services, claims, routes, HelmReleases and Secret names.
pub async fn load(cluster: &Cluster) -> Result<(Tree, Sources)> {
    let ns = &cluster.namespace;
    let lists = KINDS.iter().map(|r| async move { cluster.here(r).list().await.map(|items| (*r, items)) });
    // Secrets: names only, as metadata; their data never leaves the apiserver. Optional for
    // planning: a role without `list secrets` still converts.
    let secrets = cluster.here(&api::SECRET);
    let secrets = secrets.list_metadata(None);
    // ConfigMaps, for the effective env of `envFrom`; optional like Secrets.
    let config_maps = cluster.here(&api::CONFIG_MAP);
    let config_maps = config_maps.list();
    let (repos, oci_repos) = (cluster.objects(&api::HELM_REPOSITORY, None), cluster.objects(&api::OCI_REPOSITORY, None));
    let (repos, oci_repos) = (repos.list(), oci_repos.list());
    // The volumes behind the namespace's claims, for the hand-over's reclaim-policy check: one
    // list beside the others (no extra round trip); a role without it still converts.
    let volumes = cluster.objects(&api::PERSISTENT_VOLUME, None);
    let volumes = volumes.list();
    let (lists, secrets, config_maps, repos, oci_repos, volumes) = tokio::join!(futures::future::join_all(lists), secrets, config_maps, repos, oci_repos, volumes);

    let mut tree = Tree { root: PathBuf::new(), ..Default::default() };
    let mut marks = LiveMetadata { default_namespace: ns.clone(), ..Default::default() };
    for list in lists {
        let (r, items) = list?;
        if HANDED_OVER.contains(&r) {
            marks.add(r.kind, ns, items.iter().map(|i| serde_json::json!({ "metadata": i.get("metadata").cloned().unwrap_or(Value::Null) })));
        }
        for item in items {
            let value = defaults::strip(r.kind, item);
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            tree.objects.push(cluster_object(&r.api_version(), r.kind, Some(ns.clone()), name, value));
        }
    }
    if let Ok(meta) = secrets {
        for item in meta {
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
    tree.live = Some(marks);
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

//! The prune-safe hand-over from Flux's kustomize-controller to helm-controller.
//!
//! A Flux Kustomization with `prune: true` deletes every object that leaves Git. Objects the chart
//! takes over under the same name (the Service, a workload Helm can adopt) must survive that, so
//! the move is two steps: `--prepare` marks them in Git — `kustomize.toolkit.fluxcd.io/prune:
//! disabled` plus Helm's ownership metadata — and once that is live, the move takes them out of
//! Git: Flux leaves them, Helm adopts them. Claims stay in Git throughout (marked too, so removing
//! one later never deletes its data). Whatever cannot be adopted (another kind, an immutable
//! selector) is deleted and recreated: the plan says so and states the downtime.

use serde::Serialize;
use serde_json::{Value, json};

use crate::mapping::{Level, Warning};
use crate::model::{App, WorkloadKind};
use crate::profiles::ChartWorkload;
use std::collections::HashMap;

use crate::source::{Object, Tree};
use crate::source::flux::FluxKustomization;

pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
const FLUX_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
const FLUX_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// An object the chart renders under the same kind and name, handed over instead of recreated.
#[derive(Debug, Clone, Serialize)]
pub struct Takeover {
    pub kind: String,
    pub name: String,
    /// Index in `tree.objects`.
    #[serde(skip)]
    pub object: usize,
    pub file: String,
    /// Already carries the hand-over marks in Git (step 1 done).
    pub marked: bool,
    /// Carries them in the cluster (step 1 live); `None`: no cluster read, or not there.
    #[serde(rename = "liveMarked", skip_serializing_if = "Option::is_none")]
    pub live_marked: Option<bool>,
    /// The marks the live object lacks (`key=value`).
    #[serde(skip)]
    pub live_missing: Vec<String>,
    /// The cluster's copy was looked up (read, whether there or not).
    #[serde(skip)]
    pub live_read: bool,
}

impl Takeover {
    fn new(tree: &Tree, object: usize, kind: &str, name: &str, release: &str, namespace: &str, prune: bool) -> Takeover {
        let o = &tree.objects[object];
        let looked = tree.live.as_ref().and_then(|l| l.get(kind, o.namespace.as_deref(), name));
        let live = looked.flatten();
        let live_missing = live.map(|v| missing_marks(v, release, namespace, prune)).unwrap_or_default();
        // Live mode: the object is the cluster's (its metadata as read, before stripping).
        let marked = if tree.root.as_os_str().is_empty() { live.is_some() && live_missing.is_empty() } else { missing_marks(&o.value, release, namespace, prune).is_empty() };
        Takeover { kind: kind.to_string(), name: name.to_string(), object, file: o.file.clone(), marked, live_marked: live.map(|_| live_missing.is_empty()), live_missing, live_read: looked.is_some() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Handover {
    /// The Flux Kustomizations that apply the app's files (`namespace/name`, where read).
    pub kustomizations: Vec<String>,
    /// Does any of them prune? `None`: no Flux Kustomization applying the folder was found.
    pub prune: Option<bool>,
    pub takeovers: Vec<Takeover>,
    /// Claims the workload mounts that are defined in Git (they stay there).
    pub claims: Vec<String>,
    /// What happens, in order.
    pub steps: Vec<String>,
    /// Every object the chart takes over carries the marks: the move hands them over.
    pub ready: bool,
}

/// Annotations or labels to set: (key, value).
pub type Marks<'a> = Vec<(&'static str, &'a str)>;

/// The marks of step 1: Flux stops pruning the object and Helm may adopt it.
pub fn marks<'a>(release: &'a str, namespace: &'a str, prune: bool) -> (Marks<'a>, Marks<'static>) {
    let mut annotations = vec![("meta.helm.sh/release-name", release), ("meta.helm.sh/release-namespace", namespace)];
    if prune {
        annotations.insert(0, (PRUNE_ANNOTATION, "disabled"));
    }
    (annotations, vec![("app.kubernetes.io/managed-by", "Helm")])
}

/// The marks of step 1 that `v` lacks, as `key=value`.
fn missing_marks(v: &Value, release: &str, namespace: &str, prune: bool) -> Vec<String> {
    let (annotations, labels) = marks(release, namespace, prune);
    let has = |section: &str, k: &str, want: &str| v.pointer(&format!("/metadata/{section}")).and_then(|m| m.get(k)).and_then(Value::as_str) == Some(want);
    let missing = |section: &'static str, list: Marks<'_>| list.into_iter().filter(move |(k, want)| !has(section, k, want)).map(|(k, want)| format!("{k}={want}")).collect::<Vec<_>>();
    missing("annotations", annotations).into_iter().chain(missing("labels", labels)).collect()
}

fn selector_of(v: &Value) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = v.pointer("/spec/selector/matchLabels").and_then(Value::as_object).into_iter().flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
    s.sort();
    s
}

fn labels(s: &[(String, String)]) -> String {
    if s.is_empty() {
        return "(none)".into();
    }
    s.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The Flux Kustomizations that apply the workload: from the repo's files by path, or — for an
/// object read from the cluster — the ones named by the labels kustomize-controller puts on it.
fn applying(tree: &Tree, object: usize) -> Vec<&FluxKustomization> {
    let o = &tree.objects[object];
    if tree.root.as_os_str().is_empty() {
        let label = |k: &str| o.value.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str);
        return match (label(FLUX_NAME_LABEL), label(FLUX_NAMESPACE_LABEL)) {
            (Some(n), Some(ns)) => tree.flux.iter().filter(|k| k.name == n && k.namespace == ns).collect(),
            _ => Vec::new(),
        };
    }
    // Read through a Flux Kustomization (a `ks.yaml` followed to its path): that one applies it.
    if o.kustomization < tree.kustomizations.len() {
        let entry = crate::source::build::entry_of(tree, o.kustomization);
        if let Some(f) = tree.kustomizations[entry].applier.map(|i| &tree.flux[i]).filter(|f| f.path == tree.kustomizations[entry].dir) {
            return vec![f];
        }
    }
    tree.appliers(&o.file).into_iter().map(|i| &tree.flux[i]).collect()
}

/// Claims and the volumes behind them, indexed once per plan (a namespace may hold thousands).
pub struct Volumes<'t> {
    claims: HashMap<(Option<&'t str>, &'t str), &'t Object>,
    by_name: HashMap<&'t str, &'t Object>,
    /// By `spec.claimRef` (namespace, name); a claimRef without namespace under `None`.
    by_claim: HashMap<(Option<&'t str>, &'t str), &'t Object>,
}

impl<'t> Volumes<'t> {
    pub fn index(tree: &'t Tree) -> Self {
        let mut v = Volumes { claims: HashMap::new(), by_name: HashMap::new(), by_claim: HashMap::new() };
        for o in &tree.objects {
            match o.kind.as_str() {
                "PersistentVolumeClaim" => {
                    v.claims.entry((o.namespace.as_deref(), o.name.as_str())).or_insert(o);
                }
                "PersistentVolume" => {
                    v.by_name.entry(o.name.as_str()).or_insert(o);
                    if let Some(claim) = o.value.pointer("/spec/claimRef/name").and_then(Value::as_str) {
                        let ns = o.value.pointer("/spec/claimRef/namespace").and_then(Value::as_str);
                        v.by_claim.entry((ns, claim)).or_insert(o);
                    }
                }
                _ => {}
            }
        }
        v
    }

    fn claim(&self, ns: Option<&str>, name: &str) -> Option<&'t Object> {
        self.claims.get(&(ns, name)).copied()
    }

    fn volume_of(&self, pvc: &Object) -> Option<&'t Object> {
        let by_name = pvc.value.pointer("/spec/volumeName").and_then(Value::as_str).and_then(|n| self.by_name.get(n));
        by_name.or_else(|| self.by_claim.get(&(pvc.namespace.as_deref(), pvc.name.as_str())))
            .or_else(|| self.by_claim.get(&(None, pvc.name.as_str()))).copied()
    }
}

/// Plan the hand-over of `app` (read before the profile took fields off it) to `chart`.
pub fn plan(tree: &Tree, volumes: &Volumes, app: &App, release: &str, chart: &ChartWorkload, chart_services: &[String], prepare: bool) -> (Handover, Vec<Warning>) {
    let w = &app.workload;
    let old = &tree.objects[app.object];
    let ns = w.namespace.clone().unwrap_or_default();
    let ks = applying(tree, app.object);
    let prune = if ks.is_empty() { None } else { Some(ks.iter().any(|k| k.prune)) };
    let pruning = prune == Some(true);
    let mut warnings = Vec::new();
    let mut warn = |level, message: String| warnings.push(Warning { level, message });

    // What the chart renders under the same kind and name.
    let mut takeovers = Vec::new();
    for svc in app.services.iter().filter(|s| chart_services.contains(&s.name)) {
        takeovers.push(Takeover::new(tree, svc.object, "Service", &svc.name, release, &ns, pruning));
    }
    let old_selector = selector_of(&old.value);
    let mut chart_selector = chart.selector.clone();
    chart_selector.sort();
    let replaced = format!("{} {}", w.kind, w.name);
    let downtime = "its pods stop before the chart's start: expect downtime from their termination until the new pods are Ready";
    if chart.kind == w.kind && chart.name == w.name && chart_selector == old_selector {
        takeovers.push(Takeover::new(tree, app.object, &w.kind.to_string(), &w.name, release, &ns, pruning));
    } else if chart.kind != w.kind {
        warn(Level::Warning, format!("{}: the chart runs a {} where a {} ran; an object's kind cannot change, so the {replaced} is deleted and the {} {} created: {downtime}",
            w.name, chart.kind, w.kind, chart.kind, chart.name));
    } else if chart.name == w.name {
        warn(Level::Warning, format!("{}: the {replaced} selects {} but the chart's selects {}; a selector is immutable, so Helm cannot adopt it: the old one is deleted and recreated — {downtime}",
            w.name, labels(&old_selector), labels(&chart_selector)));
    }
    let deleted_old = !takeovers.iter().any(|t| t.object == app.object);
    let mounted = w.claims();

    // A StatefulSet that deletes its claims with it would take the data the chart is to reuse.
    if deleted_old && w.kind == WorkloadKind::StatefulSet
        && old.value.pointer("/spec/persistentVolumeClaimRetentionPolicy/whenDeleted").and_then(Value::as_str) == Some("Delete") && !prepare {
        warn(Level::Blocking, format!("{}: the StatefulSet has persistentVolumeClaimRetentionPolicy.whenDeleted: Delete, so deleting it deletes its claims ({}) with the data the chart is to mount; set it to Retain, push and reconcile, then convert",
            w.name, if mounted.is_empty() { "its volumeClaimTemplates' claims".into() } else { mounted.join(", ") }));
    }

    // Claims in Git stay in Git; a PersistentVolume that deletes its data with the claim is a risk
    // worth stating either way.
    let pvcs: Vec<&Object> = mounted.iter().filter_map(|c| volumes.claim(w.namespace.as_deref(), c)).collect();
    for pvc in &pvcs {
        if let Some(pv) = volumes.volume_of(pvc).filter(|pv| pv.value.pointer("/spec/persistentVolumeReclaimPolicy").and_then(Value::as_str) == Some("Delete")) {
            warn(Level::Warning, format!("PersistentVolume {} behind claim {} has reclaimPolicy Delete: if the claim is ever deleted, the volume's data goes with it; before the move: kubectl patch pv {} -p '{{\"spec\":{{\"persistentVolumeReclaimPolicy\":\"Retain\"}}}}'",
                pv.name, pvc.name, pv.name));
        }
    }
    let claims: Vec<String> = pvcs.iter().map(|o| o.name.clone()).collect();

    let ks_names: Vec<String> = ks.iter().map(|k| format!("{} (prune: {}, {})", k.id(), k.prune, k.from)).collect();
    let ready = takeovers.iter().all(|t| t.marked);
    let names = |f: &dyn Fn(&Takeover) -> bool| takeovers.iter().filter(|t| f(t)).map(|t| format!("{} {}", t.kind, t.name)).collect::<Vec<_>>().join(", ");
    let adopt = names(&|_| true);
    let reconcile = ks.first().map_or_else(|| "reconcile the Flux Kustomization that applies it".to_string(),
        |k| format!("flux reconcile kustomization {} -n {} --with-source", k.name, k.namespace));
    let mut steps = Vec::new();
    match (prepare, ready || takeovers.is_empty()) {
        (true, true) => steps.push("step 1 (prepare): nothing to mark — already prepared; run convert --write for the move".to_string()),
        (true, false) => {
            steps.push(format!("step 1 (this change): mark {} for Helm to adopt ({}){}; the running app does not change",
                names(&|t| !t.marked), "meta.helm.sh/release-name/-namespace, app.kubernetes.io/managed-by: Helm",
                if pruning { format!(" and {PRUNE_ANNOTATION}: disabled so Flux never deletes them") } else { String::new() }));
            steps.push(format!("then: commit, push, {reconcile}; check the marks are live: kubectl get {} -n {ns} -o yaml", takeovers.first().map_or(String::new(), |t| format!("{} {}", t.kind.to_lowercase(), t.name))));
            steps.push("step 2: run convert --write (without --prepare): the move".to_string());
        }
        (false, _) => {
            let not_live: Vec<&Takeover> = takeovers.iter().filter(|t| t.live_marked == Some(false)).collect();
            for t in &not_live {
                warn(Level::Blocking, outrun(t, &ns, pruning, &ks, &reconcile));
            }
            if !takeovers.is_empty() && ready {
                let checked = match (tree.live.is_some(), takeovers.iter().all(|t| t.live_read)) {
                    (_, true) => "",
                    (false, false) => " (not checked against the cluster: make sure they are live before pushing this, or pass --context and convert checks it)",
                    (true, false) => " (the cluster's copy could not be read — the role needs list on services and workloads: make sure they are live before pushing this)",
                };
                steps.push(format!("step 1 done: the hand-over marks are in Git on {adopt}{checked}"));
                steps.push(format!("step 2 (this change): {adopt} out of Git; Flux {} and helm-controller adopts {adopt} on install (driftDetection on: it also restores anything changed under it)",
                    if pruning { "does not delete it (prune: disabled)" } else { "leaves it" }));
                steps.push(format!("the HelmRelease installs with strategy RetryOnFailure, not install remediation: a remediation would uninstall the failed release and with it {adopt}"));
            } else if !takeovers.is_empty() && not_live.is_empty() {
                let what = if pruning {
                    format!("Flux deletes {adopt} when it leaves Git and the chart recreates it (a new clusterIP; connections drop; the install may fail once on the race and is retried)")
                } else {
                    format!("{adopt} stay in the cluster without an owner and the chart's install fails on them (\"exists and cannot be imported\") until you delete them")
                };
                warn(Level::Warning, format!("{}: {what}; for a hand-over without that, run convert with --prepare --write first, push and reconcile, then convert --write", w.name));
            }
            if deleted_old {
                match prune {
                    Some(true) => steps.push(format!("the {replaced} leaves Git and Flux deletes it (prune); helm-controller installs the chart")),
                    _ => {
                        steps.push(format!("after the push: kubectl delete {} {} -n {ns} (nothing prunes it) — helm-controller's install of the chart waits for it", w.kind.to_string().to_lowercase(), w.name));
                        warn(Level::Warning, format!("{}: {} applies this folder without prune, so the old {replaced} keeps running after it leaves Git; delete it after the push (kubectl delete {} {} -n {ns})",
                            w.name, if ks.is_empty() { "no Flux Kustomization in this repo".to_string() } else { ks_names.join(", ") }, w.kind.to_string().to_lowercase(), w.name));
                    }
                }
            }
            if !claims.is_empty() {
                steps.push(format!("claims {} keep their manifests (applied as before) and their data; the chart mounts them with existingClaim", claims.join(", ")));
            }
            steps.push(format!("then: kubectl helmigrate verify -n {ns} --app {}", w.name));
        }
    }
    let live = takeovers.iter().all(|t| t.live_marked != Some(false));
    (Handover { kustomizations: ks_names, prune, takeovers, claims, steps, ready: ready && live && !prepare }, warnings)
}

/// Why the move must wait: `t` lacks step 1's marks in the cluster, and what to run.
fn outrun(t: &Takeover, ns: &str, pruning: bool, ks: &[&FluxKustomization], reconcile: &str) -> String {
    let fate = if pruning { "Flux would prune it when it leaves Git and the chart recreate it" } else { "Helm would refuse to adopt it and the install fail" };
    let next = if ks.is_empty() {
        // Nothing in Flux applies it: the marks go on by hand.
        let (labels, annotations): (Vec<&str>, Vec<&str>) = t.live_missing.iter().map(String::as_str).partition(|m| m.starts_with("app.kubernetes.io/managed-by="));
        let object = format!("{} {} -n {ns}", t.kind.to_lowercase(), t.name);
        let cmds: Vec<String> = [("annotate", annotations), ("label", labels)].into_iter().filter(|(_, marks)| !marks.is_empty())
            .map(|(verb, marks)| format!("kubectl {verb} {object} {}", marks.join(" "))).collect();
        format!("no Flux Kustomization applies it, so mark it by hand: `{}`, then run this convert again", cmds.join(" && "))
    } else if t.marked {
        let applied = ks.iter().find_map(|k| Some(format!("; Kustomization {} has applied {}", k.id(), k.applied_revision.as_ref()?))).unwrap_or_default();
        format!("step 1 is in Git ({}) but not live yet{applied}: commit and push it, run `{reconcile}`, then run this convert again", t.file)
    } else {
        format!("run step 1 first: `convert PATH --prepare --write` on the repo folder, commit, push, `{reconcile}`, then this convert again")
    };
    format!("{} {ns}/{} in the cluster lacks step 1's marks ({}), so the move is blocked: {fate}; {next}", t.kind, t.name, t.live_missing.join(", "))
}

/// HelmRelease settings for a release that adopts objects: retry a failed install instead of
/// remediating it (an uninstall would delete the adopted objects), and correct drift (closes
/// the window where kustomize-controller's last apply lands after Helm's adoption).
pub fn adopting_release(spec: &mut Value) {
    spec["install"] = json!({ "strategy": { "name": "RetryOnFailure", "retryInterval": "2m" } });
    spec["driftDetection"] = json!({ "mode": "enabled" });
}

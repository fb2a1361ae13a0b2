//! `rollback --write --execute`: the cluster order `rollback` otherwise prints, carried out.
//!
//! 1. Suspend the Flux Kustomization(s) applying the folder (else Flux re-applies the HelmRelease
//!    from Git before the restore is pushed) and each HelmRelease (else helm-controller upgrades,
//!    or uninstalls when it is deleted).
//! 2. Server-side apply the restored raw workloads and Services (field manager `helmigrate`,
//!    force). A chart object of the same kind and name that differs in an immutable field is
//!    deleted first (its pods restart); Helm's ownership metadata is removed from the objects the
//!    raw manifests now own. Secrets, SOPS files and claims are never touched.
//! 3. Delete each (suspended) HelmRelease, which runs no Helm uninstall, and Helm's release
//!    history Secrets (listed as metadata: their data never leaves the apiserver).
//! 4. Resume a Kustomization only when its source already has the restore commit; otherwise
//!    print the commands to run after `git push`.
//!
//! Each step is printed as it happens. The first failure stops everything: what was done and what
//! remains are printed, and the error is one line with its own exit code.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::{FluxKustomization, RecordApp, cluster_order, flux_kustomizations, kustomization_for};
use crate::apply::git;
use crate::cluster::KubeArgs;
use crate::cluster::api::{self, FIELD_MANAGER, Resource};
use crate::cluster::flux::FluxKind;
use crate::cluster::{self, Cluster, Role};
use crate::error::{Error, Fault, Result};
use crate::plan::FileChange;
use crate::source::repo::{is_sops, split_objects_lenient};

/// Helm's ownership marks: with them, a later `helm upgrade` would adopt the object again.
const HELM_ANNOTATIONS: [&str; 2] = ["meta.helm.sh/release-name", "meta.helm.sh/release-namespace"];
const HELM_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "Helm");

/// The kinds re-applied from the restored files.
const RAW_KINDS: [&Resource; 3] = [&api::DEPLOYMENT, &api::STATEFUL_SET, &api::SERVICE];

/// One raw object to put back.
struct Raw {
    resource: &'static Resource,
    namespace: String,
    name: String,
    value: Value,
}

impl Raw {
    fn title(&self) -> String {
        format!("{} {}/{}", self.resource.kind, self.namespace, self.name)
    }
}

/// Step progress, for the summary when a step fails.
struct Progress {
    step: usize,
    done: usize,
}

impl Progress {
    fn line(&mut self, msg: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "  {}. {msg}", self.step);
        let _ = out.flush();
    }

    fn did(&mut self, msg: &str) {
        self.done += 1;
        self.line(msg);
    }
}

pub(super) fn run(kube: &KubeArgs, root: &Path, apps: &[RecordApp], restored: &[FileChange], committed: bool) -> Result<()> {
    println!("\nIn the cluster (--execute), in the safe order:");
    let mut p = Progress { step: 1, done: 0 };
    let result = cluster::runtime().and_then(|rt| rt.block_on(steps(kube, root, apps, restored, committed, &mut p)));
    if let Err(e) = &result {
        const STEPS: [&str; 4] = ["suspend", "re-apply the raw manifests", "delete the HelmRelease(s) and Helm's history", "resume"];
        let remaining = STEPS[p.step.saturating_sub(1).min(3)..].join(", ");
        let done = if p.done == 0 { "nothing was changed in the cluster".to_string() } else { format!("{} change(s) above were made", p.done) };
        println!("stopped at step {} ({}): {done}; the files stay restored. Remaining: {remaining}.", p.step, fault_word(e));
        println!("Once the cause is fixed, run the order by hand (each step is safe to repeat):");
        print!("{}", cluster_order(root, apps, committed).replacen(" (helmigrate changes nothing there; run these yourself)", "", 1));
    }
    result
}

fn fault_word(e: &Error) -> &'static str {
    match e {
        Error::Cluster { fault: Fault::Forbidden, .. } => "permission denied",
        Error::Cluster { fault: Fault::Unreachable, .. } => "cluster unreachable",
        Error::Cluster { fault: Fault::NotFound, .. } => "not found",
        _ => "failed",
    }
}

async fn steps(kube: &KubeArgs, root: &Path, apps: &[RecordApp], restored: &[FileChange], committed: bool, p: &mut Progress) -> Result<()> {
    let c = cluster::connect(kube, Role::Rollback).await?;
    let ns_of = |a: &RecordApp| a.namespace.clone().unwrap_or_else(|| c.namespace.clone());

    // 1. Suspend.
    let all = flux_kustomizations(root);
    let mut ks: Vec<&FluxKustomization> = Vec::new();
    for a in apps {
        if let Some(k) = kustomization_for(root, &all, &a.helmrelease)
            && !ks.iter().any(|x| x.name == k.name && x.namespace == k.namespace) {
                ks.push(k);
            }
    }
    let mut suspended_ks = Vec::new();
    for k in &ks {
        let kustomizations = c.objects(&api::KUSTOMIZATION, Some(&k.namespace));
        let title = format!("Kustomization {}/{}", k.namespace, k.name);
        match kustomizations.get(&k.name).await? {
            None => p.line(&format!("{title} is not in the cluster: nothing to suspend")),
            Some(live) => {
                kustomizations.merge_patch(&k.name, &json!({"spec": {"suspend": true}}), &format!("suspend {title}")).await?;
                p.did(&format!("suspended {title}"));
                suspended_ks.push((k, live));
            }
        }
    }
    if ks.is_empty() {
        p.line("no Flux Kustomization in the repo applies this folder: nothing to suspend");
    }
    let mut releases = Vec::new();
    for a in apps {
        let ns = ns_of(a);
        let hrs = c.objects(&api::HELM_RELEASE, Some(&ns));
        let title = format!("HelmRelease {ns}/{}", a.name);
        if hrs.get(&a.name).await?.is_none() {
            p.line(&format!("{title} is not in the cluster: nothing to suspend"));
            continue;
        }
        hrs.merge_patch(&a.name, &json!({"spec": {"suspend": true}}), &format!("suspend {title}")).await?;
        p.did(&format!("suspended {title}"));
        releases.push((a, ns, title));
    }

    // 2. Re-apply the raw manifests.
    p.step = 2;
    for raw in raw_objects(apps, restored, &ns_of) {
        reapply(&c, &raw, p).await?;
    }

    // 3. Delete the suspended HelmReleases and Helm's history.
    p.step = 3;
    for (a, ns, title) in &releases {
        let hrs = c.objects(&api::HELM_RELEASE, Some(ns));
        hrs.delete(&a.name, &format!("delete {title}")).await?;
        // helm-controller drops its finalizer at once for a suspended release (no uninstall).
        let gone = hrs.wait_deleted(&a.name, Duration::from_secs(60)).await?;
        p.did(&format!("deleted {title} (suspended: no Helm uninstall){}", if gone { "" } else { "; helm-controller has not removed its finalizer yet" }));
    }
    for a in apps {
        let ns = ns_of(a);
        let secrets = c.objects(&api::SECRET, Some(&ns));
        let names = helm_history(&c, &ns, &a.release_name).await?;
        if names.is_empty() {
            p.line(&format!("no Helm release history for {ns}/{}", a.release_name));
        }
        for name in names {
            secrets.delete(&name, &format!("delete Secret {ns}/{name}")).await?;
            p.did(&format!("deleted Helm release history Secret {ns}/{name}"));
        }
        p.line(&format!("objects only the chart had stay (no uninstall ran): kubectl get all,serviceaccount,configmap -n {ns} -l app.kubernetes.io/instance={}", a.release_name));
    }

    // 4. Resume, only when Flux already has the restore commit (else it would re-apply the
    //    HelmRelease from the old revision).
    p.step = 4;
    let head = if committed { git(root, &["rev-parse", "HEAD"]).ok().map(|s| s.trim().to_string()) } else { None };
    for (k, live) in suspended_ks {
        let title = format!("Kustomization {}/{}", k.namespace, k.name);
        let src_kind = live.pointer("/spec/sourceRef/kind").and_then(Value::as_str).and_then(FluxKind::from_kind).unwrap_or(FluxKind::GitRepository);
        let src_name = live.pointer("/spec/sourceRef/name").and_then(Value::as_str).unwrap_or("flux-system").to_string();
        let src_ns = live.pointer("/spec/sourceRef/namespace").and_then(Value::as_str).unwrap_or(&k.namespace).to_string();
        let revision = match c.objects(src_kind.table(), Some(&src_ns)).get(&src_name).await? {
            Some(src) => src_kind.revision(&src),
            None => None,
        };
        let has = matches!((&head, &revision), (Some(h), Some(r)) if r.contains(h.as_str()));
        if has {
            c.objects(&api::KUSTOMIZATION, Some(&k.namespace)).merge_patch(&k.name, &json!({"spec": {"suspend": false}}), &format!("resume {title}")).await?;
            p.did(&format!("resumed {title}: {} {src_ns}/{src_name} has the restore commit", src_kind.kind()));
            continue;
        }
        let why = match (&head, &revision) {
            (None, _) => "the restore is not committed".to_string(),
            (Some(h), _) => format!("{} {src_ns}/{src_name} does not have the restore commit {} yet", src_kind.kind(), &h[..h.len().min(12)]),
        };
        p.line(&format!("{title} stays suspended: {why}. After pushing, run:"));
        let commit = if head.is_none() { "git commit (the restored files) && " } else { "" };
        println!("       {commit}git push");
        println!("       flux reconcile {} {src_name} -n {src_ns}", src_kind.flux_cli());
        println!("       flux resume kustomization {} -n {}", k.name, k.namespace);
    }
    println!("Claims are untouched: nothing here deletes a PersistentVolumeClaim.");
    Ok(())
}

/// The restored files' workloads and Services, app by app (files in the HelmRelease's folder).
fn raw_objects(apps: &[RecordApp], restored: &[FileChange], ns_of: &dyn Fn(&RecordApp) -> String) -> Vec<Raw> {
    let mut out: Vec<Raw> = Vec::new();
    for a in apps {
        let dir = Path::new(&a.helmrelease).parent().unwrap_or(Path::new(""));
        for f in restored {
            let Some(text) = f.after.as_deref() else { continue };
            let file = Path::new(&f.path);
            if file.parent() != Some(dir) || file.file_name().is_some_and(|n| n == "kustomization.yaml" || n == "kustomization.yml") {
                continue;
            }
            for v in split_objects_lenient(&f.path, text).unwrap_or_default() {
                if is_sops(&v) {
                    continue;
                }
                let Some(resource) = RAW_KINDS.into_iter().find(|k| v.get("kind").and_then(Value::as_str) == Some(k.kind)) else { continue };
                let Some(name) = v.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string) else { continue };
                let namespace = v.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| ns_of(a));
                if !out.iter().any(|r| r.resource == resource && r.name == name && r.namespace == namespace) {
                    out.push(Raw { resource, namespace, name, value: v });
                }
            }
        }
    }
    for r in &mut out {
        r.value["metadata"]["namespace"] = r.namespace.clone().into();
    }
    out
}

/// The immutable field in which the live object differs from the raw one, if any.
fn immutable_difference(kind: &str, live: &Value, raw: &Value) -> Option<&'static str> {
    let at = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    if matches!(kind, "Deployment" | "StatefulSet") && at(live, "/spec/selector") != at(raw, "/spec/selector") {
        return Some("spec.selector");
    }
    if kind == "StatefulSet" {
        if at(live, "/spec/serviceName") != at(raw, "/spec/serviceName") {
            return Some("spec.serviceName");
        }
        // The server fills in defaults: compare what the templates are, by name and request.
        let shape = |v: &Value| -> Vec<(Value, Value)> {
            v.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).map(|a| a.iter()
                .map(|t| (at(t, "/metadata/name"), at(t, "/spec/resources/requests/storage"))).collect()).unwrap_or_default()
        };
        if shape(live) != shape(raw) {
            return Some("spec.volumeClaimTemplates");
        }
    }
    None
}

async fn reapply(c: &Cluster, raw: &Raw, p: &mut Progress) -> Result<()> {
    let objects = c.objects(raw.resource, Some(&raw.namespace));
    let (kind, title) = (raw.resource.kind, raw.title());
    if let Some(live) = objects.get(&raw.name).await? {
        if let Some(field) = immutable_difference(kind, &live, &raw.value) {
            objects.delete(&raw.name, &format!("delete {title}")).await?;
            objects.wait_deleted(&raw.name, Duration::from_secs(60)).await?;
            p.did(&format!("deleted the chart's {title}: its {field} differs from the raw one and cannot change; its pods restart (downtime)"));
        } else {
            objects.json_patch(&raw.name, &take_over(raw, &live), &format!("take over {title}")).await?;
            p.did(&format!("took {title} over from Helm (raw spec, no Helm ownership labels or annotations)"));
        }
    }
    objects.apply(&raw.name, &raw.value, &format!("apply {title}")).await?;
    p.did(&format!("applied {title} (server-side, field manager {FIELD_MANAGER})"));
    Ok(())
}

/// The JSON patch that hands a chart's object to the raw manifest: the raw spec replaces the
/// chart's wholesale (an apply alone would merge the chart's selector keys and list entries into
/// it), and Helm's ownership marks go.
fn take_over(raw: &Raw, live: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    let fields: &[&str] = if raw.resource.kind == "Service" { &["/spec/selector", "/spec/ports"] } else { &["/spec/template", "/spec/replicas"] };
    for f in fields {
        match raw.value.pointer(f) {
            Some(v) => ops.push(json!({"op": "add", "path": f, "value": v})),
            None if live.pointer(f).is_some() && *f != "/spec/replicas" => ops.push(json!({"op": "remove", "path": f})),
            None => {}
        }
    }
    for a in HELM_ANNOTATIONS {
        if live.pointer("/metadata/annotations").and_then(|m| m.get(a)).is_some() {
            ops.push(json!({"op": "remove", "path": format!("/metadata/annotations/{}", a.replace('~', "~0").replace('/', "~1"))}));
        }
    }
    let label = live.pointer("/metadata/labels").and_then(|m| m.get(HELM_LABEL.0)).and_then(Value::as_str);
    if label == Some(HELM_LABEL.1) && raw.value.pointer("/metadata/labels").and_then(|m| m.get(HELM_LABEL.0)).is_none() {
        ops.push(json!({"op": "remove", "path": format!("/metadata/labels/{}", HELM_LABEL.0.replace('/', "~1"))}));
    }
    ops
}

/// The names of Helm's release Secrets (`owner=helm,name=RELEASE`), read as metadata only.
async fn helm_history(c: &Cluster, ns: &str, release: &str) -> Result<Vec<String>> {
    let list = c.objects(&api::SECRET, Some(ns)).list_metadata(Some(&format!("owner=helm,name={release}"))).await?;
    Ok(list.iter().filter_map(|i| i.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_fields() {
        let sel = |l: &str| json!({"spec": {"selector": {"matchLabels": {"app": l}}, "serviceName": "x"}});
        assert_eq!(immutable_difference("Deployment", &sel("a"), &sel("b")), Some("spec.selector"));
        assert_eq!(immutable_difference("Deployment", &sel("a"), &sel("a")), None);
        let mut other = sel("a");
        other["spec"]["serviceName"] = "y".into();
        assert_eq!(immutable_difference("StatefulSet", &sel("a"), &other), Some("spec.serviceName"));
        assert_eq!(immutable_difference("Service", &sel("a"), &sel("b")), None);
    }

}

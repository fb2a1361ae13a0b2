//! The checks a careful engineer runs after a migration, automated: the Flux objects are Ready,
//! the chart's workloads and pods run, Services have endpoints, the GPU, runtime class and data
//! claims of the old workload are on the new pods, routes still resolve, the old workload is
//! gone, and the app answers through the apiserver's service proxy.

use serde::Serialize;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::cluster::api;
use crate::error::Result;
use crate::plan::ANNOTATION_PREFIX;

/// Every check's name, in the order they run.
pub const CHECKS: [&str; 11] = ["source", "release", "workloads", "pods", "services", "gpu", "runtime-class", "claims", "routes", "replaced", "probe"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub app: String,
    pub check: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    /// What to look at next when it fails.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub namespace: String,
    pub passed: bool,
    pub checks: Vec<Check>,
}

/// Everything the checks read, fetched once per evaluation.
struct Snapshot {
    releases: Vec<Value>,
    deployments: Vec<Value>,
    statefulsets: Vec<Value>,
    pods: Vec<Value>,
    services: Vec<Value>,
    slices: Vec<Value>,
    claims: Vec<Value>,
    routes: Vec<Value>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn name(v: &Value) -> &str {
    s(v, "/metadata/name")
}

/// Ready=True for the object's current generation (and not mid-reconcile), else why not.
fn flux_ready(obj: &Value) -> std::result::Result<String, String> {
    let r = crate::cluster::flux::ready(obj);
    match (r.is_ready(), r.ready, r.status.is_some()) {
        (true, _, _) => Ok(r.message),
        (false, true, _) if !r.observed_current => Err("Ready for an older generation: the controller has not seen the current spec".into()),
        (false, true, _) => Err(format!("still reconciling: {}", r.summary())),
        (false, false, false) => Err("no Ready condition yet (not reconciled)".into()),
        (false, false, true) => Err(format!("{}: {}", r.reason, r.summary())),
    }
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn pod_problem(p: &Value) -> String {
    let waiting = p.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten()
        .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str));
    waiting.map(str::to_string).unwrap_or_else(|| s(p, "/status/phase").to_string())
}

/// The release name Flux gives a HelmRelease.
fn release_name(hr: &Value) -> String {
    let explicit = s(hr, "/spec/releaseName");
    if !explicit.is_empty() {
        return explicit.to_string();
    }
    match s(hr, "/spec/targetNamespace") {
        "" => name(hr).to_string(),
        t => format!("{t}-{}", name(hr)),
    }
}

fn managed_by(obj: &Value, release: &str) -> bool {
    s(obj, "/metadata/annotations/meta.helm.sh~1release-name") == release
}

fn annotation<'a>(hr: &'a Value, key: &str) -> Option<&'a str> {
    hr.pointer("/metadata/annotations").and_then(|a| a.get(format!("{ANNOTATION_PREFIX}{key}"))).and_then(Value::as_str)
}

struct Ctx<'a> {
    cluster: &'a Cluster,
    snap: &'a Snapshot,
    out: Vec<Check>,
    app: String,
    skip: &'a [String],
}

impl Ctx<'_> {
    fn add(&mut self, check: &'static str, outcome: Outcome, detail: impl Into<String>, next: impl Into<String>) {
        if self.skip.iter().any(|s| s == check) {
            return;
        }
        let next = if outcome == Outcome::Fail { next.into() } else { String::new() };
        self.out.push(Check { app: self.app.clone(), check, outcome, detail: detail.into(), next });
    }
}

async fn fetch(cluster: &Cluster) -> Result<Snapshot> {
    let list = |r: &'static api::Resource| async move { cluster.here(r).list().await };
    let (releases, deployments, statefulsets, pods, services, slices, claims, routes) = tokio::join!(
        list(&api::HELM_RELEASE),
        list(&api::DEPLOYMENT),
        list(&api::STATEFUL_SET),
        list(&api::POD),
        list(&api::SERVICE),
        list(&api::ENDPOINT_SLICE),
        list(&api::PERSISTENT_VOLUME_CLAIM),
        list(&api::HTTP_ROUTE),
    );
    Ok(Snapshot { releases: releases?, deployments: deployments?, statefulsets: statefulsets?, pods: pods?, services: services?,
        slices: slices?, claims: claims?, routes: routes? })
}

/// Run every check once for the namespace (or one app).
pub async fn evaluate(cluster: &Cluster, app: Option<&str>, skip: &[String]) -> Result<Report> {
    let snap = fetch(cluster).await?;
    let ns = cluster.namespace.clone();
    let mut ctx = Ctx { cluster, snap: &snap, out: Vec::new(), app: app.unwrap_or("-").to_string(), skip };
    let releases: Vec<&Value> = snap.releases.iter().filter(|r| app.is_none_or(|a| name(r) == a)).collect();
    if releases.is_empty() {
        let detail = match app {
            Some(a) => format!("no HelmRelease named {a} in namespace {ns}"),
            None => format!("no HelmRelease manages namespace {ns}: nothing has been migrated here"),
        };
        ctx.add("release", Outcome::Fail, detail, "run `kubectl helmigrate convert` on the repo folder of this namespace, commit, and let Flux apply it");
    }
    for hr in releases {
        ctx.app = name(hr).to_string();
        check_release(&mut ctx, hr).await;
    }
    let passed = ctx.out.iter().all(|c| c.outcome != Outcome::Fail);
    Ok(Report { namespace: ns, passed, checks: ctx.out })
}

async fn check_release(ctx: &mut Ctx<'_>, hr: &Value) {
    let ns = ctx.cluster.namespace.clone();
    let hr_name = name(hr).to_string();

    // The chart source: `chart.spec.sourceRef`, or `chartRef` (an OCIRepository).
    let at = if hr.pointer("/spec/chartRef").is_some() { "/spec/chartRef" } else { "/spec/chart/spec/sourceRef" };
    let src_kind = s(hr, &format!("{at}/kind")).to_string();
    let src_name = s(hr, &format!("{at}/name")).to_string();
    let src_ns = Some(s(hr, &format!("{at}/namespace"))).filter(|n| !n.is_empty()).unwrap_or(&ns).to_string();
    let mut chart = s(hr, "/spec/chart/spec/chart").to_string();
    let source = match src_kind.as_str() {
        "HelmRepository" => Some(&api::HELM_REPOSITORY),
        "OCIRepository" => Some(&api::OCI_REPOSITORY),
        _ => None,
    };
    if let Some(source) = source {
        let got = ctx.cluster.objects(source, Some(&src_ns)).get(&src_name).await;
        let reconcile = format!("flux helmigrate reconcile source {src_name} -n {src_ns}");
        let shown = format!("{src_kind} {src_ns}/{src_name}");
        if let Ok(Some(repo)) = &got
            && chart.is_empty() {
                // An OCIRepository serves one chart: the last segment of its URL.
                chart = s(repo, "/spec/url").rsplit('/').next().unwrap_or_default().to_string();
            }
        match got {
            Ok(Some(repo)) if src_kind == "HelmRepository" && s(&repo, "/spec/type") == "oci" => ctx.add("source", Outcome::Pass, format!("{shown} (OCI)"), ""),
            Ok(Some(repo)) => match flux_ready(&repo) {
                Ok(_) => ctx.add("source", Outcome::Pass, format!("{shown} Ready"), ""),
                Err(why) => ctx.add("source", Outcome::Fail, format!("{shown}: {why}"), format!("check the URL, then `{reconcile}`")),
            },
            Ok(None) => ctx.add("source", Outcome::Fail, format!("{shown} does not exist"),
                "is the file holding it committed and applied by a Flux Kustomization?"),
            Err(e) => ctx.add("source", Outcome::Fail, format!("{shown}: {e}"), format!("check read access to {}", source.rbac_name())),
        }
    } else {
        ctx.add("source", Outcome::Skip, format!("{src_kind} {src_name}: only HelmRepository and OCIRepository sources are checked"), "");
    }
    let profile = crate::profiles::by_chart_name(&chart);

    // The release itself.
    match flux_ready(hr) {
        Ok(msg) => ctx.add("release", Outcome::Pass, format!("HelmRelease Ready: {msg}"), ""),
        Err(why) => ctx.add("release", Outcome::Fail, format!("HelmRelease {hr_name}: {why}"),
            format!("`kubectl -n {ns} describe helmrelease {hr_name}`, then `flux helmigrate reconcile helmrelease {hr_name} -n {ns} --with-source`")),
    }

    let release = release_name(hr);
    let snap = ctx.snap;
    let workloads: Vec<(&str, &Value)> = snap.deployments.iter().map(|d| ("deployment", d))
        .chain(snap.statefulsets.iter().map(|d| ("statefulset", d)))
        .filter(|(_, w)| managed_by(w, &release))
        .collect();
    if workloads.is_empty() {
        ctx.add("workloads", Outcome::Fail, format!("no Deployment or StatefulSet carries meta.helm.sh/release-name={release}"),
            format!("the release has not installed yet: `kubectl -n {ns} get helmrelease {hr_name} -o yaml`"));
    }
    let mut release_pods: Vec<&Value> = Vec::new();
    for (kind, w) in &workloads {
        let want = w.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let got = if *kind == "deployment" { w.pointer("/status/availableReplicas") } else { w.pointer("/status/readyReplicas") }
            .and_then(Value::as_i64).unwrap_or(0);
        let current = w.pointer("/status/observedGeneration") == w.pointer("/metadata/generation");
        let id = format!("{kind}/{}", name(w));
        if got >= want && current {
            ctx.add("workloads", Outcome::Pass, format!("{id}: {got}/{want} available"), "");
        } else {
            ctx.add("workloads", Outcome::Fail, format!("{id}: {got}/{want} available{}", if current { "" } else { " (rollout not observed yet)" }),
                format!("`kubectl -n {ns} describe {id}` and its pods' events"));
        }
        let selector = w.pointer("/spec/selector/matchLabels").cloned().unwrap_or_default();
        let pods: Vec<&Value> = snap.pods.iter().filter(|p| labels_match(&selector, &p["metadata"]["labels"])).collect();
        let not_ready: Vec<String> = pods.iter().filter(|p| !pod_ready(p)).map(|p| format!("{} ({})", name(p), pod_problem(p))).collect();
        if pods.is_empty() {
            ctx.add("pods", Outcome::Fail, format!("{id}: no pods"), format!("`kubectl -n {ns} get events --field-selector involvedObject.name={}`", name(w)));
        } else if not_ready.is_empty() {
            ctx.add("pods", Outcome::Pass, format!("{id}: {} pod(s) Ready", pods.len()), "");
        } else {
            ctx.add("pods", Outcome::Fail, format!("{id}: not Ready: {}", not_ready.join(", ")), format!("`kubectl -n {ns} describe pod {}`", not_ready[0].split(' ').next().unwrap_or_default()));
        }
        release_pods.extend(pods);
    }

    // Services of the release, and the ones clients used before (kept by name and port).
    let release_services: Vec<&Value> = snap.services.iter().filter(|svc| managed_by(svc, &release)).collect();
    for svc in &release_services {
        let svc_name = name(svc);
        let ready = snap.slices.iter()
            .filter(|sl| s(sl, "/metadata/labels/kubernetes.io~1service-name") == svc_name)
            .flat_map(|sl| sl["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e.pointer("/conditions/ready") != Some(&Value::Bool(false)))
            .count();
        if ready > 0 {
            ctx.add("services", Outcome::Pass, format!("service/{svc_name}: {ready} ready endpoint(s)"), "");
        } else {
            ctx.add("services", Outcome::Fail, format!("service/{svc_name}: no ready endpoints"), format!("its selector matches no Ready pod: `kubectl -n {ns} get endpointslices -l kubernetes.io/service-name={svc_name}`"));
        }
    }
    for expected in annotation(hr, "services").into_iter().flat_map(|v| v.split(',')) {
        let (svc_name, port) = expected.split_once(':').unwrap_or((expected, ""));
        let svc = snap.services.iter().find(|x| name(x) == svc_name);
        let has_port = svc.is_some_and(|x| x.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten().any(|p| p["port"].as_i64().is_some_and(|n| n.to_string() == port)));
        match (svc, has_port) {
            (Some(_), true) => ctx.add("services", Outcome::Pass, format!("service/{svc_name}:{port} kept for its clients"), ""),
            (Some(_), false) => ctx.add("services", Outcome::Fail, format!("service/{svc_name} no longer serves port {port}"), "set the chart's service.port to the old port"),
            (None, _) => ctx.add("services", Outcome::Fail, format!("service/{svc_name} (used before the migration) is gone"), "keep the name with the chart's fullnameOverride/nameOverride, or update its clients"),
        }
    }

    // GPU and runtime class, where the old workload had them.
    if let Some(gpu) = annotation(hr, "gpu") {
        for want in gpu.split(',') {
            let (res, count) = want.split_once('=').unwrap_or((want, ""));
            let missing: Vec<&str> = release_pods.iter().filter(|p| !p.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten()
                .any(|c| c.pointer("/resources/limits").and_then(|l| l.get(res)).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).as_deref() == Some(count)))
                .map(|p| name(p)).collect();
            if release_pods.is_empty() {
                ctx.add("gpu", Outcome::Fail, format!("no pods to carry {res}={count}"), "see the pods check");
            } else if missing.is_empty() {
                ctx.add("gpu", Outcome::Pass, format!("{res}={count} on {} pod(s)", release_pods.len()), "");
            } else {
                ctx.add("gpu", Outcome::Fail, format!("{res}={count} missing on {}", missing.join(", ")), profile.map_or("check the GPU limits in the chart's values", |p| p.gpu_hint()));
            }
        }
    }
    if let Some(rc) = annotation(hr, "runtime-class") {
        let wrong: Vec<&str> = release_pods.iter().filter(|p| s(p, "/spec/runtimeClassName") != rc).map(|p| name(p)).collect();
        if release_pods.is_empty() || !wrong.is_empty() {
            ctx.add("runtime-class", Outcome::Fail, format!("runtimeClassName {rc} missing on {}", if wrong.is_empty() { "all pods (none running)".into() } else { wrong.join(", ") }), "set the chart's top-level runtimeClassName value");
        } else {
            ctx.add("runtime-class", Outcome::Pass, format!("runtimeClassName {rc} on {} pod(s)", release_pods.len()), "");
        }
    }

    // Data: the same claims, Bound and mounted by the new pods.
    for claim in annotation(hr, "claims").into_iter().flat_map(|v| v.split(',')) {
        let pvc = snap.claims.iter().find(|c| name(c) == claim);
        let mounted = release_pods.iter().any(|p| p.pointer("/spec/volumes").and_then(Value::as_array).into_iter().flatten()
            .any(|v| s(v, "/persistentVolumeClaim/claimName") == claim));
        match pvc.map(|c| s(c, "/status/phase")) {
            None => ctx.add("claims", Outcome::Fail, format!("pvc/{claim} does not exist"), "was it pruned by Flux? restore it from its PV (reclaim policy) or a backup before anything writes to a new claim"),
            Some(phase) if phase != "Bound" => ctx.add("claims", Outcome::Fail, format!("pvc/{claim} is {phase}"), format!("`kubectl -n {ns} describe pvc {claim}`")),
            Some(_) if !mounted => ctx.add("claims", Outcome::Fail, format!("pvc/{claim} is Bound but no pod of the release mounts it"), "set the chart's existingClaim to this claim"),
            Some(_) => ctx.add("claims", Outcome::Pass, format!("pvc/{claim} Bound and mounted"), ""),
        }
    }

    // Routes in front of the app still resolve.
    let app_services: Vec<String> = release_services.iter().map(|x| name(x).to_string())
        .chain(annotation(hr, "services").into_iter().flat_map(|v| v.split(',')).map(|e| e.split(':').next().unwrap_or_default().to_string()))
        .collect();
    for route in &snap.routes {
        for b in route.pointer("/spec/rules").and_then(Value::as_array).into_iter().flatten()
            .flat_map(|r| r["backendRefs"].as_array().cloned().unwrap_or_default())
            .filter(|b| s(b, "/kind").is_empty() || s(b, "/kind") == "Service")
        {
            let target = s(&b, "/name");
            if !app_services.iter().any(|a| a == target) {
                continue;
            }
            let port = b.get("port").and_then(Value::as_i64);
            let svc = snap.services.iter().find(|x| name(x) == target);
            let ok = svc.is_some_and(|x| port.is_none_or(|p| x.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten().any(|sp| sp["port"].as_i64() == Some(p))));
            let id = format!("httproute/{} → {target}:{}", name(route), port.map_or("-".into(), |p| p.to_string()));
            if ok {
                ctx.add("routes", Outcome::Pass, id, "");
            } else {
                ctx.add("routes", Outcome::Fail, format!("{id}: no such Service port"), "keep the Service name/port with the chart's override keys, or fix the backendRef");
            }
        }
    }

    // The old raw workload is gone (or is the chart's own object of the same name now).
    if let Some(old) = annotation(hr, "replaces") {
        let (kind, old_name) = old.split_once('/').unwrap_or(("", old));
        let list = if kind == "StatefulSet" { &snap.statefulsets } else { &snap.deployments };
        match list.iter().find(|w| name(w) == old_name) {
            None => ctx.add("replaced", Outcome::Pass, format!("{old} is gone"), ""),
            Some(w) if managed_by(w, &release) => ctx.add("replaced", Outcome::Pass, format!("{old} is now the chart's"), ""),
            Some(_) => ctx.add("replaced", Outcome::Fail, format!("{old} still runs outside the chart"),
                format!("remove it from Git so Flux prunes it, or `kubectl -n {ns} delete {} {old_name}`", kind.to_lowercase())),
        }
    }

    // The app answers.
    let checks = match profile {
        Some(p) if !ctx.skip.iter().any(|c| c == "probe") => p.verify_probes(hr.pointer("/spec/values").unwrap_or(&Value::Null)),
        _ => Vec::new(),
    };
    if checks.is_empty() {
        ctx.add("probe", Outcome::Skip, format!("no probe known for chart {chart}"), "");
    }
    // The app's own Service: the one clients used before, else the release's shortest-named one.
    let main = annotation(hr, "services").and_then(|v| v.split(',').next()).map(|e| e.split(':').next().unwrap_or_default().to_string())
        .or_else(|| release_services.iter().map(|x| name(x).to_string()).min_by_key(String::len));
    for (suffix, path) in &checks {
        let target = format!("{}{suffix}", main.as_deref().unwrap_or_default());
        let Some(svc) = snap.services.iter().find(|x| name(x) == target) else {
            if suffix.is_empty() {
                ctx.add("probe", Outcome::Fail, format!("no Service {target} to probe {path}"), "see the services check");
            }
            continue; // an optional component (tika) that is not enabled
        };
        let port = svc.pointer("/spec/ports/0/port").and_then(Value::as_i64).unwrap_or(80);
        let got = ctx.cluster.here(&api::SERVICE).proxy_get(name(svc), &port.to_string(), path).await;
        match got {
            Ok(_) => ctx.add("probe", Outcome::Pass, format!("GET {}{path} answered", name(svc)), ""),
            Err(e) => {
                let why = match e { kube::Error::Api(st) => format!("{} {}", st.code, st.message), other => other.to_string() };
                ctx.add("probe", Outcome::Fail, format!("GET {}:{port}{path}: {why}", name(svc)), format!("`kubectl -n {ns} logs` the pod, or `kubectl -n {ns} port-forward svc/{} {port}`", name(svc)));
            }
        }
    }
}

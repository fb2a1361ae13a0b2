//! otwld/ollama-helm 1.39.0. What this file relies on, read from the chart's templates
//! (`templates/deployment.yaml`, `templates/_helpers.tpl`, `values.yaml`):
//! - The Deployment, Service and ServiceAccount are named `ollama.fullname`: `fullnameOverride`,
//!   else the release name when it contains "ollama", else `<release>-ollama`. The selector is
//!   `app.kubernetes.io/name` (`nameOverride` or "ollama") + `app.kubernetes.io/instance`.
//! - The strategy is `Recreate` unless `updateStrategy` says otherwise; the pod runs as a
//!   ServiceAccount the chart creates unless `serviceAccount.create: false`.
//! - GPU: `ollama.gpu.{enabled,type,number,nvidiaResource}`; the chart merges the limit into
//!   `resources`, adds the `nvidia.com/gpu` NoSchedule toleration and sets `PATH` to include the
//!   NVIDIA driver folders.
//! - `OLLAMA_HOST` is always written as `0.0.0.0:<ollama.port>`; `extraEnv` is copied verbatim
//!   (a list of EnvVar, values must be strings); `extraArgs` become args, the command cannot change.
//! - Data: the volume `ollama-data` at `ollama.mountPath` (default `/root/.ollama`) from
//!   `persistentVolume.existingClaim` + `subPath`, else an emptyDir; extra `volumes`/`volumeMounts`
//!   and `initContainers` are copied verbatim.
//! - Probes are rendered from `livenessProbe/readinessProbe.{enabled,path,…timings}` as httpGet
//!   on the port named `http`, every timing written out from the chart's own defaults.
//! - `runtimeClassName`, `nodeSelector`, `tolerations`, `affinity`, `podSecurityContext`,
//!   `podLabels`, `podAnnotations` are top-level values; the Service has one port (`service.port`).

use serde_json::Value;

use super::common::{self, literal};
use super::common::CHART_SETS;
use super::{Chart, ChartService, ChartWorkload, Profile, SourceKind};
use crate::model::{App, Image, VolumeSource, WorkloadKind};
use crate::mapping::{Level, Mapper, Values};

pub struct Ollama;

const DATA_PATH: &str = "/root/.ollama";
const PORT: i64 = 11434;

impl Profile for Ollama {
    fn chart(&self) -> Chart {
        Chart { name: "ollama", version: "1.39.0", repository: "https://otwld.github.io/ollama-helm/", oci: None, source: SourceKind::HelmRepository, source_name: "ollama" }
    }

    fn detects(&self, image: &Image) -> bool {
        image.short_repository() == "ollama/ollama"
    }

    fn services(&self, release: &str, values: &Values) -> Vec<ChartService> {
        vec![ChartService { name: fullname(release, values), ports: vec![values.get("service.port").and_then(Value::as_i64).unwrap_or(PORT)] }]
    }

    fn verify_probes(&self, _values: &Value) -> Vec<(String, String)> {
        vec![(String::new(), "/api/tags".into())]
    }

    fn gpu_hint(&self) -> &'static str {
        "check the chart's GPU values (ollama.gpu.enabled/number/nvidiaResource)"
    }

    fn workload(&self, release: &str, values: &Values) -> ChartWorkload {
        // Deployment, Service and ServiceAccount all take the fullname.
        let name = values.get("nameOverride").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("ollama");
        ChartWorkload {
            kind: WorkloadKind::Deployment,
            name: fullname(release, values),
            selector: vec![("app.kubernetes.io/name".into(), name.into()), ("app.kubernetes.io/instance".into(), release.into())],
        }
    }

    fn chart_pod_labels(&self, release: &str, values: &Values) -> Vec<(&'static str, Option<String>)> {
        // templates/_helpers.tpl `ollama.labels`, on the pod template of templates/deployment.yaml.
        let name = values.get("nameOverride").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("ollama");
        vec![
            ("helm.sh/chart", Some(format!("ollama-{}", self.chart().version))),
            ("app.kubernetes.io/name", Some(name.to_string())),
            ("app.kubernetes.io/instance", Some(release.to_string())),
            ("app.kubernetes.io/version", None),
            ("app.kubernetes.io/managed-by", Some("Helm".into())),
        ]
    }

    fn map(&self, release: &str, app: &mut App, m: &mut Mapper) {
        let w = &mut app.workload;
        let mut c = common::take_main(w, |i| self.detects(i));
        common::image(m, &mut c, "image");
        common::replicas(m, w, "replicaCount");
        if w.kind == crate::model::WorkloadKind::StatefulSet {
            m.warn(Level::Info, format!("{} was a StatefulSet; the chart runs a Deployment with the Recreate strategy (one pod at a time on the data volume)", w.name));
            w.spec.remove("serviceName");
            w.spec.remove("podManagementPolicy");
            if let Some(s) = w.spec.remove("updateStrategy") {
                m.drop("spec.updateStrategy", crate::model::workload::compact(&s), "StatefulSet strategy; the chart's Deployment uses Recreate");
            }
        } else if let Some(s) = w.spec.remove("strategy") {
            m.map("spec.strategy", "updateStrategy", s);
        }

        // GPU: the chart adds the limit and, for nvidia, the matching toleration.
        if let Some((resource, count)) = common::take_gpu(&mut c) {
            m.map_why(format!("resources.limits.{resource}"), "ollama.gpu.enabled", true, "the chart merges the GPU limit into resources");
            let kind = if resource == "amd.com/gpu" { "amd" } else { "nvidia" };
            m.map(format!("resources.limits.{resource}"), "ollama.gpu.type", kind);
            m.map(format!("resources.limits.{resource}"), "ollama.gpu.number", count);
            if kind == "nvidia" && resource != "nvidia.com/gpu" {
                m.map(format!("resources.limits.{resource}"), "ollama.gpu.nvidiaResource", resource.clone());
            }
            if kind == "nvidia" {
                let tolerated = w.pod.get("tolerations").is_some_and(|t| t.to_string().contains(resource.as_str()));
                // The chart adds exactly this toleration; keep only the others.
                if let Some(Value::Array(tols)) = w.pod.get_mut("tolerations") {
                    tols.retain(|t| !(t.get("key").and_then(Value::as_str) == Some(resource.as_str())
                        && t.get("operator").and_then(Value::as_str) == Some("Exists")
                        && t.get("effect").and_then(Value::as_str) == Some("NoSchedule")));
                    if tols.is_empty() {
                        w.pod.remove("tolerations");
                        m.record("pod tolerations", resource.clone(), "ollama.gpu.enabled", "the chart adds the GPU toleration itself");
                    }
                }
                if c.env.iter().any(|e| e.name == "PATH") {
                    m.warn(Level::Warning, "env PATH is set, and the chart overwrites PATH when the GPU is enabled: you get two PATH entries");
                }
                m.chart_default(CHART_SETS, "env PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:…",
                    "in GPU mode the chart sets PATH to the image's own plus the NVIDIA driver folders");
                if !tolerated {
                    m.chart_default(CHART_SETS, format!("pod tolerations {resource} Exists NoSchedule"),
                        "the chart adds the GPU toleration: the pod may now also schedule on nodes tainted for GPUs");
                }
            }
        }
        common::resources(m, &mut c, "resources");

        // Env: OLLAMA_HOST is written by the chart from ollama.port.
        if !c.env.iter().any(|e| e.name == "OLLAMA_HOST") {
            m.chart_default(CHART_SETS, "env OLLAMA_HOST=0.0.0.0:11434", "the chart sets OLLAMA_HOST itself; the ollama image sets the same by default");
        }
        let mut env = Vec::new();
        for e in std::mem::take(&mut c.env) {
            if e.name == "OLLAMA_HOST" {
                let port = literal(&e.source).and_then(|v| v.rsplit(':').next()).and_then(|p| p.parse::<i64>().ok());
                match port {
                    Some(p) if p != PORT => m.map_why("env OLLAMA_HOST", "ollama.port", p, "the chart sets OLLAMA_HOST=0.0.0.0:<ollama.port>"),
                    _ => m.record("env OLLAMA_HOST", e.describe(), "ollama.port", "the chart sets OLLAMA_HOST=0.0.0.0:11434 itself"),
                }
                continue;
            }
            env.push(e);
        }
        common::env_list(m, env, "extraEnv");
        common::container_keys(m, &mut c, &[("envFrom", "extraEnvFrom"), ("args", "extraArgs"), ("lifecycle", "lifecycle"), ("securityContext", "securityContext")]);
        if let Some(cmd) = c.rest.remove("command") {
            m.drop("command", crate::model::workload::compact(&cmd), "the chart always runs the image's entrypoint; only args are configurable (extraArgs)");
        }

        // The API port.
        if let Some(i) = c.ports.iter().position(|p| p.container_port == PORT || c.ports.len() == 1) {
            let p = c.ports.remove(i);
            if p.container_port != PORT {
                m.map("port", "ollama.port", p.container_port);
            } else {
                m.record(format!("port {}", p.name.as_deref().unwrap_or("-")), PORT.to_string(), "ollama.port", "chart default");
            }
        }

        // Probes: the chart renders httpGet probes from a path and timings.
        for (field, key) in [("livenessProbe", "livenessProbe"), ("readinessProbe", "readinessProbe")] {
            match c.rest.remove(field) {
                Some(p) => probe(m, field, key, &p),
                None => m.defaulted(&format!("{key}.enabled"), false, format!("the old workload had no {field}; the chart would add one on `/`")),
            }
        }

        // Data: the models directory.
        let data = c.mounts.iter().position(|mt| mt.path == DATA_PATH).or_else(|| {
            let claims: Vec<usize> = c.mounts.iter().enumerate()
                .filter(|(_, mt)| w.volume(&mt.volume).is_some_and(|v| matches!(v.source, VolumeSource::Claim { .. } | VolumeSource::ClaimTemplate { .. })))
                .map(|(i, _)| i).collect();
            (claims.len() == 1).then(|| claims[0])
        });
        let mut renames = Vec::new();
        if let Some(i) = data {
            let mount = c.mounts.remove(i);
            // templates/deployment.yaml names the models volume `ollama-data`.
            renames.push((mount.volume.clone(), "ollama-data"));
            if mount.path != DATA_PATH {
                m.map(format!("volumeMount {}", mount.path), "ollama.mountPath", mount.path.clone());
            }
            common::data_volume(m, w, mount, "persistentVolume", "models");
        } else {
            m.chart_default("persistentVolume.enabled", "false", "no models volume in the old workload: the chart uses an emptyDir");
        }
        common::extra_volumes(m, w, &mut c, "volumes", "volumeMounts");

        common::pod_keys(m, w, &[
            ("runtimeClassName", "runtimeClassName"), ("nodeSelector", "nodeSelector"), ("tolerations", "tolerations"),
            ("affinity", "affinity"), ("topologySpreadConstraints", "topologySpreadConstraints"),
            ("priorityClassName", "priorityClassName"), ("securityContext", "podSecurityContext"),
            ("imagePullSecrets", "imagePullSecrets"), ("terminationGracePeriodSeconds", "terminationGracePeriodSeconds"),
            ("hostIPC", "hostIPC"), ("hostPID", "hostPID"), ("hostNetwork", "hostNetwork"),
        ]);
        if !common::service_account(m, w, "serviceAccount.create", "serviceAccount.name") {
            m.defaulted("serviceAccount.create", false,
                "the old pod ran as the namespace's default ServiceAccount; the chart would create one named after the release and run as it");
        }
        common::init_containers(m, w, "initContainers", "volumes", &renames);

        // Service: keep its name and port so routes and other apps keep resolving it.
        if let Some(svc) = app.services.first().cloned() {
            let name = fullname(release, &Values::default());
            if svc.name != name {
                m.map_why(format!("service {}", svc.name), "fullnameOverride", svc.name.clone(), "keeps the Service name that clients use");
            }
            let chart_labels = self.chart_pod_labels(release, &m.values);
            common::service_extras(m, &svc, "service", PORT, &chart_labels);
        }
        // After the name overrides: the chart's own labels depend on them.
        let chart_labels = self.chart_pod_labels(release, &m.values);
        common::pod_metadata(m, &mut app.workload, "podLabels", "podAnnotations", &chart_labels);
        m.defaulted("tests.enabled", false, "no helm test pod: Flux does not run Helm tests by default");
        m.leftover_container(&c, "ollama");
    }
}

/// The name of the Deployment, Service and ServiceAccount (`ollama.fullname`).
fn fullname(release: &str, values: &Values) -> String {
    match values.get("fullnameOverride").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ if release.contains("ollama") => release.to_string(),
        _ => format!("{release}-ollama"),
    }
}

/// The chart's probe: only `httpGet` with a path, plus timings.
fn probe(m: &mut Mapper, field: &str, key: &str, p: &Value) {
    let Some(path) = p.pointer("/httpGet/path").and_then(Value::as_str) else {
        m.drop(field, crate::model::workload::compact(p), "the chart only renders httpGet probes; its default probes on `/` stay on");
        return;
    };
    m.map(format!("{field}.httpGet.path"), &format!("{key}.path"), path);
    // The chart probes the container port by its name `http`, which is ollama.port.
    match p.pointer("/httpGet/port") {
        Some(port) if port.as_str() == Some("http") => {}
        Some(port) if port.as_i64().is_some_and(|n| n != PORT) && port.as_str().is_none() =>
            m.drop(format!("{field}.httpGet.port"), port.to_string(), "the chart probes the app's own port (ollama.port), by its name `http`"),
        _ => {}
    }
    // The chart always renders every timing, from its own defaults (a 30 s/60 s initial delay,
    // 6 failures…): a timing the old probe left out gets Kubernetes' default, so the probe
    // behaves as before.
    for (t, k8s) in crate::model::workload::PROBE_DEFAULTS {
        match p.get(t) {
            Some(v) => m.map(format!("{field}.{t}"), &format!("{key}.{t}"), v.clone()),
            None => m.defaulted(&format!("{key}.{t}"), k8s, format!("Kubernetes' default: the old {field} did not set {t}, and the chart would render its own")),
        }
    }
}

//! open-webui/helm-charts open-webui 10.2.1. What this file relies on, read from the chart's
//! templates (`templates/workload-manager.yaml`, `templates/_helpers.tpl`, `values.yaml`):
//! - Every object is named `open-webui` (or `nameOverride`); the selector is
//!   `app.kubernetes.io/component: open-webui` + `app.kubernetes.io/instance`.
//! - The kind follows `workload.kind`; without it, local persistence makes a StatefulSet.
//! - The bundled sub-charts ollama, pipelines and the websocket redis are on by default (tika
//!   off): each must be turned off or it starts a second copy of what already runs.
//! - The container's security context is `containerSecurityContext`, the pod's
//!   `podSecurityContext`; `extraEnvVars` is copied verbatim (env the chart writes itself —
//!   `OLLAMA_BASE_URLS`, `OPENAI_API_*`, the SSO settings — comes from values and beats `envFrom`).
//! - SSO lives under `sso.` (`sso.mergeAccountsByEmail`, `sso.enableSignup` at that level), the
//!   OIDC client secret in `sso.oidc.clientExistingSecret(Key)`, the client ID only as a literal
//!   (`sso.oidc.clientId`), so helmigrate has Flux read it from the Secret via `valuesFrom`.
//! - `ollamaUrls` becomes `OLLAMA_BASE_URLS`; an empty `openaiApiKey` keeps the chart from
//!   injecting its placeholder key.
//! - Data: the volume `data` at `/app/backend/data` from `persistence.existingClaim`; the chart
//!   always adds the init container `copy-app-data` (`cp -R -n`, never overwriting).

use serde_json::{Value, json};

use super::common::{self, literal, truthy};
use super::common::CHART_SETS;
use super::{Chart, ChartService, ChartWorkload, Profile, SourceKind};
use crate::model::{App, Env, EnvSource, Image, WorkloadKind};
use crate::mapping::{Level, Mapper, Values};

pub struct OpenWebui;

const NAME: &str = "open-webui";
const DATA_PATH: &str = "/app/backend/data";
const CONTAINER_PORT: i64 = 8080;
const SERVICE_PORT: i64 = 80;
/// The image of the pipelines server the chart bundles as a sub-chart (pipelines 0.10.0).
const PIPELINES_IMAGE: &str = "ghcr.io/open-webui/pipelines";

/// Env vars the chart writes itself from a boolean value: (env name, values path).
const SSO_FLAGS: [(&str, &str); 4] = [
    ("OAUTH_MERGE_ACCOUNTS_BY_EMAIL", "sso.mergeAccountsByEmail"),
    ("ENABLE_OAUTH_SIGNUP", "sso.enableSignup"),
    ("ENABLE_OAUTH_ROLE_MANAGEMENT", "sso.enableRoleManagement"),
    ("ENABLE_OAUTH_GROUP_MANAGEMENT", "sso.enableGroupManagement"),
];
/// Env vars the chart writes itself from a string value.
const SSO_STRINGS: [(&str, &str); 3] = [
    ("OPENID_PROVIDER_URL", "sso.oidc.providerUrl"),
    ("OAUTH_SCOPES", "sso.oidc.scopes"),
    ("OAUTH_PROVIDER_NAME", "sso.oidc.providerName"),
];
/// Written by the chart only while the flag (env name) that gates them is on.
const SSO_GATED: [(&str, &str, &str); 4] = [
    ("ENABLE_OAUTH_ROLE_MANAGEMENT", "OAUTH_ROLES_CLAIM", "sso.roleManagement.rolesClaim"),
    ("ENABLE_OAUTH_ROLE_MANAGEMENT", "OAUTH_ALLOWED_ROLES", "sso.roleManagement.allowedRoles"),
    ("ENABLE_OAUTH_ROLE_MANAGEMENT", "OAUTH_ADMIN_ROLES", "sso.roleManagement.adminRoles"),
    ("ENABLE_OAUTH_GROUP_MANAGEMENT", "OAUTH_GROUP_CLAIM", "sso.groupManagement.groupsClaim"),
];

/// Env the chart writes itself from its values, which beats `envFrom`: (names, what to do).
const OLLAMA_ENV: [&str; 3] = ["OLLAMA_BASE_URL", "OLLAMA_BASE_URLS", "ENABLE_OLLAMA_API"];
const OPENAI_ENV: [&str; 3] = ["OPENAI_API_BASE_URL", "OPENAI_API_BASE_URLS", "ENABLE_OPENAI_API"];
const OPENAI_VALUES: [&str; 3] = ["openaiBaseApiUrl", "openaiBaseApiUrls", "enableOpenaiApi"];

/// Settings the old workload got through `envFrom` that the chart would override with env of
/// its own (env beats envFrom): the chart is told to leave the Ollama ones alone, and the
/// OpenAI ones become its values (it then writes the same). Returns the names added to `env`
/// for the mapping, which leave it again afterwards.
fn env_from_settings(m: &mut Mapper, env: &mut Vec<Env>, effective: &[crate::model::EffectiveEnv], unreadable: &[String]) -> Vec<String> {
    let direct = |env: &Vec<Env>, n: &str| env.iter().any(|e| e.name == n);
    let via = |n: &str| effective.iter().find(|e| e.env.name == n && e.via.is_some());
    let ollama: Vec<&crate::model::EffectiveEnv> = OLLAMA_ENV.iter().filter(|n| !direct(env, n)).filter_map(|n| via(n)).collect();
    if !ollama.is_empty() && !direct(env, "OLLAMA_BASE_URL") && !direct(env, "OLLAMA_BASE_URLS") {
        let shown: Vec<String> = ollama.iter().map(|e| format!("{} ({})", e.env.name, e.via.as_deref().unwrap_or_default())).collect();
        m.map_why(format!("envFrom {}", shown.join(", ")), "ollamaUrlsFromExtraEnv", true,
            "the Ollama settings arrive through envFrom; otherwise the chart would set ENABLE_OLLAMA_API=False, which beats envFrom");
    }
    let mut injected = Vec::new();
    for (n, path) in OPENAI_ENV.into_iter().zip(OPENAI_VALUES) {
        if direct(env, n) {
            continue;
        }
        if let Some(e) = via(n) {
            m.record(format!("envFrom {n}"), format!("{} ({})", e.env.describe(), e.via.as_deref().unwrap_or_default()), path,
                "the chart writes this variable itself and env beats envFrom, so its value goes into the chart's values");
            env.push(e.env.clone());
            injected.push(n.to_string());
        }
    }
    if !unreadable.is_empty() {
        m.warn(Level::Warning, format!(
            "envFrom {} cannot be read from Git, but the chart sets {} itself from its values and env beats envFrom: make sure {} does not set them, or set the matching chart values",
            unreadable.join(", "), OLLAMA_ENV.iter().chain(&OPENAI_ENV).copied().collect::<Vec<_>>().join(", "),
            if unreadable.len() == 1 { "it" } else { "they" }));
    }
    injected
}

fn take_env(env: &mut Vec<Env>, name: &str) -> Option<Env> {
    env.iter().position(|e| e.name == name).map(|i| env.remove(i))
}

impl Profile for OpenWebui {
    fn chart(&self) -> Chart {
        Chart { name: NAME, version: "10.2.1", repository: "https://helm.openwebui.com/", oci: None, source: SourceKind::HelmRepository, source_name: "open-webui" }
    }

    fn detects(&self, image: &Image) -> bool {
        image.short_repository() == "ghcr.io/open-webui/open-webui"
    }

    fn services(&self, _release: &str, values: &Values) -> Vec<ChartService> {
        let name = values.get("nameOverride").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or(NAME);
        let mut out = vec![ChartService { name: name.to_string(), ports: vec![values.get("service.port").and_then(Value::as_i64).unwrap_or(SERVICE_PORT)] }];
        if values.get("tika.enabled") == Some(&Value::Bool(true)) {
            // The tika sub-chart's Service, on tika's port.
            out.push(ChartService { name: format!("{name}-tika"), ports: vec![9998] });
        }
        out
    }

    fn verify_probes(&self, _values: &Value) -> Vec<(String, String)> {
        vec![(String::new(), "/health".into()), ("-tika".into(), "/tika".into())]
    }

    fn workload(&self, release: &str, values: &Values) -> ChartWorkload {
        let kind = match values.get("workload.kind").and_then(Value::as_str) {
            Some("StatefulSet") => WorkloadKind::StatefulSet,
            Some(_) => WorkloadKind::Deployment,
            // Without `workload.kind`, local persistence makes it a StatefulSet.
            None if values.get("persistence.enabled").is_none_or(|v| v != &Value::Bool(false))
                && values.get("persistence.provider").and_then(Value::as_str).is_none_or(|p| p == "local") => WorkloadKind::StatefulSet,
            None => WorkloadKind::Deployment,
        };
        ChartWorkload {
            kind,
            name: self.services(release, values)[0].name.clone(),
            selector: vec![("app.kubernetes.io/component".into(), NAME.into()), ("app.kubernetes.io/instance".into(), release.into())],
        }
    }

    fn chart_pod_labels(&self, release: &str, values: &Values) -> Vec<(&'static str, Option<String>)> {
        // templates/_helpers.tpl `open-webui.labels` (base.labels + open-webui.selectorLabels), on
        // the pod template of templates/workload-manager.yaml; `extraLabels` stay off the pods.
        let name = values.get("nameOverride").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or(NAME);
        vec![
            ("helm.sh/chart", Some(format!("{NAME}-{}", self.chart().version))),
            ("app.kubernetes.io/version", None),
            ("app.kubernetes.io/managed-by", Some("Helm".into())),
            ("app.kubernetes.io/name", Some(name.to_string())),
            ("app.kubernetes.io/instance", Some(release.to_string())),
            ("app.kubernetes.io/component", Some(NAME.to_string())),
        ]
    }

    fn map(&self, release: &str, app: &mut App, m: &mut Mapper) {
        let w = &mut app.workload;
        let mut c = common::take_main(w, |i| self.detects(i));
        common::image(m, &mut c, "image");
        m.map_why("kind", "workload.kind", w.kind.to_string(), "keeps the workload kind (the chart would pick a StatefulSet for local persistence)");
        common::replicas(m, w, "replicaCount");
        let strategy = if w.kind == WorkloadKind::Deployment { "strategy" } else { "updateStrategy" };
        if let Some(s) = w.spec.remove(strategy) {
            m.map(format!("spec.{strategy}"), "strategy", s);
        }
        if let Some(r) = w.spec.remove("revisionHistoryLimit") {
            m.map("spec.revisionHistoryLimit", "revisionHistoryLimit", r);
        }
        if let Some(s) = w.spec.remove("serviceName") {
            m.drop("spec.serviceName", s.to_string(), "the chart's StatefulSet uses its own Service as serviceName");
        }

        // Bundled extras are off unless asked for (--set open-webui.pipelines.enabled=true …). A
        // server of theirs in the pod is no reason to turn them on: each bundled one is its own
        // Deployment and Service, so the URL (localhost in the pod) and the volumes change.
        let sidecar = |repo: &str| w.containers.iter().find(|c| c.image.short_repository() == repo).cloned();
        let in_pod = |c: &crate::model::Container| format!("the old pod runs {} as a container beside the app, which the plan cannot carry (see the blocking warning)", c.name);
        match sidecar("ollama/ollama") {
            Some(c) => m.defaulted("ollama.enabled", false, in_pod(&c)),
            None => m.defaulted("ollama.enabled", false, "ollama runs as its own release; the bundled sub-chart would start a second one"),
        }
        match sidecar(PIPELINES_IMAGE) {
            Some(c) => {
                m.defaulted("pipelines.enabled", false, in_pod(&c));
                m.warn(Level::Blocking, format!("{}: container {} ({}) runs beside the app in the pod and chart {NAME} cannot carry it: its pipelines \
                    sub-chart is a separate Deployment and Service (the URL changes from localhost:{} and it gets its own PVC); \
                    convert with --chart {}=app-template (a chart that runs every container), or move pipelines to its own workload first",
                    w.name, c.name, c.image.reference(), c.ports.first().map_or(9099, |p| p.container_port), w.name));
            }
            None => m.defaulted("pipelines.enabled", false, "the old workload had no pipelines server"),
        }
        match sidecar("apache/tika") {
            Some(c) => m.defaulted("tika.enabled", false, in_pod(&c)),
            None => m.defaulted("tika.enabled", false, "the old workload had no Tika server"),
        }

        let (effective, unreadable) = crate::model::effective_env(&c, &app.config_maps);
        let mut env = std::mem::take(&mut c.env);
        let injected = env_from_settings(m, &mut env, &effective, &unreadable);
        self.map_env(m, &mut env);
        // What the mapping did not take still arrives through envFrom, as before.
        env.retain(|e| !injected.contains(&e.name));
        common::env_list(m, env, "extraEnvVars");

        common::resources(m, &mut c, "resources");
        common::container_keys(m, &mut c, &[
            ("envFrom", "extraEnvFrom"), ("command", "command"), ("args", "args"),
            ("livenessProbe", "livenessProbe"), ("readinessProbe", "readinessProbe"), ("startupProbe", "startupProbe"),
            // The chart's container-level key; a `securityContext:` value would be ignored.
            ("securityContext", "containerSecurityContext"),
        ]);
        if let Some(i) = c.ports.iter().position(|p| p.container_port == CONTAINER_PORT || c.ports.len() == 1) {
            let p = c.ports.remove(i);
            if p.container_port != CONTAINER_PORT {
                m.map("port", "service.containerPort", p.container_port);
            } else {
                m.record(format!("port {}", p.name.as_deref().unwrap_or("-")), p.container_port.to_string(), "service.containerPort", "chart default");
            }
        }

        // Data: reuse the claim; never let the chart make a new empty one.
        let mut renames = Vec::new();
        match c.mounts.iter().position(|mt| mt.path == DATA_PATH) {
            Some(i) => {
                let mount = c.mounts.remove(i);
                // templates/workload-manager.yaml names the data volume `data`.
                renames.push((mount.volume.clone(), "data"));
                common::data_volume(m, w, mount, "persistence", "data");
            }
            None => m.defaulted("persistence.enabled", false, format!("the old workload kept nothing at {DATA_PATH}; the chart would create a new PVC")),
        }
        m.chart_default(CHART_SETS, "init container copy-app-data",
            "the chart always adds it: `cp -R -n` of the image's /app/backend/data into the data volume, which never overwrites a file already there");
        common::extra_volumes(m, w, &mut c, "volumes", "volumeMounts.container");
        common::init_containers(m, w, "extraInitContainers", "volumes", &renames);

        common::pod_keys(m, w, &[
            ("runtimeClassName", "runtimeClassName"), ("nodeSelector", "nodeSelector"), ("tolerations", "tolerations"),
            ("affinity", "affinity"), ("topologySpreadConstraints", "topologySpreadConstraints"), ("hostAliases", "hostAliases"),
            ("priorityClassName", "priorityClassName"), ("securityContext", "podSecurityContext"), ("imagePullSecrets", "imagePullSecrets"),
        ]);
        common::service_account(m, w, "serviceAccount.create", "serviceAccount.name");
        if m.values.get("serviceAccount.name").is_none() {
            m.defaulted("serviceAccount.name", "", "the chart's default name is the literal `existing-sa`; empty gives `open-webui`");
        }

        if let Some(svc) = app.services.first().cloned() {
            if svc.name != NAME {
                m.map_why(format!("service {}", svc.name), "nameOverride", svc.name.clone(),
                    "keeps the Service name that routes use (it also names the workload and PVC)");
            }
            let chart_labels = self.chart_pod_labels(release, &m.values);
            common::service_extras(m, &svc, "service", SERVICE_PORT, &chart_labels);
        }
        // After nameOverride: the chart's own labels depend on it.
        let chart_labels = self.chart_pod_labels(release, &m.values);
        common::pod_metadata(m, &mut app.workload, "podLabels", "podAnnotations", &chart_labels);
        m.leftover_container(&c, NAME);
    }
}

impl OpenWebui {
    /// Env the chart generates itself goes to its values key; the rest stays in `env`.
    fn map_env(&self, m: &mut Mapper, env: &mut Vec<Env>) {
        // Ollama endpoints.
        for name in ["OLLAMA_BASE_URL", "OLLAMA_BASE_URLS"] {
            let Some(e) = take_env(env, name) else { continue };
            match literal(&e.source) {
                Some(v) => {
                    let urls: Vec<Value> = v.split(';').filter(|u| !u.is_empty()).map(|u| json!(u)).collect();
                    m.map_why(format!("env {name}"), "ollamaUrls", urls, "the chart writes OLLAMA_BASE_URLS from this list");
                }
                None => {
                    m.map_why(format!("env {name}"), "ollamaUrlsFromExtraEnv", true, "the URL comes from a reference, kept in extraEnvVars");
                    env.push(e);
                }
            }
        }

        // Websocket support: the chart's Redis is off unless the old workload used websockets.
        let websocket = env.iter().find(|e| e.name == "ENABLE_WEBSOCKET_SUPPORT").and_then(|e| literal(&e.source)).and_then(truthy);
        if websocket == Some(true) {
            take_env(env, "ENABLE_WEBSOCKET_SUPPORT");
            m.map("env ENABLE_WEBSOCKET_SUPPORT", "websocket.enabled", true);
            m.defaulted("websocket.redis.enabled", false, "the old workload used its own Redis");
            if let Some(e) = take_env(env, "WEBSOCKET_MANAGER") {
                m.map("env WEBSOCKET_MANAGER", "websocket.manager", literal(&e.source).unwrap_or("redis").to_string());
            }
            for name in ["WEBSOCKET_REDIS_URL", "REDIS_URL"] {
                if let Some(e) = env.iter().find(|e| e.name == name).cloned()
                    && let Some(v) = literal(&e.source) {
                        if m.values.get("websocket.url").is_none() {
                            m.map(format!("env {name}"), "websocket.url", v.to_string());
                        } else {
                            m.record(format!("env {name}"), e.describe(), "websocket.url", "the chart writes REDIS_URL and WEBSOCKET_REDIS_URL from one value");
                        }
                        take_env(env, name);
                    }
            }
        } else {
            m.defaulted("websocket.enabled", false, "the old workload had no websocket Redis; the chart would start one");
        }

        // OpenAI: only when the old workload configured it; otherwise the chart's defaults show.
        let mut openai = false;
        for (name, path, list) in [("OPENAI_API_BASE_URL", "openaiBaseApiUrl", false), ("OPENAI_API_BASE_URLS", "openaiBaseApiUrls", true),
                                   ("OPENAI_API_KEY", "openaiApiKey", false), ("OPENAI_API_KEYS", "openaiApiKeys", true)] {
            if let Some(v) = env.iter().find(|e| e.name == name).and_then(|e| literal(&e.source)).map(str::to_string) {
                take_env(env, name);
                openai = true;
                let value = if list { json!(v.split(';').collect::<Vec<_>>()) } else { json!(v) };
                if name.contains("KEY") {
                    m.values.set(path, value);
                    m.record(format!("env {name}"), "(literal, hidden)", path, "");
                } else {
                    m.map(format!("env {name}"), path, value);
                }
            }
        }
        if let Some(v) = env.iter().find(|e| e.name == "ENABLE_OPENAI_API").and_then(|e| literal(&e.source)).and_then(truthy) {
            take_env(env, "ENABLE_OPENAI_API");
            openai = true;
            m.map("env ENABLE_OPENAI_API", "enableOpenaiApi", v);
        }
        if !openai {
            m.chart_default("openaiBaseApiUrl", "\"https://api.openai.com/v1\"", "the chart sets OPENAI_API_BASE_URL to the app's own default");
        }
        if m.values.get("openaiApiKey").is_none() {
            m.defaulted("openaiApiKey", "", "the chart would set OPENAI_API_KEY to its placeholder `0p3n-w3bu!`; the old workload set no key in env");
        }
        if let Some(v) = env.iter().find(|e| e.name == "DATABASE_URL").and_then(|e| literal(&e.source)).map(str::to_string) {
            take_env(env, "DATABASE_URL");
            m.values.set("databaseUrl", v);
            m.record("env DATABASE_URL", "(literal, hidden)", "databaseUrl", "");
        }

        self.map_sso(m, env);
    }

    /// OIDC: the chart renders the OAUTH_* env itself once `sso.oidc.enabled`, and refuses to
    /// render without a client secret.
    fn map_sso(&self, m: &mut Mapper, env: &mut Vec<Env>) {
        let provider = env.iter().find(|e| e.name == "OPENID_PROVIDER_URL").and_then(|e| literal(&e.source));
        let secret = env.iter().find(|e| e.name == "OAUTH_CLIENT_SECRET").map(|e| e.source.clone());
        let id = env.iter().find(|e| e.name == "OAUTH_CLIENT_ID").map(|e| e.source.clone());
        let (Some(_), Some(secret), Some(id)) = (provider, secret, id) else {
            if env.iter().any(|e| e.name.starts_with("OAUTH_") || e.name == "OPENID_PROVIDER_URL") {
                m.warn(Level::Info, "OIDC settings are incomplete (provider URL, client ID and client secret are all needed for the chart's sso.oidc); they stay as plain env in extraEnvVars");
            }
            return;
        };
        let flag_ok = SSO_FLAGS.iter().all(|(n, _)| env.iter().find(|e| e.name == *n).is_none_or(|e| literal(&e.source).and_then(truthy).is_some()));
        let strings_ok = SSO_STRINGS.iter().all(|(n, _)| env.iter().find(|e| e.name == *n).is_none_or(|e| literal(&e.source).is_some()));
        if !flag_ok || !strings_ok {
            m.warn(Level::Info, "some OIDC settings come from references the chart's sso values cannot take; all OIDC env stays in extraEnvVars");
            return;
        }
        m.map_why("env OPENID_PROVIDER_URL", "sso.enabled", true, "the chart writes the OIDC env itself");
        m.map("env OPENID_PROVIDER_URL", "sso.oidc.enabled", true);
        match secret {
            EnvSource::Secret { name, key, .. } => {
                m.map("env OAUTH_CLIENT_SECRET", "sso.oidc.clientExistingSecret", name.clone());
                m.map("env OAUTH_CLIENT_SECRET", "sso.oidc.clientExistingSecretKey", key.clone());
            }
            EnvSource::Value { value } => {
                m.values.set("sso.oidc.clientSecret", value);
                m.record("env OAUTH_CLIENT_SECRET", "(literal, hidden)", "sso.oidc.clientSecret", "");
            }
            other => {
                m.drop("env OAUTH_CLIENT_SECRET", crate::mapping::env_shown(&other, "OAUTH_CLIENT_SECRET"), "the chart takes the client secret as a literal or a Secret key only");
                m.warn(Level::Blocking, "OAUTH_CLIENT_SECRET comes from neither a literal nor a Secret; the chart cannot render OIDC without it");
            }
        }
        match id {
            EnvSource::Value { value } => m.map("env OAUTH_CLIENT_ID", "sso.oidc.clientId", value),
            EnvSource::Secret { name, key, .. } | EnvSource::ConfigMap { name, key, .. } => {
                let kind = if matches!(env.iter().find(|e| e.name == "OAUTH_CLIENT_ID").map(|e| &e.source), Some(EnvSource::Secret { .. })) { "Secret" } else { "ConfigMap" };
                m.values_from.push(json!({ "kind": kind, "name": name, "valuesKey": key, "targetPath": "sso.oidc.clientId" }));
                m.record("env OAUTH_CLIENT_ID", format!("{} {name}/{key}", kind.to_lowercase()), "valuesFrom → sso.oidc.clientId",
                    "chart 10.2.1 takes the client ID only as a literal, so Flux reads it from the Secret");
            }
            other => {
                m.drop("env OAUTH_CLIENT_ID", crate::mapping::env_shown(&other, "OAUTH_CLIENT_ID"), "the chart takes the client ID as a literal only");
                m.warn(Level::Blocking, "OAUTH_CLIENT_ID comes from a field reference the chart cannot express");
            }
        }
        take_env(env, "OAUTH_CLIENT_SECRET");
        take_env(env, "OAUTH_CLIENT_ID");
        for (name, path) in SSO_STRINGS {
            if let Some(e) = take_env(env, name) {
                m.map(format!("env {name}"), path, literal(&e.source).unwrap_or_default().to_string());
            }
        }
        if m.values.get("sso.oidc.providerName").is_none() {
            m.chart_default("sso.oidc.providerName", "\"SSO\"", "the chart sets OAUTH_PROVIDER_NAME=SSO");
        }
        let on = |env: &Vec<Env>, flag: &str| env.iter().find(|e| e.name == flag).and_then(|e| literal(&e.source)).and_then(truthy) == Some(true);
        for (flag, name, path) in SSO_GATED {
            if on(env, flag) && env.iter().find(|e| e.name == name).is_some_and(|e| literal(&e.source).is_some()) {
                let e = take_env(env, name).expect("found above");
                m.map(format!("env {name}"), path, literal(&e.source).unwrap_or_default().to_string());
            }
        }
        for (name, path) in SSO_FLAGS {
            if let Some(e) = take_env(env, name) {
                let v = literal(&e.source).and_then(truthy).unwrap_or(false);
                m.map_why(format!("env {name}"), path, v, "under sso., not sso.oidc. (a wrong level is silently ignored)");
            }
        }
    }
}

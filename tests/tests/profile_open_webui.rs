//! One test per mapped field of the open-webui profile (chart open-webui 10.2.1), including the
//! values a hand-written plan got wrong (see ../shared/charts/NOTES.md §3.3–3.4).

use helmigrate::plan::Status;
use helmigrate_tests::fixture::{app, at, container, ledger, pod, service, workload};
use serde_json::{Value, json};

const IMAGE: &str = "ghcr.io/open-webui/open-webui:v0.7.2";

fn webui(f: impl FnOnce(&mut Value)) -> String {
    workload("Deployment", "open-webui", IMAGE, f)
}

fn env(pairs: Value) -> impl FnOnce(&mut Value) {
    move |v| container(v)["env"] = pairs
}

fn secret(name: &str, key: &str) -> Value {
    json!({"secretKeyRef": {"name": name, "key": key}})
}

#[test]
fn image_and_kind_are_kept() {
    let a = app(&[&webui(|_| {})]);
    assert_eq!(a.chart.name, "open-webui");
    assert_eq!(at(&a, "image.repository"), Some(&json!("ghcr.io/open-webui/open-webui")));
    assert_eq!(at(&a, "image.tag"), Some(&json!("v0.7.2")));
    assert_eq!(at(&a, "workload.kind"), Some(&json!("Deployment")), "no Deployment → StatefulSet flip");
    let s = app(&[&workload("StatefulSet", "open-webui", IMAGE, |_| {})]);
    assert_eq!(at(&s, "workload.kind"), Some(&json!("StatefulSet")));
}

#[test]
fn bundled_extras_are_off_and_service_account_is_not_existing_sa() {
    let a = app(&[&webui(|_| {})]);
    for p in ["ollama.enabled", "pipelines.enabled", "tika.enabled", "websocket.enabled"] {
        assert_eq!(at(&a, p), Some(&json!(false)), "{p}");
    }
    assert_eq!(at(&a, "serviceAccount.name"), Some(&json!("")));
}

#[test]
fn ollama_base_url_maps_to_ollama_urls() {
    let a = app(&[&webui(env(json!([{"name": "OLLAMA_BASE_URL", "value": "http://ollama:11434"}])))]);
    assert_eq!(at(&a, "ollamaUrls"), Some(&json!(["http://ollama:11434"])));
    assert_eq!(at(&a, "extraEnvVars"), None, "no duplicate OLLAMA_BASE_URL in extraEnvVars");
}

#[test]
fn ollama_base_urls_list_is_split() {
    let a = app(&[&webui(env(json!([{"name": "OLLAMA_BASE_URLS", "value": "http://a:11434;http://b:11434"}])))]);
    assert_eq!(at(&a, "ollamaUrls"), Some(&json!(["http://a:11434", "http://b:11434"])));
}

#[test]
fn ollama_url_from_a_secret_stays_env_and_turns_off_the_chart_list() {
    let a = app(&[&webui(env(json!([{"name": "OLLAMA_BASE_URL", "valueFrom": secret("s", "url")}])))]);
    assert_eq!(at(&a, "ollamaUrlsFromExtraEnv"), Some(&json!(true)));
    assert_eq!(at(&a, "extraEnvVars.0.name"), Some(&json!("OLLAMA_BASE_URL")));
}

fn oidc_env(client_id: Value) -> Value {
    json!([
        {"name": "OPENID_PROVIDER_URL", "value": "https://auth/.well-known/openid-configuration"},
        client_id,
        {"name": "OAUTH_CLIENT_SECRET", "valueFrom": secret("oidc", "client-secret")},
        {"name": "OAUTH_SCOPES", "value": "openid email"},
        {"name": "OAUTH_MERGE_ACCOUNTS_BY_EMAIL", "value": "true"},
        {"name": "ENABLE_OAUTH_SIGNUP", "value": "true"},
    ])
}

#[test]
fn oidc_client_secret_uses_the_real_10_2_1_keys() {
    let a = app(&[&webui(env(oidc_env(json!({"name": "OAUTH_CLIENT_ID", "valueFrom": secret("oidc", "client-id")}))))]);
    assert_eq!(at(&a, "sso.enabled"), Some(&json!(true)));
    assert_eq!(at(&a, "sso.oidc.enabled"), Some(&json!(true)));
    assert_eq!(at(&a, "sso.oidc.clientExistingSecret"), Some(&json!("oidc")));
    assert_eq!(at(&a, "sso.oidc.clientExistingSecretKey"), Some(&json!("client-secret")));
    assert_eq!(at(&a, "sso.oidc.providerUrl"), Some(&json!("https://auth/.well-known/openid-configuration")));
    assert_eq!(at(&a, "sso.oidc.scopes"), Some(&json!("openid email")));
    // Keys that do not exist in 10.2.1 (the chart refuses to render with them alone).
    assert_eq!(at(&a, "sso.oidc.existingSecret"), None);
    assert_eq!(at(&a, "sso.oidc.secretKeys"), None);
    assert_eq!(at(&a, "extraEnvVars"), None, "no OAUTH_* duplicates next to the chart's own");
}

#[test]
fn oidc_client_id_from_a_secret_comes_through_values_from() {
    let a = app(&[&webui(env(oidc_env(json!({"name": "OAUTH_CLIENT_ID", "valueFrom": secret("oidc", "client-id")}))))]);
    assert_eq!(a.values_from, vec![json!({"kind": "Secret", "name": "oidc", "valuesKey": "client-id", "targetPath": "sso.oidc.clientId"})]);
    assert_eq!(at(&a, "sso.oidc.clientId"), None, "a value here would override valuesFrom");
    assert!(a.documents.contains("valuesFrom:\n    - kind: Secret\n      name: oidc\n      valuesKey: client-id\n      targetPath: sso.oidc.clientId\n"), "{}", a.documents);
}

#[test]
fn oidc_literal_client_id() {
    let a = app(&[&webui(env(oidc_env(json!({"name": "OAUTH_CLIENT_ID", "value": "webui"}))))]);
    assert_eq!(at(&a, "sso.oidc.clientId"), Some(&json!("webui")));
    assert!(a.values_from.is_empty());
}

#[test]
fn merge_accounts_and_signup_live_under_sso_not_oidc() {
    let a = app(&[&webui(env(oidc_env(json!({"name": "OAUTH_CLIENT_ID", "value": "webui"}))))]);
    assert_eq!(at(&a, "sso.mergeAccountsByEmail"), Some(&json!(true)));
    assert_eq!(at(&a, "sso.enableSignup"), Some(&json!(true)));
    assert_eq!(at(&a, "sso.oidc.mergeAccountsByEmail"), None);
}

#[test]
fn incomplete_oidc_stays_plain_env() {
    let a = app(&[&webui(env(json!([
        {"name": "OPENID_PROVIDER_URL", "value": "https://auth"},
        {"name": "OAUTH_CLIENT_ID", "value": "webui"}
    ])))]);
    assert_eq!(at(&a, "sso"), None, "without a client secret the chart refuses to render sso.oidc");
    assert_eq!(at(&a, "extraEnvVars.0.name"), Some(&json!("OPENID_PROVIDER_URL")));
}

#[test]
fn role_claims_map_only_with_role_management_on() {
    let mut e = oidc_env(json!({"name": "OAUTH_CLIENT_ID", "value": "webui"}));
    e.as_array_mut().unwrap().extend([json!({"name": "ENABLE_OAUTH_ROLE_MANAGEMENT", "value": "true"}), json!({"name": "OAUTH_ADMIN_ROLES", "value": "admins"})]);
    let a = app(&[&webui(env(e))]);
    assert_eq!(at(&a, "sso.enableRoleManagement"), Some(&json!(true)));
    assert_eq!(at(&a, "sso.roleManagement.adminRoles"), Some(&json!("admins")));
}

#[test]
fn other_env_goes_to_extra_env_vars_as_strings() {
    let a = app(&[&webui(env(json!([
        {"name": "ENABLE_IMAGE_GENERATION", "value": true},
        {"name": "WEBUI_SECRET_KEY", "valueFrom": secret("s", "k")}
    ])))]);
    assert_eq!(at(&a, "extraEnvVars"), Some(&json!([
        {"name": "ENABLE_IMAGE_GENERATION", "value": "true"},
        {"name": "WEBUI_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ])));
}

#[test]
fn websocket_env_maps_to_websocket_values_with_external_redis() {
    let a = app(&[&webui(env(json!([
        {"name": "ENABLE_WEBSOCKET_SUPPORT", "value": "true"},
        {"name": "WEBSOCKET_MANAGER", "value": "redis"},
        {"name": "WEBSOCKET_REDIS_URL", "value": "redis://redis:6379/1"}
    ])))]);
    assert_eq!(at(&a, "websocket"), Some(&json!({"enabled": true, "redis": {"enabled": false}, "manager": "redis", "url": "redis://redis:6379/1"})));
}

#[test]
fn openai_defaults_do_not_add_a_placeholder_key() {
    let a = app(&[&webui(|_| {})]);
    assert_eq!(at(&a, "openaiApiKey"), Some(&json!("")));
    let b = app(&[&webui(env(json!([{"name": "OPENAI_API_BASE_URL", "value": "http://litellm:4000/v1"}])))]);
    assert_eq!(at(&b, "openaiBaseApiUrl"), Some(&json!("http://litellm:4000/v1")));
    // No key in the old env: the chart's placeholder would be sent to the OpenAI endpoint.
    assert_eq!(at(&b, "openaiApiKey"), Some(&json!("")));
}

#[test]
fn database_url_literal_is_hidden_in_the_ledger() {
    let a = app(&[&webui(env(json!([{"name": "DATABASE_URL", "value": "postgresql://u:hunter2@db/webui"}])))]);
    assert_eq!(at(&a, "databaseUrl"), Some(&json!("postgresql://u:hunter2@db/webui")));
    assert!(!serde_json::to_string(&a.ledger).unwrap().contains("hunter2"));
}

#[test]
fn container_security_context_key_is_container_security_context() {
    let a = app(&[&webui(|v| container(v)["securityContext"] = json!({"runAsNonRoot": true}))]);
    assert_eq!(at(&a, "containerSecurityContext"), Some(&json!({"runAsNonRoot": true})));
    assert_eq!(at(&a, "securityContext"), None, "the chart ignores a top-level securityContext");
}

#[test]
fn pod_security_context_fs_group() {
    let a = app(&[&webui(|v| pod(v)["securityContext"] = json!({"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"}))]);
    assert_eq!(at(&a, "podSecurityContext"), Some(&json!({"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"})));
}

#[test]
fn data_claim_is_reused_never_replaced() {
    let a = app(&[&webui(|v| {
        container(v)["volumeMounts"] = json!([{"name": "data", "mountPath": "/app/backend/data", "subPath": "webui"}]);
        pod(v)["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": "open-webui-data"}}]);
    })]);
    assert_eq!(at(&a, "persistence"), Some(&json!({"enabled": true, "existingClaim": "open-webui-data", "subPath": "webui"})));
}

#[test]
fn no_data_volume_means_no_new_pvc() {
    let a = app(&[&webui(|_| {})]);
    assert_eq!(at(&a, "persistence.enabled"), Some(&json!(false)));
}

#[test]
fn probes_command_and_args_are_verbatim() {
    let probe = json!({"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10});
    let a = app(&[&webui(|v| {
        container(v)["livenessProbe"] = probe.clone();
        container(v)["startupProbe"] = probe.clone();
        container(v)["command"] = json!(["bash", "start.sh"]);
        container(v)["args"] = json!(["--x"]);
    })]);
    assert_eq!(at(&a, "livenessProbe"), Some(&probe));
    assert_eq!(at(&a, "startupProbe"), Some(&probe));
    assert_eq!(at(&a, "command"), Some(&json!(["bash", "start.sh"])));
    assert_eq!(at(&a, "args"), Some(&json!(["--x"])));
}

#[test]
fn resources_and_scheduling() {
    let a = app(&[&webui(|v| {
        container(v)["resources"] = json!({"requests": {"cpu": "250m"}, "limits": {"memory": "2Gi"}});
        pod(v)["runtimeClassName"] = json!("nvidia");
        pod(v)["hostAliases"] = json!([{"ip": "10.0.0.1", "hostnames": ["nas"]}]);
    })]);
    assert_eq!(at(&a, "resources"), Some(&json!({"requests": {"cpu": "250m"}, "limits": {"memory": "2Gi"}})));
    assert_eq!(at(&a, "runtimeClassName"), Some(&json!("nvidia")));
    assert_eq!(at(&a, "hostAliases.0.ip"), Some(&json!("10.0.0.1")));
}

#[test]
fn container_port_and_service_port() {
    let a = app(&[&webui(|v| container(v)["ports"] = json!([{"name": "http", "containerPort": 3000}])), &service("open-webui", "open-webui", 8080, json!(3000))]);
    assert_eq!(at(&a, "service.containerPort"), Some(&json!(3000)));
    assert_eq!(at(&a, "service.port"), Some(&json!(8080)));
}

#[test]
fn a_differently_named_service_keeps_its_name() {
    let a = app(&[&webui(|_| {}), &service("open-webui-service", "open-webui", 80, json!(8080))]);
    assert_eq!(at(&a, "nameOverride"), Some(&json!("open-webui-service")));
}

fn route(service: &str, port: i64) -> String {
    serde_json::to_string(&json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "chat"},
        "spec": {"rules": [{"backendRefs": [{"name": service, "port": port}]}]}
    })).unwrap()
}

#[test]
fn routes_that_still_match_the_chart_service_pass() {
    let a = app(&[&webui(|_| {}), &service("open-webui", "open-webui", 80, json!(8080)), &route("open-webui", 80)]);
    assert!(!a.blocked(), "{:?}", a.warnings);
    assert!(!a.deleted.iter().any(|f| f.ends_with("m2.yaml")), "the HTTPRoute is kept");
}

#[test]
fn a_route_to_a_port_the_chart_service_will_not_have_blocks() {
    // The route points at 8080 although the Service only had port 80: after the move it breaks.
    let a = app(&[&webui(|_| {}), &service("open-webui", "open-webui", 80, json!(8080)), &route("open-webui", 8080)]);
    assert!(a.blocked());
    assert!(a.warnings.iter().any(|w| w.message.contains("HTTPRoute chat")), "{:?}", a.warnings);
}

#[test]
fn init_containers_and_extra_volumes() {
    let a = app(&[&webui(|v| {
        pod(v)["initContainers"] = json!([{"name": "wait", "image": "busybox:1"}]);
        container(v)["volumeMounts"] = json!([{"name": "cfg", "mountPath": "/cfg"}]);
        pod(v)["volumes"] = json!([{"name": "cfg", "configMap": {"name": "c"}}]);
    })]);
    assert_eq!(at(&a, "extraInitContainers"), Some(&json!([{"name": "wait", "image": "busybox:1"}])));
    assert_eq!(at(&a, "volumes"), Some(&json!([{"name": "cfg", "configMap": {"name": "c"}}])));
    assert_eq!(at(&a, "volumeMounts.container"), Some(&json!([{"name": "cfg", "mountPath": "/cfg"}])));
}

#[test]
fn termination_grace_period_has_no_chart_value() {
    let a = app(&[&webui(|v| pod(v)["terminationGracePeriodSeconds"] = json!(60))]);
    ledger(&a, "pod terminationGracePeriodSeconds", Status::Dropped);
}

#[test]
fn pod_labels_the_chart_sets_itself_are_not_repeated() {
    let a = app(&[&webui(|v| v["spec"]["template"]["metadata"]["labels"] = json!({
        "app": "open-webui", "app.kubernetes.io/name": "webui", "app.kubernetes.io/component": "open-webui",
        "app.kubernetes.io/instance": "open-webui", "helm.sh/chart": "raw"}))]);
    assert_eq!(at(&a, "podLabels"), Some(&json!({"app": "open-webui"})));
    ledger(&a, "pod label app.kubernetes.io/name", Status::Dropped);
    ledger(&a, "pod label helm.sh/chart", Status::Dropped);
    ledger(&a, "pod label app.kubernetes.io/component", Status::Mapped);
    ledger(&a, "pod label app.kubernetes.io/instance", Status::Mapped);
    assert!(!a.blocked(), "{:?}", a.warnings);
}

#[test]
fn a_pipelines_sidecar_blocks_and_is_not_called_absent() {
    let a = app(&[&webui(|v| {
        pod(v)["containers"].as_array_mut().unwrap().push(json!({"name": "pipelines", "image": "ghcr.io/open-webui/pipelines:main",
            "ports": [{"containerPort": 9099}], "volumeMounts": [{"name": "pipelines", "mountPath": "/app/pipelines"}]}));
        pod(v)["volumes"] = json!([{"name": "pipelines", "persistentVolumeClaim": {"claimName": "pipelines-data"}}]);
    })]);
    let blocking: Vec<&str> = a.warnings.iter().filter(|w| w.level == helmigrate::plan::Level::Blocking).map(|w| w.message.as_str()).collect();
    assert_eq!(blocking.len(), 1, "one line for the container: {blocking:?}");
    assert!(blocking[0].contains("container pipelines (ghcr.io/open-webui/pipelines:main)") && blocking[0].contains("--chart open-webui=app-template")
        && blocking[0].contains("localhost:9099"), "{}", blocking[0]);
    let e = a.ledger.iter().find(|e| e.path == "pipelines.enabled").unwrap();
    assert!(!e.why.contains("had no pipelines"), "{}", e.why);
    assert_eq!(at(&a, "pipelines.enabled"), Some(&json!(false)));
    ledger(&a, "container pipelines", Status::Dropped);
}

#[test]
fn service_labels_the_chart_sets_itself_are_not_repeated() {
    let mut svc: Value = serde_json::from_str(&service("open-webui", "open-webui", 80, json!(8080))).unwrap();
    svc["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "flux", "backup.home/enabled": "true"});
    let a = app(&[&webui(|_| {}), &svc.to_string()]);
    assert_eq!(at(&a, "service.labels"), Some(&json!({"backup.home/enabled": "true"})));
    ledger(&a, "service open-webui label app.kubernetes.io/managed-by", Status::Dropped);
}

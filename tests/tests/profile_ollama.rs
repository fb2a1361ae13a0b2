//! One test per mapped field of the ollama profile (chart ollama 1.39.0).

use helmigrate::plan::{Level, Status};
use helmigrate_tests::fixture::{app, at, container, ledger, pod, service, workload};
use serde_json::json;

const IMAGE: &str = "ollama/ollama:0.15.2";

fn ollama(f: impl FnOnce(&mut serde_json::Value)) -> String {
    workload("Deployment", "ollama", IMAGE, f)
}

#[test]
fn image_is_split_into_repository_and_string_tag() {
    let a = app(&[&ollama(|_| {})]);
    assert_eq!(a.chart.name, "ollama");
    assert_eq!(a.chart.version, "1.39.0");
    assert_eq!(at(&a, "image.repository"), Some(&json!("ollama/ollama")));
    assert_eq!(at(&a, "image.tag"), Some(&json!("0.15.2")));
}

#[test]
fn image_digest_stays_pinned_in_the_tag() {
    let a = app(&[&workload("Deployment", "ollama", "docker.io/ollama/ollama:0.15.2@sha256:abc", |_| {})]);
    assert_eq!(at(&a, "image.repository"), Some(&json!("docker.io/ollama/ollama")));
    assert_eq!(at(&a, "image.tag"), Some(&json!("0.15.2@sha256:abc")));
}

#[test]
fn image_pull_policy() {
    let a = app(&[&ollama(|v| container(v)["imagePullPolicy"] = json!("Always"))]);
    assert_eq!(at(&a, "image.pullPolicy"), Some(&json!("Always")));
}

#[test]
fn image_policy_marker_moves_to_the_split_fields() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels: {app: ollama}\n  template:\n    metadata:\n      labels: {app: ollama}\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2 # {\"$imagepolicy\": \"flux-system:ollama\"}\n";
    let a = app(&[yaml]);
    assert!(a.documents.contains("repository: ollama/ollama # {\"$imagepolicy\": \"flux-system:ollama:name\"}\n"), "{}", a.documents);
    assert!(a.documents.contains("tag: \"0.15.2\" # {\"$imagepolicy\": \"flux-system:ollama:tag\"}\n"), "{}", a.documents);
}

#[test]
fn replicas() {
    let a = app(&[&ollama(|v| v["spec"]["replicas"] = json!(1))]);
    assert_eq!(at(&a, "replicaCount"), Some(&json!(1)));
}

#[test]
fn nvidia_gpu_limit_becomes_gpu_values_not_a_resource() {
    let a = app(&[&ollama(|v| container(v)["resources"] = json!({"limits": {"nvidia.com/gpu": 2, "memory": "32Gi"}}))]);
    assert_eq!(at(&a, "ollama.gpu.enabled"), Some(&json!(true)));
    assert_eq!(at(&a, "ollama.gpu.type"), Some(&json!("nvidia")));
    assert_eq!(at(&a, "ollama.gpu.number"), Some(&json!(2)));
    assert_eq!(at(&a, "resources.limits"), Some(&json!({"memory": "32Gi"})), "the chart merges the GPU limit itself");
}

#[test]
fn amd_gpu_limit() {
    let a = app(&[&ollama(|v| container(v)["resources"] = json!({"limits": {"amd.com/gpu": 1}}))]);
    assert_eq!(at(&a, "ollama.gpu.type"), Some(&json!("amd")));
    assert_eq!(at(&a, "resources"), None);
}

#[test]
fn gpu_toleration_is_left_to_the_chart_and_others_are_kept() {
    let a = app(&[&ollama(|v| {
        container(v)["resources"] = json!({"limits": {"nvidia.com/gpu": 1}});
        pod(v)["tolerations"] = json!([
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "ai", "effect": "NoSchedule"}
        ]);
    })]);
    assert_eq!(at(&a, "tolerations"), Some(&json!([{"key": "dedicated", "operator": "Equal", "value": "ai", "effect": "NoSchedule"}])));
}

#[test]
fn runtime_class_name_is_top_level() {
    let a = app(&[&ollama(|v| pod(v)["runtimeClassName"] = json!("nvidia"))]);
    assert_eq!(at(&a, "runtimeClassName"), Some(&json!("nvidia")));
    ledger(&a, "pod runtimeClassName", Status::Mapped);
}

#[test]
fn env_is_a_list_with_string_values() {
    let a = app(&[&ollama(|v| container(v)["env"] = json!([{"name": "OLLAMA_NUM_PARALLEL", "value": 2}, {"name": "TZ", "value": "UTC"}]))]);
    assert_eq!(at(&a, "extraEnv"), Some(&json!([{"name": "OLLAMA_NUM_PARALLEL", "value": "2"}, {"name": "TZ", "value": "UTC"}])));
    assert!(a.documents.contains("value: \"2\""), "env values are quoted in the HelmRelease:\n{}", a.documents);
}

#[test]
fn env_secret_key_ref_is_kept_verbatim() {
    let a = app(&[&ollama(|v| container(v)["env"] = json!([{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]))]);
    assert_eq!(at(&a, "extraEnv.0.valueFrom.secretKeyRef"), Some(&json!({"name": "hf", "key": "token"})));
    assert_eq!(ledger(&a, "env HF_TOKEN", Status::Mapped).value, "secret hf/token");
}

#[test]
fn ollama_host_is_written_by_the_chart() {
    let a = app(&[&ollama(|v| container(v)["env"] = json!([{"name": "OLLAMA_HOST", "value": "0.0.0.0:11500"}]))]);
    assert_eq!(at(&a, "ollama.port"), Some(&json!(11500)));
    assert_eq!(at(&a, "extraEnv"), None, "no duplicate OLLAMA_HOST");
}

#[test]
fn env_from_and_args() {
    let a = app(&[&ollama(|v| {
        container(v)["envFrom"] = json!([{"configMapRef": {"name": "cfg"}}]);
        container(v)["args"] = json!(["serve"]);
    })]);
    assert_eq!(at(&a, "extraEnvFrom"), Some(&json!([{"configMapRef": {"name": "cfg"}}])));
    assert_eq!(at(&a, "extraArgs"), Some(&json!(["serve"])));
}

#[test]
fn command_has_no_chart_value_and_is_reported_dropped() {
    let a = app(&[&ollama(|v| container(v)["command"] = json!(["/bin/ollama", "serve"]))]);
    ledger(&a, "command", Status::Dropped);
    assert!(a.warnings.iter().any(|w| w.level == Level::Warning));
}

#[test]
fn resources_requests_and_limits() {
    let a = app(&[&ollama(|v| container(v)["resources"] = json!({"requests": {"memory": "100Mi", "cpu": 1}, "limits": {"memory": "32Gi"}}))]);
    assert_eq!(at(&a, "resources"), Some(&json!({"requests": {"memory": "100Mi", "cpu": 1}, "limits": {"memory": "32Gi"}})));
}

#[test]
fn nfs_claim_is_reused_with_sub_path() {
    let a = app(&[&ollama(|v| {
        container(v)["volumeMounts"] = json!([{"name": "models", "mountPath": "/root/.ollama", "subPath": "ollama"}]);
        pod(v)["volumes"] = json!([{"name": "models", "persistentVolumeClaim": {"claimName": "nfs-ai-models"}}]);
    })]);
    assert_eq!(at(&a, "persistentVolume"), Some(&json!({"enabled": true, "existingClaim": "nfs-ai-models", "subPath": "ollama"})));
    assert_eq!(at(&a, "volumes"), None);
}

#[test]
fn statefulset_claim_template_reuses_the_created_claim() {
    let a = app(&[&workload("StatefulSet", "ollama", IMAGE, |v| {
        container(v)["volumeMounts"] = json!([{"name": "data", "mountPath": "/root/.ollama"}]);
        v["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]);
        v["spec"]["serviceName"] = json!("ollama");
    })]);
    assert_eq!(at(&a, "persistentVolume.existingClaim"), Some(&json!("data-ollama-0")));
    assert!(a.warnings.iter().any(|w| w.message.contains("was a StatefulSet")));
}

#[test]
fn empty_dir_models_volume_means_no_persistence() {
    let a = app(&[&ollama(|v| {
        container(v)["volumeMounts"] = json!([{"name": "tmp", "mountPath": "/root/.ollama"}]);
        pod(v)["volumes"] = json!([{"name": "tmp", "emptyDir": {}}]);
    })]);
    assert_eq!(at(&a, "persistentVolume.enabled"), Some(&json!(false)));
}

#[test]
fn inline_nfs_models_volume_blocks_the_plan() {
    let a = app(&[&ollama(|v| {
        container(v)["volumeMounts"] = json!([{"name": "m", "mountPath": "/root/.ollama"}]);
        pod(v)["volumes"] = json!([{"name": "m", "nfs": {"server": "nas", "path": "/models"}}]);
    })]);
    assert!(a.blocked());
    ledger(&a, "volume m", Status::Dropped);
}

#[test]
fn custom_models_path() {
    let a = app(&[&ollama(|v| {
        container(v)["volumeMounts"] = json!([{"name": "models", "mountPath": "/models"}]);
        pod(v)["volumes"] = json!([{"name": "models", "persistentVolumeClaim": {"claimName": "m"}}]);
    })]);
    assert_eq!(at(&a, "ollama.mountPath"), Some(&json!("/models")));
    assert_eq!(at(&a, "persistentVolume.existingClaim"), Some(&json!("m")));
}

#[test]
fn extra_volumes_and_mounts() {
    let a = app(&[&ollama(|v| {
        container(v)["volumeMounts"] = json!([
            {"name": "models", "mountPath": "/root/.ollama"},
            {"name": "certs", "mountPath": "/etc/ssl/custom", "readOnly": true}
        ]);
        pod(v)["volumes"] = json!([
            {"name": "models", "persistentVolumeClaim": {"claimName": "m"}},
            {"name": "certs", "secret": {"secretName": "ca"}}
        ]);
    })]);
    assert_eq!(at(&a, "volumes"), Some(&json!([{"name": "certs", "secret": {"secretName": "ca"}}])));
    assert_eq!(at(&a, "volumeMounts"), Some(&json!([{"name": "certs", "mountPath": "/etc/ssl/custom", "readOnly": true}])));
}

#[test]
fn http_probes_map_to_path_and_timings() {
    let a = app(&[&ollama(|v| container(v)["livenessProbe"] = json!({"httpGet": {"path": "/api/version", "port": 11434}, "periodSeconds": 20}))]);
    assert_eq!(at(&a, "livenessProbe.path"), Some(&json!("/api/version")));
    assert_eq!(at(&a, "livenessProbe.periodSeconds"), Some(&json!(20)));
    assert_eq!(at(&a, "readinessProbe.enabled"), Some(&json!(false)), "no readiness probe before, none after");
    // The chart renders every timing from its own defaults (initialDelaySeconds 60, timeout 5,
    // 6 failures): the ones the old probe left out get Kubernetes' defaults instead.
    for (t, v) in [("initialDelaySeconds", 0), ("timeoutSeconds", 1), ("failureThreshold", 3), ("successThreshold", 1)] {
        assert_eq!(at(&a, &format!("livenessProbe.{t}")), Some(&json!(v)), "{t}");
        let e = a.ledger.iter().find(|e| e.path == format!("livenessProbe.{t}")).expect("ledgered");
        assert_eq!(e.status, Status::Defaulted, "{e:?}");
        assert!(e.why.contains("Kubernetes' default"), "{e:?}");
    }
}

#[test]
fn exec_probe_has_no_chart_value() {
    let a = app(&[&ollama(|v| container(v)["readinessProbe"] = json!({"exec": {"command": ["ollama", "ps"]}}))]);
    ledger(&a, "readinessProbe", Status::Dropped);
}

#[test]
fn security_contexts() {
    let a = app(&[&ollama(|v| {
        pod(v)["securityContext"] = json!({"fsGroup": 1000});
        container(v)["securityContext"] = json!({"allowPrivilegeEscalation": false});
    })]);
    assert_eq!(at(&a, "podSecurityContext"), Some(&json!({"fsGroup": 1000})));
    assert_eq!(at(&a, "securityContext"), Some(&json!({"allowPrivilegeEscalation": false})));
}

#[test]
fn scheduling_keys() {
    let a = app(&[&ollama(|v| {
        pod(v)["nodeSelector"] = json!({"gpu": "true"});
        pod(v)["affinity"] = json!({"nodeAffinity": {}});
        pod(v)["priorityClassName"] = json!("high");
    })]);
    assert_eq!(at(&a, "nodeSelector"), Some(&json!({"gpu": "true"})));
    assert_eq!(at(&a, "affinity"), Some(&json!({"nodeAffinity": {}})));
    assert_eq!(at(&a, "priorityClassName"), Some(&json!("high")));
}

#[test]
fn service_name_and_port_are_kept() {
    let a = app(&[&ollama(|_| {}), &service("llm", "ollama", 8080, json!(11434))]);
    assert_eq!(at(&a, "fullnameOverride"), Some(&json!("llm")));
    assert_eq!(at(&a, "service.port"), Some(&json!(8080)));
}

#[test]
fn sidecar_and_unknown_pod_fields_are_reported_dropped() {
    let a = app(&[&ollama(|v| {
        pod(v)["containers"].as_array_mut().unwrap().push(json!({"name": "exporter", "image": "exporter:1"}));
        pod(v)["dnsPolicy"] = json!("None");
    })]);
    ledger(&a, "container exporter", Status::Dropped);
    ledger(&a, "pod dnsPolicy", Status::Dropped);
    // A sidecar would silently stop running: the plan is blocked, naming it and the way out.
    let blocking: Vec<&str> = a.warnings.iter().filter(|w| w.level == Level::Blocking).map(|w| w.message.as_str()).collect();
    assert_eq!(blocking.len(), 1, "{blocking:?}");
    assert!(blocking[0].contains("container exporter (exporter:1)") && blocking[0].contains("--chart ollama=app-template"), "{}", blocking[0]);
}

#[test]
fn existing_service_account_is_reused() {
    let a = app(&[&ollama(|v| pod(v)["serviceAccountName"] = json!("ollama-sa"))]);
    assert_eq!(at(&a, "serviceAccount"), Some(&json!({"name": "ollama-sa", "create": false})));
}

#[test]
fn pod_labels_and_annotations_are_kept() {
    let a = app(&[&ollama(|v| v["spec"]["template"]["metadata"]["annotations"] = json!({"backup.velero.io/backup-volumes": "models"}))]);
    assert_eq!(at(&a, "podLabels"), Some(&json!({"app": "ollama"})));
    assert_eq!(at(&a, "podAnnotations"), Some(&json!({"backup.velero.io/backup-volumes": "models"})));
}

#[test]
fn helm_test_pod_is_off() {
    let a = app(&[&ollama(|_| {})]);
    assert_eq!(at(&a, "tests.enabled"), Some(&json!(false)));
    ledger(&a, "-", Status::Defaulted);
}

#[test]
fn pod_labels_the_chart_sets_itself_are_not_repeated() {
    let a = app(&[&ollama(|v| v["spec"]["template"]["metadata"]["labels"] = json!({
        "app": "ollama", "app.kubernetes.io/name": "ollama", "app.kubernetes.io/instance": "llm",
        "app.kubernetes.io/managed-by": "Flux", "helm.sh/chart": "raw", "app.kubernetes.io/version": "0.15.2"}))]);
    assert_eq!(at(&a, "podLabels"), Some(&json!({"app": "ollama"})), "only the labels the chart does not set");
    assert!(ledger(&a, "pod label app.kubernetes.io/name", Status::Mapped).why.contains("the chart sets it itself"));
    for k in ["app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/version"] {
        assert!(ledger(&a, &format!("pod label {k}"), Status::Dropped).why.contains("the chart sets it itself"), "{k}");
    }
    assert!(!a.blocked(), "{:?}", a.warnings);
}

#[test]
fn a_pod_label_that_moves_the_pods_out_of_the_chart_selector_blocks() {
    let mut opts = helmigrate::plan::Options::default();
    opts.overrides.add_set("ollama.podLabels.app\\.kubernetes\\.io/instance=other").unwrap();
    let plan = helmigrate_tests::fixture::plan_with(&[&ollama(|_| {})], &opts);
    let a = &plan.apps[0];
    let w = a.warnings.iter().find(|w| w.level == Level::Blocking).unwrap_or_else(|| panic!("{:?}", a.warnings));
    assert!(w.message.contains("app.kubernetes.io/instance") && w.message.contains("podLabels"), "{}", w.message);
    assert_eq!(w.message.lines().count(), 1);
}

#[test]
fn service_labels_the_chart_sets_itself_are_not_repeated() {
    // A `labels:` transformer put managed-by on every object; the chart's Service has its own
    // (`Helm`), and helm would render the key twice: a manifest that does not install.
    let mut svc: serde_json::Value = serde_json::from_str(&service("ollama", "ollama", 11434, json!(11434))).unwrap();
    svc["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "flux", "app.kubernetes.io/name": "ollama", "tier": "inference"});
    let a = app(&[&ollama(|_| {}), &svc.to_string()]);
    assert_eq!(at(&a, "service.labels"), Some(&json!({"tier": "inference"})));
    ledger(&a, "service ollama label app.kubernetes.io/managed-by", Status::Dropped);
    ledger(&a, "service ollama label app.kubernetes.io/name", Status::Mapped);
}

//! bjw-s app-template as the chart for workloads no profile knows (`--fallback`, `--chart`),
//! its OCIRepository + `chartRef` source and the HelmRepository alternative. Offline: the render
//! and equivalence checks on the real chart are in `render.rs` and `equivalence.rs`.

use helmigrate_tests::{example_repo, fixture_repo, golden, helmigrate, snapshot};
use serde_json::Value;

const APPS: &str = "kubernetes/apps/base/ai";

fn plan(repo: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["convert", "--no-render", "-o", "json"];
    all.extend_from_slice(args);
    let r = helmigrate(&all, repo);
    assert!(r.code <= 1, "{}\n{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

fn app<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["apps"].as_array().and_then(|a| a.iter().find(|x| x["name"] == name)).unwrap_or_else(|| panic!("no app {name} in {plan}"))
}

#[test]
fn the_example_converts_all_three_apps_with_the_fallback() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "--fallback", "app-template", "-o", "yaml"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let kinds: Vec<&str> = r.stdout.lines().filter_map(|l| l.strip_prefix("kind: ")).collect();
    assert_eq!(kinds, ["HelmRepository", "HelmRelease", "HelmRepository", "HelmRelease", "OCIRepository", "HelmRelease"]);
    golden("convert/fallback-documents.yaml", &r.stdout);

    let p = plan(repo.path(), &[APPS, "--fallback", "app-template"]);
    assert!(p["skipped"].as_array().is_some_and(Vec::is_empty), "{}", p["skipped"]);
    let comfy = app(&p, "comfyui");
    assert_eq!(comfy["chart"]["name"], "app-template");
    assert_eq!(comfy["chart"]["sourceKind"], "OCIRepository");
    let c = &comfy["values"]["controllers"]["comfyui"];
    assert_eq!(c["strategy"], "Recreate");
    assert_eq!(c["pod"]["runtimeClassName"], "nvidia");
    assert_eq!(c["pod"]["enableServiceLinks"], true, "Kubernetes' default kept against the chart's false");
    assert_eq!(c["containers"]["comfyui"]["resources"]["limits"]["nvidia.com/gpu"], 1);
    assert_eq!(comfy["values"]["persistence"]["models"]["existingClaim"], "nfs-ai-models");
    assert_eq!(comfy["values"]["persistence"]["models"]["advancedMounts"]["comfyui"]["comfyui"][0]["subPath"], "comfyui");
    assert_eq!(comfy["values"]["service"]["comfyui"]["ports"]["http"]["port"], 8188);
    assert!(!comfy["ledger"].as_array().unwrap().iter().any(|e| e["status"] == "dropped"), "nothing of ComfyUI is lost: {}", comfy["ledger"]);

    // The source goes where the repo keeps its HelmRepositories, once, and a second run is a no-op.
    let w = helmigrate(&["convert", "--no-render", APPS, "--fallback", "app-template", "--write"], repo.path());
    assert_eq!(w.code, 0, "{}", w.stderr);
    let files = snapshot(repo.path());
    let with_oci: Vec<&String> = files.iter().filter(|(p, b)| !p.starts_with(".helmigrate/") && String::from_utf8_lossy(b).contains("\nkind: OCIRepository"))
        .map(|(p, _)| p).collect();
    assert_eq!(with_oci.len(), 1, "one OCIRepository: {with_oci:?}");
    let hr = String::from_utf8_lossy(&files["kubernetes/apps/base/ai/comfyui/helmrelease.yaml"]).into_owned();
    assert!(hr.contains("chartRef:\n    kind: OCIRepository\n    name: app-template\n    namespace: flux-system\n"), "{hr}");
    let again = helmigrate(&["convert", "--no-render", APPS, "--fallback", "app-template", "--write"], repo.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already on charts: ai/ollama, ai/open-webui, ai/comfyui"), "{}", again.stdout);
    assert_eq!(snapshot(repo.path()), files, "the second --write is a no-op");
}

#[test]
fn a_helm_repository_instead_of_oci_and_a_mirror() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "--chart", "comfyui=app-template", "--chart-source", "helmrepository", "-o", "yaml"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("OCIRepository"), "{}", r.stdout);
    // The example's sources file already has bjw-s's repository: it is reused, not added again.
    assert_eq!(r.stdout.matches("url: https://bjw-s-labs.github.io/helm-charts").count(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("chart: app-template\n      version: \"4.1.1\"\n      sourceRef:\n        kind: HelmRepository\n        name: bjw-s\n        namespace: flux-system"), "{}", r.stdout);

    // Mirrors: an https URL is a HelmRepository, an oci:// one an OCIRepository.
    let r = helmigrate(&["convert", "--no-render", APPS, "--fallback", "app-template", "-o", "yaml",
        "--chart-repo", "ollama=http://127.0.0.1:8879/", "--chart-repo", "app-template=oci://registry.home.arpa/helm/app-template"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("url: http://127.0.0.1:8879/"), "{}", r.stdout);
    assert!(r.stdout.contains("url: oci://registry.home.arpa/helm/app-template\n  ref:\n    tag: \"4.1.1\""), "{}", r.stdout);
    assert!(r.stdout.contains("url: https://helm.openwebui.com/"), "the others stay: {}", r.stdout);

    let bad = helmigrate(&["convert", "--no-render", APPS, "--chart-repo", "ollama=ftp://x"], repo.path());
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("is not an https://, http:// or oci:// URL"), "{}", bad.stderr);
}

#[test]
fn chart_per_app_overrides_detection_and_names_are_checked() {
    let repo = example_repo("home-infra");
    let p = plan(repo.path(), &[APPS, "--chart", "ollama=app-template"]);
    assert_eq!(app(&p, "ollama")["chart"]["name"], "app-template", "forced");
    assert_eq!(app(&p, "open-webui")["chart"]["name"], "open-webui", "detected");
    assert_eq!(p["skipped"].as_array().map(Vec::len), Some(1), "comfyui stays without --fallback");
    let ollama = app(&p, "ollama");
    let c = &ollama["values"]["controllers"]["ollama"];
    assert_eq!(c["type"], "statefulset", "the kind is kept");
    assert_eq!(c["statefulset"]["serviceName"], "ollama");

    for (args, msg) in [
        (vec!["--fallback", "ollama"], "no chart profile that runs any workload named `ollama`"),
        (vec!["--chart", "comfyui=nope"], "no chart profile named `nope`"),
        (vec!["--chart", "nobody=app-template"], "no convertible app named `nobody`"),
        (vec!["--chart", "comfyui"], "is not APP=CHART"),
    ] {
        let mut all = vec!["convert", "--no-render", APPS];
        all.extend(args);
        let r = helmigrate(&all, repo.path());
        assert_eq!(r.code, 2, "{all:?}: {}", r.stderr);
        assert!(r.stderr.contains(msg) && r.stderr.lines().count() == 1, "{all:?}: {}", r.stderr);
    }
}

#[test]
fn a_blocked_profile_app_points_at_app_template_which_carries_the_sidecar() {
    let repo = fixture_repo("sidecar");
    let p = plan(repo.path(), &["apps/ai"]);
    let webui = app(&p, "open-webui");
    let blocking: Vec<&str> = webui["warnings"].as_array().unwrap().iter().filter(|w| w["level"] == "blocking").filter_map(|w| w["message"].as_str()).collect();
    assert!(blocking.iter().any(|m| m.contains("--chart open-webui=app-template")), "{blocking:?}");

    let p = plan(repo.path(), &["apps/ai", "--chart", "open-webui=app-template"]);
    let webui = app(&p, "open-webui");
    assert!(!webui["warnings"].as_array().unwrap().iter().any(|w| w["level"] == "blocking"), "{}", webui["warnings"]);
    let containers = webui["values"]["controllers"]["open-webui"]["containers"].as_object().unwrap();
    assert_eq!(containers.keys().collect::<Vec<_>>(), ["open-webui", "pipelines"], "both containers run");
}

#[test]
fn generic_apps_keep_every_field() {
    let repo = fixture_repo("generic-apps");
    let p = plan(repo.path(), &["kubernetes/apps/media", "--fallback", "app-template"]);
    let q = app(&p, "qbittorrent");
    let v = &q["values"];
    let c = &v["controllers"]["qbittorrent"];
    assert_eq!(c["revisionHistoryLimit"], 2);
    assert_eq!(c["annotations"]["reloader.stakater.com/auto"], "true");
    let init = c["initContainers"].as_object().unwrap();
    assert_eq!(init["fix-permissions"]["dependsOn"], "wait-for-vpn-config", "init order kept");
    assert_eq!(c["containers"]["gluetun"]["securityContext"]["capabilities"]["add"][0], "NET_ADMIN");
    let app_c = &c["containers"]["app"];
    assert_eq!(app_c["image"]["tag"], "5.1.2@sha256:9c0fe6d48ac0b2b4a1cc0f5aa5e0b3c1d0fb1e5a0d5c1f7e1e0d2a3b4c5d6e7f");
    assert_eq!(app_c["probes"]["liveness"]["custom"], true);
    assert_eq!(app_c["probes"]["liveness"]["spec"]["periodSeconds"], 30);
    assert_eq!(app_c["envFrom"][0]["secretRef"]["name"], "qbittorrent-secret");
    let persistence = &v["persistence"];
    assert_eq!(persistence["media"]["type"], "nfs");
    assert_eq!(persistence["scripts"]["type"], "configMap");
    assert_eq!(persistence["scripts"]["defaultMode"], 493);
    assert_eq!(persistence["tmp"]["medium"], "Memory");
    assert_eq!(persistence["tun"]["hostPathType"], "CharDevice");
    assert_eq!(persistence["config"]["advancedMounts"]["qbittorrent"]["gluetun"][0]["subPath"], "gluetun");
    assert_eq!(persistence["config"]["advancedMounts"]["qbittorrent"]["wait-for-vpn-config"][0]["readOnly"], true);
    assert_eq!(v["service"]["qbittorrent-bittorrent"]["forceRename"], "qbittorrent-bittorrent");
    assert_eq!(v["service"]["qbittorrent-bittorrent"]["ports"]["bittorrent"]["protocol"], "UDP");
    assert_eq!(v["service"]["qbittorrent-bittorrent"]["externalTrafficPolicy"], "Local");
    let dropped: Vec<&str> = q["ledger"].as_array().unwrap().iter().filter(|e| e["status"] == "dropped").filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(dropped, ["envFrom secret qbittorrent-secret optional"], "only what the chart cannot carry is dropped");

    let p = plan(repo.path(), &["kubernetes/apps/home", "--fallback", "app-template"]);
    let z = &app(&p, "zigbee2mqtt")["values"];
    let zc = &z["controllers"]["zigbee2mqtt"];
    assert_eq!(zc["pod"]["dnsPolicy"], "ClusterFirst", "the chart would switch to ClusterFirstWithHostNet");
    assert_eq!(zc["serviceAccount"]["name"], "zigbee2mqtt");
    assert_eq!(zc["containers"]["zigbee2mqtt"]["image"]["tag"], "latest");
    let env = zc["containers"]["zigbee2mqtt"]["env"].as_array().unwrap();
    assert_eq!(env[1]["value"], "{{`{{ .Hostname }}:8080`}}", "a literal {{ survives the chart's tpl");
    assert_eq!(z["service"]["zigbee2mqtt"]["ports"]["http"]["port"], 8080);

    let p = plan(repo.path(), &["kubernetes/apps/db", "--fallback", "app-template"]);
    let vk = &app(&p, "valkey")["values"]["controllers"]["valkey"];
    assert_eq!(vk["statefulset"]["podManagementPolicy"], "Parallel");
    let vct = &vk["statefulset"]["volumeClaimTemplates"][0];
    assert_eq!((vct["name"].as_str(), vct["size"].as_str(), vct["accessMode"].as_str()), (Some("data"), Some("5Gi"), Some("ReadWriteOnce")));

    let p = plan(repo.path(), &["kubernetes/apps/tools", "--fallback", "app-template"]);
    let wc = &app(&p, "whoami")["values"]["controllers"]["whoami"];
    assert_eq!(wc["rollingUpdate"]["unavailable"], "0", "a 0 the chart would skip as empty");
    assert_eq!(wc["containers"]["whoami"]["image"]["repository"], "docker.io/traefik/whoami@sha256");
}

#[test]
fn rollback_of_a_fallback_conversion_restores_every_byte() {
    let repo = example_repo("home-infra");
    let original = snapshot(repo.path());
    let w = helmigrate(&["convert", "--no-render", APPS, "--fallback", "app-template", "--write"], repo.path());
    assert_eq!(w.code, 0, "{}", w.stderr);
    let r = helmigrate(&["rollback", APPS, "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("flux suspend helmrelease comfyui -n ai"), "{}", r.stdout);
    assert_eq!(snapshot(repo.path()), original, "the OCIRepository, the HelmRelease with chartRef and every edit are undone");
}

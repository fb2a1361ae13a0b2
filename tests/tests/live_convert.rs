//! `convert -n NS` against a real kube-apiserver: the same plan as from the files, with none of
//! the server's additions and no secret data.

use helmigrate_tests::{PLANTED_SECRETS, apply_example, cluster, example_repo, helmigrate, helmigrate_live, mark_step_one, snapshot};
use serde_json::Value;

fn by_name(plan: &Value) -> std::collections::BTreeMap<String, Value> {
    plan["apps"].as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap().to_string(), a.clone())).collect()
}

/// The plan read from the cluster and the one read from Git, with `extra` flags: the same apps,
/// values, charts and ledgers.
fn assert_live_equals_git(env: &helmigrate_tests::testenv::TestEnv, ns: &str, extra: &[&str], apps: &[&str]) -> Value {
    let mut args = vec!["convert", "-n", ns, "-o", "json"];
    args.extend_from_slice(extra);
    let live = helmigrate_live(env, &args);
    assert_eq!(live.code, 0, "{}", live.stderr);
    let live_plan: Value = serde_json::from_str(&live.stdout).unwrap();

    let repo = example_repo("home-infra");
    let mut args = vec!["convert", "kubernetes/apps/base/ai", "-o", "json"];
    args.extend_from_slice(extra);
    let offline = helmigrate(&args, repo.path());
    let offline_plan: Value = serde_json::from_str(&offline.stdout).unwrap();

    let (l, o) = (by_name(&live_plan), by_name(&offline_plan));
    assert_eq!(l.keys().collect::<Vec<_>>(), apps, "{extra:?}");
    assert_eq!(o.keys().collect::<Vec<_>>(), apps, "{extra:?}");
    for (name, off) in &o {
        assert_eq!(l[name]["values"], off["values"], "{name}: values differ between cluster and Git");
        assert_eq!(l[name]["valuesFrom"], off["valuesFrom"], "{name}");
        assert_eq!(l[name]["chart"], off["chart"], "{name}");
        assert_eq!(l[name]["namespace"], Value::from(ns.to_string()));
        let fields = |p: &Value| p["ledger"].as_array().unwrap().iter()
            .filter(|e| e["field"] != "image automation marker") // a comment in Git; the cluster has none
            .map(|e| (e["field"].clone(), e["status"].clone(), e["path"].clone())).collect::<Vec<_>>();
        assert_eq!(fields(&l[name]), fields(off), "{name}: ledgers differ");
    }
    live_plan
}

#[test]
fn live_plan_equals_the_plan_from_git() {
    let env = cluster!();
    let ns = env.namespace("live");
    apply_example(env, &ns);
    mark_step_one(env, &ns);
    let live_plan = assert_live_equals_git(env, &ns, &[], &["ollama", "open-webui"]);
    assert_eq!(live_plan["skipped"][0]["name"], "comfyui");
    // With the fallback, ComfyUI too: app-template values from the cluster equal those from Git.
    let live_plan = assert_live_equals_git(env, &ns, &["--fallback", "app-template"], &["comfyui", "ollama", "open-webui"]);
    assert!(live_plan["skipped"].as_array().unwrap().is_empty(), "{}", live_plan["skipped"]);
    assert_eq!(live_plan["apps"].as_array().unwrap().iter().find(|a| a["name"] == "comfyui").unwrap()["chart"]["sourceKind"], "OCIRepository");
}

#[test]
fn live_output_carries_no_server_additions_and_no_secret_data() {
    let env = cluster!();
    let ns = env.namespace("clean");
    apply_example(env, &ns);
    mark_step_one(env, &ns);
    for format in ["json", "yaml", "text"] {
        let r = helmigrate_live(env, &["convert", "-n", &ns, "-o", format]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        for added in ["managedFields", "resourceVersion", "creationTimestamp", "uid:", "\"uid\"", "terminationMessagePath",
                      "last-applied-configuration", "dnsPolicy", "schedulerName", "progressDeadlineSeconds", "clusterIP"] {
            assert!(!r.stdout.contains(added), "-o {format} output carries the server's `{added}`");
        }
        for s in PLANTED_SECRETS {
            assert!(!r.stdout.contains(s) && !r.stderr.contains(s), "-o {format} printed a secret value");
        }
    }
}

#[test]
fn out_dir_gets_one_file_per_app_with_both_documents() {
    let env = cluster!();
    let ns = env.namespace("out");
    apply_example(env, &ns);
    mark_step_one(env, &ns);
    let out = tempfile::tempdir().unwrap();
    let r = helmigrate_live(env, &["convert", "-n", &ns, "-o", "yaml", "--out", out.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for app in ["ollama", "open-webui"] {
        let text = std::fs::read_to_string(out.path().join(format!("{app}.yaml"))).unwrap();
        assert!(text.contains("kind: HelmRepository") && text.contains("kind: HelmRelease"), "{text}");
        assert!(text.contains(&format!("namespace: {ns}")), "the release is pinned to the namespace it was read from");
    }
}

#[test]
fn kubeconfig_env_and_context_namespace_are_honoured() {
    let env = cluster!();
    // No --kubeconfig and no -n: $KUBECONFIG and the context's namespace (`default`, empty here).
    let out = std::process::Command::new(helmigrate_tests::bin("kubectl-helmigrate"))
        .args(["convert", "-o", "json"])
        .env("KUBECONFIG", env.kubeconfig())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["apps"], Value::Array(vec![]));
    assert!(plan["cluster"].as_str().unwrap().ends_with("namespace default"), "{}", plan["cluster"]);
}

#[test]
fn write_without_a_path_is_refused() {
    let env = cluster!();
    let r = helmigrate_live(env, &["convert", "-n", "default", "--write"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: failed to convert: --write needs PATH"), "{}", r.stderr);
}

/// Wait until `kubectl ARGS` prints something non-empty.
fn wait_for(env: &helmigrate_tests::testenv::TestEnv, args: &[&str]) -> String {
    for _ in 0..120 {
        if let Ok(out) = env.kubectl_run(args) {
            if !out.trim().is_empty() {
                return out.trim().to_string();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("timed out: kubectl {args:?}");
}

#[test]
fn the_hand_over_reads_prune_and_reclaim_policies_from_the_cluster() {
    let env = cluster!();
    let ns = env.namespace("prune");
    apply_example(env, &ns);
    // What kustomize-controller leaves behind: its Kustomization, and its labels on what it applied.
    let ks = serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": ns},
        "spec": {"interval": "10m", "path": "./kubernetes/apps/base", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}});
    let file = env.dir().join(format!("ks-{ns}.json"));
    std::fs::write(&file, serde_json::to_vec(&ks).unwrap()).unwrap();
    env.kubectl_run(&["apply", "-f", file.to_str().unwrap()]).unwrap();
    env.kubectl_run(&["-n", &ns, "label", "statefulset", "ollama", "kustomize.toolkit.fluxcd.io/name=apps", &format!("kustomize.toolkit.fluxcd.io/namespace={ns}")]).unwrap();
    // The model store's volume deletes its data with the claim.
    let pv = wait_for(env, &["-n", &ns, "get", "pvc", "nfs-ai-models", "-o", "jsonpath={.spec.volumeName}"]);
    env.kubectl_run(&["patch", "pv", &pv, "-p", r#"{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}"#]).unwrap();

    // Step 2 must not outrun step 1: the live Services lack the marks, so the move is blocked,
    // naming each object and what to run.
    let out = tempfile::tempdir().unwrap();
    let r = helmigrate_live(env, &["convert", "-n", &ns, "-o", "json", "--out", out.path().to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(snapshot(out.path()).is_empty(), "a blocked plan writes nothing");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let apps = by_name(&plan);
    let ollama = &apps["ollama"];
    assert_eq!(ollama["handover"]["prune"], true, "{:#}", ollama["handover"]);
    assert_eq!(ollama["handover"]["kustomizations"][0], Value::from(format!("{ns}/apps (prune: true, cluster)")));
    assert_eq!(ollama["handover"]["takeovers"][0]["liveMarked"], false, "{:#}", ollama["handover"]);
    let warnings = ollama["warnings"].to_string();
    assert!(warnings.contains(&format!("PersistentVolume {pv} behind claim nfs-ai-models has reclaimPolicy Delete")), "{warnings}");
    assert!(warnings.contains(&format!("Service {ns}/ollama in the cluster lacks step 1's marks (kustomize.toolkit.fluxcd.io/prune=disabled, \
        meta.helm.sh/release-name=ollama, meta.helm.sh/release-namespace={ns}, app.kubernetes.io/managed-by=Helm), so the move is blocked: \
        Flux would prune it when it leaves Git")), "{warnings}");
    assert!(warnings.contains("run step 1 first: `convert PATH --prepare --write` on the repo folder, commit, push, \
        `flux reconcile kustomization apps -n "), "{warnings}");
    // open-webui carries no kustomize-controller labels: nothing says what applies it, nothing
    // prunes it, and the marks go on by hand.
    let webui = &apps["open-webui"];
    assert_eq!(webui["handover"]["prune"], Value::Null);
    let warnings = webui["warnings"].to_string();
    assert!(warnings.contains(&format!("Service {ns}/open-webui in the cluster lacks step 1's marks (meta.helm.sh/release-name=open-webui, \
        meta.helm.sh/release-namespace={ns}, app.kubernetes.io/managed-by=Helm), so the move is blocked: Helm would refuse to adopt it")), "{warnings}");
    assert!(warnings.contains(&format!("`kubectl annotate service open-webui -n {ns} meta.helm.sh/release-name=open-webui \
        meta.helm.sh/release-namespace={ns} && kubectl label service open-webui -n {ns} app.kubernetes.io/managed-by=Helm`")), "{warnings}");

    // Step 1 live: the move goes ahead.
    mark_step_one(env, &ns);
    let r = helmigrate_live(env, &["convert", "-n", &ns, "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    for (name, app) in by_name(&plan) {
        assert_eq!(app["handover"]["ready"], true, "{name}: {:#}", app["handover"]);
        assert!(!app["warnings"].to_string().contains("lacks step 1's marks"), "{name}: {}", app["warnings"]);
    }

    // Repo mode with the cluster at hand: the live Kustomization's prune is what counts.
    let ks = serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./kubernetes/apps/base", "prune": false, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}});
    let file = env.dir().join("ks-flux-system.json");
    std::fs::write(&file, serde_json::to_vec(&ks).unwrap()).unwrap();
    let _ = env.kubectl_run(&["create", "namespace", "flux-system"]);
    env.kubectl_run(&["apply", "-f", file.to_str().unwrap()]).unwrap();
    let repo = example_repo("home-infra");
    let kc = env.kubeconfig().to_str().unwrap().to_string();
    let r = helmigrate(&["--kubeconfig", &kc, "convert", "kubernetes/apps/base/ai", "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let h = &by_name(&plan)["ollama"]["handover"];
    assert_eq!(h["prune"], false, "{h:#}");
    assert_eq!(h["kustomizations"][0], "flux-system/apps (prune: false, clusters/home/apps.yaml, live)");

    // An unreachable cluster only costs the live half, with a warning.
    let dead = env.dir().join("dead-kubeconfig");
    std::fs::write(&dead, std::fs::read_to_string(env.kubeconfig()).unwrap().replace(env.apiserver_url(), "https://127.0.0.1:1")).unwrap();
    let r = helmigrate(&["--kubeconfig", dead.to_str().unwrap(), "convert", "kubernetes/apps/base/ai", "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(by_name(&plan)["ollama"]["handover"]["prune"], true, "the repo's prune: true");
    assert!(plan["warnings"].to_string().contains("prune, volumes and the hand-over marks judged from the repo only"), "{:#}", plan["warnings"]);
}

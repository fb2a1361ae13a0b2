//! The prune-safe hand-over, offline: which Flux Kustomization applies the folder and whether it
//! prunes, `--prepare` marking what the chart takes over (losslessly, idempotently), the move
//! after it, and the warnings for what cannot be handed over (kind flip, immutable selector, a
//! StatefulSet that deletes its claims, a volume deleted with its claim). The live half (Flux
//! leaves the marked Service, helm-controller adopts it) is in `e2e.rs`.

use helmigrate_tests::{example_repo, helmigrate, repo_from, snapshot};
use serde_json::Value;

const APPS: &str = "kubernetes/apps/base/ai";
const OLLAMA_SVC: &str = "kubernetes/apps/base/ai/ollama/service.yaml";

fn json_plan(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["convert"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let r = helmigrate(&all, dir);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

fn app<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["apps"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("no app {name}: {plan:#}"))
}

fn messages(app: &Value) -> Vec<String> {
    app["warnings"].as_array().unwrap().iter().map(|w| format!("{}: {}", w["level"].as_str().unwrap(), w["message"].as_str().unwrap())).collect()
}

#[test]
fn the_pruning_kustomization_is_found_and_a_one_step_move_says_what_flux_will_delete() {
    let repo = example_repo("home-infra");
    let plan = json_plan(repo.path(), &[APPS]);
    let ollama = app(&plan, "ollama");
    assert_eq!(ollama["handover"]["prune"], true);
    assert_eq!(ollama["handover"]["kustomizations"][0], "flux-system/apps (prune: true, clusters/home/apps.yaml)");
    assert_eq!(ollama["handover"]["takeovers"][0]["name"], "ollama");
    assert_eq!(ollama["handover"]["takeovers"][0]["marked"], false);
    let w = messages(ollama);
    assert!(w.iter().any(|m| m.starts_with("warning: ollama: Flux deletes Service ollama when it leaves Git") && m.contains("--prepare --write")), "{w:#?}");
    assert!(w.iter().any(|m| m.contains("the chart runs a Deployment where a StatefulSet ran") && m.contains("downtime")), "{w:#?}");
    let webui = messages(app(&plan, "open-webui"));
    assert!(webui.iter().any(|m| m.contains("selects app=open-webui but the chart's selects app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui")
        && m.contains("immutable")), "{webui:#?}");
    // Without the hand-over, the release keeps install remediation (nothing adopted to lose).
    let hr = std::fs::read_to_string(repo.path().join(APPS).join("ollama/statefulset.yaml")).unwrap();
    assert!(hr.contains("StatefulSet"));
    let r = helmigrate(&["convert", APPS, "-o", "yaml"], repo.path());
    assert!(r.stdout.contains("remediation:") && !r.stdout.contains("RetryOnFailure"), "{}", r.stdout);
}

#[test]
fn prepare_marks_losslessly_then_the_move_hands_over() {
    let repo = example_repo("home-infra");
    let before = snapshot(repo.path());
    let r = helmigrate(&["convert", APPS, "--prepare", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("step 1 (this change): mark Service ollama for Helm to adopt"), "{}", r.stdout);
    let after = snapshot(repo.path());
    let changed: Vec<&String> = after.keys().filter(|k| !k.starts_with(".helmigrate") && before.get(*k) != after.get(*k)).collect();
    // The SOPS secret beside them stays byte-identical: only these three change.
    assert_eq!(changed, [
        "kubernetes/apps/base/ai/ollama/service.yaml",
        "kubernetes/apps/base/ai/open-webui/service.yaml",
        "kubernetes/apps/base/ai/storage.yaml",
    ]);
    // Lossless: every original line is still there, in order; only mark lines were added.
    for file in &changed {
        let old = String::from_utf8(before[*file].clone()).unwrap();
        let new = String::from_utf8(after[*file].clone()).unwrap();
        let mut it = new.lines();
        for line in old.lines() {
            assert!(it.any(|l| l == line), "{file}: lost line {line:?}\n{new}");
        }
        let added: Vec<&str> = new.lines().filter(|l| !old.lines().any(|o| o == *l)).collect();
        assert!(added.iter().all(|l| ["annotations:", "labels:", "kustomize.toolkit.fluxcd.io/prune: disabled", "meta.helm.sh/release-name:",
            "meta.helm.sh/release-namespace: ai", "app.kubernetes.io/managed-by: Helm"].iter().any(|m| l.trim().starts_with(m))), "{file}: {added:?}");
    }
    let svc = String::from_utf8(after[OLLAMA_SVC].clone()).unwrap();
    assert!(svc.contains("    meta.helm.sh/release-name: ollama\n"), "{svc}");
    assert!(!repo.path().join(APPS).join("ollama/helmrelease.yaml").exists(), "step 1 writes no HelmRelease");

    // A second run of step 1 changes nothing.
    let again = helmigrate(&["convert", APPS, "--prepare", "--write"], repo.path());
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to change"), "{}", again.stdout);
    assert_eq!(snapshot(repo.path()), after);

    // Step 2: the marked Service leaves Git and the release is set up to adopt it.
    let plan = json_plan(repo.path(), &[APPS]);
    let ollama = app(&plan, "ollama");
    assert_eq!(ollama["handover"]["ready"], true);
    assert!(!messages(ollama).iter().any(|m| m.contains("Flux deletes Service")), "{:#?}", messages(ollama));
    let r = helmigrate(&["convert", APPS, "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!repo.path().join(OLLAMA_SVC).exists());
    let hr = std::fs::read_to_string(repo.path().join(APPS).join("ollama/helmrelease.yaml")).unwrap();
    assert!(hr.contains("  install:\n    strategy:\n      name: RetryOnFailure\n"), "{hr}");
    assert!(hr.contains("  driftDetection:\n    mode: enabled\n"), "{hr}");
    assert!(!hr.contains("install:\n    remediation"), "{hr}");
}

fn one_app(kustomization_extra: &str, flux: Option<&str>, manifests: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = vec![(".helmigrate.yaml".into(), String::new())];
    let mut resources = String::new();
    for (name, text) in manifests {
        resources.push_str(&format!("  - {name}\n"));
        files.push((format!("apps/demo/{name}"), text.to_string()));
    }
    files.push(("apps/demo/kustomization.yaml".into(), format!("namespace: ai\n{kustomization_extra}resources:\n{resources}")));
    if let Some(f) = flux {
        files.push(("clusters/home/apps.yaml".into(), f.to_string()));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    repo_from(&refs)
}

const OLLAMA_DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels:\n      app: ollama\n  template:\n    metadata:\n      labels:\n        app: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n          volumeMounts:\n            - name: data\n              mountPath: /root/.ollama\n      volumes:\n        - name: data\n          persistentVolumeClaim:\n            claimName: models\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ollama\nspec:\n  selector:\n    app: ollama\n  ports:\n    - port: 11434\n      targetPort: 11434\n";

#[test]
fn an_overlay_path_is_followed_and_prune_false_says_the_old_workload_stays() {
    // The Flux Kustomization points at an overlay that lists the app folder from elsewhere.
    let flux = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: demo\n  namespace: flux-system\nspec:\n  path: ./clusters/home/overlay\n  prune: false\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";
    let repo = one_app("", Some(flux), &[("deploy.yaml", OLLAMA_DEPLOY), ("service.yaml", SERVICE)]);
    std::fs::create_dir_all(repo.path().join("clusters/home/overlay")).unwrap();
    std::fs::write(repo.path().join("clusters/home/overlay/kustomization.yaml"), "resources:\n  - ../../../apps/demo\n").unwrap();
    let plan = json_plan(repo.path(), &["apps/demo"]);
    let ollama = app(&plan, "ollama");
    assert_eq!(ollama["handover"]["prune"], false, "{:#}", ollama["handover"]);
    assert_eq!(ollama["handover"]["kustomizations"][0], "flux-system/demo (prune: false, clusters/home/apps.yaml)");
    let w = messages(ollama);
    assert!(w.iter().any(|m| m.contains("applies this folder without prune, so the old Deployment ollama keeps running") && m.contains("kubectl delete deployment ollama -n ai")), "{w:#?}");
    assert!(w.iter().any(|m| m.contains("Service ollama stay in the cluster without an owner")), "{w:#?}");
    // Same kind, same name, another selector: Helm cannot adopt it.
    assert!(w.iter().any(|m| m.contains("selects app=ollama but the chart's selects app.kubernetes.io/instance=ollama,app.kubernetes.io/name=ollama")), "{w:#?}");
}

#[test]
fn a_workload_with_the_charts_selector_is_adopted_not_recreated() {
    let deploy = OLLAMA_DEPLOY.replace("    matchLabels:\n      app: ollama\n", "    matchLabels:\n      app.kubernetes.io/name: ollama\n      app.kubernetes.io/instance: ollama\n")
        .replace("      labels:\n        app: ollama\n", "      labels:\n        app.kubernetes.io/name: ollama\n        app.kubernetes.io/instance: ollama\n");
    let svc = SERVICE.replace("    app: ollama\n", "    app.kubernetes.io/name: ollama\n    app.kubernetes.io/instance: ollama\n");
    let repo = one_app("", None, &[("deploy.yaml", &deploy), ("service.yaml", &svc)]);
    let plan = json_plan(repo.path(), &["apps/demo"]);
    let ollama = app(&plan, "ollama");
    let kinds: Vec<&str> = ollama["handover"]["takeovers"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Service", "Deployment"]);
    assert!(!messages(ollama).iter().any(|m| m.contains("immutable")), "{:#?}", messages(ollama));
    assert_eq!(ollama["handover"]["prune"], Value::Null, "no Flux Kustomization in this repo");
    let r = helmigrate(&["convert", "apps/demo", "--prepare", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let d = std::fs::read_to_string(repo.path().join("apps/demo/deploy.yaml")).unwrap();
    assert!(d.starts_with("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\n  annotations:\n    meta.helm.sh/release-name: ollama\n"), "{d}");
    assert!(!d.contains("prune"), "no pruning Kustomization: no prune mark\n{d}");
}

#[test]
fn a_statefulset_that_deletes_its_claims_blocks_the_move() {
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: ollama\nspec:\n  serviceName: ollama\n  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: Delete\n  selector:\n    matchLabels:\n      app: ollama\n  template:\n    metadata:\n      labels:\n        app: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n          volumeMounts:\n            - name: models\n              mountPath: /root/.ollama\n  volumeClaimTemplates:\n    - metadata:\n        name: models\n      spec:\n        accessModes: [ReadWriteOnce]\n        resources:\n          requests:\n            storage: 50Gi\n";
    let repo = one_app("", None, &[("sts.yaml", sts)]);
    let before = snapshot(repo.path());
    let r = helmigrate(&["convert", "apps/demo", "--write"], repo.path());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("persistentVolumeClaimRetentionPolicy.whenDeleted: Delete, so deleting it deletes its claims (models-ollama-0)"), "{}", r.stdout);
    assert_eq!(snapshot(repo.path()), before, "nothing written");
}

#[test]
fn a_volume_deleted_with_its_claim_is_called_out_and_claims_are_marked_under_prune() {
    let flux = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  path: ./apps\n  prune: true\n";
    let storage = "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: models-pv\nspec:\n  capacity:\n    storage: 100Gi\n  accessModes: [ReadWriteMany]\n  persistentVolumeReclaimPolicy: Delete\n  nfs:\n    server: nas\n    path: /models\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: models # the shared model store\nspec:\n  volumeName: models-pv\n  accessModes: [ReadWriteMany]\n  resources:\n    requests:\n      storage: 100Gi\n";
    let repo = one_app("", Some(flux), &[("deploy.yaml", OLLAMA_DEPLOY), ("service.yaml", SERVICE), ("storage.yaml", storage)]);
    let plan = json_plan(repo.path(), &["apps/demo"]);
    let w = messages(app(&plan, "ollama"));
    assert!(w.iter().any(|m| m.starts_with("warning: PersistentVolume models-pv behind claim models has reclaimPolicy Delete") && m.contains("kubectl patch pv models-pv")), "{w:#?}");
    let r = helmigrate(&["convert", "apps/demo", "--prepare", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let s = std::fs::read_to_string(repo.path().join("apps/demo/storage.yaml")).unwrap();
    assert!(s.contains("metadata:\n  name: models # the shared model store\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\nspec:\n  volumeName: models-pv"), "{s}");
    assert_eq!(s.matches("prune: disabled").count(), 1, "only the claim, not the volume\n{s}");
}

/// Step 2 must not outrun step 1: with the cluster's copy of the objects at hand (what
/// `--kubeconfig`/`--context` reads), the move waits until the marks are live. The real loop
/// (commit, no push, move refused; push, move made) is in `flux_loop.rs`.
#[test]
fn the_move_waits_until_step_one_is_live() {
    use helmigrate::plan::{self, Level};
    use helmigrate::source::LiveMetadata;
    let repo = example_repo("home-infra");
    assert_eq!(helmigrate(&["convert", APPS, "--prepare", "--write"], repo.path()).code, 0);
    let mut tree = plan::load(&repo.path().join(APPS)).unwrap();
    tree.flux.iter_mut().for_each(|k| k.applied_revision = Some("main@sha1:0123abc".into()));
    let service = |annotations: Value, labels: Value| serde_json::json!({"metadata": {"name": "ollama", "annotations": annotations, "labels": labels}});
    let plan_with = |tree: &helmigrate::source::Tree| plan::plan_tree(tree, &plan::Options::default()).unwrap();
    let blocking = |p: &plan::Plan| -> Vec<String> {
        p.apps.iter().flat_map(|a| a.warnings.iter()).filter(|w| w.level == Level::Blocking).map(|w| w.message.clone()).collect()
    };

    // Not read: the move goes ahead on Git's word, and says the cluster was not checked.
    let p = plan_with(&tree);
    assert!(blocking(&p).is_empty(), "{:#?}", blocking(&p));
    let ollama = p.apps.iter().find(|a| a.name == "ollama").unwrap();
    assert!(ollama.handover.steps[0].contains("not checked against the cluster"), "{:#?}", ollama.handover.steps);

    // Read, and the live Service still lacks the marks (the commit was not pushed).
    let mut live = LiveMetadata { default_namespace: "default".into(), ..Default::default() };
    live.add("Service", "ai", [service(serde_json::json!({"meta.helm.sh/release-name": "ollama"}), serde_json::json!({}))]);
    tree.live = Some(live);
    let p = plan_with(&tree);
    let b = blocking(&p);
    assert!(b.iter().any(|m| m == "Service ai/ollama in the cluster lacks step 1's marks (kustomize.toolkit.fluxcd.io/prune=disabled, \
        meta.helm.sh/release-namespace=ai, app.kubernetes.io/managed-by=Helm), so the move is blocked: Flux would prune it when it leaves Git \
        and the chart recreate it; step 1 is in Git (kubernetes/apps/base/ai/ollama/service.yaml) but not live yet; Kustomization flux-system/apps \
        has applied main@sha1:0123abc: commit and push it, run `flux reconcile kustomization apps -n flux-system --with-source`, then run this \
        convert again"), "{b:#?}");
    assert!(p.blocked());
    assert!(!p.apps.iter().find(|a| a.name == "ollama").unwrap().handover.ready);

    // Live: the move goes ahead.
    let mut live = LiveMetadata { default_namespace: "default".into(), ..Default::default() };
    live.add("Service", "ai", [service(
        serde_json::json!({"meta.helm.sh/release-name": "ollama", "meta.helm.sh/release-namespace": "ai", "kustomize.toolkit.fluxcd.io/prune": "disabled"}),
        serde_json::json!({"app.kubernetes.io/managed-by": "Helm"}))]);
    tree.live = Some(live);
    let p = plan_with(&tree);
    assert!(!blocking(&p).iter().any(|m| m.contains("ollama")), "{:#?}", blocking(&p));
    let h = p.apps.iter().find(|a| a.name == "ollama").unwrap().handover.clone();
    assert!(h.ready && h.takeovers[0].live_marked == Some(true) && !h.steps[0].contains("not checked"), "{h:#?}");

    // Read, and not there (never applied): nothing to hand over in the cluster, nothing blocks.
    let mut live = LiveMetadata { default_namespace: "default".into(), ..Default::default() };
    live.add("Service", "ai", []);
    tree.live = Some(live);
    let p = plan_with(&tree);
    assert!(!blocking(&p).iter().any(|m| m.contains("lacks step 1's marks")), "{:#?}", blocking(&p));

    // Read elsewhere only (the role could not list this namespace's Services): said, not assumed.
    let mut live = LiveMetadata { default_namespace: "default".into(), ..Default::default() };
    live.add("Service", "other", []);
    tree.live = Some(live);
    let p = plan_with(&tree);
    let steps = &p.apps.iter().find(|a| a.name == "ollama").unwrap().handover.steps;
    assert!(steps[0].contains("the cluster's copy could not be read"), "{steps:#?}");
}

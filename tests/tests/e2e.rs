//! The whole migration against a real control plane with the real Flux controllers: the raw
//! example runs, `convert --write` rewrites the Git copy, the new tree is applied as Flux would
//! (objects that left Git are pruned), `reconcile` makes helm-controller install the release from
//! a loopback chart repository, kwok runs the pods, and `verify` passes. A broken variant (the
//! existing claim is missing) fails verify, naming the check.

use std::collections::BTreeSet;
use std::path::Path;

use helmigrate_tests::testenv::TestEnv;
use helmigrate_tests::{apply_example, cluster, example_repo, helmigrate, helmigrate_live, run, workspace};
use serde_json::Value;

const APPS: &str = "kubernetes/apps/base/ai";

/// Render a kustomization folder of the repo copy into objects placed in `ns`.
fn render(env: &TestEnv, dir: &Path, ns: &str) -> Vec<Value> {
    let out = env.kubectl().arg("kustomize").arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    helmigrate::yaml::split_documents(&text).iter().filter(|d| !d.is_blank())
        .map(|d| helmigrate::yaml::parse_document("kustomize", d).unwrap())
        .filter(|v| v["kind"] != "Namespace" && v["kind"] != "Secret") // the planted Secret stays
        .map(|mut v| { v["metadata"]["namespace"] = ns.into(); v })
        .collect()
}

fn id(v: &Value) -> (String, String) {
    (v["kind"].as_str().unwrap().to_string(), v["metadata"]["name"].as_str().unwrap().to_string())
}

fn apply(env: &TestEnv, items: &[Value], tag: &str) {
    let file = env.dir().join(format!("{tag}.json"));
    std::fs::write(&file, serde_json::to_vec(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap()).unwrap();
    env.kubectl_run(&["apply", "-f", file.to_str().unwrap()]).unwrap();
}

/// Migrate namespace `ns` the way a user would with Git + Flux; returns the HelmRelease names.
/// `left_git`: objects that also leave Git in the same change (and so get pruned).
/// `prepare`: hand over in two steps (`--prepare` pushed and applied first).
fn migrate(env: &TestEnv, ns: &str, repo_url: &str, left_git: &[(&str, &str)], prepare: bool) {
    apply_example(env, ns);
    let repo = example_repo("home-infra");
    let before: BTreeSet<_> = render(env, &repo.path().join(APPS), ns).iter().map(id).collect();

    if prepare {
        let r = helmigrate(&["convert", APPS, "--prepare", "--write", "--commit"], repo.path());
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        // Step 1 is pushed and Flux applies it: the marks are live.
        apply(env, &render(env, &repo.path().join(APPS), ns), &format!("{ns}-prepare"));
    }
    let r = helmigrate(&["convert", APPS, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The HelmRepository from the converted sources file, pointed at the loopback mirror.
    let sources = std::fs::read_to_string(repo.path().join("kubernetes/infrastructure/controllers/helm-repositories.yaml")).unwrap();
    let mut repos: Vec<Value> = helmigrate::yaml::split_documents(&sources).iter().filter(|d| !d.is_blank())
        .map(|d| helmigrate::yaml::parse_document("sources", d).unwrap())
        .filter(|v| v["metadata"]["name"] == "ollama").collect();
    assert_eq!(repos.len(), 1);
    repos[0]["spec"]["url"] = repo_url.into();
    repos[0]["spec"]["interval"] = "1m".into();
    apply(env, &repos, &format!("{ns}-sources"));

    // Flux with prune: objects that left Git are deleted, the new ones applied.
    let after: Vec<Value> = render(env, &repo.path().join(APPS), ns).into_iter()
        .filter(|v| !left_git.iter().any(|(k, n)| v["kind"] == *k && v["metadata"]["name"] == *n)).collect();
    let kept: BTreeSet<_> = after.iter().map(id).collect();
    for (kind, name) in before.difference(&kept) {
        // kustomize-controller leaves objects marked `kustomize.toolkit.fluxcd.io/prune: disabled`.
        let live = env.kubectl_run(&["-n", ns, "get", &kind.to_lowercase(), name, "-o", "json"]).unwrap();
        let live: Value = serde_json::from_str(&live).unwrap();
        if live["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled" {
            continue;
        }
        env.kubectl_run(&["-n", ns, "delete", &kind.to_lowercase(), name, "--wait=false"]).unwrap();
        if kind == "PersistentVolumeClaim" {
            // comfyui still mounts it: once it is terminating, drop the pvc-protection finalizer.
            env.kubectl_run(&["-n", ns, "patch", "pvc", name, "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]).unwrap();
            env.kubectl_run(&["-n", ns, "wait", "--for=delete", &format!("pvc/{name}"), "--timeout=60s"]).unwrap();
        }
    }
    // Only the ollama release: the stand-in repository serves no open-webui chart.
    let after: Vec<Value> = after.into_iter().filter(|v| !(v["kind"] == "HelmRelease" && v["metadata"]["name"] != "ollama")).collect();
    apply(env, &after, &format!("{ns}-after"));
}

fn chart_repo(env: &TestEnv) -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| env.chart_repo(&[&workspace().join("tests/charts/ollama")]).url).clone()
}

fn reconcile_for(env: &TestEnv, ns: &str, timeout: &str) -> helmigrate_tests::Run {
    let kc = env.kubeconfig().to_str().unwrap().to_string();
    run("flux-helmigrate", &["--kubeconfig", &kc, "reconcile", "helmrelease", "ollama", "-n", ns, "--with-source", "--timeout", timeout], &std::env::temp_dir())
}

fn reconcile(env: &TestEnv, ns: &str) -> helmigrate_tests::Run {
    reconcile_for(env, ns, "3m")
}

fn checks(report: &Value, name: &str) -> Vec<(String, String)> {
    report["checks"].as_array().unwrap().iter().filter(|c| c["check"] == name)
        .map(|c| (c["outcome"].as_str().unwrap().to_string(), c["detail"].as_str().unwrap().to_string())).collect()
}

#[test]
fn migration_end_to_end_and_verify_passes() {
    let env = cluster!();
    let ns = env.namespace("e2e");
    let url = chart_repo(env);

    // Before the migration, verify says nothing is migrated.
    apply_example(env, &ns);
    let pre = helmigrate_live(env, &["verify", "-n", &ns]);
    assert_eq!(pre.code, 1, "{}{}", pre.stdout, pre.stderr);
    assert!(pre.stdout.contains(&format!("no HelmRelease manages namespace {ns}")), "{}", pre.stdout);

    migrate(env, &ns, &url, &[], false);
    let r = reconcile(env, &ns);
    assert_eq!(r.code, 0, "reconcile failed:\n{}\n{}", r.stdout, r.stderr);

    let v = helmigrate_live(env, &["verify", "-n", &ns, "--app", "ollama", "--skip", "probe", "--wait", "2m", "-o", "json"]);
    let report: Value = serde_json::from_str(&v.stdout).unwrap_or_else(|_| panic!("{}\n{}", v.stdout, v.stderr));
    assert_eq!(v.code, 0, "verify failed:\n{}", serde_json::to_string_pretty(&report).unwrap());
    for check in ["source", "release", "workloads", "pods", "services", "gpu", "runtime-class", "claims", "replaced"] {
        let found = checks(&report, check);
        assert!(!found.is_empty() && found.iter().all(|(o, _)| o == "pass"), "{check}: {found:?}");
    }
    assert_eq!(checks(&report, "gpu"), [("pass".into(), "nvidia.com/gpu=1 on 1 pod(s)".into())]);
    assert_eq!(checks(&report, "claims"), [("pass".into(), "pvc/nfs-ai-models Bound and mounted".into())]);
    assert_eq!(checks(&report, "replaced"), [("pass".into(), "StatefulSet/ollama is gone".into())]);

    // The table form says the same, for people.
    let table = helmigrate_live(env, &["verify", "-n", &ns, "--app", "ollama", "--skip", "probe"]);
    assert_eq!(table.code, 0, "{}", table.stdout);
    assert!(table.stdout.contains("verify: all ") && table.stdout.contains("checks passed"), "{}", table.stdout);

    // The app probe goes through the apiserver's service proxy; kwok's pods serve nothing, so it
    // fails here, and says where to look.
    let probe = helmigrate_live(env, &["verify", "-n", &ns, "--app", "ollama", "-o", "json"]);
    assert_eq!(probe.code, 1);
    let report: Value = serde_json::from_str(&probe.stdout).unwrap();
    let p = &report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "probe").unwrap().clone();
    assert_eq!(p["outcome"], "fail");
    assert!(p["detail"].as_str().unwrap().starts_with("GET ollama:11434/api/tags"), "{p}");
    assert!(p["next"].as_str().unwrap().contains("port-forward svc/ollama"), "{p}");
}

#[test]
fn a_missing_existing_claim_fails_verify_naming_the_check() {
    let env = cluster!();
    let ns = env.namespace("broken");
    let url = chart_repo(env);
    // The shared model store leaves Git by mistake in the same change, and Flux prunes it.
    migrate(env, &ns, &url, &[("PersistentVolumeClaim", "nfs-ai-models")], false);
    // helm-controller installs the release (kwok runs pods whatever their volumes), so Flux
    // alone reports success: only verify notices the data is not there.
    let _ = reconcile_for(env, &ns, "1m");
    let v = helmigrate_live(env, &["verify", "-n", &ns, "--app", "ollama", "--skip", "probe", "-o", "json"]);
    assert_eq!(v.code, 1, "{}", v.stdout);
    let report: Value = serde_json::from_str(&v.stdout).unwrap();
    let claim = checks(&report, "claims");
    assert_eq!(claim, [("fail".into(), "pvc/nfs-ai-models does not exist".into())], "{report:#}");
    let failing: Vec<&Value> = report["checks"].as_array().unwrap().iter().filter(|c| c["outcome"] == "fail").collect();
    assert!(failing.iter().all(|c| !c["next"].as_str().unwrap().is_empty()), "every failing check says what to look at next");
}

#[test]
fn two_step_hand_over_keeps_the_service_and_helm_adopts_it() {
    let env = cluster!();
    let ns = env.namespace("handover");
    let url = chart_repo(env);
    let service = |ns: &str| -> Value {
        serde_json::from_str(&env.kubectl_run(&["-n", ns, "get", "service", "ollama", "-o", "json"]).unwrap()).unwrap()
    };
    apply_example(env, &ns);
    let uid = service(&ns)["metadata"]["uid"].as_str().unwrap().to_string();

    migrate(env, &ns, &url, &[], true);
    // Flux left the marked Service in place (the simulated prune honours the annotation)…
    assert_eq!(service(&ns)["metadata"]["uid"], uid.as_str(), "the Service was recreated");
    let r = reconcile(env, &ns);
    assert_eq!(r.code, 0, "reconcile failed:\n{}\n{}", r.stdout, r.stderr);

    // …and helm-controller adopted it: same object, now the release's, selecting the chart's pods.
    let svc = service(&ns);
    assert_eq!(svc["metadata"]["uid"], uid.as_str(), "the Service was recreated");
    assert_eq!(svc["metadata"]["annotations"]["meta.helm.sh/release-name"], "ollama");
    assert_eq!(svc["spec"]["selector"]["app.kubernetes.io/instance"], "ollama", "{svc:#}");
    let hr: Value = serde_json::from_str(&env.kubectl_run(&["-n", &ns, "get", "helmrelease", "ollama", "-o", "json"]).unwrap()).unwrap();
    assert_eq!(hr["spec"]["install"]["strategy"]["name"], "RetryOnFailure");
    assert_eq!(hr["spec"]["driftDetection"]["mode"], "enabled");

    let v = helmigrate_live(env, &["verify", "-n", &ns, "--app", "ollama", "--skip", "probe", "--wait", "2m", "-o", "json"]);
    let report: Value = serde_json::from_str(&v.stdout).unwrap_or_else(|_| panic!("{}\n{}", v.stdout, v.stderr));
    assert_eq!(v.code, 0, "verify failed:\n{report:#}");
    assert!(checks(&report, "services").iter().all(|(o, _)| o == "pass"), "{report:#}");
}

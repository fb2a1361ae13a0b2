//! `rollback --write --commit --execute` against a real apiserver with Flux's helm-controller:
//! the chart's release is installed, a HelmRelease and a Flux Kustomization exist, and the repo
//! is in its state after `convert --write --commit`. The rollback restores the files, suspends,
//! puts the raw objects back (the chart's Deployment has another selector: deleted first), deletes
//! the suspended HelmRelease and Helm's history, and leaves the Kustomization suspended with the
//! commands to run after `git push`. A read-only ServiceAccount stops it with exit 5.

use std::collections::BTreeMap;
use std::path::Path;

use helmigrate_tests::testenv::TestEnv;
use helmigrate_tests::{cluster, git, helmigrate, repo_from, run, service_account_kubeconfig, snapshot, workspace};
use serde_json::{Value, json};

const OLLAMA: &str = "kubernetes/apps/base/ai/ollama";

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir).into_iter().filter(|(p, _)| !p.starts_with(".helmigrate/")).collect()
}

/// The example with its apps in namespace `ns`, the Flux Kustomization `apps` in `ns` too, and
/// ollama as a Deployment (so the chart's Deployment of the same name differs in its selector).
fn repo(ns: &str) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = snapshot(&workspace().join("examples/home-infra")).into_iter()
        .map(|(p, b)| (p, String::from_utf8(b).unwrap())).collect();
    for (path, text) in &mut files {
        match path.as_str() {
            "kubernetes/apps/base/ai/kustomization.yaml" => *text = text.replace("namespace: ai", &format!("namespace: {ns}")),
            "clusters/home/apps.yaml" => *text = text.replace("namespace: flux-system", &format!("namespace: {ns}")),
            "kubernetes/apps/base/ai/ollama/statefulset.yaml" => *text = text.replace("kind: StatefulSet", "kind: Deployment").replace("  serviceName: ollama\n", ""),
            _ => {}
        }
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    repo_from(&refs)
}

fn apply(env: &TestEnv, items: Vec<Value>, tag: &str) {
    let file = env.dir().join(format!("{tag}.json"));
    std::fs::write(&file, serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap()).unwrap();
    env.kubectl_run(&["apply", "-f", file.to_str().unwrap()]).unwrap();
}

fn docs(text: &str) -> Vec<Value> {
    helmigrate::yaml::split_documents(text).iter().filter(|d| !d.is_blank())
        .map(|d| helmigrate::yaml::parse_document("test", d).unwrap()).collect()
}

fn get(env: &TestEnv, ns: &str, what: &str) -> Option<Value> {
    env.kubectl_run(&["-n", ns, "get", what, "-o", "json"]).ok().map(|s| serde_json::from_str(&s).unwrap())
}

/// Convert ollama with --write --commit; returns the files before the convert.
fn converted(ns: &str) -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let repo = repo(ns);
    let before = files(repo.path());
    let r = helmigrate(&["convert", OLLAMA, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    (repo, before)
}

/// The cluster as Flux left it after the migration: the claim, the chart's release (installed
/// with the HelmRelease's values), the HelmRelease, the Kustomization and its GitRepository.
fn migrated_cluster(env: &TestEnv, ns: &str, repo: &Path) {
    let storage = std::fs::read_to_string(repo.join("kubernetes/apps/base/ai/storage.yaml")).unwrap();
    let claims: Vec<Value> = docs(&storage).into_iter().filter(|v| v["kind"] == "PersistentVolumeClaim")
        .map(|mut v| { v["metadata"]["namespace"] = ns.into(); v }).collect();
    assert!(!claims.is_empty());
    apply(env, claims, &format!("{ns}-claims"));

    let hr = docs(&std::fs::read_to_string(repo.join(OLLAMA).join("helmrelease.yaml")).unwrap()).into_iter()
        .find(|v| v["kind"] == "HelmRelease").unwrap();
    let values = env.dir().join(format!("{ns}-values.json"));
    std::fs::write(&values, serde_json::to_vec(&hr["spec"]["values"]).unwrap()).unwrap();
    let out = env.helm().args(["install", "ollama"]).arg(workspace().join("tests/charts/ollama"))
        .args(["-n", ns, "-f"]).arg(&values).output().unwrap();
    assert!(out.status.success(), "helm install: {}", String::from_utf8_lossy(&out.stderr));

    let mut hr = hr;
    hr["metadata"]["namespace"] = ns.into();
    let ks = docs(&std::fs::read_to_string(repo.join("clusters/home/apps.yaml")).unwrap()).into_iter()
        .find(|v| v["metadata"]["name"] == "apps").unwrap();
    let gitrepo = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": ns},
        "spec": {"interval": "1h", "url": "https://git.invalid/home-infra.git", "ref": {"branch": "main"}}});
    apply(env, vec![gitrepo, ks, hr], &format!("{ns}-flux"));
}

#[test]
fn execute_puts_the_raw_objects_back_and_removes_the_release() {
    let env = cluster!();
    let ns = env.namespace("rbx");
    let (repo, original) = converted(&ns);
    migrated_cluster(env, &ns, repo.path());
    assert!(get(env, &ns, "helmrelease/ollama").is_some());
    let helm_secrets = |env: &TestEnv| env.kubectl_run(&["-n", &ns, "get", "secret", "-l", "owner=helm,name=ollama", "-o", "name"]).unwrap();
    assert!(!helm_secrets(env).trim().is_empty(), "helm install left its history");
    let chart_deploy = get(env, &ns, "deployment/ollama").unwrap();
    assert_eq!(chart_deploy["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"], "ollama");
    let claim_uid = get(env, &ns, "pvc/nfs-ai-models").unwrap()["metadata"]["uid"].clone();

    let kc = env.kubeconfig().to_str().unwrap().to_string();
    let r = run("kubectl-helmigrate", &["--kubeconfig", &kc, "rollback", OLLAMA, "--write", "--commit", "--execute"], repo.path());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let out = &r.stdout;

    // Files: byte-identical to before the convert, one revert commit, nothing pushed.
    assert_eq!(files(repo.path()), original);
    assert!(git(repo.path(), &["log", "-1", "--format=%s"]).starts_with("revert: restore raw manifests for ollama"));
    assert!(git(repo.path(), &["remote"]).is_empty());

    // Steps, printed as they happen.
    let lines: [String; 13] = [
        format!("1. suspended Kustomization {ns}/apps"),
        format!("1. suspended HelmRelease {ns}/ollama"),
        format!("2. deleted the chart's Deployment {ns}/ollama: its spec.selector differs"),
        "its pods restart (downtime)".to_string(),
        format!("2. applied Deployment {ns}/ollama (server-side, field manager helmigrate)"),
        format!("2. took Service {ns}/ollama over from Helm"),
        format!("2. applied Service {ns}/ollama"),
        format!("3. deleted HelmRelease {ns}/ollama (suspended: no Helm uninstall)\n"),
        format!("3. deleted Helm release history Secret {ns}/sh.helm.release.v1.ollama.v1"),
        format!("4. Kustomization {ns}/apps stays suspended: GitRepository {ns}/flux-system does not have the restore commit"),
        "       git push\n".to_string(),
        format!("       flux reconcile source git flux-system -n {ns}\n"),
        format!("       flux resume kustomization apps -n {ns}\n"),
    ];
    for line in &lines {
        assert!(out.contains(line.as_str()), "missing `{line}` in:\n{out}");
    }
    let order = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(order("1. suspended HelmRelease") < order("2. applied Deployment") && order("2. applied Service") < order("3. deleted HelmRelease"));

    // Cluster: HelmRelease gone, Kustomization suspended, raw objects back, history gone, claim kept.
    assert!(get(env, &ns, "helmrelease/ollama").is_none(), "HelmRelease deleted");
    assert_eq!(get(env, &ns, "kustomization.kustomize.toolkit.fluxcd.io/apps").unwrap()["spec"]["suspend"], true);
    let deploy = get(env, &ns, "deployment/ollama").unwrap();
    assert_eq!(deploy["spec"]["selector"], json!({"matchLabels": {"app": "ollama"}}));
    assert_ne!(deploy["metadata"]["uid"], chart_deploy["metadata"]["uid"], "re-created");
    let raw_svc = docs(&std::fs::read_to_string(repo.path().join(OLLAMA).join("service.yaml")).unwrap()).remove(0);
    let svc = get(env, &ns, "service/ollama").unwrap();
    assert_eq!(svc["spec"]["selector"], raw_svc["spec"]["selector"], "the raw selector, not merged with the chart's");
    let ports: Vec<(Value, Value, Value)> = svc["spec"]["ports"].as_array().unwrap().iter().map(|p| (p["name"].clone(), p["port"].clone(), p["targetPort"].clone())).collect();
    let raw_ports: Vec<(Value, Value, Value)> = raw_svc["spec"]["ports"].as_array().unwrap().iter().map(|p| (p["name"].clone(), p["port"].clone(), p["targetPort"].clone())).collect();
    assert_eq!(ports, raw_ports);
    for obj in [&svc, &deploy] {
        let meta = &obj["metadata"];
        assert_ne!(meta["labels"]["app.kubernetes.io/managed-by"], "Helm", "{meta}");
        assert!(meta["annotations"].get("meta.helm.sh/release-name").is_none() && meta["annotations"].get("meta.helm.sh/release-namespace").is_none(), "{meta}");
    }
    assert!(helm_secrets(env).trim().is_empty(), "Helm's release history deleted");
    assert_eq!(get(env, &ns, "pvc/nfs-ai-models").unwrap()["metadata"]["uid"], claim_uid, "the claim is untouched");
}

#[test]
fn a_read_only_account_stops_with_exit_5_and_says_what_remains() {
    let env = cluster!();
    let ns = env.namespace("rbx-ro");
    let (repo, original) = converted(&ns);
    let dir = tempfile::tempdir().unwrap();
    env.kubectl_run(&["apply", "-f", workspace().join("docs/rbac-readonly.yaml").to_str().unwrap()]).unwrap();
    let kc = service_account_kubeconfig(env, &ns, "viewer", dir.path());
    env.kubectl_run(&["-n", &ns, "create", "rolebinding", "viewer", "--clusterrole=helmigrate-readonly", &format!("--serviceaccount={ns}:viewer")]).unwrap();

    let r = run("kubectl-helmigrate", &["--kubeconfig", kc.to_str().unwrap(), "rollback", OLLAMA, "--write", "--commit", "--execute"], repo.path());
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    // The read-only role reads everything `--execute` looks at; its first write is refused.
    assert!(lines[0].starts_with("error: failed to apply Service ") && lines[0].contains("cannot patch resource \"services\""), "{}", lines[0]);
    assert!(lines[0].contains("docs/rbac-rollback.yaml"), "{}", lines[0]);
    // The files are restored and committed, and the output says so; the cluster is unchanged.
    assert_eq!(files(repo.path()), original);
    assert!(r.stdout.contains("restored 5 file(s); 1 commit"), "{}", r.stdout);
    assert!(r.stdout.contains("stopped at step 2 (permission denied): nothing was changed in the cluster; the files stay restored. \
        Remaining: re-apply the raw manifests, delete the HelmRelease(s) and Helm's history, resume."), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("flux suspend helmrelease ollama -n {ns}")), "{}", r.stdout);
}

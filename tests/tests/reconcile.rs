//! `reconcile` against a real kube-apiserver with the real Flux source-controller and
//! helm-controller, the project's `tiny` chart served from a loopback chart repository.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use helmigrate_tests::testenv::{ChartRepo, TestEnv};
use helmigrate_tests::{Run, cluster, run, workspace};
use serde_json::Value;

fn repo(env: &TestEnv) -> &'static ChartRepo {
    static REPO: OnceLock<ChartRepo> = OnceLock::new();
    REPO.get_or_init(|| env.chart_repo(&[&workspace().join("tests/charts/tiny")]))
}

fn apply(env: &TestEnv, yaml: &str) {
    env.apply(yaml);
}

fn get(env: &TestEnv, ns: &str, what: &str) -> Value {
    let out = env.kubectl_run(&["-n", ns, "get", what, "-o", "json", "--show-managed-fields"]).expect("kubectl get");
    serde_json::from_str(&out).expect("json")
}

/// A HelmRepository `tiny` serving the test chart, and a HelmRelease `name` of chart version
/// `version` from it, in `ns`.
fn release(env: &TestEnv, ns: &str, name: &str, version: &str, suspend: bool) {
    apply(env, &format!(
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{ name: tiny, namespace: {ns} }}
spec: {{ url: "{url}", interval: 1h }}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{ name: {name}, namespace: {ns} }}
spec:
  interval: 1h
  suspend: {suspend}
  chart:
    spec:
      chart: tiny
      version: "{version}"
      sourceRef: {{ kind: HelmRepository, name: tiny }}
"#,
        url = repo(env).url
    ));
}

fn wait_ready(env: &TestEnv, ns: &str, what: &str) {
    env.kubectl_run(&["-n", ns, "wait", "--for=condition=Ready", what, "--timeout=120s"])
        .unwrap_or_else(|e| panic!("{what} never became Ready: {e}"));
}

/// A binary with `--kubeconfig FILE` in front of `args`.
fn cli(bin: &str, kubeconfig: &Path, args: &[&str]) -> Run {
    let mut full = vec!["--kubeconfig", kubeconfig.to_str().expect("utf-8 path")];
    full.extend_from_slice(args);
    helmigrate_tests::bin(bin); // built once per test binary: not part of the timing
    let t = Instant::now();
    let r = run(bin, &full, &std::env::temp_dir());
    eprintln!("{bin} {} → exit {} in {:.1?}", args.join(" "), r.code, t.elapsed());
    if r.code != 0 {
        eprintln!("  {}", r.stderr.trim_end());
    }
    r
}

fn flux(env: &TestEnv, args: &[&str]) -> Run {
    cli("flux-helmigrate", env.kubeconfig(), args)
}

/// stderr is exactly one line `error: failed to …` (no panic, no progress).
fn one_line_error(r: &Run) -> &str {
    let line = r.stderr.strip_suffix('\n').unwrap_or(&r.stderr);
    assert!(!line.contains('\n') && line.starts_with("error: failed to"), "stderr is not one error line:\n{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    line
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

/// The object carries the requestedAt token, written by field manager `helmigrate`, and the
/// controller handled exactly that token.
fn assert_handled_by_helmigrate(obj: &Value) {
    let what = format!("{} {}", obj["kind"], obj["metadata"]["name"]);
    let token = annotation(obj, "reconcile.fluxcd.io/requestedAt").unwrap_or_else(|| panic!("{what}: no requestedAt annotation"));
    assert_eq!(obj["status"]["lastHandledReconcileAt"].as_str(), Some(token), "{what}: controller did not handle the token");
    let managed = obj["metadata"]["managedFields"].as_array().expect("managedFields");
    let ours = managed.iter().find(|m| m["manager"] == "helmigrate").unwrap_or_else(|| panic!("{what}: no helmigrate field manager in {managed:#?}"));
    assert_eq!(ours["operation"], "Update");
    assert!(
        ours["fieldsV1"]["f:metadata"]["f:annotations"].get("f:reconcile.fluxcd.io/requestedAt").is_some(),
        "{what}: helmigrate does not own the annotation: {ours:#}"
    );
}

#[test]
fn helmrelease_with_source_reconciles_repository_chart_and_release() {
    let env = cluster!();
    let ns = env.namespace("reconcile");
    release(env, &ns, "web", "0.1.0", false);
    wait_ready(env, &ns, "helmrelease/web");

    let r = flux(env, &["reconcile", "helmrelease", "web", "-n", &ns, "--with-source", "--timeout", "2m"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, "", "no progress or errors on stderr when it is not a terminal");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], format!("► annotating HelmRepository {ns}/tiny"), "{}", r.stdout);
    assert!(lines.contains(&format!("► annotating HelmChart {ns}/{ns}-web").as_str()), "{}", r.stdout);
    assert!(lines.contains(&format!("► annotating HelmRelease {ns}/web").as_str()), "{}", r.stdout);
    assert!(lines.contains(&"◎ waiting for HelmRelease reconciliation"), "{}", r.stdout);
    assert!(lines.contains(&"✔ HelmRelease reconciliation completed"), "{}", r.stdout);
    assert_eq!(lines.last(), Some(&"✔ applied revision 0.1.0"), "{}", r.stdout);

    for what in ["helmrelease/web", "helmrepository/tiny", &format!("helmchart/{ns}-web")] {
        assert_handled_by_helmigrate(&get(env, &ns, what));
    }
    let hr = get(env, &ns, "helmrelease/web");
    assert_eq!(annotation(&hr, "reconcile.fluxcd.io/forceAt"), None, "no --force, no forceAt");
}

#[test]
fn force_and_reset_carry_the_same_token() {
    let env = cluster!();
    let ns = env.namespace("reconcile-force");
    release(env, &ns, "web", "0.1.0", false);
    wait_ready(env, &ns, "helmrelease/web");

    let r = flux(env, &["reconcile", "web", "-n", &ns, "--force", "--reset", "--timeout", "2m"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let hr = get(env, &ns, "helmrelease/web");
    assert_handled_by_helmigrate(&hr);
    let token = annotation(&hr, "reconcile.fluxcd.io/requestedAt");
    assert_eq!(annotation(&hr, "reconcile.fluxcd.io/forceAt"), token);
    assert_eq!(annotation(&hr, "reconcile.fluxcd.io/resetAt"), token);
    // helm-controller honoured the force: a second release revision
    assert_eq!(hr["status"]["history"][0]["version"], 2, "{:#}", hr["status"]["history"]);
}

#[test]
fn source_through_the_kubectl_plugin() {
    let env = cluster!();
    let ns = env.namespace("reconcile-source");
    release(env, &ns, "web", "0.1.0", true);
    wait_ready(env, &ns, "helmrepository/tiny");

    for args in [&["reconcile", "source", "tiny"][..], &["reconcile", "source", "helm", "tiny"]] {
        let mut args = args.to_vec();
        args.extend(["-n", &ns, "--timeout", "1m"]);
        let r = cli("kubectl-helmigrate", env.kubeconfig(), &args);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout.lines().next(), Some(format!("► annotating HelmRepository {ns}/tiny").as_str()));
        assert!(r.stdout.contains("✔ HelmRepository reconciliation completed"), "{}", r.stdout);
        let last = r.stdout.lines().last().unwrap_or_default();
        assert!(last.starts_with("✔ fetched revision sha256:"), "{}", r.stdout);
        assert_handled_by_helmigrate(&get(env, &ns, "helmrepository/tiny"));
    }
}

#[test]
fn suspended_release_is_refused_before_annotating() {
    let env = cluster!();
    let ns = env.namespace("reconcile-suspended");
    release(env, &ns, "web", "0.1.0", true);

    let r = flux(env, &["reconcile", "helmrelease", "web", "-n", &ns, "--with-source"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        one_line_error(&r),
        format!("error: failed to reconcile HelmRelease {ns}/web: HelmRelease {ns}/web is suspended: resume it with `flux resume helmrelease web -n {ns}`")
    );
    assert_eq!(r.stdout, "", "nothing was annotated");
    for what in ["helmrelease/web", "helmrepository/tiny"] {
        assert_eq!(annotation(&get(env, &ns, what), "reconcile.fluxcd.io/requestedAt"), None, "{what} was annotated");
    }
}

#[test]
fn missing_objects_exit_7() {
    let env = cluster!();
    let ns = env.namespace("reconcile-missing");
    for (args, kind, resource) in [
        (&["reconcile", "nope"][..], "HelmRelease", "helmreleases.helm.toolkit.fluxcd.io"),
        (&["reconcile", "source", "nope"], "HelmRepository", "helmrepositories.source.toolkit.fluxcd.io"),
        (&["reconcile", "kustomization", "nope"], "Kustomization", "kustomizations.kustomize.toolkit.fluxcd.io"),
    ] {
        let mut args = args.to_vec();
        args.extend(["-n", &ns]);
        let r = flux(env, &args);
        assert_eq!(r.code, 7, "{args:?}: {}", r.stderr);
        let line = one_line_error(&r);
        assert!(line.starts_with(&format!("error: failed to get {kind} {ns}/nope: no {resource} named nope in namespace {ns}")), "{line}");
    }
}

#[test]
fn missing_chart_version_times_out_with_the_last_status() {
    let env = cluster!();
    let ns = env.namespace("reconcile-timeout");
    release(env, &ns, "ghost", "9.9.9", false);

    let t = Instant::now();
    let r = flux(env, &["reconcile", "helmrelease", "ghost", "-n", &ns, "--timeout", "5s"]);
    let took = t.elapsed();
    assert_eq!(r.code, 8, "{}{}", r.stdout, r.stderr);
    let line = one_line_error(&r);
    assert!(line.starts_with(&format!("error: failed to reconcile HelmRelease {ns}/ghost: timed out waiting for HelmRelease {ns}/ghost after 5s: last status: ")), "{line}");
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(30), "took {took:?}");

    // with --with-source the chart itself reports the missing version: a failure, not a wait
    let r = flux(env, &["reconcile", "helmrelease", "ghost", "-n", &ns, "--with-source", "--timeout", "1m"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = one_line_error(&r);
    assert!(line.starts_with(&format!("error: failed to reconcile HelmChart {ns}/{ns}-ghost: reconciliation failed: ")), "{line}");
    assert!(line.contains("9.9.9"), "{line}");
}

#[test]
fn usage_errors_exit_2_without_touching_the_cluster() {
    let env = cluster!();
    for args in [&["reconcile", "source", "tiny", "--force"][..], &["reconcile", "deployment", "x"], &["reconcile", "source", "helm"]] {
        let r = flux(env, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        one_line_error(&r);
    }
}

#[test]
fn rbac_without_patch_exits_5_and_the_documented_role_suffices() {
    let env = cluster!();
    let ns = env.namespace("reconcile-rbac");
    release(env, &ns, "web", "0.1.0", false);
    wait_ready(env, &ns, "helmrelease/web");
    let dir = tempfile::tempdir().expect("temp dir");

    // read-only: get/list/watch but no patch
    let reader = helmigrate_tests::service_account_kubeconfig(env, &ns, "reader", dir.path());
    env.kubectl_run(&["-n", &ns, "create", "role", "flux-reader", "--verb=get,list,watch", "--resource=helmreleases.helm.toolkit.fluxcd.io"]).expect("role");
    env.kubectl_run(&["-n", &ns, "create", "rolebinding", "reader", "--role=flux-reader", &format!("--serviceaccount={ns}:reader")]).expect("binding");
    let r = cli("flux-helmigrate", &reader, &["reconcile", "web", "-n", &ns, "--timeout", "1m"]);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let line = one_line_error(&r);
    assert!(line.starts_with(&format!("error: failed to annotate HelmRelease {ns}/web: ")), "{line}");
    assert!(line.contains("needs `patch` on helmreleases.helm.toolkit.fluxcd.io"), "{line}");
    assert_eq!(annotation(&get(env, &ns, "helmrelease/web"), "reconcile.fluxcd.io/requestedAt"), None);

    // the ClusterRole of docs/rbac-reconcile.yaml, bound in the namespace, is enough (with sources)
    let doc = workspace().join("docs/rbac-reconcile.yaml");
    env.kubectl_run(&["apply", "-f", doc.to_str().expect("utf-8 path")]).expect("apply docs/rbac-reconcile.yaml");
    let operator = helmigrate_tests::service_account_kubeconfig(env, &ns, "operator", dir.path());
    env.kubectl_run(&["-n", &ns, "create", "rolebinding", "operator", "--clusterrole=helmigrate-reconcile", &format!("--serviceaccount={ns}:operator")]).expect("binding");
    let r = cli("flux-helmigrate", &operator, &["reconcile", "web", "-n", &ns, "--with-source", "--timeout", "2m"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_handled_by_helmigrate(&get(env, &ns, "helmrelease/web"));
}

//! Cluster faults against the real apiserver: each a one-line error with a hint and its own
//! exit code, never a stack trace. (Missing Flux CRDs: tests/flux_missing.rs, its own cluster.)

use helmigrate_tests::{Run, cluster, apply_example, mark_step_one, run, service_account_kubeconfig, workspace};

fn one_line_error(r: &Run) -> &str {
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one error line, got:\n{}", r.stderr);
    assert!(lines[0].starts_with("error: failed to"), "{}", lines[0]);
    assert!(!r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"), "{}", r.stderr);
    lines[0]
}

fn with_kubeconfig(bin: &str, kubeconfig: &std::path::Path, args: &[&str]) -> Run {
    let mut full = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    full.extend_from_slice(args);
    run(bin, &full, &std::env::temp_dir())
}

#[test]
fn an_unreachable_server_exits_4_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: x\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n")).unwrap();
    for (bin, args) in [
        ("kubectl-helmigrate", vec!["convert", "-n", "ai"]),
        ("kubectl-helmigrate", vec!["verify", "-n", "ai"]),
        ("flux-helmigrate", vec!["reconcile", "helmrelease", "ollama", "-n", "ai"]),
    ] {
        let r = with_kubeconfig(bin, &kc, &args);
        assert_eq!(r.code, 4, "{bin} {args:?}: {}", r.stderr);
        let line = one_line_error(&r);
        assert!(line.contains(&format!("cannot reach the cluster at https://127.0.0.1:{port}")), "{line}");
        assert!(line.contains("check --kubeconfig and --context"), "{line}");
    }
}

#[test]
fn a_bad_kubeconfig_or_context_is_bad_input() {
    let r = run("kubectl-helmigrate", &["--kubeconfig", "/nonexistent/kubeconfig", "convert", "-n", "ai"], &std::env::temp_dir());
    assert_eq!(r.code, 2);
    assert!(one_line_error(&r).contains("/nonexistent/kubeconfig"));
    let env = cluster!();
    let r = with_kubeconfig("kubectl-helmigrate", env.kubeconfig(), &["--context", "nope", "convert", "-n", "ai"]);
    assert_eq!(r.code, 2);
    assert!(one_line_error(&r).contains("nope"), "{}", r.stderr);
}

#[test]
fn the_documented_read_only_role_converts_and_verifies_and_no_role_is_forbidden() {
    let env = cluster!();
    let ns = env.namespace("rbac");
    apply_example(env, &ns);
    mark_step_one(env, &ns);
    let dir = tempfile::tempdir().unwrap();

    // No permissions at all: 403 → exit 5, naming what was refused.
    let nobody = service_account_kubeconfig(env, &ns, "nobody", dir.path());
    let r = with_kubeconfig("kubectl-helmigrate", &nobody, &["convert", "-n", &ns]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let line = one_line_error(&r);
    assert!(line.contains("forbidden") && line.contains("RBAC"), "{line}");
    // The one permission hint: the verb, the resource and the role file to bind.
    assert!(line.contains("needs `list` on ") && line.contains(&format!("in namespace {ns}: bind the RBAC role in docs/rbac-readonly.yaml")), "{line}");
    let r = with_kubeconfig("kubectl-helmigrate", &nobody, &["verify", "-n", &ns]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    one_line_error(&r);

    // docs/rbac-readonly.yaml is enough for both commands.
    let role = workspace().join("docs/rbac-readonly.yaml");
    env.kubectl_run(&["apply", "-f", role.to_str().unwrap()]).unwrap();
    let auditor = service_account_kubeconfig(env, &ns, "auditor", dir.path());
    env.kubectl_run(&["create", "clusterrolebinding", &format!("auditor-{ns}"), "--clusterrole=helmigrate-readonly", &format!("--serviceaccount={ns}:auditor")]).unwrap();
    let r = with_kubeconfig("kubectl-helmigrate", &auditor, &["convert", "-n", &ns, "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["apps"].as_array().unwrap().len(), 2);
    // Before the migration verify runs fine and reports the missing HelmRelease (exit 1, not 5).
    let r = with_kubeconfig("kubectl-helmigrate", &auditor, &["verify", "-n", &ns]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("no HelmRelease manages namespace"), "{}", r.stdout);
    // Read-only really is read-only: patching a Flux object is refused with exit 5.
    let r = with_kubeconfig("flux-helmigrate", &auditor, &["reconcile", "source", "helm", "missing", "-n", &ns]);
    assert!(r.code == 5 || r.code == 7, "{}", r.stderr);

    // `verify --wait` re-checks on watch events: a role without `watch` is told so at once, not
    // left waiting out the deadline.
    let role = std::fs::read_to_string(&role).unwrap().replace(", \"watch\"", "").replace("helmigrate-readonly", &format!("nowatch-{ns}"));
    assert!(!role.contains("watch\""), "{role}");
    env.apply(&role);
    let blind = service_account_kubeconfig(env, &ns, "blind", dir.path());
    env.kubectl_run(&["create", "clusterrolebinding", &format!("blind-{ns}"), &format!("--clusterrole=nowatch-{ns}"), &format!("--serviceaccount={ns}:blind")]).unwrap();
    let r = with_kubeconfig("kubectl-helmigrate", &blind, &["verify", "-n", &ns]);
    assert_eq!(r.code, 1, "without --wait no watch is needed: {}{}", r.stdout, r.stderr);
    let r = with_kubeconfig("kubectl-helmigrate", &blind, &["verify", "-n", &ns, "--wait", "5m"]);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let line = one_line_error(&r);
    assert!(line.contains("needs `watch` on ") && line.contains("bind the RBAC role in docs/rbac-readonly.yaml"), "{line}");
}

#[test]
fn verify_of_an_unknown_app_fails_clearly() {
    let env = cluster!();
    let ns = env.namespace("noapp");
    let r = with_kubeconfig("kubectl-helmigrate", env.kubeconfig(), &["verify", "-n", &ns, "--app", "ollama"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains(&format!("no HelmRelease named ollama in namespace {ns}")), "{}", r.stdout);
}

#[test]
fn verify_follows_a_chart_ref_to_its_oci_repository() {
    let env = cluster!();
    let ns = env.namespace("chartref");
    let hr = format!("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: comfyui\n  namespace: {ns}\nspec:\n  interval: 30m\n  chartRef:\n    kind: OCIRepository\n    name: app-template\n  values: {{}}\n");
    env.apply(&hr);
    let r = with_kubeconfig("kubectl-helmigrate", env.kubeconfig(), &["verify", "-n", &ns, "--app", "comfyui"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains(&format!("OCIRepository {ns}/app-template does not exist")), "{}", r.stdout);

    let oci = format!("apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: app-template\n  namespace: {ns}\nspec:\n  interval: 12h\n  url: oci://127.0.0.1:1/helm/app-template\n  ref:\n    tag: 4.1.1\n");
    env.apply(&oci);
    let r = with_kubeconfig("kubectl-helmigrate", env.kubeconfig(), &["verify", "-n", &ns, "--app", "comfyui"]);
    assert!(r.stdout.contains(&format!("OCIRepository {ns}/app-template")) && !r.stdout.contains("does not exist"), "{}", r.stdout);
    // The chart is read from the OCIRepository's URL: app-template has no probe path without
    // an HTTP probe in the values.
    assert!(r.stdout.contains("no probe known for chart app-template"), "{}", r.stdout);
}

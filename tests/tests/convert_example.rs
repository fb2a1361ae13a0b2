//! The README's main job: converting examples/home-infra. Golden files under tests/golden/
//! (HELMIGRATE_BLESS=1 rewrites them after a deliberate change). Every run passes --no-render so
//! the goldens are the same with or without helm on PATH.

use helmigrate_tests::{example_repo, git, golden, helmigrate, snapshot};

const APPS: &str = "kubernetes/apps/base/ai";

fn tree_dump(dir: &std::path::Path) -> String {
    // `.helmigrate/` is the rollback record (file contents, a timestamp), not part of the layout.
    snapshot(dir).into_iter().filter(|(p, _)| !p.starts_with(".helmigrate/"))
        .map(|(p, b)| format!("=== {p}\n{}", String::from_utf8_lossy(&b))).collect()
}

#[test]
fn dry_run_prints_ledger_and_diff_and_writes_nothing() {
    let repo = example_repo("home-infra");
    let before = snapshot(repo.path());
    let r = helmigrate(&["convert", "--no-render", APPS], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    golden("convert/dry-run.txt", &r.stdout);
    assert_eq!(snapshot(repo.path()), before, "a dry run writes nothing");
}

#[test]
fn json_plan() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    let apps = plan["apps"].as_array().expect("apps");
    assert_eq!(apps.len(), 2, "one entry per converted app");
    for app in apps {
        for key in ["name", "namespace", "chart", "values", "ledger", "warnings"] {
            assert!(app.get(key).is_some(), "apps[].{key} missing");
        }
        for key in ["name", "version", "repository"] {
            assert!(app["chart"].get(key).is_some(), "apps[].chart.{key} missing");
        }
    }
    for f in plan["files"].as_array().expect("files") {
        assert!(["create", "modify", "delete"].contains(&f["action"].as_str().unwrap()));
    }
    golden("convert/plan.json", &r.stdout);
}

#[test]
fn yaml_prints_only_flux_documents() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "-o", "yaml"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let kinds: Vec<&str> = r.stdout.lines().filter_map(|l| l.strip_prefix("kind: ")).collect();
    assert_eq!(kinds, ["HelmRepository", "HelmRelease", "HelmRepository", "HelmRelease"]);
    golden("convert/documents.yaml", &r.stdout);
}

#[test]
fn write_produces_the_chart_based_layout_and_a_second_write_changes_nothing() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    golden("convert/written.tree", &tree_dump(repo.path()));

    let after_first = snapshot(repo.path());
    let again = helmigrate(&["convert", "--no-render", APPS, "--write"], repo.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing to change"), "{}", again.stdout);
    assert!(again.stdout.contains("already on charts: ai/ollama, ai/open-webui"), "{}", again.stdout);
    assert_eq!(snapshot(repo.path()), after_first, "the second --write is a no-op");
}

#[test]
fn comments_layout_and_untouched_files_survive() {
    let repo = example_repo("home-infra");
    let before = snapshot(repo.path());
    assert_eq!(helmigrate(&["convert", "--no-render", APPS, "--write"], repo.path()).code, 0);
    let after = snapshot(repo.path());
    let text = |p: &str| String::from_utf8(after[p].clone()).unwrap();

    // The sources file keeps its comments and documents byte for byte, with the new ones appended.
    let sources = "kubernetes/infrastructure/controllers/helm-repositories.yaml";
    assert!(text(sources).starts_with(std::str::from_utf8(&before[sources]).unwrap()));
    assert_eq!(text(sources).matches("url: https://otwld.github.io/ollama-helm/").count(), 1);
    assert_eq!(text(sources).matches("url: https://helm.openwebui.com/").count(), 1);

    // The app kustomization keeps its comment and order.
    let k = text("kubernetes/apps/base/ai/open-webui/kustomization.yaml");
    assert!(k.contains("  # Exposed on the internal gateway only.\n  - httproute.yaml\n  - helmrelease.yaml\n"), "{k}");

    // Kept as they were: routes, the SOPS secret (never re-serialized), claims, comfyui.
    for p in ["kubernetes/apps/base/ai/open-webui/httproute.yaml", "kubernetes/apps/base/ai/open-webui/secret.enc.yaml",
              "kubernetes/apps/base/ai/storage.yaml", "kubernetes/apps/base/ai/kustomization.yaml",
              "kubernetes/apps/base/ai/comfyui/deployment.yaml", "kubernetes/apps/base/ai/comfyui/service.yaml"] {
        assert_eq!(after.get(p), before.get(p), "{p} must be byte-identical");
    }
    // Replaced manifests are gone.
    for p in ["kubernetes/apps/base/ai/ollama/statefulset.yaml", "kubernetes/apps/base/ai/ollama/service.yaml",
              "kubernetes/apps/base/ai/open-webui/deployment.yaml", "kubernetes/apps/base/ai/open-webui/service.yaml"] {
        assert!(!after.contains_key(p), "{p} should be deleted");
    }
}

#[test]
fn commit_makes_one_conventional_commit_per_app() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = git(repo.path(), &["log", "--format=%s", "-3"]);
    assert_eq!(log, "feat(ai): migrate open-webui to helm chart\nfeat(ai): migrate ollama to helm chart\ninitial\n");
    let body = git(repo.path(), &["log", "--format=%b", "-1"]);
    assert!(body.contains("Chart: open-webui 10.2.1 from https://helm.openwebui.com/"), "{body}");
    assert!(body.contains("Kept: kubernetes/apps/base/ai/open-webui/secret.enc.yaml, kubernetes/apps/base/ai/open-webui/httproute.yaml."), "{body}");
    assert!(body.contains("Deleted: kubernetes/apps/base/ai/open-webui/deployment.yaml, kubernetes/apps/base/ai/open-webui/service.yaml."), "{body}");
    assert!(git(repo.path(), &["status", "--porcelain"]).is_empty(), "everything is committed");
    let ollama_commit = git(repo.path(), &["show", "--name-status", "--format=", "HEAD~1"]);
    assert!(ollama_commit.contains("A\tkubernetes/apps/base/ai/ollama/helmrelease.yaml"), "{ollama_commit}");
    assert!(!ollama_commit.contains("open-webui"), "the ollama commit holds only ollama's change:\n{ollama_commit}");
    assert!(git(repo.path(), &["remote"]).is_empty(), "nothing to push to, nothing pushed");
}

#[test]
fn commit_refuses_a_dirty_tree_unless_allowed() {
    let repo = example_repo("home-infra");
    std::fs::write(repo.path().join("notes.txt"), "wip").unwrap();
    let before = snapshot(repo.path());
    let r = helmigrate(&["convert", "--no-render", APPS, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("uncommitted changes") && r.stderr.contains("--allow-dirty"), "{}", r.stderr);
    assert_eq!(snapshot(repo.path()), before);
    let r = helmigrate(&["convert", "--no-render", APPS, "--write", "--commit", "--allow-dirty"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(git(repo.path(), &["status", "--porcelain"]).contains("notes.txt"), "the user's file is not committed");
}

#[test]
fn converting_one_app_folder_inherits_the_group_namespace() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", "kubernetes/apps/base/ai/ollama", "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["apps"][0]["namespace"], "ai");
    assert_eq!(plan["apps"].as_array().unwrap().len(), 1);
}

#[test]
fn overrides_turn_on_pipelines_tika_and_redis() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "-o", "json", "--set", "open-webui.pipelines.enabled=true", "--set", "open-webui.tika.enabled=true",
        "--set", "open-webui.websocket.enabled=true", "--set", "open-webui.websocket.redis.enabled=true"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let v = &plan["apps"][1]["values"];
    assert_eq!(v["pipelines"]["enabled"], true);
    assert_eq!(v["tika"]["enabled"], true);
    assert_eq!(v["websocket"], serde_json::json!({"enabled": true, "redis": {"enabled": true}}));
    let overridden = plan["apps"][1]["ledger"].as_array().unwrap().iter().filter(|e| e["status"] == "overridden").count();
    assert_eq!(overridden, 4);
}

#[test]
fn values_file_and_chart_version_overrides() {
    let repo = example_repo("home-infra");
    let extra = repo.path().join("extra.yaml");
    std::fs::write(&extra, "resources:\n  limits:\n    memory: 48Gi\n").unwrap();
    let r = helmigrate(&["convert", "--no-render", APPS, "-o", "json", "--values", &format!("ollama={}", extra.display()), "--chart-version", "ollama=1.40.0"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["apps"][0]["values"]["resources"], serde_json::json!({"requests": {"memory": "100Mi"}, "limits": {"memory": "48Gi"}}));
    assert_eq!(plan["apps"][0]["chart"]["version"], "1.40.0");
    assert!(plan["apps"][0]["warnings"].to_string().contains("written for 1.39.0"));
}

#[test]
fn an_override_for_an_unknown_app_is_a_usage_error() {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "--no-render", APPS, "--set", "comfyui.x=1"], repo.path());
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.trim(), "error: failed to apply overrides: no convertible app named `comfyui` here (apps: ollama, open-webui)");
}

#[test]
fn global_kube_flags_are_accepted_before_and_after_the_subcommand() {
    let repo = example_repo("home-infra");
    for args in [
        vec!["--kubeconfig", "/nonexistent", "--context", "x", "-n", "ai", "convert", APPS],
        vec!["convert", APPS, "--kubeconfig", "/nonexistent", "--context", "x", "-n", "ai"],
    ] {
        let r = helmigrate(&args, repo.path());
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn flux_plugin_converts_too() {
    let repo = example_repo("home-infra");
    let r = helmigrate_tests::run("flux-helmigrate", &["convert", APPS, "-o", "yaml"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("kind: HelmRelease"));
}

#[cfg(unix)]
#[test]
fn created_files_get_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let repo = example_repo("home-infra");
    assert_eq!(helmigrate(&["convert", "--no-render", APPS, "--write"], repo.path()).code, 0);
    let mode = std::fs::metadata(repo.path().join("kubernetes/apps/base/ai/ollama/helmrelease.yaml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn a_broken_file_outside_the_converted_tree_is_reported_not_fatal() {
    let repo = example_repo("home-infra");
    std::fs::write(repo.path().join("clusters/home/broken.yaml"), "kind: HelmRepository\nspec: [unclosed\n").unwrap();
    let r = helmigrate(&["convert", "--no-render", APPS, "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(plan["warnings"].to_string().contains("clusters/home/broken.yaml:2"), "{}", plan["warnings"]);
}

#[test]
fn a_crlf_sources_file_gets_crlf_documents_appended() {
    let repo = example_repo("home-infra");
    let sources = repo.path().join("kubernetes/infrastructure/controllers/helm-repositories.yaml");
    let crlf = std::fs::read_to_string(&sources).unwrap().replace('\n', "\r\n");
    std::fs::write(&sources, &crlf).unwrap();
    assert_eq!(helmigrate(&["convert", "--no-render", APPS, "--write"], repo.path()).code, 0);
    let after = std::fs::read_to_string(&sources).unwrap();
    assert!(after.starts_with(&crlf));
    assert!(!after.replace("\r\n", "").contains('\n'), "no bare LF after the append");
}

//! The real-layout fixtures (`tests/fixtures/layouts/`, each modelled on public GitOps repos):
//! every workload a profile recognises is converted from the object Flux applies, or skipped /
//! blocked with its reason — never silently left alone, never silently changed. Folders that
//! transform are built with the tests' kustomize (the pinned kubectl; see `kustomize()`).

use helmigrate_tests::{fixture_repo, helmigrate, kustomize, snapshot};
use serde_json::Value;

fn plan(repo: &std::path::Path, path: &str, extra: &[&str]) -> Value {
    assert!(kustomize().is_some(), "no kustomize for the tests: run scripts/build-tools (or put kubectl on PATH)");
    let mut args = vec!["convert", path, "--no-render", "-o", "json"];
    args.extend_from_slice(extra);
    let r = helmigrate(&args, repo);
    assert!(r.code == 0 || r.code == 1, "convert {path}: exit {}\n{}", r.code, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("convert {path}: not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

fn app<'p>(plan: &'p Value, name: &str) -> &'p Value {
    plan["apps"].as_array().into_iter().flatten().find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no app {name} in the plan: {}", serde_json::to_string_pretty(plan).unwrap_or_default()))
}

fn skipped<'p>(plan: &'p Value, name: &str) -> &'p str {
    plan["skipped"].as_array().into_iter().flatten().find(|s| s["name"] == name).and_then(|s| s["reason"].as_str())
        .unwrap_or_else(|| panic!("{name} is not skipped: {}", serde_json::to_string_pretty(plan).unwrap_or_default()))
}

fn warnings(app: &Value) -> Vec<(String, String)> {
    app["warnings"].as_array().into_iter().flatten()
        .map(|w| (w["level"].as_str().unwrap_or_default().to_string(), w["message"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn blocking(app: &Value) -> Vec<String> {
    warnings(app).into_iter().filter(|(l, _)| l == "blocking").map(|(_, m)| m).collect()
}

fn file<'p>(plan: &'p Value, path: &str) -> Option<&'p Value> {
    plan["files"].as_array().into_iter().flatten().find(|f| f["path"] == path)
}

#[test]
fn ks_yaml_family_is_followed_to_each_app_folder() {
    let repo = fixture_repo("ks-template");
    let p = plan(repo.path(), "kubernetes/apps/ai", &[]);
    for name in ["ollama", "open-webui"] {
        let a = app(&p, name);
        assert_eq!(a["namespace"], "ai", "{name}: namespace from the group kustomization");
        assert!(blocking(a).is_empty(), "{name}: {:?}", blocking(a));
        // The hand-over names the app's own Flux Kustomization, not the one applying ks.yaml.
        let ks = a["handover"]["kustomizations"].as_array().expect("kustomizations");
        assert_eq!(ks.len(), 1, "{name}: {ks:?}");
        assert!(ks[0].as_str().unwrap().starts_with(&format!("flux-system/{name} (prune: true")), "{ks:?}");
    }
    assert!(skipped(&p, "searxng").contains("no chart profile"));
    // Flux builds open-webui/app from its files: no kustomization is written there, and the
    // Service in its sub-folder goes; postBuild variables stay verbatim for Flux to fill in.
    assert!(file(&p, "kubernetes/apps/ai/open-webui/app/(generated)").is_none());
    assert!(p["files"].as_array().unwrap().iter().all(|f| !f["path"].as_str().unwrap().ends_with("kustomization.yaml")
        || !f["path"].as_str().unwrap().contains("open-webui")), "{}", p["files"]);
    assert_eq!(file(&p, "kubernetes/apps/ai/open-webui/app/network/service.yaml").map(|f| &f["action"]), Some(&Value::from("delete")));
    let env = app(&p, "open-webui")["values"]["extraEnvVars"].as_array().expect("extraEnvVars").clone();
    assert!(env.iter().any(|e| e["value"].as_str().is_some_and(|v| v.contains("${SECRET_DOMAIN}"))), "{env:?}");
    // The data claim comes from the component the Flux Kustomization adds.
    assert_eq!(app(&p, "open-webui")["values"]["persistence"]["existingClaim"], "${APP}");
}

#[test]
fn namespace_from_target_namespace_only() {
    let repo = fixture_repo("target-namespace-only");
    for (path, name) in [("apps/ollama", "ollama"), ("apps/open-webui", "open-webui")] {
        let p = plan(repo.path(), path, &[]);
        let a = app(&p, name);
        assert_eq!(a["namespace"], "llm", "{name}");
        assert!(a["handover"]["steps"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains(&format!("verify -n llm --app {name}"))),
            "{}", a["handover"]["steps"]);
    }
}

#[test]
fn a_base_that_overlays_patch_differently_is_not_converted_silently() {
    let repo = fixture_repo("overlay-patches");
    let r = helmigrate(&["convert", "apps/production", "--no-render"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nothing to change: 2 workload(s) that a chart profile recognises were not converted"), "{}", r.stdout);
    let p = plan(repo.path(), "apps/production", &[]);
    for name in ["ollama", "open-webui"] {
        let why = skipped(&p, name);
        assert!(why.contains("applied by more than one Flux Kustomization") && why.contains("clusters/staging/apps.yaml"), "{why}");
    }
}

#[test]
fn an_overlay_patch_is_folded_into_the_values_and_leaves_the_overlay() {
    let repo = fixture_repo("overlay-patches");
    std::fs::remove_dir_all(repo.path().join("clusters/staging")).expect("drop the staging cluster");
    let p = plan(repo.path(), "apps/production", &[]);
    let a = app(&p, "ollama");
    assert!(blocking(a).is_empty(), "{:?}", blocking(a));
    // The production patch adds the GPU and more memory: the values carry what runs.
    assert_eq!(a["values"]["ollama"]["gpu"]["enabled"], true, "{}", a["values"]);
    assert!(warnings(a).iter().any(|(_, m)| m.contains("apps/production/kustomization.yaml shaped it")), "{:?}", warnings(a));
    let k = file(&p, "apps/production/kustomization.yaml").expect("the overlay is edited");
    assert_eq!(k["action"], "modify");
    // Written, the overlay still builds (the plan checks it) and a second run changes nothing.
    let w = helmigrate(&["convert", "apps/production", "--no-render", "--write"], repo.path());
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, w.stderr);
    let before = snapshot(repo.path());
    let again = helmigrate(&["convert", "apps/production", "--no-render", "--write"], repo.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(snapshot(repo.path()), before, "a second run changed files");
}

#[test]
fn transformers_are_read_as_built() {
    let repo = fixture_repo("common-labels");
    let p = plan(repo.path(), "kubernetes/ai", &[]);
    let a = app(&p, "ollama");
    // `images:` sets the tag and `replicas:` the count; the file says 0.11.10 and 0.
    assert_eq!(a["values"]["image"]["tag"], "0.12.3");
    assert_eq!(a["values"]["replicaCount"], 1);
    // commonLabels reach the selector: the selector warning counts them.
    assert!(warnings(a).iter().any(|(_, m)| m.contains("app.kubernetes.io/part-of=ai-stack")), "{:?}", warnings(a));
    // The stale `replicas:` entry would break the build once the Deployment is gone.
    let k = file(&p, "kubernetes/ai/ollama/kustomization.yaml").expect("kustomization edited");
    assert!(k["diff"].as_str().unwrap().contains("-replicas:"), "{}", k["diff"]);
    assert!(skipped(&p, "faster-whisper").contains("no chart profile"));
}

#[test]
fn env_from_config_maps_is_part_of_the_effective_env() {
    let repo = fixture_repo("configmap-envfrom");
    let p = plan(repo.path(), "kubernetes/apps/ai", &[]);
    let v = &app(&p, "open-webui")["values"];
    // The chart would otherwise set ENABLE_OLLAMA_API=False and its own OpenAI URL, which beat envFrom.
    assert_eq!(v["ollamaUrlsFromExtraEnv"], true, "{v}");
    assert_eq!(v["enableOpenaiApi"], true, "{v}");
    assert!(v["openaiBaseApiUrl"].as_str().is_some_and(|u| u.contains("litellm")), "{v}");
    assert_eq!(v["openaiApiKey"], "", "no placeholder key");
    assert!(warnings(app(&p, "open-webui")).iter().any(|(_, m)| m.contains("envFrom secret")), "the unreadable Secret is named");
}

#[test]
fn an_app_built_by_patches_is_read_and_never_stops_the_group() {
    let repo = fixture_repo("patch-built-app");
    let p = plan(repo.path(), "kubernetes/apps/voice", &[]);
    assert!(blocking(app(&p, "ollama")).is_empty());
    assert!(skipped(&p, "wyoming-whisper").contains("no chart profile"));
    assert!(skipped(&p, "wyoming-piper").contains("no chart profile"));
}

#[test]
fn a_folder_kustomize_cannot_build_is_skipped_with_its_message() {
    let repo = fixture_repo("patch-built-app");
    let k = repo.path().join("kubernetes/apps/voice/kustomization.yaml");
    let text = std::fs::read_to_string(&k).expect("read");
    std::fs::write(&k, format!("{text}\nreplicas:\n  - name: no-such-workload\n    count: 2\n")).expect("write");
    let p = plan(repo.path(), "kubernetes/apps/voice", &[]);
    let why = skipped(&p, "ollama");
    assert!(why.starts_with("not converted: kustomize cannot build kubernetes/apps/voice:") && why.contains("no-such-workload"), "{why}");
    assert_eq!(p["skipped"][0]["chart"], "ollama", "the summary counts it as recognised");
}

#[test]
fn yaml_anchors_are_resolved() {
    let repo = fixture_repo("anchors");
    let p = plan(repo.path(), "kubernetes/apps/ai", &[]);
    let a = app(&p, "ollama");
    assert!(a["values"]["resources"]["limits"].is_object(), "{}", a["values"]);
    assert!(blocking(a).is_empty(), "{:?}", blocking(a));
}

#[test]
fn sops_files_stay_byte_identical() {
    let repo = fixture_repo("per-app-sops");
    let sops: Vec<(String, Vec<u8>)> = snapshot(repo.path()).into_iter().filter(|(p, _)| p.ends_with(".sops.yaml")).collect();
    assert!(!sops.is_empty());
    for path in ["kubernetes/apps/homeassistant/homeassistant-ollama/app", "kubernetes/apps/homeassistant/homeassistant-webui/app"] {
        let w = helmigrate(&["convert", path, "--no-render", "--write"], repo.path());
        assert!(w.code == 0, "{path}: {}\n{}", w.stdout, w.stderr);
    }
    let after = snapshot(repo.path());
    for (p, bytes) in sops {
        assert_eq!(after.get(&p), Some(&bytes), "{p} changed");
    }
}

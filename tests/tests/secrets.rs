//! Secrets never leak: a repo with planted values (a plain Secret's `data`/`stringData`, a SOPS
//! payload, a Secret in the same file as a Service, secret-looking env literals, a URL with a
//! password, a `--set` of a secret-looking key) goes through every command path, and no output,
//! record, created file or commit message shows any of them (nor their base64 form).
//!
//! The one exception, by design: the HelmRelease helmigrate writes carries the secret-looking env
//! literals the raw Deployment had in Git (the chart needs them); displays mask them.

use std::path::Path;

use helmigrate_tests::{PLANTED_SECRETS, apply_example, cluster, git, helmigrate, helmigrate_live, mark_step_one, repo_from, snapshot, workspace};

const APPS: &str = "kubernetes/apps/base/ai";
const RECORD: &str = ".helmigrate/last-write.json";

/// Secret data and SOPS payloads: never in any file helmigrate creates either.
const SECRET_DATA: [&str; 4] = ["planted-stringdata-7731", "planted-data-9922", "plantedSopsPayload8841", "planted-colocated-3355"];
/// Secret-looking literals in the workloads (and a `--set`): masked in every display; the written
/// HelmRelease keeps those of the workloads exactly.
const SECRET_ENV: [&str; 4] = ["planted-env-secret-4410", "planted-openai-key-5521", "planted-password-6632", "planted-dburl-8080"];
const SET_VALUE: &str = "planted-set-value-1212";

fn base64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

fn all_planted() -> Vec<String> {
    let mut v: Vec<String> = SECRET_DATA.iter().chain(&SECRET_ENV).chain([&SET_VALUE]).map(|s| s.to_string()).collect();
    v.extend(v.clone().iter().map(|s| base64(s)));
    v
}

/// Panics naming the first planted string (or its base64) found in `text`.
fn assert_clean(what: &str, text: &str, planted: &[String]) {
    for p in planted {
        if let Some(i) = text.find(p.as_str()) {
            let line = text[..i].lines().count();
            panic!("{what} leaks `{p}` (line {line}):\n{}", text.lines().nth(line.saturating_sub(1)).unwrap_or_default());
        }
    }
}

fn clean_run(what: &str, r: &helmigrate_tests::Run) {
    assert_clean(&format!("{what}: stdout"), &r.stdout, &all_planted());
    assert_clean(&format!("{what}: stderr"), &r.stderr, &all_planted());
}

/// The example repo with the planted values.
fn planted_repo() -> tempfile::TempDir {
    let ex = workspace().join("examples/home-infra");
    let mut files: Vec<(String, String)> = Vec::new();
    for (rel, bytes) in snapshot(&ex) {
        files.push((rel, String::from_utf8(bytes).unwrap()));
    }
    let edit = |files: &mut Vec<(String, String)>, rel: &str, f: &dyn Fn(&str) -> String| {
        let e = files.iter_mut().find(|(p, _)| p == rel).unwrap_or_else(|| panic!("{rel}"));
        let new = f(&e.1);
        assert_ne!(new, e.1, "{rel}: edit matched nothing");
        e.1 = new;
    };
    let webui = "kubernetes/apps/base/ai/open-webui";
    edit(&mut files, &format!("{webui}/deployment.yaml"), &|t| t.replace(
        "            - name: WEBUI_SECRET_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: open-webui-secrets\n                  key: webui-secret-key\n",
        "            - name: WEBUI_SECRET_KEY\n              value: planted-env-secret-4410\n            - name: OPENAI_API_KEY\n              value: \"planted-openai-key-5521\"\n\
         \x20           - name: ADMIN_PASSWORD\n              value: planted-password-6632\n            - name: DATABASE_URL\n              value: postgresql://webui:planted-dburl-8080@db:5432/webui\n"));
    edit(&mut files, &format!("{webui}/secret.enc.yaml"), &|t| t.replace("data:q0V8d0dLm3M0bnR3cnRfZXhhbXBsZQ==", "data:plantedSopsPayload8841=="));
    // A Secret right before the Service in one file: the diff's context lines would show it.
    edit(&mut files, &format!("{webui}/service.yaml"), &|t| format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: colocated\nstringData:\n  key: planted-colocated-3355\n---\n{t}"));
    edit(&mut files, &format!("{webui}/kustomization.yaml"), &|t| t.replace("  - deployment.yaml\n", "  - deployment.yaml\n  - plain-secret.yaml\n"));
    files.push((format!("{webui}/plain-secret.yaml"), format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  token: planted-stringdata-7731\ndata:\n  password: {}\n", base64("planted-data-9922"))));
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    repo_from(&refs)
}

/// Files helmigrate created since `before`, with their text. (Files it edits are the user's own:
/// a Secret that shares a file with a replaced Service stays there, as it was.)
fn created(dir: &Path, before: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<(String, String)> {
    snapshot(dir).into_iter().filter(|(p, _)| !before.contains_key(p))
        .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned())).collect()
}

#[test]
fn dry_runs_in_every_format_mask_everything() {
    let repo = planted_repo();
    for format in ["text", "json", "yaml"] {
        let r = helmigrate(&["convert", APPS, "-o", format], repo.path());
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        clean_run(&format!("convert -o {format}"), &r);
        if format == "text" {
            assert!(r.stdout.contains("value: (hidden)"), "the diff shows the env entry, masked:\n{}", r.stdout);
            assert!(r.stdout.contains("(literal, 23 chars, hidden)"), "the ledger says it is hidden");
        }
    }
    // JSON stays JSON with masked strings.
    let r = helmigrate(&["convert", APPS, "-o", "json"], repo.path());
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let webui = plan["apps"].as_array().unwrap().iter().find(|a| a["name"] == "open-webui").unwrap();
    assert_eq!(webui["values"]["openaiApiKey"], "(hidden)");
    // Non-secret literals are shown as they are.
    assert!(r.stdout.contains("http://ollama:11434"), "{}", r.stdout);

    let r = helmigrate(&["convert", APPS, "--set", &format!("open-webui.openaiApiKey={SET_VALUE}"), "--set", "open-webui.replicaCount=1"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    clean_run("convert --set", &r);
}

#[test]
fn write_record_out_and_rollback_never_show_secrets() {
    let repo = planted_repo();
    let original = snapshot(repo.path());
    let out = tempfile::tempdir().unwrap();
    let r = helmigrate(&["convert", APPS, "--write", "--out", out.path().to_str().unwrap()], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    clean_run("convert --write --out", &r);

    let record = std::fs::read_to_string(repo.path().join(RECORD)).unwrap();
    assert_clean("the record", &record, &all_planted());
    assert!(record.contains("Blob\": \""), "files with secret values are kept as git blob ids:\n{record}");
    let created = created(repo.path(), &original);
    assert!(created.iter().any(|(p, _)| p.ends_with("open-webui/helmrelease.yaml")), "{created:?}");
    for (path, text) in created {
        // Secret data and SOPS payloads never appear in anything helmigrate creates.
        assert_clean(&path, &text, &SECRET_DATA.iter().map(|s| s.to_string()).chain(SECRET_DATA.iter().map(|s| base64(s))).collect::<Vec<_>>());
    }
    // The chart needs the env literals: the written HelmRelease keeps them exactly, as Git had them.
    let hr = std::fs::read_to_string(repo.path().join(APPS).join("open-webui/helmrelease.yaml")).unwrap();
    assert!(hr.contains("planted-env-secret-4410") && hr.contains("planted-openai-key-5521"), "{hr}");
    for (path, bytes) in snapshot(out.path()) {
        let text = String::from_utf8(bytes).unwrap();
        assert_clean(&format!("--out {path}"), &text, &SECRET_DATA.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    let dry = helmigrate(&["rollback", APPS], repo.path());
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    clean_run("rollback (dry run)", &dry);
    assert!(dry.stdout.contains("+              value: (hidden)"), "{}", dry.stdout);

    let w = helmigrate(&["rollback", APPS, "--write"], repo.path());
    assert_eq!(w.code, 0, "{}", w.stderr);
    clean_run("rollback --write", &w);
    assert_eq!(snapshot(repo.path()), original, "restored byte for byte from the blob ids");
}

#[test]
fn commits_carry_no_secrets() {
    let repo = planted_repo();
    let r = helmigrate(&["convert", APPS, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    clean_run("convert --write --commit", &r);
    assert_clean("the record", &std::fs::read_to_string(repo.path().join(RECORD)).unwrap(), &all_planted());
    let w = helmigrate(&["rollback", APPS, "--write", "--commit"], repo.path());
    assert_eq!(w.code, 0, "{}", w.stderr);
    clean_run("rollback --write --commit", &w);
    // Messages only: the committed files are the user's own (they held these values before).
    let messages = git(repo.path(), &["log", "--format=%B"]);
    assert!(messages.contains("migrate open-webui to helm chart") && messages.contains("revert: restore raw manifests"), "{messages}");
    assert_clean("commit messages", &messages, &all_planted());
    assert!(git(repo.path(), &["status", "--porcelain"]).is_empty());
}

#[test]
fn a_malformed_file_holding_a_secret_fails_without_echoing_it() {
    let cases = [
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  token: planted-stringdata-7731\n  other: [planted-data-9922\n",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  token: planted-stringdata-7731\n   bad: planted-data-9922\n",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  token: \"planted-stringdata-7731\n",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  token: !!int planted-stringdata-7731\n",
        "apiVersion: v1\nkind: Secret\nstringData:\n  token: planted-stringdata-7731\n",
        "kind: Secret\nstringData:\n  token: planted-stringdata-7731\n",
    ];
    for text in cases {
        let repo = repo_from(&[
            (".helmigrate.yaml", ""),
            ("apps/kustomization.yaml", "namespace: ai\nresources:\n  - secret.yaml\n"),
            ("apps/secret.yaml", text),
        ]);
        let r = helmigrate(&["convert", "apps"], repo.path());
        assert_eq!(r.code, 2, "{text}\n{}", r.stdout);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.starts_with("error: failed to load apps/secret.yaml"), "{}", r.stderr);
        clean_run(&format!("bad input {text:?}"), &r);
    }
}

#[test]
fn live_convert_and_verify_show_no_secret_data() {
    let env = cluster!();
    let ns = env.namespace("secrets");
    apply_example(env, &ns);
    mark_step_one(env, &ns);
    env.kubectl_run(&["-n", &ns, "create", "secret", "generic", "extra", "--from-literal=token=planted-stringdata-7731",
        "--from-literal=password=planted-data-9922"]).unwrap();
    // A secret-looking literal in the live Deployment (and so in its last-applied annotation).
    env.kubectl_run(&["-n", &ns, "set", "env", "deployment/open-webui", "ADMIN_PASSWORD=planted-password-6632"]).unwrap();
    let mut planted = all_planted();
    planted.extend(PLANTED_SECRETS.iter().flat_map(|s| [s.to_string(), base64(s)]));
    for format in ["text", "json", "yaml"] {
        let r = helmigrate_live(env, &["convert", "-n", &ns, "-o", format]);
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(r.stdout.contains("open-webui"), "{}", r.stdout);
        assert_clean(&format!("live convert -o {format}"), &r.stdout, &planted);
        assert_clean(&format!("live convert -o {format}: stderr"), &r.stderr, &planted);
    }
    for format in ["table", "json"] {
        let r = helmigrate_live(env, &["verify", "-n", &ns, "-o", format]);
        assert!(!r.stdout.is_empty(), "{}", r.stderr);
        assert_clean(&format!("verify -o {format}"), &r.stdout, &planted);
        assert_clean(&format!("verify -o {format}: stderr"), &r.stderr, &planted);
    }
}

/// A password that is also the app's name (`PASSWORD=homeassistant` in app `homeassistant`):
/// names, paths and hostnames show; the env value never does, in any format or diff line.
#[test]
fn a_password_that_is_also_the_apps_name_is_masked_only_as_the_value() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: homeassistant\nspec:\n  selector:\n    matchLabels:\n      app: homeassistant\n  template:\n    metadata:\n      labels:\n        app: homeassistant\n    spec:\n      containers:\n        - name: homeassistant\n          image: ghcr.io/open-webui/open-webui:v0.7.2\n          env:\n            - name: PASSWORD\n              value: homeassistant\n            - name: WEBUI_URL\n              value: https://homeassistant.home.example\n";
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: homeassistant\nspec:\n  selector:\n    app: homeassistant\n  ports:\n    - port: 80\n      targetPort: 8080\n";
    let repo = repo_from(&[
        (".helmigrate.yaml", ""),
        ("apps/homeassistant/kustomization.yaml", "namespace: homeassistant\nresources:\n  - deployment.yaml\n  - service.yaml\n"),
        ("apps/homeassistant/deployment.yaml", deployment),
        ("apps/homeassistant/service.yaml", service),
    ]);
    let leaks = |out: &str| out.lines().filter(|l| {
        let l = l.trim_start_matches(['-', '+', ' ']);
        l == "value: homeassistant" || l.contains("\"value\": \"homeassistant\"") || l.contains("value: homeassistant\\n")
    }).map(str::to_string).collect::<Vec<_>>();
    for format in ["text", "json", "yaml"] {
        let r = helmigrate(&["convert", "apps/homeassistant", "-o", format], repo.path());
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(leaks(&r.stdout).is_empty(), "{format} shows the password as the env value: {:?}", leaks(&r.stdout));
        assert!(r.stdout.contains("https://homeassistant.home.example"), "{format}: the hostname shows:\n{}", r.stdout);
        assert!(r.stdout.contains("releaseName: homeassistant") || r.stdout.contains("\"releaseName\": \"homeassistant\""), "{format}:\n{}", r.stdout);
        if format != "yaml" {
            assert!(r.stdout.contains("apps/homeassistant/helmrelease.yaml"), "{format}: the path shows:\n{}", r.stdout);
        }
        if format == "text" {
            assert!(r.stdout.contains("homeassistant/homeassistant (Deployment at apps/homeassistant/deployment.yaml:1)"), "{}", r.stdout);
            // The deleted Deployment's env line and the new HelmRelease's, both masked.
            let masked = |sign: char| r.stdout.lines().any(|l| l.starts_with(sign) && l[1..].trim() == "value: (hidden)");
            assert!(masked('-') && masked('+'), "{}", r.stdout);
        }
        if format == "json" {
            let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            let app = &plan["apps"][0];
            assert_eq!(app["name"], "homeassistant");
            let env = app["values"]["extraEnvVars"].as_array().unwrap();
            assert_eq!(env.iter().find(|e| e["name"] == "PASSWORD").unwrap()["value"], "(hidden)");
            let files = plan["files"].as_array().unwrap();
            let deleted = files.iter().find(|f| f["path"] == "apps/homeassistant/deployment.yaml").unwrap();
            assert_eq!(deleted["action"], "delete");
            let created = files.iter().find(|f| f["path"] == "apps/homeassistant/helmrelease.yaml").unwrap();
            assert!(created["content"].as_str().unwrap().contains("value: (hidden)"), "{}", created["content"]);
        }
    }
}

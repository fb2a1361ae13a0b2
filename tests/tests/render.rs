//! `convert --render`: helm renders the chart with the generated values and the result is
//! compared with the old workload. The fidelity of the two profiles is checked against the real
//! upstream charts (ollama 1.39.0 and open-webui 10.2.1 from `../shared/charts/packages`, unpacked
//! per test); only the tests that need a chart or a helm that is deliberately broken — a schema
//! error, a template `fail`, a helm that hangs or prints garbage — use the small stand-in chart in
//! `tests/charts/ollama`. Always the pinned helm that scripts/build-tools builds; never the network.

use std::path::{Path, PathBuf};
use std::process::Command;

use helmigrate_tests::{Run, bin, example_repo, fixture_repo, repo_from, require_tools, snapshot, testenv, workspace};
use serde_json::Value;

const OLLAMA: &str = "kubernetes/apps/base/ai/ollama";
const WEBUI: &str = "kubernetes/apps/base/ai/open-webui";
const APPS: &str = "kubernetes/apps/base/ai";

/// The pinned helm; a missing build fails the test with the testenv's message (tests skip only
/// under `scripts/test --quick`, through `require_tools!`).
fn helm() -> PathBuf {
    let dir = testenv::locate_bin_dir().unwrap_or_else(|e| panic!("{e}"));
    let helm = dir.join("helm");
    assert!(helm.is_file(), "{} ({} is missing)", testenv::MISSING_BINARIES, helm.display());
    helm
}

/// The real upstream charts, unpacked from their packages into a temporary folder.
struct RealCharts(tempfile::TempDir);

impl RealCharts {
    fn unpack() -> RealCharts {
        let dir = tempfile::tempdir().expect("charts dir");
        let packages = workspace().join("../shared/charts/packages");
        for pkg in ["ollama-1.39.0.tgz", "open-webui-10.2.1.tgz", "app-template-4.1.1.tgz"] {
            let out = Command::new("tar").arg("xzf").arg(packages.join(pkg)).arg("-C").arg(dir.path()).output().expect("run tar");
            assert!(out.status.success(), "tar xzf {pkg}: {}", String::from_utf8_lossy(&out.stderr));
        }
        RealCharts(dir)
    }

    fn dir(&self, chart: &str) -> PathBuf {
        self.0.path().join(chart)
    }

    /// `CHART=DIR` for `--chart-dir`.
    fn arg(&self, chart: &str) -> String {
        format!("{chart}={}", self.dir(chart).display())
    }
}

/// The stand-in chart `tests/charts/NAME`: only for a chart or helm that is meant to fail.
fn stand_in(name: &str) -> String {
    workspace().join("tests/charts").join(name).display().to_string()
}

/// Run `kubectl-helmigrate` with `env` (and a private chart cache, so nothing outside the test is
/// read or written), building kustomize folders with the pinned kubectl.
fn run_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let cache = tempfile::tempdir().expect("cache dir");
    let mut cmd = Command::new(bin("kubectl-helmigrate"));
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1").env_remove("FORCE_COLOR")
        .env_remove("HELMIGRATE_HELM").env_remove("HELMIGRATE_HELM_TIMEOUT").env("XDG_CACHE_HOME", cache.path());
    if let Some(k) = helmigrate_tests::kustomize() {
        cmd.env("HELMIGRATE_KUSTOMIZE", k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run kubectl-helmigrate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run with the pinned helm.
fn run(args: &[&str], cwd: &Path) -> Run {
    let h = helm();
    run_env(args, cwd, &[("HELMIGRATE_HELM", h.to_str().expect("utf-8 path"))])
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", r.stdout, r.stderr))
}

fn render_of<'a>(plan: &'a Value, app: &str) -> &'a Value {
    let a = plan["apps"].as_array().expect("apps").iter().find(|a| a["name"] == app).unwrap_or_else(|| panic!("no app {app}"));
    &a["render"]
}

fn row<'a>(render: &'a Value, field: &str) -> &'a Value {
    render["rows"].as_array().expect("rows").iter().find(|r| r["field"] == field)
        .unwrap_or_else(|| panic!("no row {field} in {:#}", render["rows"]))
}

/// The text output's render section of the first app: from `render check:` to the blank line.
fn render_section(stdout: &str) -> String {
    let start = stdout.find("render check:").unwrap_or_else(|| panic!("no render section in:\n{stdout}"));
    let rest = &stdout[start..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
}

/// A one-app repo: an ollama Deployment (edited by `f`) with a Service, in namespace ai.
fn ollama_repo(f: impl FnOnce(&mut Value), extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut w = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "ollama" },
        "spec": { "selector": { "matchLabels": { "app": "ollama" } }, "template": {
            "metadata": { "labels": { "app": "ollama" } },
            "spec": { "containers": [ { "name": "ollama", "image": "ollama/ollama:0.15.2",
                "ports": [ { "name": "http", "containerPort": 11434 } ],
                "env": [ { "name": "TZ", "value": "Europe/Berlin" } ] } ] } } }
    });
    f(&mut w);
    let svc = serde_json::json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ollama" },
        "spec": { "selector": { "app": "ollama" }, "ports": [ { "name": "http", "port": 11434, "targetPort": "http" } ] } });
    let w = serde_json::to_string_pretty(&w).expect("json");
    let svc = serde_json::to_string_pretty(&svc).expect("json");
    let mut resources = String::from("namespace: ai\nresources:\n  - deployment.yaml\n  - service.yaml\n");
    let mut files = vec![(".helmigrate.yaml", ""), ("apps/ollama/deployment.yaml", w.as_str()), ("apps/ollama/service.yaml", svc.as_str())];
    for (p, t) in extra {
        resources.push_str(&format!("  - {}\n", p.trim_start_matches("apps/ollama/")));
        files.push((p, t));
    }
    files.push(("apps/ollama/kustomization.yaml", resources.as_str()));
    repo_from(&files)
}

/// The rows of `app` (in a `-o json` plan) that the ledger does not explain.
fn unexplained_rows(plan: &Value, app: &str) -> Vec<String> {
    render_of(plan, app)["rows"].as_array().unwrap_or_else(|| panic!("{app}: no render rows in {:#}", render_of(plan, app)))
        .iter().filter(|r| r["unexplained"] != false).map(|r| r.to_string()).collect()
}

#[test]
fn the_example_renders_on_the_real_charts_with_no_unexplained_row() {
    require_tools!();
    let charts = RealCharts::unpack();
    let repo = example_repo("home-infra");
    let (o, w, a) = (charts.arg("ollama"), charts.arg("open-webui"), charts.arg("app-template"));
    let r = run(&["convert", APPS, "--render", "--strict", "--chart-dir", &o, "--chart-dir", &w, "--chart-dir", &a, "--fallback", "app-template", "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let plan = json(&r);
    for (app, chart) in [("ollama", "ollama 1.39.0"), ("open-webui", "open-webui 10.2.1"), ("comfyui", "app-template 4.1.1")] {
        let render = render_of(&plan, app);
        assert_eq!(render["chart"], chart);
        assert!(render["error"].is_null(), "{app}: {}", render["error"]);
        let chart_name = chart.split(' ').next().unwrap();
        assert!(render["source"].as_str().unwrap().contains(&charts.dir(chart_name).display().to_string()), "{}", render["source"]);
        assert!(render["rows"].as_array().unwrap().len() >= 10, "{app}: {:#}", render["rows"]);
        assert_eq!(unexplained_rows(&plan, app), Vec::<String>::new(), "{app}");
        for r in render["rows"].as_array().unwrap() {
            assert!(["preserved", "added-by-chart"].contains(&r["status"].as_str().unwrap()) || !r["why"].as_str().unwrap_or("").is_empty(), "{r}");
        }
        assert_eq!(render["unreadKeys"], serde_json::json!([]), "{app}");
        assert_eq!(render["duplicateEnv"], serde_json::json!([]), "{app}");
        assert_eq!(render["services"], serde_json::json!([]), "{app}");
    }
    let ollama = render_of(&plan, "ollama");
    for (field, status) in [("image", "preserved"), ("env TZ", "preserved"), ("env OLLAMA_KEEP_ALIVE", "preserved"),
        ("resources.limits.nvidia.com/gpu", "preserved"), ("resources.requests.memory", "preserved"), ("pod runtimeClassName", "preserved"),
        ("volumeMount /root/.ollama", "preserved"), ("port http", "preserved"), ("service ollama port", "preserved"), ("pod label app", "preserved"),
        ("env OLLAMA_HOST", "added-by-chart"), ("env PATH", "added-by-chart"), ("pod tolerations", "added-by-chart"), ("kind", "changed")] {
        assert_eq!(row(ollama, field)["status"], status, "{field}: {}", row(ollama, field));
    }
    assert_eq!(row(ollama, "volumeMount /root/.ollama")["rendered"], "pvc nfs-ai-models subPath ollama");
    assert!(row(ollama, "kind")["why"].as_str().unwrap().contains("StatefulSet"));
    // ComfyUI on app-template: every field as it was, nothing even changed.
    let comfy = render_of(&plan, "comfyui");
    for r in comfy["rows"].as_array().unwrap() {
        assert_eq!(r["status"], "preserved", "{r}");
    }
    for field in ["image", "resources.limits.nvidia.com/gpu", "volumeMount /root/ComfyUI/models", "port http", "pod runtimeClassName",
                  "pod label app", "service comfyui port", "service comfyui type"] {
        assert_eq!(row(comfy, field)["status"], "preserved", "{field}");
    }
    assert_eq!(row(comfy, "volumeMount /root/ComfyUI/models")["rendered"], "pvc nfs-ai-models subPath comfyui");
    let webui = render_of(&plan, "open-webui");
    for (field, status) in [("image", "preserved"), ("env WEBUI_SECRET_KEY", "preserved"), ("env COMFYUI_BASE_URL", "preserved"),
        ("volumeMount /app/backend/data", "preserved"), ("pod securityContext", "preserved"), ("port http", "preserved"),
        ("service open-webui port", "preserved"), ("env OLLAMA_BASE_URL", "dropped"), ("env OLLAMA_BASE_URLS", "added-by-chart"),
        ("initContainer copy-app-data", "added-by-chart")] {
        assert_eq!(row(webui, field)["status"], status, "{field}: {}", row(webui, field));
    }

    // The same check as tables in the text output.
    let t = run(&["convert", APPS, "--render", "--strict", "--chart-dir", &o, "--chart-dir", &w, "--chart-dir", &a, "--fallback", "app-template"], repo.path());
    assert_eq!(t.code, 0, "{}", t.stderr);
    assert!(t.stdout.contains(&format!("render check: chart ollama 1.39.0 (chart folder {})", charts.dir("ollama").display())), "{}", t.stdout);
    assert!(t.stdout.contains("render check: chart open-webui 10.2.1"), "{}", t.stdout);
    let section = render_section(&t.stdout);
    assert!(section.contains("│ pod runtimeClassName") && section.contains("preserved"), "{section}");
    assert!(!t.stdout.contains("unexplained") && !t.stderr.contains("unexplained"), "{}\n{}", t.stdout, t.stderr);
}

#[test]
fn the_real_layout_fixtures_render_with_no_unexplained_row() {
    require_tools!();
    let charts = RealCharts::unpack();
    let (o, w, a) = (charts.arg("ollama"), charts.arg("open-webui"), charts.arg("app-template"));
    // (fixture, folder to convert, the apps it converts — every workload, on its profile's chart
    // or on app-template; the others are blocked or skipped with their reason, checked below)
    let cases: &[(&str, &str, &[&str])] = &[
        ("ks-template", "kubernetes/apps/ai", &["ollama", "open-webui", "searxng"]),
        ("configmap-envfrom", "kubernetes/apps/ai", &["ollama", "open-webui"]),
        ("common-labels", "kubernetes/ai", &["ollama", "faster-whisper"]),
        ("target-namespace-only", "apps/ollama", &["ollama"]),
        ("per-app-sops", "kubernetes/apps/homeassistant/homeassistant-ollama/app", &["homeassistant-ollama"]),
        ("central-sources", "kubernetes/apps/ai", &["ollama", "open-webui"]),
        ("per-app-sources", "kubernetes/apps/ai", &["ollama"]),
        ("patch-built-app", "kubernetes/apps/voice", &["ollama", "wyoming-whisper", "wyoming-piper"]),
        ("anchors", "kubernetes/apps/ai", &["ollama", "open-webui", "flowise"]),
        ("generic-apps", "kubernetes/apps/media", &["qbittorrent"]),
        ("generic-apps", "kubernetes/apps/home", &["zigbee2mqtt"]),
        ("generic-apps", "kubernetes/apps/db", &["valkey"]),
        ("generic-apps", "kubernetes/apps/tools", &["whoami"]),
    ];
    for (fixture, path, apps) in cases {
        let repo = fixture_repo(fixture);
        let r = run(&["convert", path, "--render", "--strict", "--chart-dir", &o, "--chart-dir", &w, "--chart-dir", &a, "--fallback", "app-template", "-o", "json"], repo.path());
        assert_eq!(r.code, 0, "{fixture}:\n{}\n{}", r.stdout, r.stderr);
        let plan = json(&r);
        let names: Vec<&str> = plan["apps"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
        assert_eq!(names, *apps, "{fixture}");
        assert!(plan["skipped"].as_array().unwrap().is_empty(), "{fixture}: {}", plan["skipped"]);
        for app in apps.iter() {
            let render = render_of(&plan, app);
            assert!(render["error"].is_null(), "{fixture}/{app}: {}", render["error"]);
            assert!(!render["rows"].as_array().unwrap().is_empty(), "{fixture}/{app}");
            assert_eq!(unexplained_rows(&plan, app), Vec::<String>::new(), "{fixture}/{app}");
        }
        if *fixture == "configmap-envfrom" {
            // The effective env: envFrom ConfigMaps resolved, `env` winning over them.
            let webui = render_of(&plan, "open-webui");
            assert_eq!(row(webui, "env OPENAI_API_BASE_URL")["old"], "\"http://litellm.ai.svc.cluster.local:4000/v1\"");
            assert_eq!(row(webui, "env OPENAI_API_BASE_URL")["status"], "preserved");
            assert_eq!(row(webui, "env WEBUI_NAME")["old"], "\"Household Assistant\"");
            assert_eq!(row(webui, "env WEBUI_NAME")["status"], "preserved");
        }
        if *fixture == "ks-template" {
            // The chart writes every probe timing; the ones the old probe left out are Kubernetes'.
            assert_eq!(row(render_of(&plan, "ollama"), "readinessProbe")["status"], "preserved", "{fixture}");
        }
    }
}

#[test]
fn a_lossy_set_is_unexplained_and_fails_only_with_strict() {
    require_tools!();
    // A GPU resource name the ledger knows nothing about: the chart then asks for another
    // resource, and the old `nvidia.com/gpu` limit is gone.
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let set = "ollama.ollama.gpu.nvidiaResource=gpu.example.com/gpu";
    let repo = example_repo("home-infra");
    let r = run(&["convert", OLLAMA, "--chart-dir", &dir, "--set", set], repo.path());
    assert_eq!(r.code, 0, "without --strict an unexplained drop is a warning: {}", r.stderr);
    let section = render_section(&r.stdout);
    let line = section.lines().find(|l| l.contains("resources.limits.nvidia.com/gpu")).unwrap_or_else(|| panic!("{section}"));
    assert!(line.contains("dropped (unexplained)"), "{line}");
    assert!(section.contains("1 unexplained difference(s) in the render: resources.limits.nvidia.com/gpu"), "{section}");

    let before = snapshot(repo.path());
    let s = run(&["convert", OLLAMA, "--chart-dir", &dir, "--set", set, "--strict", "--write"], repo.path());
    assert_eq!(s.code, 1, "{}", s.stderr);
    assert!(s.stderr.contains("unexplained: ollama: resources.limits.nvidia.com/gpu (dropped: 1 → -)"), "{}", s.stderr);
    assert!(s.stderr.contains("--strict"), "{}", s.stderr);
    assert_eq!(snapshot(repo.path()), before, "--strict with unexplained rows writes nothing");

    // A --set on the values path a field was mapped to is the user's stated reason.
    let r = run(&["convert", OLLAMA, "--chart-dir", &dir, "--set", "ollama.ollama.gpu.enabled=false", "--strict", "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let gpu = row(render_of(&json(&r), "ollama"), "resources.limits.nvidia.com/gpu").clone();
    assert_eq!((gpu["status"].as_str(), gpu["unexplained"].as_bool()), (Some("dropped"), Some(false)), "{gpu}");
    assert_eq!(gpu["why"], "set by the user (--set ollama.ollama.gpu.enabled=false)", "not the ledger's note on PATH in GPU mode: {gpu}");
}

/// Cut `line` (which must be there) from the real chart's template `file`.
fn cut(chart: &Path, file: &str, line: &str) {
    let tpl = chart.join("templates").join(file);
    let text = std::fs::read_to_string(&tpl).expect("template");
    assert!(text.contains(line), "{} renders {line:?}", tpl.display());
    std::fs::write(&tpl, text.replacen(line, "", 1)).expect("write template");
}

#[test]
fn a_chart_that_loses_fields_is_caught_although_the_ledger_has_notes_nearby() {
    require_tools!();
    // The real chart, edited to lose the runtimeClassName, the subPath and the GPU limit. The
    // ledger's "reuse the existing claim" must not explain the subPath away, nor its notes on
    // what the chart adds in GPU mode (PATH, the toleration) the lost limit.
    let charts = RealCharts::unpack();
    let lossy = charts.dir("ollama");
    cut(&lossy, "deployment.yaml", "      runtimeClassName: {{ .Values.runtimeClassName | quote }}\n");
    cut(&lossy, "deployment.yaml", "              subPath: {{ .Values.persistentVolume.subPath }}\n");
    cut(&lossy, "deployment.yaml", "                  {{- $limits = merge $limits $gpuLimit }}\n");
    let dir = charts.arg("ollama");

    let repo = example_repo("home-infra");
    let r = run(&["convert", OLLAMA, "--chart-dir", &dir], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let section = render_section(&r.stdout);
    let line = section.lines().find(|l| l.contains("pod runtimeClassName")).unwrap_or_else(|| panic!("{section}"));
    assert!(line.contains("nvidia") && line.contains("dropped (unexplained)"), "{line}");
    let line = section.lines().find(|l| l.contains("volumeMount /root/.ollama")).unwrap_or_else(|| panic!("{section}"));
    assert!(line.contains("pvc nfs-ai-models subPath ollama") && line.contains("changed (unexplained)"), "{line}");
    let line = section.lines().find(|l| l.contains("resources.limits.nvidia.com/gpu")).unwrap_or_else(|| panic!("{section}"));
    assert!(line.contains("dropped (unexplained)"), "{line}");
    assert!(section.contains("3 unexplained difference(s) in the render:"), "{section}");

    let s = run(&["convert", OLLAMA, "--chart-dir", &dir, "--strict"], repo.path());
    assert_eq!(s.code, 1, "{}", s.stderr);
    assert!(s.stderr.contains("unexplained: ollama: pod runtimeClassName (dropped: nvidia → -)"), "{}", s.stderr);
    assert!(s.stderr.contains("unexplained: ollama: volumeMount /root/.ollama (changed: pvc nfs-ai-models subPath ollama → pvc nfs-ai-models)"), "{}", s.stderr);
    assert!(s.stderr.contains("unexplained: ollama: resources.limits.nvidia.com/gpu (dropped: 1 → -)"), "{}", s.stderr);
}

/// The configmap-envfrom fixture with open-webui's `env` override of OPENAI_API_BASE_URL removed:
/// the value now reaches the pod only through `envFrom` (the generated ConfigMap).
fn env_from_repo() -> tempfile::TempDir {
    let repo = fixture_repo("configmap-envfrom");
    let file = repo.path().join("kubernetes/apps/ai/open-webui/deployment.yaml");
    let text = std::fs::read_to_string(&file).expect("deployment");
    let env = "            - name: OPENAI_API_BASE_URL\n              value: http://litellm.ai.svc.cluster.local:4000/v1\n";
    assert!(text.contains(env), "{text}");
    std::fs::write(&file, text.replace(env, "")).expect("write");
    helmigrate_tests::git(repo.path(), &["commit", "-qam", "OPENAI_API_BASE_URL only through envFrom"]);
    repo
}

#[test]
fn an_env_from_value_the_chart_overrides_is_compared_as_the_pod_sees_it() {
    require_tools!();
    const WEBUI_FX: &str = "kubernetes/apps/ai/open-webui";
    let charts = RealCharts::unpack();
    let dir = charts.arg("open-webui");
    let repo = env_from_repo();

    // The profile puts the envFrom value into the chart's values (the chart's env would beat
    // envFrom): preserved.
    let r = run(&["convert", WEBUI_FX, "--render", "--strict", "--chart-dir", &dir, "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let plan = json(&r);
    let url = row(render_of(&plan, "open-webui"), "env OPENAI_API_BASE_URL").clone();
    assert_eq!((url["old"].as_str(), url["status"].as_str()), (Some("\"http://litellm:4000/v1\""), Some("preserved")), "{url}");

    // The mapping replaced by a --set to the chart's default: the pod would now get the chart's
    // env value over the ConfigMap's. The row shows the envFrom value it loses; the --set on
    // the very values path the row was mapped to is the ledger's reason (documented: "your
    // --set/--values"), so --strict passes.
    let set = "open-webui.openaiBaseApiUrl=https://api.openai.com/v1";
    let r = run(&["convert", WEBUI_FX, "--render", "--strict", "--chart-dir", &dir, "--set", set, "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let url = row(render_of(&json(&r), "open-webui"), "env OPENAI_API_BASE_URL").clone();
    assert_eq!((url["old"].as_str(), url["rendered"].as_str(), url["status"].as_str()),
        (Some("\"http://litellm:4000/v1\""), Some("\"https://api.openai.com/v1\""), Some("changed")), "{url}");
    assert_eq!(url["why"], format!("set by the user (--set {set})"), "{url}");

    // A chart that writes its own OPENAI_API_BASE_URL whatever the values say: the envFrom
    // value is overridden with no reason in the ledger.
    cut(&charts.dir("open-webui"), "workload-manager.yaml", "          value: {{ .Values.openaiBaseApiUrl | quote }}\n");
    let tpl = charts.dir("open-webui").join("templates/workload-manager.yaml");
    let text = std::fs::read_to_string(&tpl).expect("template");
    std::fs::write(&tpl, text.replacen("        - name: \"OPENAI_API_BASE_URL\"\n", "        - name: \"OPENAI_API_BASE_URL\"\n          value: \"https://api.openai.com/v1\"\n", 1)).expect("write");
    let r = run(&["convert", WEBUI_FX, "--render", "--strict", "--chart-dir", &dir], repo.path());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("unexplained: open-webui: env OPENAI_API_BASE_URL (changed: \"http://litellm:4000/v1\" → \"https://api.openai.com/v1\")"), "{}", r.stderr);
}

#[test]
fn duplicate_env_names_are_reported_with_the_value_kubernetes_uses() {
    require_tools!();
    let repo = ollama_repo(|w| {
        w["spec"]["template"]["spec"]["containers"][0]["env"] = serde_json::json!([
            { "name": "TZ", "value": "Europe/Berlin" }, { "name": "OLLAMA_KEEP_ALIVE", "value": "5m" }, { "name": "TZ", "value": "Europe/Paris" }]);
    }, &[]);
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let r = run(&["convert", "apps/ollama", "--chart-dir", &dir], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let section = render_section(&r.stdout);
    assert!(section.contains("env TZ is set 2 times in the old workload (container ollama): Kubernetes uses the last, \"Europe/Paris\""), "{section}");
    assert!(section.contains("env TZ is set 2 times in the rendered workload (container ollama): Kubernetes uses the last, \"Europe/Paris\""), "{section}");
    assert!(!section.contains("OLLAMA_KEEP_ALIVE is set"), "{section}");

    let j = json(&run(&["convert", "apps/ollama", "--chart-dir", &dir, "-o", "json"], repo.path()));
    let dups = render_of(&j, "ollama")["duplicateEnv"].as_array().expect("duplicateEnv").clone();
    let which: Vec<&str> = dups.iter().map(|d| d["workload"].as_str().unwrap()).collect();
    assert_eq!(which, ["old", "rendered"]);
    assert!(dups.iter().all(|d| d["name"] == "TZ" && d["count"] == 2));
}

fn failure_lines(r: &Run) -> Vec<String> {
    r.stdout.lines().chain(r.stderr.lines()).filter(|l| l.contains("failed to render")).map(str::to_string).collect()
}

#[test]
fn a_schema_violation_is_one_line_with_the_values_path_and_nothing_is_written() {
    require_tools!();
    let repo = example_repo("home-infra");
    let before = snapshot(repo.path());
    // Stand-in chart: neither real chart ships a values.schema.json, so only the stand-in
    // can show how helm's schema errors are reported.
    let dir = format!("ollama={}", stand_in("ollama"));
    let r = run(&["convert", OLLAMA, "--chart-dir", &dir, "--set", "ollama.ollama.gpu.number=many", "--set", "ollama.bogus=1", "--write"], repo.path());
    assert_ne!(r.code, 0, "{}", r.stdout);
    let lines = failure_lines(&r);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("failed to render chart ollama 1.39.0 with the generated values (values path ollama.gpu.number):"), "{}", lines[0]);
    assert!(lines[0].contains("got string, want integer"), "helm's message: {}", lines[0]);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert!(r.stdout.contains("values key bogus is not in the chart's values.yaml or schema"), "unread keys are said even when the render fails");
    assert!(!r.stdout.contains("render check: chart"), "no table for a render that failed");
    assert_eq!(snapshot(repo.path()), before);
}

#[test]
fn a_template_failure_is_one_line_with_the_values_path() {
    require_tools!();
    // The real open-webui chart `fail`s when OIDC has no client secret, naming the values.
    let charts = RealCharts::unpack();
    let repo = example_repo("home-infra");
    let dir = charts.arg("open-webui");
    let r = run(&["convert", WEBUI, "--chart-dir", &dir, "--set", "open-webui.sso.oidc.clientExistingSecret=", "-o", "json"], repo.path());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let plan = json(&r);
    let err = render_of(&plan, "open-webui")["error"].as_str().expect("render.error").to_string();
    assert!(err.starts_with("failed to render chart open-webui 10.2.1 with the generated values (values path sso.oidc.clientSecret): execution error at (open-webui/templates/"), "{err}");
    assert!(err.contains("You must provide either .Values.sso.oidc.clientSecret or .Values.sso.oidc.clientExistingSecret") && !err.contains('\n'), "{err}");
    assert!(render_of(&plan, "open-webui")["rows"].as_array().is_some_and(Vec::is_empty), "no rows for a render that failed");
    assert_eq!(plan["blocked"], true);
}

#[test]
fn values_keys_the_chart_never_reads_are_reported() {
    require_tools!();
    let repo = example_repo("home-infra");
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let r = run(&["convert", OLLAMA, "--chart-dir", &dir, "--set", "ollama.bogus=1", "--set", "ollama.ollama.gpuCount=2"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let section = render_section(&r.stdout);
    assert!(section.contains("values key bogus is not in the chart's values.yaml or schema: the chart never reads it"), "{section}");
    assert!(section.contains("values key ollama.gpuCount is not in the chart's values.yaml or schema: the chart never reads it"), "{section}");
    let j = json(&run(&["convert", OLLAMA, "--chart-dir", &dir, "--set", "ollama.bogus=1", "-o", "json"], repo.path()));
    assert_eq!(render_of(&j, "ollama")["unreadKeys"], serde_json::json!(["bogus"]), "known keys (podLabels.app, extraEnv, resources…) are not reported");
}

#[test]
fn a_rendered_service_port_that_differs_from_the_old_service_is_reported() {
    require_tools!();
    let repo = ollama_repo(|_| {}, &[]);
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let r = run(&["convert", "apps/ollama", "--chart-dir", &dir, "--set", "ollama.service.port=8080"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let section = render_section(&r.stdout);
    assert!(section.contains("the old Service ollama:11434 is rendered as ollama:8080"), "{section}");
    assert!(section.contains("run with --fix-routes to rewrite the backendRef, or keep the name with the chart's override key (fullnameOverride/nameOverride/service.port)"), "{section}");
    let line = section.lines().find(|l| l.contains("service ollama port")).expect("service row");
    assert!(line.contains("ollama:8080") && line.contains("changed") && !line.contains("unexplained"), "the --set explains it: {line}");
}

#[test]
fn an_httproute_to_a_service_the_render_lacks_is_reported() {
    require_tools!();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ollama\nspec:\n  rules:\n    - backendRefs:\n        - name: ollama\n          port: 11434\n";
    let repo = ollama_repo(|_| {}, &[("apps/ollama/route.yaml", route)]);
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let r = run(&["convert", "apps/ollama", "--chart-dir", &dir, "--set", "ollama.fullnameOverride=llm", "-o", "json"], repo.path());
    let plan = json(&r);
    let services = render_of(&plan, "ollama")["services"].as_array().expect("services").clone();
    let msg = services.iter().filter_map(Value::as_str).find(|m| m.starts_with("HTTPRoute ollama"))
        .unwrap_or_else(|| panic!("{services:#?}"));
    assert!(msg.contains("sends traffic to ollama:11434, but the render has Service llm:11434") && msg.contains("--fix-routes"), "{msg}");
    assert!(services.iter().any(|m| m.as_str().unwrap().starts_with("the old Service ollama:11434 is not in the render")), "{services:#?}");
}

#[test]
fn without_helm_or_with_no_render_there_is_no_render_section() {
    require_tools!();
    let repo = example_repo("home-infra");
    let empty = tempfile::tempdir().expect("dir");
    let path = empty.path().to_str().unwrap();
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");

    let r = run_env(&["convert", OLLAMA, "--chart-dir", &dir, "-o", "json"], repo.path(), &[("PATH", path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(render_of(&json(&r), "ollama").is_null(), "no helm on PATH: no render");
    assert!(!r.stdout.contains("render check") && !r.stderr.contains("render"), "{}", r.stderr);

    let n = run(&["convert", OLLAMA, "--chart-dir", &dir, "--no-render"], repo.path());
    assert_eq!(n.code, 0, "{}", n.stderr);
    assert!(!n.stdout.contains("render check"), "--no-render: no render");

    // Asking for it without helm is an error, and nothing is written.
    let before = snapshot(repo.path());
    let e = run_env(&["convert", OLLAMA, "--render", "--write"], repo.path(), &[("PATH", path)]);
    assert_eq!(e.code, 3, "{}", e.stderr);
    assert!(e.stderr.contains("failed to render the charts: helm was not found on PATH"), "{}", e.stderr);
    assert_eq!(snapshot(repo.path()), before);
}

/// A helm whose `pull` fails as it does offline; everything else goes to the real helm.
fn offline_helm(dir: &Path) -> PathBuf {
    let p = dir.join("helm");
    std::fs::write(&p, format!("#!/bin/sh\nif [ \"$1\" = pull ]; then\n  echo 'Error: looks like \"https://x/\" is not a valid chart repository or cannot be reached: dial tcp: lookup x: no such host' >&2\n  exit 1\nfi\nexec '{}' \"$@\"\n", helm().display())).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    p
}

#[test]
fn an_offline_pull_is_one_warning_unless_render_was_asked_for() {
    require_tools!();
    let tools = tempfile::tempdir().expect("dir");
    let fake = offline_helm(tools.path());
    let env = [("HELMIGRATE_HELM", fake.to_str().unwrap())];
    let repo = example_repo("home-infra");

    let r = run_env(&["convert", APPS], repo.path(), &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().chain(r.stderr.lines()).filter(|l| l.contains("render")).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("warning: render check skipped for ollama, open-webui: could not pull chart ollama 1.39.0"), "{}", lines[0]);
    assert!(lines[0].contains("no such host") && lines[0].contains("--chart-dir ollama=DIR"), "{}", lines[0]);

    // A chart folder still renders that app offline.
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let r = run_env(&["convert", APPS, "--chart-dir", &dir], repo.path(), &env);
    assert!(r.stdout.contains("render check: chart ollama") && r.stdout.contains("render check skipped for open-webui:"), "{}", r.stdout);

    let before = snapshot(repo.path());
    let e = run_env(&["convert", APPS, "--render", "--write"], repo.path(), &env);
    assert_ne!(e.code, 0);
    assert!(e.stderr.contains("failed to render ollama: could not pull chart ollama 1.39.0") && e.stderr.contains("--chart-dir ollama=DIR"), "{}", e.stderr);
    assert_eq!(snapshot(repo.path()), before, "--render that cannot render writes nothing");
}

#[test]
fn the_render_check_never_prints_secret_literals() {
    require_tools!();
    let repo = ollama_repo(|w| {
        w["spec"]["template"]["spec"]["containers"][0]["env"] = serde_json::json!([
            { "name": "WEBUI_SECRET_KEY", "value": "plantedsecret123" }, { "name": "TZ", "value": "Europe/Berlin" },
            { "name": "WEBUI_SECRET_KEY", "value": "plantedsecret123" }]);
    }, &[]);
    let charts = RealCharts::unpack();
    let dir = charts.arg("ollama");
    let t = run(&["convert", "apps/ollama", "--chart-dir", &dir, "--set", "ollama.bogus=1"], repo.path());
    assert_eq!(t.code, 0, "{}", t.stderr);
    let section = render_section(&t.stdout);
    assert!(section.contains("env WEBUI_SECRET_KEY") && section.contains("(literal, 16 chars, hidden)"), "{section}");
    assert!(section.contains("env WEBUI_SECRET_KEY is set 2 times"), "duplicates are reported without the value: {section}");
    assert!(!section.contains("plantedsecret123"), "{section}");
    assert!(!t.stderr.contains("plantedsecret123"));

    let j = json(&run(&["convert", "apps/ollama", "--chart-dir", &dir, "-o", "json"], repo.path()));
    let render = render_of(&j, "ollama");
    assert!(render.is_object());
    assert!(!render.to_string().contains("plantedsecret123"), "{render:#}");
}

#[test]
fn values_from_targets_render_with_a_placeholder_not_the_secret() {
    require_tools!();
    let repo = example_repo("home-infra");
    let charts = RealCharts::unpack();
    let dir = charts.arg("open-webui");
    let r = run(&["convert", "kubernetes/apps/base/ai/open-webui", "--render", "--strict", "--chart-dir", &dir, "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let plan = json(&r);
    let render = render_of(&plan, "open-webui");
    let id = row(render, "env OAUTH_CLIENT_ID");
    assert_eq!(id["old"], "secret open-webui-secrets/oauth-client-id");
    assert_eq!(id["rendered"], "<from Secret open-webui-secrets key oauth-client-id>");
    assert_eq!(id["unexplained"], false, "the ledger says why: {id}");
    assert_eq!(row(render, "env OAUTH_CLIENT_SECRET")["status"], "preserved");
    assert_eq!(row(render, "env OLLAMA_BASE_URL")["status"], "dropped");
    assert_eq!(row(render, "env OLLAMA_BASE_URLS")["status"], "added-by-chart");
    assert_eq!(row(render, "service open-webui port")["status"], "preserved");
    assert!(render["rows"].as_array().unwrap().iter().all(|r| r["unexplained"] == false), "{:#}", render["rows"]);
}

/// A stand-in helm script: `body` runs for every call, `$@` being helm's arguments.
fn fake_helm(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("helm");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    p
}

#[test]
fn a_pulled_chart_is_cached_by_repository_chart_and_version() {
    require_tools!();
    let tools = tempfile::tempdir().expect("dir");
    let charts = RealCharts::unpack();
    let calls = tools.path().join("pulls");
    // `pull` puts the unpacked real chart where helm would and counts the calls; the rest is real helm.
    let fake = fake_helm(tools.path(), &format!(
        "if [ \"$1\" = pull ]; then\n  echo \"$@\" >> '{calls}'\n  while [ $# -gt 0 ]; do [ \"$1\" = --untardir ] && dest=$2; shift; done\n  cp -R '{chart}' \"$dest/ollama\"\n  exit 0\nfi\nexec '{helm}' \"$@\"",
        calls = calls.display(), chart = charts.dir("ollama").display(), helm = helm().display()));
    let cache = tempfile::tempdir().expect("cache");
    let env = [("HELMIGRATE_HELM", fake.to_str().unwrap()), ("XDG_CACHE_HOME", cache.path().to_str().unwrap())];
    let repo = example_repo("home-infra");

    let first = run_env(&["convert", OLLAMA, "--render", "-o", "json"], repo.path(), &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let source = render_of(&json(&first), "ollama")["source"].as_str().unwrap().to_string();
    assert!(source.starts_with("pulled from https://otwld.github.io/ollama-helm/ into ") && source.contains("helmigrate/charts"), "{source}");
    let pulls = std::fs::read_to_string(&calls).expect("pull called");
    assert!(pulls.starts_with("pull ollama --repo https://otwld.github.io/ollama-helm/ --version 1.39.0 --untar"), "{pulls}");

    let second = run_env(&["convert", OLLAMA, "--render", "-o", "json"], repo.path(), &env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(render_of(&json(&second), "ollama")["source"].as_str().unwrap().starts_with("cached from "));
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1, "the second run uses the cache");
}

#[test]
fn a_hanging_helm_is_stopped_and_reported_in_one_line() {
    let tools = tempfile::tempdir().expect("dir");
    let fake = fake_helm(tools.path(), "sleep 30");
    let repo = example_repo("home-infra");
    // Stand-in chart: helm here is a script that hangs, the chart is never rendered.
    let dir = format!("ollama={}", stand_in("ollama"));
    bin("kubectl-helmigrate"); // built before the clock starts
    let started = std::time::Instant::now();
    let r = run_env(&["convert", OLLAMA, "--chart-dir", &dir], repo.path(), &[("HELMIGRATE_HELM", fake.to_str().unwrap()), ("HELMIGRATE_HELM_TIMEOUT", "1")]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the child was not killed");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines = failure_lines(&r);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("failed to render chart ollama 1.39.0 with the generated values: helm did not finish within 1 s and was stopped"), "{}", lines[0]);
}

#[test]
fn garbage_from_helm_is_a_render_failure_not_a_crash() {
    let tools = tempfile::tempdir().expect("dir");
    let fake = fake_helm(tools.path(), "printf 'kind: [\\n\\0\\001 ---\\n- - -\\n'");
    let repo = example_repo("home-infra");
    // Stand-in chart: helm here is a script printing garbage, the chart is never rendered.
    let dir = format!("ollama={}", stand_in("ollama"));
    let r = run_env(&["convert", OLLAMA, "--chart-dir", &dir, "-o", "json"], repo.path(), &[("HELMIGRATE_HELM", fake.to_str().unwrap())]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = render_of(&json(&r), "ollama")["error"].as_str().expect("error").to_string();
    assert!(err.starts_with("failed to render chart ollama 1.39.0 with the generated values: helm's output is not readable:"), "{err}");
}

#[test]
fn a_route_fixed_by_fix_routes_is_checked_where_it_now_points() {
    require_tools!();
    let repo = example_repo("home-infra");
    let charts = RealCharts::unpack();
    let webui = charts.arg("open-webui");
    let args = ["convert", APPS, "--chart-dir", &webui, "--set", "open-webui.nameOverride=chat", "--fix-routes", "-o", "json"];
    let plan = json(&run(&args, repo.path()));
    let services = render_of(&plan, "open-webui")["services"].to_string();
    assert!(!services.contains("HTTPRoute open-webui"), "the rewritten route reaches chat:80: {services}");
    // Without the rewrite the same render reports the route.
    let r = run(&["convert", APPS, "--chart-dir", &webui, "--set", "open-webui.nameOverride=chat", "-o", "json"], repo.path());
    assert!(render_of(&json(&r), "open-webui")["services"].to_string().contains("HTTPRoute open-webui"), "{}", r.stdout);
}

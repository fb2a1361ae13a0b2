//! Routes in front of a converted app must still reach it: a backend the chart's Service would
//! not match blocks the plan, and `--fix-routes` points HTTPRoutes and Ingresses at the chart's
//! Service with a lossless edit of only the backend's lines.

use helmigrate_tests::{example_repo, helmigrate, repo_from, snapshot};

const APPS: &str = "kubernetes/apps/base/ai";
const ROUTE: &str = "kubernetes/apps/base/ai/open-webui/httproute.yaml";

#[test]
fn a_renamed_service_blocks_until_fix_routes_rewrites_the_backend() {
    let repo = example_repo("home-infra");
    let before = snapshot(repo.path());
    let r = helmigrate(&["convert", APPS, "--set", "open-webui.nameOverride=chat", "--write"], repo.path());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("BLOCKING: HTTPRoute open-webui (kubernetes/apps/base/ai/open-webui/httproute.yaml:1) sends traffic to open-webui:80, but the chart's Service will be chat:80; rerun with --fix-routes"), "{}", r.stdout);
    assert_eq!(snapshot(repo.path()), before, "nothing written");

    let r = helmigrate(&["convert", APPS, "--set", "open-webui.nameOverride=chat", "--fix-routes", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("pointed it at chat:80 (--fix-routes)"), "{}", r.stdout);
    let old = String::from_utf8(before[ROUTE].clone()).unwrap();
    let new = std::fs::read_to_string(repo.path().join(ROUTE)).unwrap();
    assert_eq!(new, old.replace("        - name: open-webui\n", "        - name: chat\n"), "only the backend's name line changes");
}

#[test]
fn an_ingress_backend_by_port_name_gets_the_charts_service_and_port_number() {
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ollama\nspec:\n  selector:\n    matchLabels:\n      app: ollama\n  template:\n    metadata:\n      labels:\n        app: ollama\n    spec:\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.15.2\n";
    let svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ollama\nspec:\n  selector:\n    app: ollama\n  ports:\n    - name: http\n      port: 11434\n";
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ollama\nspec:\n  rules:\n    - host: llm.home.example\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: ollama # the API\n                port:\n                  name: http\n";
    let repo = repo_from(&[(".helmigrate.yaml", ""), ("apps/demo/kustomization.yaml", "namespace: ai\nresources:\n  - deploy.yaml\n  - svc.yaml\n  - ingress.yaml\n"),
        ("apps/demo/deploy.yaml", deploy), ("apps/demo/svc.yaml", svc), ("apps/demo/ingress.yaml", ingress)]);
    let r = helmigrate(&["convert", "apps/demo", "--set", "ollama.fullnameOverride=llm"], repo.path());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Ingress ollama (apps/demo/ingress.yaml:1) sends traffic to ollama:-, but the chart's Service will be llm:11434"), "{}", r.stdout);
    let r = helmigrate(&["convert", "apps/demo", "--set", "ollama.fullnameOverride=llm", "--fix-routes", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let new = std::fs::read_to_string(repo.path().join("apps/demo/ingress.yaml")).unwrap();
    assert_eq!(new, ingress.replace("name: ollama # the API\n                port:\n                  name: http\n", "name: llm # the API\n                port:\n                  number: 11434\n"));
}

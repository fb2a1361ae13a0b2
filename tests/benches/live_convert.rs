//! Live convert at scale: a namespace of the real test control plane holding 5,000 objects
//! (1,000 Deployments — 10% Ollama, 10% Open WebUI — 500 StatefulSets, 2,000 Services, 1,500
//! PVCs), timed against `kubectl get deploy,sts,svc,pvc -o yaml` of the same namespace. The render
//! check is off (`--no-render`): it runs helm per app and is not part of reading and planning.
//!
//!   cargo bench -p helmigrate-tests --bench live_convert
//!   HELMIGRATE_BENCH_OBJECTS=2000 … for a smaller run
//!
//! Workloads have replicas 0 and Services are headless (the test cluster's service range is a
//! /24), so the measurement is the API read and the plan, not kwok or IP allocation.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helmigrate_tests::{bin, testenv::shared};
use serde_json::{Value, json};

fn workload(kind: &str, i: usize) -> Value {
    let (image, env) = match i % 10 {
        0 => ("ollama/ollama:0.15.2", json!([{"name": "OLLAMA_KEEP_ALIVE", "value": "24h"}])),
        1 => ("ghcr.io/open-webui/open-webui:v0.7.2", json!([{"name": "OLLAMA_BASE_URL", "value": format!("http://llm-{i}:11434")},
            {"name": "WEBUI_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": format!("s-{i}"), "key": "k"}}}])),
        _ => ("registry.example/team/service:1.2.3", json!([{"name": "INDEX", "value": i.to_string()}])),
    };
    let name = format!("{}-{i}", kind.to_lowercase());
    let mut spec = json!({
        "replicas": 0,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {
            "containers": [{"name": "main", "image": image, "env": env, "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("pvc-{}", i % 1500)}}]}}
    });
    if kind == "StatefulSet" {
        spec["serviceName"] = json!(name);
    }
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

fn objects(total: usize) -> Vec<Value> {
    let (deploys, sts, svcs) = (total / 5, total / 10, total * 2 / 5);
    let pvcs = total - deploys - sts - svcs;
    let mut out = Vec::with_capacity(total);
    out.extend((0..deploys).map(|i| workload("Deployment", i)));
    out.extend((0..sts).map(|i| workload("StatefulSet", i)));
    out.extend((0..svcs).map(|i| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}")},
        "spec": {"clusterIP": "None", "selector": {"app": format!("deployment-{}", i % deploys.max(1))}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})));
    out.extend((0..pvcs).map(|i| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": format!("pvc-{i}")},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})));
    out
}

fn time(mut cmd: Command, runs: usize) -> (Vec<Duration>, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let out = cmd.stderr(Stdio::inherit()).output().expect("run");
        times.push(start.elapsed());
        assert!(out.status.success(), "{cmd:?} failed");
        bytes = out.stdout.len();
    }
    times.sort();
    (times, bytes)
}

fn main() {
    let total: usize = std::env::var("HELMIGRATE_BENCH_OBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let runs = 5;
    let env = shared();
    let ns = env.namespace("scale");
    let items = objects(total);
    // Create in chunks: one huge request would hit the apiserver's request size limit.
    let started = Instant::now();
    for (n, chunk) in items.chunks(500).enumerate() {
        let file = env.dir().join(format!("scale-{n}.json"));
        std::fs::write(&file, serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": chunk})).unwrap()).unwrap();
        env.kubectl_run(&["-n", &ns, "create", "-f", file.to_str().unwrap(), "-o", "name"]).expect("create objects");
    }
    eprintln!("created {total} objects in {:.1}s", started.elapsed().as_secs_f64());

    let kubeconfig = env.kubeconfig().to_str().unwrap().to_string();
    let mut ours = Command::new(bin("kubectl-helmigrate"));
    ours.args(["--kubeconfig", &kubeconfig, "convert", "-n", &ns, "-o", "json", "--no-render"]);
    let (mine, plan_bytes) = time(ours, runs);
    let mut theirs = env.kubectl();
    theirs.args(["get", "deploy,sts,svc,pvc", "-n", &ns, "-o", "yaml"]);
    let (kubectl, yaml_bytes) = time(theirs, runs);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    println!("machine: {} cores, {cpu}", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("namespace with {total} objects ({} Deployments, {} StatefulSets, {} Services, {} PVCs); {runs} runs each",
        total / 5, total / 10, total * 2 / 5, total - total / 5 - total / 10 - total * 2 / 5);
    println!("| command | best | median | output |");
    println!("|---|---|---|---|");
    println!("| `kubectl helmigrate convert -n NS -o json` | {:.0} ms | {:.0} ms | {} KiB plan |", ms(mine[0]), ms(mine[runs / 2]), plan_bytes / 1024);
    println!("| `kubectl get deploy,sts,svc,pvc -n NS -o yaml` | {:.0} ms | {:.0} ms | {} KiB |", ms(kubectl[0]), ms(kubectl[runs / 2]), yaml_bytes / 1024);
    println!("ratio (median): helmigrate is {:.1}x faster than kubectl get", ms(kubectl[runs / 2]) / ms(mine[runs / 2]));
}

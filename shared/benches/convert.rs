//! `cargo bench -p helmigrate --bench convert`
//!
//! Generates a GitOps tree of N app folders under one root kustomization (namespace set) —
//! 10% Ollama (StatefulSet, GPU limit, runtimeClassName nvidia, env, NFS claim mounted with a
//! subPath, Service), 10% Open WebUI (Deployment, literal + secretKeyRef + OIDC env, data claim,
//! Secret, Service, HTTPRoute), 80% unrelated Deployments + Services — in a temp dir with a
//! `.helmigrate.yaml` marker and a helm-repositories.yaml, then times the whole offline pipeline
//! (`plan::build`) beside `kubectl kustomize` of the same folder.
//!
//! Wall times are best and median of the runs; CPU is user + system time of all threads (of this
//! process for helmigrate, of the child for kubectl), which a busy machine inflates much less.
//! The load average is printed beside each size: above the core count, wall times are not
//! comparable with a quiet machine's.
//!
//! Environment:
//! - `HELMIGRATE_BENCH_SIZES=100,1000` — app counts (default `1000,2000`).
//! - `HELMIGRATE_BENCH_RUNS=7` — timed plan runs per size (default 7, at least 5).
//! - `HELMIGRATE_BENCH_KUSTOMIZE=0` — skip kubectl kustomize.
//! - `HELMIGRATE_BENCH_KUSTOMIZE_SECS=20` — keep repeating kubectl kustomize (up to 5 runs) while
//!   the runs so far took less than this.
//! - `HELMIGRATE_BENCH_KEEP=1` — keep the generated trees (their paths are printed).
//! - `HELMIGRATE_BENCH_FALLBACK=app-template` — convert the apps no profile knows too (every app).
//! - `KUBECTL=/path/to/kubectl` — kubectl to compare with (default `/usr/bin/kubectl`, then PATH).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helmigrate::model::collect_apps;
use helmigrate::plan::{self, Options};
use helmigrate::source::{self, repo};
use helmigrate::yaml::{parse_str, split_documents};

// ---------------------------------------------------------------------------------------------
// Deterministic variety (no rand dependency): splitmix64 seeded per app.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next());
        }
        s.truncate(len);
        s
    }
}

const WORDS: [&str; 40] = [
    "paperless", "vaultwarden", "homepage", "gitea", "grafana", "loki", "tempo", "mimir", "immich", "jellyfin",
    "radarr", "sonarr", "prowlarr", "bazarr", "lidarr", "readarr", "overseerr", "tautulli", "nextcloud", "miniflux",
    "linkding", "wallabag", "freshrss", "mealie", "tandoor", "actual", "firefly", "ghostfolio", "uptime", "gatus",
    "ntfy", "gotify", "mosquitto", "zigbee2mqtt", "esphome", "frigate", "scrypted", "node-red", "syncthing", "atuin",
];
const ROLES: [&str; 8] = ["api", "web", "worker", "proxy", "exporter", "sync", "scheduler", "gateway"];
const REGISTRIES: [&str; 6] = ["docker.io/library", "ghcr.io/home-ops", "quay.io/team", "lscr.io/linuxserver", "registry.example.com:5000/apps", "ghcr.io/onedr0p"];
const ENV_KEYS: [&str; 16] = [
    "LOG_LEVEL", "TZ", "PUID", "PGID", "DATABASE_URL", "REDIS_URL", "BASE_URL", "WORKERS", "CACHE_TTL", "FEATURE_FLAGS",
    "METRICS_PORT", "OTEL_EXPORTER_OTLP_ENDPOINT", "SMTP_HOST", "SMTP_PORT", "S3_BUCKET", "MAX_UPLOAD_MB",
];
const ZONES: [&str; 6] = ["Europe/Berlin", "UTC", "America/New_York", "Asia/Tokyo", "Europe/Paris", "Australia/Sydney"];

fn env_value(r: &mut Rng, key: &str, name: &str, i: usize) -> String {
    match key {
        "LOG_LEVEL" => r.pick(&["debug", "info", "warn", "error"]).to_string(),
        "TZ" => r.pick(&ZONES).to_string(),
        "PUID" | "PGID" => format!("\"{}\"", 1000 + r.below(100)),
        "DATABASE_URL" => format!("postgres://{name}@postgres-{}.db.svc:5432/{name}_{i}", r.below(4)),
        "REDIS_URL" => format!("redis://dragonfly.db.svc:6379/{}", r.below(16)),
        "BASE_URL" => format!("https://{name}.home.example"),
        "WORKERS" | "SMTP_PORT" | "METRICS_PORT" | "MAX_UPLOAD_MB" => format!("\"{}\"", 2 + r.below(9000)),
        "CACHE_TTL" => format!("{}m", 1 + r.below(120)),
        "FEATURE_FLAGS" => format!("{},{}", r.pick(&["beta", "search", "sso"]), r.pick(&["exports", "webhooks", "api-v2"])),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => format!("http://otel-collector.observability.svc:{}", 4317 + r.below(2)),
        "SMTP_HOST" => format!("smtp-{}.mail.example", r.below(3)),
        _ => format!("{name}-{}", r.hex(8)),
    }
}

// ---------------------------------------------------------------------------------------------
// The tree.

#[derive(Debug, Default, Clone, Copy)]
struct TreeStats {
    files: usize,
    /// Non-blank YAML documents in all files, kustomizations included.
    documents: usize,
    /// Of which kustomization.yaml files.
    kustomizations: usize,
    bytes: usize,
}

struct Gen {
    root: PathBuf,
    stats: TreeStats,
}

impl Gen {
    fn write(&mut self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("create dir");
        std::fs::write(&p, text).expect("write file");
        self.stats.files += 1;
        self.stats.bytes += text.len();
        self.stats.documents += split_documents(text).iter().filter(|d| !d.is_blank()).count();
        if rel.ends_with("kustomization.yaml") {
            self.stats.kustomizations += 1;
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ollama,
    OpenWebui,
    Other,
}

fn kind_of(i: usize) -> Kind {
    match i % 10 {
        0 => Kind::Ollama,
        5 => Kind::OpenWebui,
        _ => Kind::Other,
    }
}

fn app_name(i: usize) -> String {
    match kind_of(i) {
        Kind::Ollama => format!("ollama-{i:05}"),
        Kind::OpenWebui => format!("open-webui-{i:05}"),
        Kind::Other => format!("{}-{}-{i:05}", WORDS[i % WORDS.len()], ROLES[(i / WORDS.len()) % ROLES.len()]),
    }
}

fn kustomization(resources: &[&str], namespace: Option<&str>) -> String {
    let mut s = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n");
    if let Some(ns) = namespace {
        let _ = writeln!(s, "namespace: {ns}");
    }
    s.push_str("resources:\n");
    for r in resources {
        let _ = writeln!(s, "  - {r}");
    }
    s
}

fn service(name: &str, selector: (&str, &str), port: u64, target: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  labels:\n    {k}: {v}\nspec:\n  selector:\n    {k}: {v}\n  ports:\n    - name: http\n      port: {port}\n      targetPort: {target}\n",
        k = selector.0,
        v = selector.1,
    )
}

fn other_app(g: &mut Gen, dir: &str, name: &str, i: usize, r: &mut Rng) {
    let word = WORDS[i % WORDS.len()];
    let registry = r.pick(&REGISTRIES);
    let image = if r.chance(5) {
        format!("{registry}/{word}:{}.{}@sha256:{}", r.below(5), r.below(30), r.hex(64))
    } else {
        format!("{registry}/{word}:v{}.{}.{}", r.below(5), r.below(30), r.below(20))
    };
    let marker = if r.chance(30) { format!(" # {{\"$imagepolicy\": \"flux-system:{name}\"}}") } else { String::new() };
    let port = [80, 3000, 5000, 8000, 8080, 8096, 9000][r.below(7) as usize] + r.below(3);
    let replicas = 1 + r.below(3);
    let cpu = 10 * (1 + r.below(50));
    let mem = 64 * (1 + r.below(32));

    let mut d = String::new();
    let _ = write!(d, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: {word}\n");
    let _ = write!(d, "spec:\n  replicas: {replicas}\n  revisionHistoryLimit: {}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {name}\n", 2 + r.below(5));
    let _ = write!(d, "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {name}\n        app.kubernetes.io/part-of: {word}\n");
    if r.chance(40) {
        let _ = write!(d, "      annotations:\n        checksum/config: \"{}\"\n", r.hex(40));
    }
    d.push_str("    spec:\n");
    if r.chance(50) {
        let _ = write!(d, "      securityContext:\n        runAsUser: {u}\n        runAsGroup: {u}\n        fsGroup: {u}\n", u = 1000 + r.below(1000));
    }
    let _ = write!(d, "      containers:\n        - name: {}\n          image: {image}{marker}\n", ROLES[(i / WORDS.len()) % ROLES.len()]);
    if r.chance(20) {
        let _ = write!(d, "          args:\n            - --port={port}\n            - --log-format={}\n", r.pick(&["json", "text"]));
    }
    let _ = write!(d, "          ports:\n            - name: http\n              containerPort: {port}\n");
    let nenv = 1 + r.below(8) as usize;
    let start = r.below(ENV_KEYS.len() as u64) as usize;
    d.push_str("          env:\n");
    for k in 0..nenv {
        let key = ENV_KEYS[(start + k) % ENV_KEYS.len()];
        let _ = write!(d, "            - name: {key}\n              value: {}\n", env_value(r, key, name, i));
    }
    if r.chance(25) {
        let _ = write!(d, "            - name: API_TOKEN\n              valueFrom:\n                secretKeyRef:\n                  name: {name}-secret\n                  key: token\n");
    }
    if r.chance(15) {
        d.push_str("            - name: POD_IP\n              valueFrom:\n                fieldRef:\n                  fieldPath: status.podIP\n");
    }
    let _ = write!(d, "          resources:\n            requests:\n              cpu: {cpu}m\n              memory: {mem}Mi\n            limits:\n              memory: {}Mi\n", mem * 2);
    if r.chance(60) {
        let _ = write!(d, "          readinessProbe:\n            httpGet:\n              path: {}\n              port: http\n            periodSeconds: {}\n", r.pick(&["/healthz", "/ready", "/api/health", "/"]), 5 + r.below(25));
    }
    if r.chance(30) {
        let _ = write!(d, "          volumeMounts:\n            - name: config\n              mountPath: /config\n      volumes:\n        - name: config\n          configMap:\n            name: {name}-config\n");
    }
    g.write(&format!("{dir}/deployment.yaml"), &d);
    g.write(&format!("{dir}/service.yaml"), &service(name, ("app.kubernetes.io/name", name), [80, 8080, port][r.below(3) as usize], "http"));
    g.write(&format!("{dir}/kustomization.yaml"), &kustomization(&["deployment.yaml", "service.yaml"], None));
}

fn ollama_app(g: &mut Gen, dir: &str, name: &str, r: &mut Rng) {
    let marker = if r.chance(50) { format!(" # {{\"$imagepolicy\": \"flux-system:{name}\"}}") } else { String::new() };
    let mut s = format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  serviceName: {name}\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      runtimeClassName: nvidia\n      containers:\n        - name: ollama\n          image: ollama/ollama:0.{}.{}{marker}\n          ports:\n            - name: http\n              containerPort: 11434\n          env:\n            - name: TZ\n              value: {}\n            - name: OLLAMA_NUM_PARALLEL\n              value: \"{}\"\n            - name: OLLAMA_MAX_LOADED_MODELS\n              value: \"{}\"\n            - name: OLLAMA_KEEP_ALIVE\n              value: {}h\n",
        5 + r.below(11),
        r.below(10),
        r.pick(&ZONES),
        1 + r.below(4),
        1 + r.below(3),
        1 + r.below(48),
    );
    if r.chance(50) {
        s.push_str("            - name: OLLAMA_FLASH_ATTENTION\n              value: \"1\"\n");
    }
    let _ = write!(
        s,
        "          resources:\n            requests:\n              memory: {}Mi\n            limits:\n              memory: {}Gi\n              nvidia.com/gpu: {}\n          volumeMounts:\n            - name: models\n              mountPath: /root/.ollama\n              subPath: {name}\n      volumes:\n        - name: models\n          persistentVolumeClaim:\n            claimName: nfs-ai-models\n",
        100 * (1 + r.below(8)),
        8 * (1 + r.below(8)),
        1 + r.below(2),
    );
    g.write(&format!("{dir}/statefulset.yaml"), &s);
    g.write(&format!("{dir}/service.yaml"), &service(name, ("app", name), 11434, "http"));
    g.write(&format!("{dir}/kustomization.yaml"), &kustomization(&["statefulset.yaml", "service.yaml"], None));
}

fn open_webui_app(g: &mut Gen, dir: &str, name: &str, ollama: &str, r: &mut Rng) {
    let marker = if r.chance(50) { format!(" # {{\"$imagepolicy\": \"flux-system:{name}\"}}") } else { String::new() };
    let secret = format!("{name}-secrets");
    let mut d = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  replicas: 1\n  strategy:\n    type: Recreate\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      securityContext:\n        fsGroup: 1000\n        fsGroupChangePolicy: OnRootMismatch\n      containers:\n        - name: open-webui\n          image: ghcr.io/open-webui/open-webui:v0.{}.{}{marker}\n          ports:\n            - name: http\n              containerPort: 8080\n          env:\n            - name: OLLAMA_BASE_URL\n              value: http://{ollama}:11434\n            - name: ENABLE_IMAGE_GENERATION\n              value: \"{}\"\n            - name: WEBUI_NAME\n              value: Chat {}\n            - name: WEBUI_SECRET_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: {secret}\n                  key: webui-secret-key\n",
        5 + r.below(3),
        r.below(10),
        r.chance(50),
        r.hex(6),
    );
    if r.chance(80) {
        let _ = write!(
            d,
            "            # OIDC against the home Authentik.\n            - name: OPENID_PROVIDER_URL\n              value: https://auth-{}.home.example/application/o/{name}/.well-known/openid-configuration\n            - name: OAUTH_CLIENT_ID\n              valueFrom:\n                secretKeyRef:\n                  name: {secret}\n                  key: oauth-client-id\n            - name: OAUTH_CLIENT_SECRET\n              valueFrom:\n                secretKeyRef:\n                  name: {secret}\n                  key: oauth-client-secret\n            - name: OAUTH_SCOPES\n              value: {}\n            - name: ENABLE_OAUTH_SIGNUP\n              value: \"{}\"\n",
            r.below(3),
            r.pick(&["openid email profile", "openid email profile groups", "openid email"]),
            r.chance(50),
        );
    }
    let _ = write!(
        d,
        "          resources:\n            requests:\n              cpu: {}m\n              memory: {}Mi\n            limits:\n              memory: {}Gi\n          volumeMounts:\n            - name: data\n              mountPath: /app/backend/data\n      volumes:\n        - name: data\n          persistentVolumeClaim:\n            claimName: {name}-data\n",
        50 * (1 + r.below(10)),
        256 * (1 + r.below(4)),
        1 + r.below(4),
    );
    g.write(&format!("{dir}/deployment.yaml"), &d);
    g.write(&format!("{dir}/service.yaml"), &service(name, ("app", name), 80, "8080"));
    g.write(
        &format!("{dir}/httproute.yaml"),
        &format!("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\nspec:\n  parentRefs:\n    - name: internal\n      namespace: networking\n  hostnames:\n    - chat-{}.home.example\n  rules:\n    - backendRefs:\n        - name: {name}\n          port: 80\n", r.hex(6)),
    );
    g.write(
        &format!("{dir}/pvc.yaml"),
        &format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}-data\nspec:\n  accessModes:\n    - ReadWriteOnce\n  storageClassName: {}\n  resources:\n    requests:\n      storage: {}Gi\n", r.pick(&["longhorn", "ceph-block", "local-path"]), 5 * (1 + r.below(10))),
    );
    g.write(
        &format!("{dir}/secret.yaml"),
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\ntype: Opaque\nstringData:\n  webui-secret-key: {}\n  oauth-client-id: {name}\n  oauth-client-secret: {}\n", r.hex(32), r.hex(48)),
    );
    g.write(&format!("{dir}/kustomization.yaml"), &kustomization(&["secret.yaml", "pvc.yaml", "deployment.yaml", "service.yaml", "httproute.yaml"], None));
}

/// Write the tree for `n` apps under `root`; returns the folder to convert and the tree's size.
fn generate(root: &Path, n: usize) -> (PathBuf, TreeStats) {
    let mut g = Gen { root: root.to_path_buf(), stats: TreeStats::default() };
    g.write(".helmigrate.yaml", "# helmigrate benchmark tree\n");
    g.write(
        "kubernetes/infrastructure/controllers/helm-repositories.yaml",
        "# Helm chart sources for the whole cluster.\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: bjw-s\n  namespace: flux-system\nspec:\n  interval: 2h\n  url: https://bjw-s-labs.github.io/helm-charts\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: jetstack\n  namespace: flux-system\nspec:\n  interval: 2h\n  url: https://charts.jetstack.io\n",
    );
    g.write("kubernetes/infrastructure/controllers/kustomization.yaml", &kustomization(&["helm-repositories.yaml"], None));
    g.write(
        "clusters/home/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./kubernetes/apps/bench\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    );
    let base = "kubernetes/apps/bench";
    g.write(&format!("{base}/namespace.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n");
    g.write(
        &format!("{base}/storage.yaml"),
        "# Models live on the NAS so every GPU app shares one copy.\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: nfs-ai-models\nspec:\n  accessModes:\n    - ReadWriteMany\n  storageClassName: nfs-client\n  resources:\n    requests:\n      storage: 2Ti\n",
    );
    let names: Vec<String> = (0..n).map(app_name).collect();
    let mut listed: Vec<&str> = vec!["namespace.yaml", "storage.yaml"];
    listed.extend(names.iter().map(String::as_str));
    g.write(&format!("{base}/kustomization.yaml"), &kustomization(&listed, Some("bench")));
    for (i, name) in names.iter().enumerate() {
        let mut r = Rng::new(i as u64 + 1);
        let dir = format!("{base}/{name}");
        match kind_of(i) {
            Kind::Ollama => ollama_app(&mut g, &dir, name, &mut r),
            Kind::OpenWebui => open_webui_app(&mut g, &dir, name, &names[i - 5], &mut r),
            Kind::Other => other_app(&mut g, &dir, name, i, &mut r),
        }
    }
    (root.join(base), g.stats)
}

// ---------------------------------------------------------------------------------------------
// Measuring.

fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn best(xs: &[Duration]) -> Duration {
    xs.iter().copied().min().unwrap_or_default()
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 { format!("{s:.2} s") } else { format!("{:.0} ms", s * 1e3) }
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// CPU time (user + system) from /proc/self/stat, in 10 ms ticks: (this process with all its
/// threads, its waited-for children).
fn cpu_times() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let f: Vec<u64> = stat.rsplit_once(')')?.1.split_whitespace().skip(11).take(4).map(|x| x.parse().unwrap_or(0)).collect();
    let tick = |t: u64| Duration::from_millis(t * 10);
    Some((tick(f.first()? + f.get(1)?), tick(f.get(2)? + f.get(3)?)))
}

/// The 1-minute load average.
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed(), out)
}

fn kubectl() -> Option<PathBuf> {
    let given = std::env::var_os("KUBECTL").map(PathBuf::from);
    [given, Some(PathBuf::from("/usr/bin/kubectl"))].into_iter().flatten().find(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kubectl")).find(|p| p.is_file()))
    })
}

fn kubectl_version(k: &Path) -> String {
    Command::new(k)
        .args(["version", "--client"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::trim).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|| "unknown version".into())
}

/// One `kubectl kustomize` of `dir`, output discarded: (wall, CPU), or None (with a note).
fn kustomize_once(k: &Path, dir: &Path) -> Option<(Duration, Option<Duration>)> {
    let c0 = cpu_times();
    let (wall, out) = time(|| Command::new(k).arg("kustomize").arg(dir).stdout(Stdio::null()).stderr(Stdio::piped()).output());
    let cpu = c0.zip(cpu_times()).map(|((_, a), (_, b))| b.saturating_sub(a));
    match out {
        Ok(o) if o.status.success() => Some((wall, cpu)),
        Ok(o) => {
            println!("  note: kubectl kustomize failed ({}), not compared: {}", o.status, String::from_utf8_lossy(&o.stderr).trim());
            None
        }
        Err(e) => {
            println!("  note: could not run {}, not compared: {e}", k.display());
            None
        }
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| l.strip_prefix(name).filter(|r| r.trim_start().starts_with(':')).map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()))
    };
    let model = field("model name").unwrap_or_else(|| "unknown CPU".into());
    let mhz = field("cpu MHz").and_then(|m| m.parse::<f64>().ok()).map(|m| format!(" @ {m:.0} MHz")).unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0);
    format!("{} cores (nproc), {model}{mhz}, {:.1} GiB memory", cores(), mem_kb as f64 / (1024.0 * 1024.0))
}

struct Kustomize {
    best: Duration,
    median: Duration,
    cpu: Option<Duration>,
    runs: usize,
}

struct Row {
    apps: usize,
    stats: TreeStats,
    converted: usize,
    plan_best: Duration,
    plan_median: Duration,
    plan_cpu: Option<Duration>,
    /// Stages, medians: find root + follow kustomizations + read and parse on all cores; grouping.
    load: Duration,
    collect: Duration,
    /// One-thread parse of the resource files and of the kustomization files.
    parse_resources: Duration,
    parse_kustomizations: Duration,
    load_avg: (Option<f64>, Option<f64>),
    kustomize: Option<Kustomize>,
}

fn bench_size(n: usize, runs: usize, kubectl: Option<&Path>, kustomize_budget: Duration) -> Row {
    let tmp = tempfile::Builder::new().prefix("helmigrate-bench-").tempdir().expect("temp dir");
    let (dir, stats) = generate(tmp.path(), n);
    println!(
        "\n## {n} apps: {} files, {} documents ({} kustomizations), {:.2} MB in {}",
        stats.files, stats.documents, stats.kustomizations, mb(stats.bytes), tmp.path().display()
    );

    // Warm-up, and a check that the plan is the one the tree was built for. With
    // HELMIGRATE_BENCH_FALLBACK=app-template every other app converts too.
    let fallback = std::env::var("HELMIGRATE_BENCH_FALLBACK").ok().filter(|f| !f.is_empty());
    let opts = Options { fallback: fallback.clone(), ..Options::default() };
    let (first, plan) = time(|| plan::build(&dir, &opts));
    let plan = plan.unwrap_or_else(|e| panic!("plan::build failed: {e}"));
    let converted = if fallback.is_some() { n } else { (0..n).filter(|i| kind_of(*i) != Kind::Other).count() };
    assert_eq!(plan.apps.len(), converted, "converted apps");
    assert_eq!(plan.skipped.len(), n - converted, "skipped apps");
    let blocked = plan.apps.iter().filter(|a| a.blocked()).count();
    println!(
        "  warm-up: {} ({} apps planned, {blocked} blocked, {} skipped, {} file changes)",
        secs(first), plan.apps.len(), plan.skipped.len(), plan.files.len()
    );
    drop(plan);

    // The whole pipeline, as the CLI runs it (the plan is dropped outside the timer).
    let load_before = loadavg();
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..runs {
        let c0 = cpu_times();
        let (d, p) = time(|| plan::build(&dir, &opts));
        if let (Some((a, _)), Some((b, _))) = (c0, cpu_times()) {
            cpus.push(b.saturating_sub(a));
        }
        drop(p.expect("plan"));
        walls.push(d);
    }
    let plan_cpu = (!cpus.is_empty()).then(|| median(&cpus));
    println!(
        "  plan::build x{runs}: best {}, median {}, CPU median {}  [{} ms]",
        secs(best(&walls)), secs(median(&walls)), plan_cpu.map_or("?".into(), secs),
        walls.iter().map(|d| format!("{:.0}", d.as_secs_f64() * 1e3)).collect::<Vec<_>>().join(" ")
    );

    // Stages: load, collect_apps, and one-thread parses (serde-saphyr into serde_json::Value).
    let (mut loads, mut collects, mut parses, mut kparses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.min(5) {
        let (dl, tree) = time(|| {
            let root = repo::find_root(&dir).expect("root");
            source::load(&root, &dir).expect("load")
        });
        loads.push(dl);
        let (dc, apps) = time(|| collect_apps(&tree).expect("collect"));
        collects.push(dc);
        drop(apps);
        let (kustomizations, resources): (Vec<_>, Vec<_>) = tree.files.iter().partition(|(p, _)| p.ends_with("kustomization.yaml"));
        let (dp, count) = time(|| resources.iter().map(|(p, f)| repo::parse_objects(p, &f.text, 0, &None).expect("parse").0.len()).sum::<usize>());
        assert_eq!(count, tree.objects.len());
        parses.push(dp);
        let (dk, ok) = time(|| kustomizations.iter().all(|(p, f)| parse_str(p, &f.text).is_ok()));
        assert!(ok);
        kparses.push(dk);
    }
    let load_after = loadavg();
    let (load, collect) = (median(&loads), median(&collects));
    let (parse_resources, parse_kustomizations) = (median(&parses), median(&kparses));
    println!(
        "  stages (median): load {} | collect_apps {} | rest (Sources::scan, per-app planning) {}",
        secs(load), secs(collect), secs(median(&walls).saturating_sub(load + collect))
    );
    println!(
        "  one-thread parse: resources {} ({:.1} MB/s), kustomizations {}",
        secs(parse_resources), mb(stats.bytes) / parse_resources.as_secs_f64(), secs(parse_kustomizations)
    );
    if let (Some(a), Some(b)) = (load_before, load_after) {
        let busy = if a.max(b) > cores() as f64 + 0.5 { ": the machine is busy with other work, wall times are inflated" } else { "" };
        println!("  load average {a:.2} → {b:.2} on {} cores{busy}", cores());
    }

    let kustomize = kubectl.and_then(|k| {
        let (mut walls, mut cpus) = (Vec::new(), Vec::new());
        let started = Instant::now();
        // At least one run; more while they are quick.
        while walls.len() < 5 && (walls.is_empty() || started.elapsed() < kustomize_budget) {
            let (w, c) = kustomize_once(k, &dir)?;
            walls.push(w);
            cpus.extend(c);
        }
        let cpu = (!cpus.is_empty()).then(|| median(&cpus));
        println!(
            "  kubectl kustomize x{}: best {}, median {}, CPU median {}",
            walls.len(), secs(best(&walls)), secs(median(&walls)), cpu.map_or("?".into(), secs)
        );
        Some(Kustomize { best: best(&walls), median: median(&walls), cpu, runs: walls.len() })
    });

    if std::env::var("HELMIGRATE_BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("  kept {}", tmp.keep().display());
    }
    Row {
        apps: n, stats, converted, plan_best: best(&walls), plan_median: median(&walls), plan_cpu,
        load, collect, parse_resources, parse_kustomizations, load_avg: (load_before, load_after), kustomize,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("HELMIGRATE_BENCH_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .filter(|x| !x.trim().is_empty())
                .map(|x| x.trim().parse().expect("HELMIGRATE_BENCH_SIZES: comma-separated app counts, e.g. 100,1000"))
                .collect()
        })
        .unwrap_or_else(|| vec![1000, 2000]);
    let runs: usize = std::env::var("HELMIGRATE_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(7).max(5);
    let budget = Duration::from_secs(std::env::var("HELMIGRATE_BENCH_KUSTOMIZE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20));
    let skip_kustomize = std::env::var("HELMIGRATE_BENCH_KUSTOMIZE").is_ok_and(|v| v == "0");
    let kubectl = if skip_kustomize { None } else { kubectl() };
    let kubectl_note = match (&kubectl, skip_kustomize) {
        (Some(k), _) => format!("`{}` ({})", k.display(), kubectl_version(k)),
        (None, true) => "skipped (HELMIGRATE_BENCH_KUSTOMIZE=0)".into(),
        (None, false) => "skipped: no kubectl at $KUBECTL, /usr/bin/kubectl or on PATH".into(),
    };

    println!("# helmigrate convert benchmark");
    println!("machine: {}", machine());
    println!("kubectl kustomize: {kubectl_note}");

    let rows: Vec<Row> = sizes.iter().map(|&n| bench_size(n, runs, kubectl.as_deref(), budget)).collect();

    // The table for the README.
    println!("\n### Results\n");
    println!("Machine: {}. kubectl kustomize: {kubectl_note}.", machine());
    let busiest = rows.iter().flat_map(|r| [r.load_avg.0, r.load_avg.1]).flatten().fold(0.0_f64, f64::max);
    if busiest > cores() as f64 + 0.5 {
        println!("Measured while the machine was busy (load average up to {busiest:.1} on {} cores): wall times are inflated, CPU times much less.", cores());
    }
    println!();
    println!("| apps | files | documents | size | `plan::build` best | median ({}) | CPU | µs / app | `kubectl kustomize` | CPU | speed-up |", runs);
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (kwall, kcpu, ratio) = match &r.kustomize {
            Some(k) => (
                format!("{} ({} run{})", secs(k.best), k.runs, if k.runs == 1 { "" } else { "s" }),
                k.cpu.map_or("?".into(), secs),
                format!("{:.0}×", k.best.as_secs_f64() / r.plan_best.as_secs_f64()),
            ),
            None => ("—".into(), "—".into(), "—".into()),
        };
        println!(
            "| {} | {} | {} | {:.2} MB | {} | {} | {} | {:.0} | {kwall} | {kcpu} | {ratio} |",
            r.apps, r.stats.files, r.stats.documents, mb(r.stats.bytes), secs(r.plan_best), secs(r.plan_median),
            r.plan_cpu.map_or("?".into(), secs), r.plan_median.as_secs_f64() * 1e6 / r.apps as f64,
        );
    }
    println!("\nSpeed-up: best against best, wall time. Documents include one kustomization.yaml per app.");

    println!("\nWhere `plan::build` goes (medians; load = find the root, follow the kustomizations, read and parse the files on all cores; rest = `Sources::scan` and planning the converted apps):\n");
    println!("| apps | converted | load | `collect_apps` | rest | one-thread parse of resources | of kustomizations |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} ({:.1} MB/s) | {} |",
            r.apps, r.converted, secs(r.load), secs(r.collect), secs(r.plan_median.saturating_sub(r.load + r.collect)),
            secs(r.parse_resources), mb(r.stats.bytes) / r.parse_resources.as_secs_f64(), secs(r.parse_kustomizations)
        );
    }

    // Scaling: time per app between consecutive sizes (1.00 = linear).
    if rows.len() > 1 {
        println!("\nScaling, time per app of the larger size over the smaller (1.00 is linear; a doubling that is quadratic gives 2.00):\n");
        let per = |d: Duration, n: usize| d.as_secs_f64() / n as f64;
        for w in rows.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let mut line = format!(
                "- {} → {} apps: `plan::build` {:.0} → {:.0} µs per app ({:.2}×)",
                a.apps, b.apps, per(a.plan_median, a.apps) * 1e6, per(b.plan_median, b.apps) * 1e6,
                per(b.plan_median, b.apps) / per(a.plan_median, a.apps)
            );
            if let (Some(ca), Some(cb)) = (a.plan_cpu, b.plan_cpu) {
                let _ = write!(line, ", CPU {:.2}×", per(cb, b.apps) / per(ca, a.apps));
            }
            if let (Some(ka), Some(kb)) = (&a.kustomize, &b.kustomize) {
                let _ = write!(
                    line, "; `kubectl kustomize` {:.1} → {:.1} ms per app ({:.2}×)",
                    per(ka.median, a.apps) * 1e3, per(kb.median, b.apps) * 1e3, per(kb.median, b.apps) / per(ka.median, a.apps)
                );
            }
            println!("{line}");
        }
    }
}

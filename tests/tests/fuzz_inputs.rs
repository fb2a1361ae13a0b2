//! The fuzz harnesses of `fuzz/` run on stable: a bounded, deterministic mutation test. Inputs
//! are the example repo's files, mutated by a seeded xorshift generator; the properties are the
//! harnesses' own (no panic, one-line errors, writes only inside the repo, lossless splits,
//! emitter round trips). `scripts/fuzz` runs the coverage-guided fuzzer where nightly Rust is
//! available and this test, longer, where it is not.
//!
//! FUZZ_ITERATIONS (default 2000), FUZZ_SECONDS (run for that long instead, per target) and
//! FUZZ_SEED (default fixed) tune a run; a failure prints the seed, the iteration and the input
//! so it can be replayed.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use helmigrate_tests::workspace;

/// xorshift64*: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Tokens that steer mutations towards the interesting corners of YAML and kustomize.
const TOKENS: &[&str] = &[
    "---\n", "--- ", "...\n", "\n", "\r\n", "  ", "- ", ": ", "? ", "&a ", "*a", "&b [*a,*a,*a,*a]", "<<: *a\n", "!!map ", "!!str ",
    "|\n", ">-\n", "{", "}", "[", "]", ",", "\"", "'", "#", "%YAML 1.2\n", "\u{feff}", "\t", "\0", "\\", "~", "null", "yes", "0x1F",
    "1e400", "-.inf", "../", "../../", "./", "/etc/passwd", "https://example.com/x?ref=v1", "git@example.com:a/b.git", ".",
    "apiVersion: apps/v1\n", "apiVersion: apps/v2\n", "kind: Deployment\n", "kind: StatefulSet\n", "kind: Service\n",
    "kind: HelmRelease\n", "kind: HelmRepository\n", "kind: Secret\n", "kind: List\nitems: []\n", "metadata:\n  name: ollama\n",
    "  namespace: ai\n", "image: ollama/ollama:0.15.2", "image: ghcr.io/open-webui/open-webui:v0.7.2", "resources:\n  - a.yaml\n",
    "  - b.yaml\n", "  - ../app\n", "namespace: ai\n", "patches: []\n", "sops:\n  mac: x\n", "containerPort: 11434",
    "name: ../../../x", "\u{0}\u{1}", "é", "\u{2028}",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => {
                let end = (at + 1 + rng.below(32)).min(len);
                input.drain(at.min(len - 1)..end);
            }
            2 => input.splice(at..at, rng.pick(TOKENS).bytes()).for_each(drop),
            3 if len > 0 => {
                // Duplicate a range (repeated keys, documents, list items).
                let start = at.min(len - 1);
                let end = (start + 1 + rng.below(200)).min(len);
                let copy = input[start..end].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, copy).for_each(drop);
            }
            4 => {
                // Splice in a piece of another input.
                let other = rng.pick(pool);
                if !other.is_empty() {
                    let s = rng.below(other.len());
                    let e = (s + 1 + rng.below(300)).min(other.len());
                    input.splice(at..at, other[s..e].iter().copied()).for_each(drop);
                }
            }
            5 => {
                // Change the indentation of a line.
                let line_start = input[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                if rng.below(2) == 0 {
                    input.insert(line_start, b' ');
                } else if input.get(line_start) == Some(&b' ') {
                    input.remove(line_start);
                }
            }
            6 => input.insert(at, rng.below(256) as u8),
            _ => input.splice(at..at, rng.pick(TOKENS).bytes()).for_each(drop),
        }
    }
    input.truncate(64 * 1024);
}

fn example(rel: &str) -> Vec<u8> {
    let p = workspace().join("examples/home-infra").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// `plan_tree` seeds: each example app as kustomization, workload and the rest, with a parent.
fn tree_seeds() -> Vec<Vec<u8>> {
    let k = b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - a.yaml\n  - b.yaml\n".to_vec();
    let parent = b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ai\nresources:\n  - app\n".to_vec();
    let base = "kubernetes/apps/base/ai";
    let apps: [(&str, &[&str]); 3] = [
        ("ollama/statefulset.yaml", &["ollama/service.yaml"]),
        ("open-webui/deployment.yaml", &["open-webui/service.yaml", "open-webui/httproute.yaml", "open-webui/secret.enc.yaml"]),
        ("comfyui/deployment.yaml", &["comfyui/service.yaml"]),
    ];
    let mut seeds = Vec::new();
    for (workload, rest) in apps {
        let mut others = Vec::new();
        for r in rest {
            if !others.is_empty() {
                others.extend_from_slice(b"---\n");
            }
            others.extend(example(&format!("{base}/{r}")));
        }
        let parts = [k.clone(), example(&format!("{base}/{workload}")), others];
        seeds.push(parts.join(&0u8));
        let mut with_parent = parts.to_vec();
        with_parent.push(parent.clone());
        seeds.push(with_parent.join(&0u8));
    }
    let sources = example("kubernetes/infrastructure/controllers/helm-repositories.yaml");
    seeds.push([k, example(&format!("{base}/ollama/statefulset.yaml")), sources, parent].join(&0u8));
    seeds
}

/// `yaml_documents` seeds: every YAML file of the example.
fn yaml_seeds() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read dir").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&workspace().join("examples/home-infra"), &mut out);
    out
}

/// A number from the environment, decimal or `0x` hex (as failures print seeds).
fn env_number(name: &str, default: u64) -> u64 {
    let parse = |v: &str| match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    };
    std::env::var(name).ok().and_then(|v| parse(v.trim())).unwrap_or(default)
}

/// Run `harness` on every seed, then on `iterations` mutations of them (or, with FUZZ_SECONDS,
/// on as many as that time allows).
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, harness: fn(&[u8]), iterations: u64) {
    let seed = env_number("FUZZ_SEED", 0x5eed_1e55_f00d_cafe) | 1;
    let budget = std::env::var("FUZZ_SECONDS").ok().map(|_| Duration::from_secs(env_number("FUZZ_SECONDS", 60)));
    let (iterations, started) = (if budget.is_some() { u64::MAX } else { iterations }, Instant::now());
    let mut rng = Rng(seed);
    // The harnesses' own asserts report through the panic hook: keep their output, which
    // names the input, but only once per failure below.
    for (i, s) in seeds.iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| harness(s))).is_err() {
            panic!("{name}: seed {i} failed:\n{}", String::from_utf8_lossy(s));
        }
    }
    for i in 0..iterations {
        if budget.is_some_and(|b| started.elapsed() >= b) {
            eprintln!("{name}: {i} mutated inputs in {:?}, FUZZ_SEED={seed:#x}", started.elapsed());
            break;
        }
        let mut input = rng.pick(&seeds).clone();
        mutate(&mut rng, &mut input, &seeds);
        if catch_unwind(AssertUnwindSafe(|| harness(&input))).is_err() {
            let path = std::env::temp_dir().join(format!("helmigrate-{name}-crash-{seed:x}-{i}"));
            let _ = std::fs::write(&path, &input);
            panic!("{name}: FUZZ_SEED={seed:#x} iteration {i} failed; input saved to {} (replay: cargo fuzz run {name} {})",
                path.display(), path.display());
        }
    }
}

#[test]
fn plan_tree_survives_mutated_examples() {
    fuzz("plan_tree", tree_seeds(), harness::plan_tree, env_number("FUZZ_ITERATIONS", 2000));
}

#[test]
fn yaml_documents_survive_mutated_examples() {
    fuzz("yaml_documents", yaml_seeds(), harness::yaml_documents, env_number("FUZZ_ITERATIONS", 2000) * 5);
}

/// Inputs the coverage-guided fuzzer once crashed on (`tests/fuzz-regressions/<target>/`),
/// replayed through the same harness.
#[test]
fn past_fuzzer_crashes_stay_fixed() {
    let dir = workspace().join("tests/fuzz-regressions/yaml_documents");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions/yaml_documents") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        catch_unwind(AssertUnwindSafe(|| harness::yaml_documents(&data))).unwrap_or_else(|_| panic!("{} crashes again", path.display()));
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
}

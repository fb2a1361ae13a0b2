//! Dynamic completion in cobra's `__complete` protocol, the one both host CLIs speak to plugins:
//!
//! - kubectl (>= 1.26) runs the executable `kubectl_complete-helmigrate` found on PATH with the
//!   words after `kubectl helmigrate`;
//! - flux (>= 2.9) runs `flux-helmigrate __complete` with the words after `flux helmigrate`.
//!
//! The last word is the one being completed (`""` for a new word). The answer is one candidate
//! per line (`candidate<TAB>description`; the host strips descriptions when the shell wants
//! none), then a line `:<directive>` (cobra's ShellCompDirective bits).
//!
//! Candidates come from the clap command tree (subcommands, flags, enumerated values), the
//! kubeconfig (contexts), the file system (app folders for `convert`/`rollback` PATH) and,
//! when the cluster answers within [`CLUSTER_BUDGET`], the cluster (namespaces, HelmRelease,
//! HelmRepository, Kustomization … names for `reconcile`, `verify --app`). A cluster that does
//! not answer only leaves those out.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use clap::{Arg, Command};

use super::native::Flavor;
use crate::cli::KubeArgs;
use crate::cluster::flux::FluxKind;

/// cobra's ShellCompDirective bits.
pub mod directive {
    pub const ERROR: u32 = 1;
    pub const NO_SPACE: u32 = 2;
    pub const NO_FILE_COMP: u32 = 4;
    pub const FILTER_FILE_EXT: u32 = 8;
    pub const FILTER_DIRS: u32 = 16;
    pub const KEEP_ORDER: u32 = 32;
    /// Let the shell complete file names.
    pub const DEFAULT: u32 = 0;
}

/// How long completion may wait for the cluster in all.
pub const CLUSTER_BUDGET: Duration = Duration::from_secs(3);

/// What to offer for the word being completed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Completions {
    /// `(candidate, description)`
    pub candidates: Vec<(String, String)>,
    pub directive: u32,
}

impl Completions {
    fn none(directive: u32) -> Self {
        Completions { candidates: Vec::new(), directive }
    }

    /// The protocol's text: candidates, then `:<directive>`.
    pub fn render(&self, descriptions: bool) -> String {
        let mut out = String::new();
        for (c, d) in &self.candidates {
            out.push_str(c);
            if descriptions && !d.is_empty() {
                out.push('\t');
                out.push_str(d.lines().next().unwrap_or_default());
            }
            out.push('\n');
        }
        out.push_str(&format!(":{}\n", self.directive));
        out
    }
}

/// Answer one completion request: print it, exit 0.
pub fn run(cmd: Command, words: &[String], flavor: Flavor, descriptions: bool) -> i32 {
    let completions = complete(cmd, words, flavor, &LiveLookup);
    print!("{}", completions.render(descriptions));
    0
}

/// Where cluster and kubeconfig candidates come from (the real cluster, or a table in tests).
pub trait Lookup {
    /// Names of objects of `what` in the namespace `kube` resolves to (`Namespace`: all).
    fn names(&self, kube: &KubeArgs, what: Names) -> Vec<String>;
    /// Context names of the kubeconfig `kube` names.
    fn contexts(&self, kube: &KubeArgs) -> Vec<String>;
}

/// Kinds of objects whose names are completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Namespace,
    Flux(FluxKind),
}

/// The command line up to the word being completed, as far as completion cares.
struct Parsed<'a> {
    cmd: &'a Command,
    /// Subcommand names from the root (`["reconcile"]`).
    path: Vec<String>,
    positionals: Vec<String>,
    /// `(arg id, value)` of every flag given (flags without values have an empty value).
    given: Vec<(String, String)>,
    /// A flag waiting for its value.
    pending: Option<&'a Arg>,
    after_dashdash: bool,
}

fn takes_value(a: &Arg) -> bool {
    a.get_action().takes_values()
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name)))
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

fn parse<'a>(root: &'a Command, words: &[String]) -> Parsed<'a> {
    let mut p = Parsed { cmd: root, path: Vec::new(), positionals: Vec::new(), given: Vec::new(), pending: None, after_dashdash: false };
    for w in words {
        if let Some(arg) = p.pending.take() {
            p.given.push((arg.get_id().to_string(), w.clone()));
            continue;
        }
        if p.after_dashdash || w == "-" || !w.starts_with('-') {
            let sub = (!p.after_dashdash && p.positionals.is_empty())
                .then(|| p.cmd.get_subcommands().find(|s| s.get_name() == w || s.get_all_aliases().any(|a| a == w)))
                .flatten();
            match sub {
                Some(sub) => {
                    p.path.push(sub.get_name().to_string());
                    p.cmd = sub;
                }
                None => p.positionals.push(w.clone()),
            }
            continue;
        }
        if w == "--" {
            p.after_dashdash = true;
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if let Some(arg) = find_long(p.cmd, name) {
                match value {
                    Some(v) => p.given.push((arg.get_id().to_string(), v.to_string())),
                    None if takes_value(arg) => p.pending = Some(arg),
                    None => p.given.push((arg.get_id().to_string(), String::new())),
                }
            }
            continue;
        }
        // -abc, -nNAMESPACE, -n NAMESPACE
        let shorts = &w[1..];
        for (i, c) in shorts.char_indices() {
            let Some(arg) = find_short(p.cmd, c) else { break };
            if takes_value(arg) {
                let rest = &shorts[i + c.len_utf8()..];
                let rest = rest.strip_prefix('=').unwrap_or(rest);
                if rest.is_empty() {
                    p.pending = Some(arg);
                } else {
                    p.given.push((arg.get_id().to_string(), rest.to_string()));
                }
                break;
            }
            p.given.push((arg.get_id().to_string(), String::new()));
        }
    }
    p
}

impl Parsed<'_> {
    fn value(&self, id: &str) -> Option<&str> {
        self.given.iter().rev().find(|(i, _)| i == id).map(|(_, v)| v.as_str())
    }

    /// The cluster flags typed so far, with flux's namespace default for the flux plugin.
    fn kube(&self, flavor: Flavor) -> KubeArgs {
        let kube = KubeArgs {
            kubeconfig: self.value("kubeconfig").filter(|v| !v.is_empty()).map(Into::into),
            context: self.value("context").filter(|v| !v.is_empty()).map(Into::into),
            namespace: self.value("namespace").filter(|v| !v.is_empty()).map(Into::into),
        };
        match flavor {
            Flavor::Kubectl => kube,
            Flavor::Flux => {
                let flux = super::flux::FluxArgs { timeout: None, ns_follows_kube_context: self.value("ns_follows_kube_context").is_some() };
                super::flux::kube_args(&kube, &flux)
            }
        }
    }
}

fn about(c: &Command) -> String {
    c.get_about().map(|a| a.to_string()).unwrap_or_default()
}

fn help_of(a: &Arg) -> String {
    a.get_help().map(|h| h.to_string()).unwrap_or_default()
}

/// Candidates for the word `cur` after `words` (the words typed after the plugin's name).
pub fn complete(mut root: Command, words: &[String], flavor: Flavor, lookup: &dyn Lookup) -> Completions {
    root.build(); // global flags reach every subcommand, `help` and `--help` exist
    let (cur, before) = match words.split_last() {
        Some((cur, before)) => (cur.as_str(), before),
        None => ("", &[][..]),
    };
    let p = parse(&root, before);
    let mut out = if let Some(arg) = p.pending {
        values(&p, arg, cur, "", flavor, lookup)
    } else if let Some((name, value)) = cur.strip_prefix("--").filter(|_| !p.after_dashdash).and_then(|l| l.split_once('=')) {
        match find_long(p.cmd, name) {
            Some(arg) => values(&p, arg, value, &format!("--{name}="), flavor, lookup),
            None => Completions::none(directive::NO_FILE_COMP),
        }
    } else if cur.starts_with('-') && !p.after_dashdash {
        flags(&p, cur)
    } else {
        positional(&p, cur, flavor, lookup)
    };
    out.candidates.retain(|(c, _)| c.starts_with(cur));
    let mut seen = BTreeSet::new();
    out.candidates.retain(|(c, _)| seen.insert(c.clone()));
    out
}

/// `--long` flags of the current command (and `-s` short ones when only `-` is typed), the ones
/// already given left out unless they repeat.
fn flags(p: &Parsed, cur: &str) -> Completions {
    let mut candidates = Vec::new();
    for a in p.cmd.get_arguments().filter(|a| !a.is_hide_set() && !a.is_positional()) {
        let repeats = matches!(a.get_action(), clap::ArgAction::Append | clap::ArgAction::Count);
        if !repeats && p.given.iter().any(|(id, _)| id == a.get_id().as_str()) {
            continue;
        }
        if let Some(l) = a.get_long() {
            candidates.push((format!("--{l}"), help_of(a)));
        }
        if let Some(s) = a.get_short().filter(|_| cur == "-") {
            candidates.push((format!("-{s}"), help_of(a)));
        }
    }
    Completions { candidates, directive: directive::NO_FILE_COMP }
}

/// Values of the flag `arg`, each prefixed with `prefix` (`--namespace=`).
fn values(p: &Parsed, arg: &Arg, cur: &str, prefix: &str, flavor: Flavor, lookup: &dyn Lookup) -> Completions {
    let id = arg.get_id().as_str();
    let named = |names: Vec<String>| Completions {
        candidates: names.into_iter().filter(|n| n.starts_with(cur)).map(|n| (format!("{prefix}{n}"), String::new())).collect(),
        directive: directive::NO_FILE_COMP,
    };
    match id {
        "namespace" => return named(lookup.names(&p.kube(flavor), Names::Namespace)),
        "context" => return named(lookup.contexts(&p.kube(flavor))),
        "app" => return named(lookup.names(&p.kube(flavor), Names::Flux(FluxKind::HelmRelease))),
        _ => {}
    }
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        return Completions {
            candidates: possible.iter().filter(|v| !v.is_hide_set()).map(|v| (format!("{prefix}{}", v.get_name()), v.get_help().map(|h| h.to_string()).unwrap_or_default())).collect(),
            directive: directive::NO_FILE_COMP,
        };
    }
    let value_name = arg.get_value_names().and_then(|v| v.first()).map(|s| s.to_string()).unwrap_or_default();
    if prefix.is_empty() && (value_name.ends_with("FILE") || matches!(arg.get_value_hint(), clap::ValueHint::FilePath | clap::ValueHint::AnyPath)) {
        return Completions::none(directive::DEFAULT); // the shell completes file names
    }
    if prefix.is_empty() && (value_name.ends_with("DIR") || arg.get_value_hint() == clap::ValueHint::DirPath) {
        return Completions::none(directive::FILTER_DIRS);
    }
    Completions::none(directive::NO_FILE_COMP)
}

/// Subcommands, then what the current command's next positional takes.
fn positional(p: &Parsed, cur: &str, flavor: Flavor, lookup: &dyn Lookup) -> Completions {
    let mut out = Completions::none(directive::NO_FILE_COMP);
    if p.positionals.is_empty() && !p.after_dashdash {
        out.candidates.extend(p.cmd.get_subcommands().filter(|s| !s.is_hide_set()).map(|s| (s.get_name().to_string(), about(s))));
    }
    let name = p.path.first().map(String::as_str).unwrap_or_default();
    match name {
        "convert" | "rollback" if p.positionals.is_empty() && p.path.len() == 1 => {
            let dirs = folders(cur);
            out.directive = directive::NO_SPACE | directive::NO_FILE_COMP;
            out.candidates.extend(dirs);
        }
        "reconcile" => {
            let kube = p.kube(flavor);
            let kinds = [("helmrelease", "a HelmRelease (the default)"), ("source", "a source: helm, chart, git, oci, bucket"), ("kustomization", "a Flux Kustomization")];
            let sources = [("helm", FluxKind::HelmRepository), ("chart", FluxKind::HelmChart), ("git", FluxKind::GitRepository), ("oci", FluxKind::OCIRepository), ("bucket", FluxKind::Bucket)];
            let pos: Vec<&str> = p.positionals.iter().map(String::as_str).collect();
            let names = |k: FluxKind| lookup.names(&kube, Names::Flux(k)).into_iter().map(move |n| (n, k.kind().to_string()));
            match pos.as_slice() {
                [] => {
                    out.candidates.extend(kinds.iter().map(|(k, d)| (k.to_string(), d.to_string())));
                    out.candidates.extend(names(FluxKind::HelmRelease));
                }
                ["helmrelease" | "helmreleases" | "hr"] => out.candidates.extend(names(FluxKind::HelmRelease)),
                ["kustomization" | "kustomizations" | "ks"] => out.candidates.extend(names(FluxKind::Kustomization)),
                ["source"] => {
                    out.candidates.extend(sources.iter().map(|(w, k)| (w.to_string(), k.kind().to_string())));
                    out.candidates.extend(names(FluxKind::HelmRepository));
                }
                ["source", sub] => {
                    if let Some((_, k)) = sources.iter().find(|(w, _)| w == sub) {
                        out.candidates.extend(names(*k));
                    }
                }
                _ => {}
            }
        }
        _ => {
            // a positional with enumerated values (`completion bash|zsh|fish`)
            if let Some(arg) = p.cmd.get_positionals().nth(p.positionals.len()) {
                out.candidates.extend(arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| (v.get_name().to_string(), String::new())));
            }
        }
    }
    out
}

/// Folders below the typed prefix, each with a trailing `/` (the user goes on typing into it);
/// an app folder (one holding a kustomization) says so.
fn folders(cur: &str) -> Vec<(String, String)> {
    let (dir, stem) = match cur.rfind('/') {
        Some(i) => (&cur[..=i], &cur[i + 1..]),
        None => ("", cur),
    };
    let read_from = if dir.is_empty() { Path::new(".") } else { Path::new(dir) };
    let Ok(entries) = std::fs::read_dir(read_from) else { return Vec::new() };
    let mut found: Vec<(String, String)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with(stem) && (!n.starts_with('.') || stem.starts_with('.')))
        .map(|n| {
            let path = read_from.join(&n);
            let app = ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|k| path.join(k).is_file());
            (format!("{dir}{n}/"), if app { "kustomization".to_string() } else { String::new() })
        })
        .collect();
    found.sort();
    found
}

/// The real kubeconfig and cluster, each request bounded by [`CLUSTER_BUDGET`].
pub struct LiveLookup;

impl Lookup for LiveLookup {
    fn names(&self, kube: &KubeArgs, what: Names) -> Vec<String> {
        let Ok(rt) = crate::cluster::runtime() else { return Vec::new() };
        rt.block_on(async {
            let list = async {
                use crate::cluster::api;
                let cluster = crate::cluster::connect(kube, crate::cluster::Role::Readonly).await.ok()?;
                let objects = match what {
                    Names::Namespace => cluster.objects(&api::NAMESPACE, None),
                    Names::Flux(kind) => cluster.here(kind.table()),
                };
                let names: Vec<String> = objects.list_metadata(None).await.ok()?.iter()
                    .filter_map(|o| o.pointer("/metadata/name").and_then(serde_json::Value::as_str).map(str::to_string)).collect();
                Some(names)
            };
            tokio::time::timeout(CLUSTER_BUDGET, list).await.ok().flatten().unwrap_or_default()
        })
    }

    fn contexts(&self, kube: &KubeArgs) -> Vec<String> {
        let config = match &kube.kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p),
            None => kube::config::Kubeconfig::read(),
        };
        config.map(|c| c.contexts.into_iter().map(|c| c.name).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{FluxCli, KubectlCli};
    use clap::CommandFactory;

    struct Table;
    impl Lookup for Table {
        fn names(&self, kube: &KubeArgs, what: Names) -> Vec<String> {
            let ns = kube.namespace.clone().unwrap_or_else(|| "ctx-ns".into());
            match what {
                Names::Namespace => vec!["ai".into(), "default".into(), "flux-system".into()],
                Names::Flux(FluxKind::HelmRelease) => vec![format!("{ns}-release"), "ollama".into()],
                Names::Flux(FluxKind::HelmRepository) => vec!["otwld".into()],
                Names::Flux(k) => vec![format!("a-{}", k.kind().to_lowercase())],
            }
        }
        fn contexts(&self, _: &KubeArgs) -> Vec<String> {
            vec!["home".into(), "work".into()]
        }
    }

    fn words(s: &str) -> Vec<String> {
        let mut w: Vec<String> = s.split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect();
        if s.ends_with(' ') || s.is_empty() {
            w.push(String::new());
        }
        w
    }

    fn kubectl(line: &str) -> Completions {
        complete(KubectlCli::command(), &words(line), Flavor::Kubectl, &Table)
    }

    fn flux(line: &str) -> Completions {
        complete(FluxCli::command(), &words(line), Flavor::Flux, &Table)
    }

    fn names(c: &Completions) -> Vec<&str> {
        c.candidates.iter().map(|(c, _)| c.as_str()).collect()
    }

    #[test]
    fn subcommands_flags_and_values() {
        let c = kubectl("");
        assert_eq!(names(&c), ["convert", "reconcile", "verify", "rollback", "completion", "help"]);
        assert_eq!(c.directive, directive::NO_FILE_COMP);
        assert_eq!(names(&kubectl("re")), ["reconcile"]);
        assert!(!names(&kubectl("")).iter().any(|n| n.starts_with("__")));
        let f = kubectl("convert --wr");
        assert_eq!(names(&f), ["--write"]);
        assert!(names(&kubectl("reconcile web --")).contains(&"--with-source"));
        assert!(names(&kubectl("-")).contains(&"-n"));
        assert_eq!(names(&kubectl("convert -o ")), ["text", "json", "yaml"]);
        assert_eq!(names(&kubectl("convert --output=j")), ["--output=json"]);
        assert_eq!(names(&kubectl("completion ")), ["bash", "zsh", "fish"]);
        // a flag already given is not offered again; --set repeats
        let again = kubectl("convert --write --set a=b --");
        assert!(!names(&again).contains(&"--write") && names(&again).contains(&"--set"));
    }

    #[test]
    fn cluster_and_kubeconfig_values() {
        assert_eq!(names(&kubectl("-n ")), ["ai", "default", "flux-system"]);
        assert_eq!(names(&kubectl("verify --namespace f")), ["flux-system"]);
        assert_eq!(names(&kubectl("--namespace=d")), ["--namespace=default"]);
        assert_eq!(names(&kubectl("--context ")), ["home", "work"]);
        assert_eq!(kubectl("--kubeconfig ").directive, directive::DEFAULT);
        assert_eq!(names(&kubectl("verify --app ")), ["ctx-ns-release", "ollama"]);
    }

    #[test]
    fn reconcile_kinds_and_names() {
        assert_eq!(names(&kubectl("-n ai reconcile ")), ["helmrelease", "source", "kustomization", "ai-release", "ollama"]);
        assert_eq!(names(&kubectl("reconcile hr o")), ["ollama"]);
        assert_eq!(names(&kubectl("reconcile source ")), ["helm", "chart", "git", "oci", "bucket", "otwld"]);
        assert_eq!(names(&kubectl("reconcile source git ")), ["a-gitrepository"]);
        assert_eq!(names(&kubectl("reconcile ks ")), ["a-kustomization"]);
        assert!(names(&kubectl("reconcile hr ollama ")).is_empty());
        // flux defaults the namespace like flux does
        assert_eq!(names(&flux("reconcile helmrelease ")), ["flux-system-release", "ollama"]);
        assert_eq!(names(&flux("reconcile -n ai hr ")), ["ai-release", "ollama"]);
        assert_eq!(names(&flux("--ns-follows-kube-context reconcile hr ")), ["ctx-ns-release", "ollama"]);
        assert_eq!(names(&flux("")), ["convert", "reconcile", "verify", "completion", "help"]);
        assert!(names(&flux("--")).contains(&"--timeout"));
    }

    #[test]
    fn app_folders() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("apps/ai/ollama")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("apps/.hidden")).expect("mkdir");
        std::fs::write(dir.path().join("apps/ai/kustomization.yaml"), "resources: []\n").expect("write");
        std::fs::write(dir.path().join("apps/file.yaml"), "").expect("write");
        let base = format!("{}/apps/", dir.path().display());
        let c = kubectl(&format!("convert {base}"));
        assert_eq!(c.candidates, [(format!("{base}ai/"), "kustomization".to_string())]);
        assert_eq!(c.directive, directive::NO_SPACE | directive::NO_FILE_COMP);
        assert_eq!(names(&kubectl(&format!("rollback {base}ai/o"))), [format!("{base}ai/ollama/")]);
        assert!(names(&kubectl(&format!("convert {base}ai/ x"))).is_empty(), "one PATH only");
    }

    #[test]
    fn protocol_text() {
        let c = Completions { candidates: vec![("convert".into(), "Plan the move\nmore".into()), ("x".into(), String::new())], directive: 4 };
        assert_eq!(c.render(true), "convert\tPlan the move\nx\n:4\n");
        assert_eq!(c.render(false), "convert\nx\n:4\n");
    }
}

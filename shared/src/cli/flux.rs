//! The flux CLI's global flags, parsed by the plugin itself: flux runs a plugin with the words
//! after its name and none of its own flags, so `flux helmigrate -n apps --timeout 2m …` reaches
//! us verbatim and must mean what it means to flux.
//!
//! - `-n/--namespace` defaults as in flux: `$FLUX_SYSTEM_NAMESPACE` (when a valid DNS label),
//!   else `flux-system`; with `--ns-follows-kube-context` or `$FLUX_NS_FOLLOWS_KUBE_CONTEXT` the
//!   kubeconfig context's namespace instead.
//! - `--context`, `--kubeconfig`: as for kubectl (shared [`KubeArgs`]).
//! - `--timeout`: flux's global operation timeout; bounds `reconcile`'s wait unless reconcile's
//!   own `--timeout` is given after the subcommand.

use std::time::Duration;

use clap::Args;

use crate::cli::KubeArgs;
use crate::cluster::flux::parse_duration;

/// flux's default namespace.
pub const DEFAULT_NAMESPACE: &str = "flux-system";

#[derive(Args, Debug, Clone, Default)]
pub struct FluxArgs {
    /// Timeout for this operation, as flux's --timeout (bounds reconcile's wait; default 5m)
    #[arg(long = "timeout", global = true, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Use the kubeconfig context's namespace instead of flux-system (also
    /// $FLUX_NS_FOLLOWS_KUBE_CONTEXT)
    #[arg(long, global = true)]
    pub ns_follows_kube_context: bool,
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The namespace flux would use when `-n` is not given: `None` means the context's.
pub fn default_namespace(flux: &FluxArgs, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let follows = flux.ns_follows_kube_context || env("FLUX_NS_FOLLOWS_KUBE_CONTEXT").is_some_and(|v| !v.is_empty());
    if follows {
        return None;
    }
    Some(env("FLUX_SYSTEM_NAMESPACE").filter(|ns| is_dns_label(ns)).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()))
}

/// flux's meaning of `-n` in the help of the flux plugin.
pub fn adjust_help(cmd: clap::Command) -> clap::Command {
    cmd.mut_arg("namespace", |a| {
        a.help("Namespace (default: $FLUX_SYSTEM_NAMESPACE, else flux-system, as flux; the context's with --ns-follows-kube-context)")
    })
}

/// The cluster flags with flux's namespace default applied.
pub fn kube_args(kube: &KubeArgs, flux: &FluxArgs) -> KubeArgs {
    let mut kube = kube.clone();
    if kube.namespace.is_none() {
        kube.namespace = default_namespace(flux, |k| std::env::var(k).ok());
    }
    kube
}

/// `flux helmigrate --timeout 2m reconcile …`: the global timeout, unless reconcile's own was
/// given on the command line.
pub fn apply_timeout(args: &mut crate::cmd::reconcile::ReconcileArgs, flux: &FluxArgs, matches: &clap::ArgMatches) {
    let Some(timeout) = flux.timeout else { return };
    let own = matches.subcommand_matches("reconcile").and_then(|m| m.value_source("timeout"));
    if own != Some(clap::parser::ValueSource::CommandLine) {
        args.timeout = timeout;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_defaults_like_flux() {
        let none = |_: &str| None;
        let flux = FluxArgs::default();
        assert_eq!(default_namespace(&flux, none).as_deref(), Some("flux-system"));
        let env = |k: &str| (k == "FLUX_SYSTEM_NAMESPACE").then(|| "gitops".to_string());
        assert_eq!(default_namespace(&flux, env).as_deref(), Some("gitops"));
        let bad = |k: &str| (k == "FLUX_SYSTEM_NAMESPACE").then(|| "Not_A_Label".to_string());
        assert_eq!(default_namespace(&flux, bad).as_deref(), Some("flux-system"));
        let follows = |k: &str| (k == "FLUX_NS_FOLLOWS_KUBE_CONTEXT").then(|| "true".to_string());
        assert_eq!(default_namespace(&flux, follows), None);
        assert_eq!(default_namespace(&FluxArgs { ns_follows_kube_context: true, ..Default::default() }, none), None);
    }
}

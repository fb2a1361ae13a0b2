//! Command-line entry points for both plugins. Each binary's `main` calls one function here.
//!
//! What makes them feel native (usage as invoked, version with the git commit, shell and
//! kubectl/flux plugin completion, man pages, flux's global flags) lives in the submodules.

pub mod complete;
pub mod flux;
pub mod native;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::error::exit;

pub use crate::cluster::KubeArgs;

#[derive(Parser, Debug)]
#[command(name = "kubectl-helmigrate", bin_name = "kubectl helmigrate", version,
    about = "Move raw Kubernetes workloads in a Flux GitOps repo onto upstream Helm charts, safely")]
pub struct KubectlCli {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: KubectlCommand,
}

#[derive(Subcommand, Debug)]
pub enum KubectlCommand {
    /// Plan (and with --write apply) the move of raw workloads onto Helm charts
    Convert(cmd::convert::ConvertArgs),
    /// Ask Flux to reconcile a HelmRelease, HelmRepository or Kustomization now and wait for it
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Check that a migrated namespace runs as before (Flux Ready, pods, GPU, claims, routes, probes)
    Verify(cmd::verify::VerifyArgs),
    /// Put back the raw manifests a `convert --write` replaced (from .helmigrate/ or git history)
    Rollback(cmd::rollback::RollbackArgs),
    /// Print a shell completion script (bash, zsh, fish)
    Completion(cmd::completion::CompletionArgs),
}

#[derive(Parser, Debug)]
#[command(name = "flux-helmigrate", bin_name = "flux helmigrate", version,
    about = "helmigrate as a flux plugin: move raw workloads onto Helm charts")]
pub struct FluxCli {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// The flux CLI's own global flags (flux does not forward them to plugins)
    #[command(flatten)]
    pub flux: flux::FluxArgs,
    #[command(subcommand)]
    pub command: FluxCommand,
}

#[derive(Subcommand, Debug)]
pub enum FluxCommand {
    /// Plan (and with --write apply) the move of raw workloads onto Helm charts
    Convert(cmd::convert::ConvertArgs),
    /// Ask Flux to reconcile a HelmRelease, HelmRepository or Kustomization now and wait for it
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Check that a migrated namespace runs as before (Flux Ready, pods, GPU, claims, routes, probes)
    Verify(cmd::verify::VerifyArgs),
    /// Print a shell completion script (bash, zsh, fish)
    Completion(cmd::completion::CompletionArgs),
}

fn parse<T: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<T, i32> {
    parse_matches::<T>(args).map(|(cli, _)| cli)
}

/// Parse with the usage and version of the binary as invoked (see [`native`]), keeping the
/// matches (which flags were given).
fn parse_matches<T: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<(T, clap::ArgMatches), i32> {
    native::try_parse::<T>(args).map_err(|e| {
        let code = if e.use_stderr() { exit::BAD_INPUT } else { 0 };
        let _ = e.print();
        code
    })
}

fn report(result: crate::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `kubectl-helmigrate`: returns the process exit code.
pub fn kubectl_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(code) = native::hidden_entry::<KubectlCli>(&args, native::Flavor::Kubectl) {
        return code;
    }
    match parse::<KubectlCli>(args) {
        Ok(cli) => report(match cli.command {
            KubectlCommand::Convert(a) => cmd::convert::run(&cli.kube, &a),
            KubectlCommand::Reconcile(a) => cmd::reconcile::run(&cli.kube, &a),
            KubectlCommand::Verify(a) => cmd::verify::run(&cli.kube, &a),
            KubectlCommand::Rollback(a) => cmd::rollback::run(&cli.kube, &a),
            KubectlCommand::Completion(a) => cmd::completion::run::<KubectlCli>(&a),
        }),
        Err(code) => code,
    }
}

/// `flux-helmigrate`: returns the process exit code.
pub fn flux_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(code) = native::hidden_entry::<FluxCli>(&args, native::Flavor::Flux) {
        return code;
    }
    let (mut cli, matches) = match parse_matches::<FluxCli>(args) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let kube = flux::kube_args(&cli.kube, &cli.flux);
    if let FluxCommand::Reconcile(a) = &mut cli.command {
        flux::apply_timeout(a, &cli.flux, &matches);
    }
    report(match cli.command {
        FluxCommand::Convert(a) => cmd::convert::run(&kube, &a),
        FluxCommand::Reconcile(a) => cmd::reconcile::run(&kube, &a),
        FluxCommand::Verify(a) => cmd::verify::run(&kube, &a),
        FluxCommand::Completion(a) => cmd::completion::run::<FluxCli>(&a),
    })
}

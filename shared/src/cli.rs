//! Command-line entry points for both plugins. Each binary's `main` calls one function here.

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
}

#[derive(Parser, Debug)]
#[command(name = "flux-helmigrate", bin_name = "flux helmigrate", version,
    about = "helmigrate as a flux plugin: move raw workloads onto Helm charts")]
pub struct FluxCli {
    #[command(flatten)]
    pub kube: KubeArgs,
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
}

fn parse<T: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<T, i32> {
    T::try_parse_from(args).map_err(|e| {
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
    match parse::<KubectlCli>(args) {
        Ok(cli) => report(match cli.command {
            KubectlCommand::Convert(a) => cmd::convert::run(&cli.kube, &a),
            KubectlCommand::Reconcile(a) => cmd::reconcile::run(&cli.kube, &a),
            KubectlCommand::Verify(a) => cmd::verify::run(&cli.kube, &a),
            KubectlCommand::Rollback(a) => cmd::rollback::run(&cli.kube, &a),
        }),
        Err(code) => code,
    }
}

/// `flux-helmigrate`: returns the process exit code.
pub fn flux_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    match parse::<FluxCli>(args) {
        Ok(cli) => report(match cli.command {
            FluxCommand::Convert(a) => cmd::convert::run(&cli.kube, &a),
            FluxCommand::Reconcile(a) => cmd::reconcile::run(&cli.kube, &a),
            FluxCommand::Verify(a) => cmd::verify::run(&cli.kube, &a),
        }),
        Err(code) => code,
    }
}

//! `verify -n NS [--app NAME] [--wait 5m] [-o table|json]`: the post-migration checklist.
//! Exit 0 only when every check passes; 1 when one fails.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use futures::StreamExt;

use crate::cluster::KubeArgs;
use crate::cluster;
use crate::error::{Error, Result, exit};
use crate::verify::{self, Outcome, Report};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Only the app (HelmRelease) of this name
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Keep checking until everything passes or this long has passed (e.g. 30s, 5m)
    #[arg(long, value_name = "DURATION", value_parser = cluster::flux::parse_duration)]
    pub wait: Option<Duration>,
    /// Leave out a check (repeatable), e.g. `--skip probe` where the apiserver cannot reach pods
    #[arg(long, value_name = "CHECK", value_parser = clap::builder::PossibleValuesParser::new(verify::CHECKS))]
    pub skip: Vec<String>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

pub fn run(kube: &KubeArgs, args: &VerifyArgs) -> Result<i32> {
    let report = cluster::runtime()?.block_on(async {
        let cluster = cluster::connect(kube, cluster::Role::Readonly).await?;
        cluster.require_flux(&cluster::api::HELM_RELEASE).await?;
        let mut report = verify::evaluate(&cluster, args.app.as_deref(), &args.skip).await?;
        if let Some(wait) = args.wait {
            report = wait_until_passed(&cluster, args, report, wait).await?;
        }
        Ok::<Report, Error>(report)
    })?;
    let mut out = std::io::stdout().lock();
    let text = match args.output {
        Format::Table => table(&report),
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    };
    let _ = out.write_all(text.as_bytes());
    Ok(if report.passed { 0 } else { exit::BLOCKED })
}

/// Re-check whenever a pod, Service, EndpointSlice, claim or HelmRelease of the namespace
/// changes (watches, not polling), until everything passes or the deadline.
async fn wait_until_passed(cluster: &cluster::Cluster, args: &VerifyArgs, mut report: Report, wait: Duration) -> Result<Report> {
    use crate::cluster::api;
    let deadline = Instant::now() + wait;
    let watched = [&api::POD, &api::SERVICE, &api::ENDPOINT_SLICE, &api::PERSISTENT_VOLUME_CLAIM, &api::HELM_RELEASE];
    let objects = watched.map(|r| cluster.here(r));
    let mut events = futures::stream::select_all(objects.iter().map(|o| o.changes()));
    while !report.passed && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(event)) => event?,
        }
        // Let a burst of events settle before reading everything again.
        tokio::time::sleep(Duration::from_millis(300)).await;
        report = verify::evaluate(cluster, args.app.as_deref(), &args.skip).await?;
    }
    Ok(report)
}

fn table(report: &Report) -> String {
    use comfy_table::{Cell, Color};
    let color = crate::output::color();
    let mut t = crate::output::table::table(["APP", "CHECK", "RESULT", "DETAIL", "NEXT"], color);
    for c in &report.checks {
        let (mark, fg) = match c.outcome {
            Outcome::Pass => ("✔ pass", Color::Green),
            Outcome::Fail => ("✖ fail", Color::Red),
            Outcome::Skip => ("– skip", Color::DarkGrey),
        };
        let mut result = Cell::new(mark);
        if color {
            result = result.fg(fg);
        }
        t.add_row([Cell::new(&c.app), Cell::new(c.check), result, Cell::new(&c.detail), Cell::new(&c.next)]);
    }
    let failed = report.checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
    let verdict = if report.passed {
        format!("verify: all {} checks passed in namespace {}", report.checks.iter().filter(|c| c.outcome == Outcome::Pass).count(), report.namespace)
    } else {
        format!("verify: {failed} check(s) failed in namespace {}", report.namespace)
    };
    format!("{t}\n{verdict}\n")
}

//! Talking to a cluster: one client from kubectl's flags, and every failure turned into a
//! one-line error with a hint and its own exit code.

pub mod api;
pub mod defaults;
pub mod flux;
pub mod live;

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, Fault, Result};
pub use api::Role;

/// Cluster connection flags, shared by every subcommand (kubectl's names and meaning).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// A connected client and the namespace the command works in.
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
    /// The apiserver URL, for messages.
    pub server: String,
    /// The role the command needs, named by permission errors.
    pub role: Role,
}

fn config_error(msg: impl std::fmt::Display) -> Error {
    Error::Cluster { fault: Fault::Config, what: "load the kubeconfig".into(), msg: format!("{msg} (check --kubeconfig, $KUBECONFIG and --context)") }
}

/// Connect as kubectl would: `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`;
/// `--context`, else the current context; `-n`, else the context's namespace, else `default`.
/// `role` is the RBAC role (in `docs/`) the command needs: permission errors name it.
pub async fn connect(args: &KubeArgs, role: Role) -> Result<Cluster> {
    let kubeconfig = match &args.kubeconfig {
        Some(p) => Kubeconfig::read_from(p).map_err(|e| config_error(format!("{}: {e}", p.display())))?,
        None => Kubeconfig::read().map_err(config_error)?,
    };
    let options = KubeConfigOptions { context: args.context.clone(), ..Default::default() };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(config_error)?;
    config.connect_timeout = Some(Duration::from_secs(5));
    let namespace = args.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = Client::try_from(config).map_err(config_error)?;
    Ok(Cluster { client, namespace, server, role })
}

impl Cluster {
    /// Turn a kube error into our error for the action `what` (e.g. "list Deployments in ai"). A
    /// 403 never gets here: [`Cluster::refused`] words it, with the verb and the role file.
    pub(super) fn fail(&self, what: impl Into<String>, e: kube::Error) -> Error {
        let what = what.into();
        match e {
            kube::Error::Api(status) => {
                let (fault, hint) = match status.code {
                    401 => (Fault::Forbidden, "the credentials were rejected: refresh the kubeconfig".to_string()),
                    404 => (Fault::NotFound, "check the name and the namespace (-n)".to_string()),
                    _ => (Fault::Api, "see the apiserver's message above".to_string()),
                };
                let msg = if status.message.is_empty() { format!("{} {}", status.code, status.reason) } else { flux::one_line(&status.message) };
                Error::Cluster { fault, what, msg: format!("{msg} ({hint})") }
            }
            other => {
                let mut cause = other.to_string();
                let mut src = std::error::Error::source(&other);
                while let Some(s) = src {
                    cause = s.to_string();
                    src = s.source();
                }
                Error::Cluster {
                    fault: Fault::Unreachable,
                    what,
                    msg: format!("cannot reach the cluster at {}: {cause} (is the apiserver up? check --kubeconfig and --context)", self.server),
                }
            }
        }
    }

    /// Fail early, and clearly, when Flux's API group is not served (`resource` is a Flux kind).
    pub async fn require_flux(&self, resource: &'static api::Resource) -> Result<()> {
        let what = format!("find {}", resource.rbac_name());
        let missing = Error::Cluster {
            fault: Fault::FluxMissing,
            what: what.clone(),
            msg: format!("Flux is not installed in this cluster (no {}): install it with `flux install`, or point --context at the cluster that runs Flux", resource.rbac_name()),
        };
        match self.client.list_api_group_resources(&resource.api_version()).await {
            Ok(list) if list.resources.iter().any(|r| r.name == resource.plural) => Ok(()),
            Ok(_) => Err(missing),
            // any other answer from the apiserver (a 404 on the group) means the API is not served
            Err(kube::Error::Api(s)) if !matches!(s.code, 401 | 403) => Err(missing),
            Err(e) => Err(self.refused(what, "get", resource, None, e)),
        }
    }
}

/// A runtime for the cluster commands (two workers: the machines this runs on are small).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::usage("start the async runtime", e.to_string()))
}

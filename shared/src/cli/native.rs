//! The binaries as the host CLIs present them.
//!
//! - Usage reads as invoked: kubectl runs `kubectl-helmigrate` for `kubectl helmigrate` (a
//!   `kubectl-a-b_c` file is `kubectl a b-c`), flux runs `flux-helmigrate` for
//!   `flux helmigrate`; a renamed binary is shown by its own name.
//! - `--version` carries the git commit the binary was built from (set by each binary's build
//!   script through [`set_commit`]).
//! - Hidden entry points, answered before normal parsing: `__complete` / `__completeNoDesc`
//!   (cobra's completion protocol, see [`super::complete`]), the same when the executable is
//!   named `kubectl_complete-helmigrate` (kubectl's plugin completion helper), and `__man DIR`
//!   (man pages for the release archive).

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::OnceLock;

use clap::{ArgMatches, CommandFactory, FromArgMatches};

/// Which host CLI a binary plugs into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Kubectl,
    Flux,
}

impl Flavor {
    /// The plugin executable's file name.
    pub fn executable(self) -> &'static str {
        match self {
            Flavor::Kubectl => "kubectl-helmigrate",
            Flavor::Flux => "flux-helmigrate",
        }
    }

    /// The words a user types to run it: `kubectl helmigrate`.
    pub fn usage_name(self) -> &'static str {
        match self {
            Flavor::Kubectl => "kubectl helmigrate",
            Flavor::Flux => "flux helmigrate",
        }
    }
}

/// Name of the executable kubectl (>= 1.26) runs to complete `kubectl helmigrate …`.
pub const KUBECTL_COMPLETER: &str = "kubectl_complete-helmigrate";

static COMMIT: OnceLock<&'static str> = OnceLock::new();

/// Record the git commit the binary was built from (called by `main` before anything else).
pub fn set_commit(commit: &'static str) {
    let _ = COMMIT.set(commit);
}

/// `0.1.0 (commit 0123456789ab)`, or `0.1.0` when the commit is unknown.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| match COMMIT.get().map(|c| c.trim()).filter(|c| !c.is_empty() && *c != "unknown") {
        Some(c) => format!("{} (commit {c})", env!("CARGO_PKG_VERSION")),
        None => format!("{} (commit unknown)", env!("CARGO_PKG_VERSION")),
    })
}

/// The executable's file name without directory or `.exe`.
fn file_stem(argv0: &OsStr) -> Option<String> {
    let name = Path::new(argv0).file_name()?.to_string_lossy().into_owned();
    let name = name.strip_suffix(".exe").unwrap_or(&name).to_string();
    (!name.is_empty()).then_some(name)
}

/// How the user invoked the binary, as the host CLI spells it: `kubectl-helmigrate` →
/// `kubectl helmigrate`, `kubectl-foo-bar_baz` → `kubectl foo bar-baz` (kubectl's plugin
/// naming), `flux-helmigrate` → `flux helmigrate`, anything else as it is.
pub fn invoked_name(argv0: Option<&OsStr>, flavor: Flavor) -> String {
    let Some(name) = argv0.and_then(file_stem) else { return flavor.usage_name().to_string() };
    if let Some(rest) = name.strip_prefix("kubectl-").filter(|r| !r.is_empty()) {
        let words: Vec<String> = rest.split('-').map(|w| w.replace('_', "-")).collect();
        return format!("kubectl {}", words.join(" "));
    }
    if let Some(rest) = name.strip_prefix("flux-").filter(|r| !r.is_empty()) {
        return format!("flux {rest}");
    }
    if name == KUBECTL_COMPLETER {
        return Flavor::Kubectl.usage_name().to_string();
    }
    name
}

/// The clap command of `T` with the usage name as invoked and the version with the commit.
pub fn command<T: CommandFactory>(argv0: Option<&OsStr>, flavor: Flavor) -> clap::Command {
    let cmd = T::command().bin_name(invoked_name(argv0, flavor)).version(version());
    match flavor {
        Flavor::Kubectl => cmd,
        Flavor::Flux => super::flux::adjust_help(cmd),
    }
}

fn flavor_of(cmd: &clap::Command) -> Flavor {
    if cmd.get_name().starts_with("flux-") { Flavor::Flux } else { Flavor::Kubectl }
}

/// Parse `args` (argv[0] first) into `T`, keeping the matches.
pub fn try_parse<T: CommandFactory + FromArgMatches>(args: impl IntoIterator<Item = OsString>) -> Result<(T, ArgMatches), clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    let flavor = flavor_of(&T::command());
    let mut cmd = command::<T>(args.first().map(OsString::as_os_str), flavor);
    let matches = cmd.try_get_matches_from_mut(args)?;
    let cli = T::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
    Ok((cli, matches))
}

/// Answer the hidden entry points; `None` for a normal command line.
pub fn hidden_entry<T: CommandFactory>(args: &[OsString], flavor: Flavor) -> Option<i32> {
    let argv0 = args.first().map(OsString::as_os_str);
    let words = |from: usize| -> Vec<String> { args.iter().skip(from).map(|a| a.to_string_lossy().into_owned()).collect() };
    let as_completer = flavor == Flavor::Kubectl && argv0.and_then(file_stem).as_deref() == Some(KUBECTL_COMPLETER);
    if as_completer {
        // kubectl passes the words after `kubectl helmigrate`, the last one being completed
        return Some(super::complete::run(command::<T>(argv0, flavor), &words(1), flavor, true));
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("__complete") => Some(super::complete::run(command::<T>(argv0, flavor), &words(2), flavor, true)),
        Some("__completeNoDesc") => Some(super::complete::run(command::<T>(argv0, flavor), &words(2), flavor, false)),
        Some("__man") => Some(crate::cmd::completion::write_man_pages(command::<T>(argv0, flavor), args.get(2).map(Path::new))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_name_follows_the_host_cli_naming() {
        let name = |s: &str, f| invoked_name(Some(OsStr::new(s)), f);
        assert_eq!(name("/home/u/.krew/bin/kubectl-helmigrate", Flavor::Kubectl), "kubectl helmigrate");
        assert_eq!(name("kubectl-helm_migrate-dev", Flavor::Kubectl), "kubectl helm-migrate dev");
        assert_eq!(name("/home/u/.fluxcd/plugins/flux-helmigrate", Flavor::Flux), "flux helmigrate");
        assert_eq!(name("flux-helmigrate.exe", Flavor::Flux), "flux helmigrate");
        assert_eq!(name("helmigrate", Flavor::Kubectl), "helmigrate");
        assert_eq!(name(KUBECTL_COMPLETER, Flavor::Kubectl), "kubectl helmigrate");
        assert_eq!(invoked_name(None, Flavor::Flux), "flux helmigrate");
    }
}

//! Running the external tools helmigrate relies on (helm, kustomize) with a hard timeout: each
//! runs in its own process group, both pipes drained on their own threads, the whole group
//! killed when the limit passes.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output beyond this is not read: no chart or kustomization renders that much.
const MAX_OUTPUT: u64 = 64 * 1024 * 1024;

/// What a finished call printed.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `program` (shown as `tool` in messages) with `args`, killing it after `limit`.
/// Err: it could not start or timed out.
pub fn run(tool: &str, program: &Path, args: &[OsString], limit: Duration) -> Result<Output, String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group, so a timeout also stops whatever the tool started (plugins, wrappers).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(MAX_OUTPUT).read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    });
    let out = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() >= limit => {
                kill_group(&mut child);
                let _ = child.wait();
                // The readers are not joined: a grandchild that escaped the group may still
                // hold the pipes open, and waiting for it is what the timeout is there to avoid.
                return Err(format!("{tool} did not finish within {} s and was stopped", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for {tool}: {e}")),
        }
    };
    Ok(Output { success: status.success(), stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() })
}

/// Kill the child's whole process group (it leads one, see `run`), else just the child.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group this child leads; it
        // touches no memory of ours.
        if unsafe { libc::kill(-pid, libc::SIGKILL) } == 0 {
            return;
        }
    }
    let _ = child.kill();
}

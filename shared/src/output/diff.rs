use similar::{ChangeTag, TextDiff};

use crate::plan::FileChange;

/// A unified diff of one file change (`--- a/path` / `+++ b/path`, /dev/null for create/delete).
pub fn unified(f: &FileChange, color: bool) -> String {
    use owo_colors::OwoColorize;
    let before = f.before.as_deref().unwrap_or("");
    let after = f.after.as_deref().unwrap_or("");
    let old = if f.before.is_some() { format!("a/{}", f.path) } else { "/dev/null".into() };
    let new = if f.after.is_some() { format!("b/{}", f.path) } else { "/dev/null".into() };
    let diff = TextDiff::from_lines(before, after);
    let mut out = String::new();
    let header = format!("--- {old}\n+++ {new}\n");
    out.push_str(&if color { header.bold().to_string() } else { header });
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        let h = format!("{}\n", hunk.header());
        out.push_str(&if color { h.cyan().to_string() } else { h });
        for change in hunk.iter_changes() {
            let (sign, line) = match change.tag() {
                ChangeTag::Delete => ("-", change.value()),
                ChangeTag::Insert => ("+", change.value()),
                ChangeTag::Equal => (" ", change.value()),
            };
            let mut l = format!("{sign}{}", line.trim_end_matches(['\n', '\r']));
            if color {
                l = match change.tag() {
                    ChangeTag::Delete => l.red().to_string(),
                    ChangeTag::Insert => l.green().to_string(),
                    ChangeTag::Equal => l,
                };
            }
            out.push_str(&l);
            out.push('\n');
            if change.missing_newline() {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::source::{Tree, repo::read_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Modify,
    Delete,
}

/// One file's change: content before and after (None = absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub action: Action,
    #[serde(skip)]
    pub before: Option<String>,
    #[serde(skip)]
    pub after: Option<String>,
}

impl FileChange {
    fn new(path: &str, before: Option<String>, after: Option<String>) -> Option<FileChange> {
        let action = match (&before, &after) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(b), Some(a)) if a != b => Action::Modify,
            _ => return None,
        };
        Some(FileChange { path: path.to_string(), action, before, after })
    }
}

/// The repo's files as the plan changes them, read lazily, changed only in memory.
pub struct FileSet<'t> {
    tree: &'t Tree,
    root: PathBuf,
    /// path → (original, current)
    state: BTreeMap<String, (Option<String>, Option<String>)>,
    /// Every `set`, in order: (path, content it replaced). `snapshot` is a position in it.
    journal: Vec<(String, Option<String>)>,
}

/// A point in the FileSet's history (cheap: a journal position).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot(usize);

impl<'t> FileSet<'t> {
    pub fn new(tree: &'t Tree) -> Self {
        FileSet { tree, root: tree.root.clone(), state: BTreeMap::new(), journal: Vec::new() }
    }

    fn load(&mut self, rel: &str) -> Result<()> {
        if !self.state.contains_key(rel) {
            let original = match self.tree.files.get(rel) {
                Some(f) => Some(f.text.clone()),
                None => {
                    let p = self.root.join(rel);
                    if p.exists() { Some(read_text(&p, rel)?) } else { None }
                }
            };
            self.state.insert(rel.to_string(), (original.clone(), original));
        }
        Ok(())
    }

    pub fn get(&mut self, rel: &str) -> Result<Option<String>> {
        self.load(rel)?;
        Ok(self.state[rel].1.clone())
    }

    pub fn set(&mut self, rel: &str, content: Option<String>) -> Result<()> {
        self.load(rel)?;
        let previous = std::mem::replace(&mut self.state.get_mut(rel).expect("loaded above").1, content);
        self.journal.push((rel.to_string(), previous));
        Ok(())
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.journal.len())
    }

    /// Changes made since `snap` was taken.
    pub fn changes_since(&self, snap: &Snapshot) -> Vec<FileChange> {
        let mut before: BTreeMap<&str, &Option<String>> = BTreeMap::new();
        for (path, previous) in &self.journal[snap.0..] {
            before.entry(path.as_str()).or_insert(previous);
        }
        before.into_iter().filter_map(|(path, b)| FileChange::new(path, b.clone(), self.state[path].1.clone())).collect()
    }

    /// All changes against the files as they are on disk.
    pub fn changes(&self) -> Vec<FileChange> {
        self.state.iter().filter_map(|(path, (orig, cur))| FileChange::new(path, orig.clone(), cur.clone())).collect()
    }
}

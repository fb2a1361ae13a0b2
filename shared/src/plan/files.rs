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
}

pub type Snapshot = BTreeMap<String, Option<String>>;

impl<'t> FileSet<'t> {
    pub fn new(tree: &'t Tree) -> Self {
        FileSet { tree, root: tree.root.clone(), state: BTreeMap::new() }
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
        self.state.get_mut(rel).expect("loaded above").1 = content;
        Ok(())
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.iter().map(|(k, (_, cur))| (k.clone(), cur.clone())).collect()
    }

    /// Changes made since `snap` was taken.
    pub fn changes_since(&self, snap: &Snapshot) -> Vec<FileChange> {
        self.state.iter()
            .filter_map(|(path, (orig, cur))| {
                let before = snap.get(path).cloned().unwrap_or_else(|| orig.clone());
                FileChange::new(path, before, cur.clone())
            })
            .collect()
    }

    /// All changes against the files as they are on disk.
    pub fn changes(&self) -> Vec<FileChange> {
        self.state.iter().filter_map(|(path, (orig, cur))| FileChange::new(path, orig.clone(), cur.clone())).collect()
    }
}

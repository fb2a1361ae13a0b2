//! HelmRepository sources: find the ones the repo already has, and add the missing ones to the
//! same file (kept lossless: a new document is appended, nothing else is touched).

use std::path::Path;

use serde_json::{Value, json};

use super::files::FileSet;
use crate::error::Result;
use crate::profiles::Chart;
use crate::source::repo::{read_text, split_objects_lenient};
use crate::yaml;

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub namespace: Option<String>,
    pub url: String,
    pub file: String,
    pub interval: Option<String>,
}

#[derive(Debug, Default)]
pub struct Sources {
    pub known: Vec<Source>,
    /// The file new HelmRepositories go into: the one that already holds the most.
    pub file: Option<String>,
    pub interval: Option<String>,
    /// Namespace for new HelmRepositories when there is no file to follow.
    pub default_namespace: Option<String>,
    /// Files that mention HelmRepository but could not be read (reported, not fatal: they are
    /// outside the tree being converted).
    pub unreadable: Vec<String>,
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Source {
    /// The HelmRepository document for this source.
    pub fn document(&self) -> String {
        let mut meta = json!({ "name": self.name });
        if let Some(ns) = &self.namespace {
            meta["namespace"] = json!(ns);
        }
        let doc = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": meta,
            "spec": { "interval": self.interval.as_deref().unwrap_or("1h"), "url": self.url },
        });
        format!("---\n{}", yaml::to_yaml(&doc, &Default::default()))
    }
}

impl Sources {
    /// Scan every YAML file of the repo that mentions HelmRepository.
    pub fn scan(root: &Path) -> Result<Sources> {
        let files = crate::source::repo::yaml_files(root);
        let mut s = Sources::default();
        let mut counts: Vec<(String, usize)> = Vec::new();
        for rel in files {
            let Ok(text) = read_text(&root.join(&rel), &rel) else { continue };
            if !text.contains("HelmRepository") {
                continue;
            }
            let docs = match split_objects_lenient(&rel, &text) {
                Ok(docs) => docs,
                Err(e) => {
                    s.unreadable.push(e.to_string());
                    continue;
                }
            };
            let mut n = 0;
            for v in docs {
                if v.get("kind").and_then(Value::as_str) != Some("HelmRepository") {
                    continue;
                }
                let Some(url) = v.pointer("/spec/url").and_then(Value::as_str) else { continue };
                n += 1;
                if s.interval.is_none() {
                    s.interval = v.pointer("/spec/interval").and_then(Value::as_str).map(str::to_string);
                }
                s.known.push(Source {
                    name: v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    namespace: v.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string),
                    url: url.to_string(),
                    file: rel.clone(),
                    interval: v.pointer("/spec/interval").and_then(Value::as_str).map(str::to_string),
                });
            }
            if n > 0 {
                counts.push((rel, n));
            }
        }
        s.file = counts.iter().max_by_key(|(_, n)| *n).map(|(f, _)| f.clone());
        Ok(s)
    }

    /// The HelmRepository for `chart`: an existing one with the same URL, else a new document
    /// appended to the sources file (or, without one, a file in `app_dir`). Returns the source
    /// and, when it is new, the path it was written to.
    pub fn ensure(&mut self, chart: &Chart, app_dir: &str, files: Option<&mut FileSet>) -> Result<(Source, Option<String>)> {
        if let Some(existing) = self.known.iter().find(|s| same_url(&s.url, chart.repository)) {
            return Ok((existing.clone(), None));
        }
        let mut name = chart.source_name.to_string();
        while self.known.iter().any(|s| s.name == name) {
            name.push_str("-charts");
        }
        let (file, namespace) = match (&self.file, &files) {
            (Some(f), _) => (f.clone(), self.known.iter().find(|s| &s.file == f).and_then(|s| s.namespace.clone())),
            (None, Some(_)) => (format!("{}/helmrepository-{name}.yaml", app_dir.trim_end_matches('/')).trim_start_matches('/').to_string(), None),
            // Nothing to write into (a plan from a cluster): Flux's own namespace.
            (None, None) => (String::new(), Some(self.default_namespace.clone().unwrap_or_else(|| "flux-system".into()))),
        };
        let source = Source { name, namespace, url: chart.repository.into(), file: file.clone(), interval: self.interval.clone() };
        self.known.push(source.clone());
        let Some(files) = files else { return Ok((source, None)) };
        let mut current = files.get(&file)?.unwrap_or_default();
        let eol = if current.contains("\r\n") { "\r\n" } else { "\n" };
        if !current.is_empty() && !current.ends_with('\n') {
            current.push_str(eol);
        }
        current.push_str(&source.document().replace('\n', eol));
        files.set(&file, Some(current))?;
        Ok((source, Some(file)))
    }
}

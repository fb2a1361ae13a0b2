//! YAML in and out. Reading splits a file into documents ourselves (so every object keeps its byte
//! range and first line for lossless edits) and parses each with serde-saphyr under strict limits.
//! Writing uses a small block-style emitter that quotes every string a YAML 1.1 or 1.2 reader
//! could take for something else, and can attach line comments (Flux image-automation markers).

mod documents;
mod emit;

pub use documents::{Document, parse_document, parse_str, split_documents};
pub use emit::{Comments, to_yaml};

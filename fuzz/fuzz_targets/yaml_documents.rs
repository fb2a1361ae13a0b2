//! The input as a YAML file: split into documents, each parsed, emitted and parsed back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helmigrate_fuzz::yaml_documents(data));

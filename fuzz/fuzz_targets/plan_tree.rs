//! A tiny repo made of the input (see `helmigrate_fuzz::TREE_FILES`), planned and applied.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| helmigrate_fuzz::plan_tree(data));

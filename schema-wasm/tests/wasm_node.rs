//! The fixture corpus through the wasm build, in Node (wasm-bindgen-test).
//! Run by `npm test`; alone: scripts/test-wasm.mjs node
#![cfg(all(target_arch = "wasm32", feature = "browser"))]

mod common;

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn corpus_in_node() {
    common::wasm::run_corpus();
}

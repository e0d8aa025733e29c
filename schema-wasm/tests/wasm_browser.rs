//! The fixture corpus through the wasm build, in headless Chromium (wasm-bindgen-test with
//! chromedriver; capabilities in schema-wasm/webdriver.json). Run by `npm test`.
#![cfg(all(target_arch = "wasm32", feature = "browser"))]

mod common;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn corpus_in_chromium() {
    common::wasm::run_corpus();
}

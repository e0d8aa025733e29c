//! A JS interval timer (`setInterval`), made in the request that uses it and cleared when dropped.
//! A stream's timer must be one: a future's timer can be registered from another request's context
//! and is lost when that request ends.

use worker::js_sys;
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = setInterval)]
    fn set_interval(callback: &js_sys::Function, ms: i32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = clearInterval)]
    fn clear_interval(id: &JsValue) -> Result<(), JsValue>;
}

/// A JS interval calling back into the stream; cleared when the stream ends or is dropped.
pub struct Ticker {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Ticker {
    /// Calls `callback` every `every_ms` until dropped.
    pub fn start(callback: Closure<dyn FnMut()>, every_ms: u64) -> Result<Ticker, JsValue> {
        let ms = i32::try_from(every_ms).unwrap_or(i32::MAX);
        let id = set_interval(callback.as_ref().unchecked_ref(), ms)?;
        Ok(Ticker { id, _callback: callback })
    }

    fn stop(&self) {
        // Fails only when it is already gone.
        let _ = clear_interval(&self.id);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

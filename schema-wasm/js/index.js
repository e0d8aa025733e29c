// Browser and bundler entry of @orgstream/schema: loads the wasm next to this file once (top-level
// await), then the validators are synchronous.
import init from "./schema.js";

await init({ module_or_path: new URL("./schema_bg.wasm", import.meta.url) });

export * from "./api.js";
export * from "./rules.js";

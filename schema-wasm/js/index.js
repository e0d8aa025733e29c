// Browser and bundler entry of @orgstream/schema: loads the wasm next to this file once, then
// exposes the validators synchronously.
import init, { validateEnvelope, validateEvent, eventTypes, schemaVersion } from "./schema.js";

await init({ module_or_path: new URL("./schema_bg.wasm", import.meta.url) });

export { validateEnvelope, validateEvent, eventTypes, schemaVersion };

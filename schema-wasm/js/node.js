// Node entry of @orgstream/schema: reads the wasm next to this file synchronously.
import { readFileSync } from "node:fs";
import { initSync } from "./schema.js";

initSync({ module: readFileSync(new URL("./schema_bg.wasm", import.meta.url)) });

export * from "./api.js";
export * from "./rules.js";

// `npm run setup`: everything `npm run dev` and `npm test` need, idempotent and cached.
import { setup } from "./lib/toolchain.mjs";
setup();

// The worker's API (/v1/...) is proxied to the orgstream worker, so the page, its token requests
// and its stream share one origin: `npm run dev` in the orgstream repository serves the worker at
// http://127.0.0.1:8787 (ORGSTREAM_URL points elsewhere).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const api = { "/v1": { target: process.env.ORGSTREAM_URL ?? "http://127.0.0.1:8787", changeOrigin: true } };

export default defineConfig({
  plugins: [react()],
  server: { proxy: api },
  preview: { proxy: api },
});

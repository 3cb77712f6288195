// The demo page's build. The kvlite package is used from the repository's
// wasm/dist (built by `node wasm/build.mjs`), as an app would use it from
// node_modules. The server and preview send the COOP/COEP headers that make
// the page cross-origin isolated, so the threaded build runs; set
// KVLITE_ISOLATION=0 to serve it plain and get the single-thread build.
import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

const kvlite = fileURLToPath(new URL("../wasm/dist/", import.meta.url));
const headers: Record<string, string> =
  process.env.KVLITE_ISOLATION === "0"
    ? {}
    : { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

export default defineConfig({
  // Relative asset URLs: the built page works from any folder of any server.
  base: "./",
  resolve: { alias: { kvlite: `${kvlite}index.js` } },
  server: { headers, fs: { allow: [".", kvlite] } },
  preview: { headers },
  build: { target: "es2022", chunkSizeWarningLimit: 1024 },
});

// The demo page's build. The kvlite package is used from the repository's
// wasm/dist (built by `node wasm/build.mjs`), as an app would use it from
// node_modules. The server and preview send the COOP/COEP headers that make
// the page cross-origin isolated, so the threaded build runs; set
// KVLITE_ISOLATION=0 to serve it plain and get the single-thread build.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { defineConfig, type Plugin } from "vite";

const kvlite = fileURLToPath(new URL("../wasm/dist/", import.meta.url));
const headers: Record<string, string> =
  process.env.KVLITE_ISOLATION === "0"
    ? {}
    : { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

// The dev server rewrites every script it serves as a module (it prepends an
// import of its client), but Emscripten starts the pthread script as a
// classic worker, where an import statement is a syntax error: serve it as is.
function rawPthreadScript(): Plugin {
  return {
    name: "kvlite-raw-pthread-script",
    apply: "serve",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (!(req.url ?? "").split("?")[0].endsWith("/kvlite-mt.worker.js")) return next();
        res.writeHead(200, { "Content-Type": "text/javascript", ...headers });
        res.end(readFileSync(`${kvlite}kvlite-mt.worker.js`));
      });
    },
  };
}

export default defineConfig({
  plugins: [rawPthreadScript()],
  // Relative asset URLs: the built page works from any folder of any server.
  base: "./",
  resolve: { alias: { kvlite: `${kvlite}index.js` } },
  server: { headers, fs: { allow: [".", kvlite] } },
  preview: { headers },
  build: { target: "es2022", chunkSizeWarningLimit: 1024 },
});

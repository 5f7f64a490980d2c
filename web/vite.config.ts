import { defineConfig } from "vite";

// The dashboard is built to web/dist (committed; CI rebuilds it and fails on any difference)
// and served by the signer under /dashboard/.
export default defineConfig({
  root: import.meta.dirname,
  base: "/dashboard/",
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // One small bundle: no modulepreload polyfill (modern browsers) and no inline scripts (CSP).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: "es2022",
    sourcemap: false,
  },
  server: {
    // `npx vite web` for work on the page: RPCs go to a signer on the default port.
    proxy: { "/livepeer.signer.v1.SignerService": "http://127.0.0.1:8935" },
  },
});

# lpsigner: the signer against a real chain (docs/install.md). Build where a registry is
# reachable: docker build -t lpsigner .
# Run with a read-only root, the keystore and its password as mounted files (docs/install.md):
#   docker run --read-only -p 8935:8935 \
#     -v /path/keystore.json:/run/secrets/keystore:ro -v /path/password:/run/secrets/password:ro \
#     lpsigner -network arbitrum-one-mainnet -ethUrl https://… -remoteSignerWebhookUrl http://…
# test/artifact.test.ts builds what these two stages build and runs it as an unprivileged user
# with a read-only root; keep the two in step.

# Build stage: every dependency (the TypeScript compiler is a dev one), then dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no package needs its install script here (secp256k1 ships prebuilt
# binaries), and the package's own prepare would build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# Runtime stage: production dependencies only (no EDR, solc, tsx or TypeScript), the compiled
# signer and the dashboard's static files.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src dist/src
COPY --from=build /src/dist/gen dist/gen
COPY bin bin
COPY web/dist web/dist
# Defaults as LP_<FLAG> variables, so arguments given to `docker run` add to them. 0.0.0.0: the
# port is published from the container; the signer refuses it without -remoteSignerWebhookUrl
# (or an explicit -remoteSignerAllowNoAuth).
ENV LP_HTTPADDR=0.0.0.0:8935 \
    LP_ETHKEYSTOREPATH=/run/secrets/keystore \
    LP_ETHPASSWORD=/run/secrets/password
# The image's unprivileged "node" user; nothing is written at run time (run it --read-only).
USER node
EXPOSE 8935
# Ready: the chain view is fresh and the signer can back tickets (README, Health).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8935/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/bin/lpsigner.js"]

# syntax=docker/dockerfile:1
# The bot (npm start) and its CPU model workers (npm run worker) in one image. Not built in CI: there
# is no Docker there, so this file is reviewed, not tested. See README "Running at scale".
# Model bundles are not in the image: mount them at /models (MODEL_DIR=/models/<bundle>).
# Data: /data holds the SQLite store (when REDIS_URL is unset) and the engine's graph cache.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
# sqlite3 fetches a prebuilt binary at install and compiles itself when it cannot (python3, make, g++).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# onnxruntime-node's postinstall would download the CUDA provider from NuGet; the CPU provider ships
# inside the package (Dockerfile.cuda adds the CUDA one). package.json's allowScripts denies that script
# (npm 11.x and later); this image's npm 10 reads only the variable, which the script itself checks.
ENV ONNXRUNTIME_NODE_INSTALL=skip
# Runtime dependencies only: tsx, which runs the TypeScript (npm start, npm run worker, the engine's
# worker threads through src/runtime/bootstrap.mjs, shards), is one of them.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# The official image's unprivileged user (uid 1000) owns only what the app writes.
RUN mkdir -p /data /models && chown node:node /data
USER node
ENV DATA_DIR=/data \
    MODEL_DIR=/models/janus-pro-1b \
    XCOT_GRAPH_CACHE=/data/graph-cache
# The gateway has no HTTP port. A model worker answers GET /health on HEALTH_PORT when it is set.
CMD ["npm", "start"]

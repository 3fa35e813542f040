# Multi-stage build of the runtime image, which also runs the reference central server (compose).
# The final stage holds plain JavaScript (`npm run build`) run with `node`, and production
# dependencies only: TypeScript and tsx stay in the build stage.

# Every dependency, to build.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# .npmrc stops onnxruntime-node's postinstall from downloading CUDA files (its CPU build ships in the package).
# patches/ is applied by the postinstall step (patch-package): upstream fixes, see patches/README.md.
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY media ./media
COPY agent ./agent
COPY supervisor ./supervisor
COPY examples ./examples
# The candidate page goes beside the built reference server, its script bundled now: the server
# serves a bundle newer than its sources as it is, and the final stage cannot write there.
RUN npm run build \
 && rm -rf dist/examples/candidate-page \
 && cp -r examples/candidate-page dist/examples/candidate-page \
 && node --input-type=module -e "const { candidatePage } = await import('./dist/examples/central-server/candidate-page.js'); if ((await candidatePage()).problem) process.exit(1);"

# Production dependencies only, patched the same way.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
# flite and pocketsphinx back the offline providers (PROVIDERS=offline); opus-tools encodes recordings.
RUN apt-get update \
 && apt-get install -y --no-install-recommends flite pocketsphinx pocketsphinx-en-us opus-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The reference server's store (a volume in compose), writable by the user it runs as.
RUN mkdir /data && chown node:node /data
ENV NODE_ENV=production
# glibc serves allocations of 32 KB and more with their own mappings, returned when freed: each
# session thread's start-up compilation otherwise leaves ~10 MB of freed scratch in its malloc arena
# (RSS per live session 64 -> 53 MB measured by the load test, CPU unchanged). Read at process start.
ENV MALLOC_MMAP_THRESHOLD_=32768
USER node
EXPOSE 9464
STOPSIGNAL SIGTERM
CMD ["node", "dist/supervisor/main.js"]

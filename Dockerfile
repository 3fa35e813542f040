# Multi-stage build of the runtime image. Only production dependencies reach the final stage.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
# .npmrc stops onnxruntime-node's postinstall from downloading CUDA files (its CPU build ships in the package).
# patches/ is applied by the postinstall step (patch-package): upstream fixes, see patches/README.md.
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# flite and pocketsphinx back the offline providers (PROVIDERS=offline).
RUN apt-get update \
 && apt-get install -y --no-install-recommends flite pocketsphinx pocketsphinx-en-us ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY shared ./shared
COPY media ./media
COPY agent ./agent
COPY supervisor ./supervisor
ENV NODE_ENV=production
USER node
EXPOSE 9464
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "supervisor/main.ts"]

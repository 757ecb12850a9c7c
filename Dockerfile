# syntax=docker/dockerfile:1
# Kubegate: multi-stage build; the runtime stage carries only Next's standalone tree (scripts/standalone.mjs).
#   docker build -t kubegate \
#     --build-arg VERSION=$(node -p 'require("./package.json").version') \
#     --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=<your repository URL> .
#   docker run -p 3000:3000 -v kubegate-data:/data kubegate
# Admin command:  docker exec <container> node scripts/kubegate.mjs sessions
# With your own config: -v ./kubegate.yaml:/etc/kubegate/kubegate.yaml:ro -e KUBEGATE_CONFIG=/etc/kubegate/kubegate.yaml
#
# test/http/image-layout.test.ts rebuilds the runtime stage's file layout from this file's COPY lines (no
# container engine is needed) and runs Kubegate from it as a non-root user with a read-only /app.

# Base image: node:24-bookworm-slim, pinned by digest so a rebuild gets the same base. The digest is the one public
# Dockerfiles pin for node:24-bookworm-slim at Node 24.18.0; it was not pulled on the machine that wrote this (no
# container engine there). Move it with the tag:  docker buildx imagetools inspect node:24-bookworm-slim
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Toolchain for better-sqlite3's native module when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV NEXT_TELEMETRY_DISABLED=1
# next build writes .next/standalone; scripts/build-server.mjs adds dist/, the start scripts and their node_modules.
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="Kubegate" \
      org.opencontainers.image.description="Web login portal and OpenID Connect issuer for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
# Every write goes to /data (KUBEGATE_DATA_DIR: the embedded default config, its key and the SQLite database)
# or, with your own config, where it points; /app stays read-only (readOnlyRootFilesystem).
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    KUBEGATE_DATA_DIR=/data
WORKDIR /app
# Files stay owned by root: the `node` user can read and run them, not change them.
COPY --from=build /app/.next/standalone ./
COPY --from=build /app/.next/static ./.next/static
COPY --from=build /app/public ./public
RUN mkdir -p /data && chown node:node /data
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "scripts/start.mjs"]

# netsonar collector image. From the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t ghcr.io/netsonar/collector:0.1.0 .
# Runs as an unprivileged user (65532), read-only root filesystem.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci` (docs/development.md); it honours the lockfile.
RUN npm install --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY collector collector
COPY common common
RUN npm run build && npm prune --omit=dev --no-fund --no-audit

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
EXPOSE 9400 8080
ENTRYPOINT ["node", "/app/dist/collector/main.js"]

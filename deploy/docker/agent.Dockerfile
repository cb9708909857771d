# netsonar agent image. From the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t ghcr.io/netsonar/agent:0.1.0 .
# Runs as root with the capabilities deploy/agent-daemonset.yaml grants (hostPID DaemonSet).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci` (docs/development.md); it honours the lockfile.
RUN npm install --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY agent agent
COPY common common
RUN npm run build && npm prune --omit=dev --no-fund --no-audit

FROM node:20-bookworm-slim
# What the agent runs inside pod network namespaces: nsenter (util-linux), and the tools its
# probes and captures use.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      util-linux iproute2 iputils-ping iputils-tracepath fping bind9-dnsutils \
      conntrack nftables tcpdump ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 0:0
ENTRYPOINT ["node", "/app/dist/agent/main.js"]

# syntax=docker/dockerfile:1
#
# Switchboard images: one build, one target per deployable.
#
#   docker build --target web          -t switchboard-web .
#   docker build --target agent-worker -t switchboard-agent-worker .
#   docker build --target tool-runner  -t switchboard-tool-runner .
#   docker build --target telegram     -t switchboard-telegram .
#   docker build --target slack        -t switchboard-slack .
#   docker build --target discord      -t switchboard-discord .
#   docker build --target whatsapp     -t switchboard-whatsapp .
#   docker build --target all-in-one   -t switchboard .
#
# There is no JS build step: Node 24 runs the .ts sources directly (type stripping), so every
# image is "production node_modules + the source tree". (The all-in-one image also bundles them
# for `npm start`'s entry, src/start.js: see src/bundle.ts.) All service targets share the same app
# layer (COPY --link), so a registry stores it once and a node pulls it once.
#
# Adding a service (e.g. a `slack` channel): copy the `web` target block below, change the
# target name, PORT/EXPOSE and the CMD path. Nothing else here needs to change: the deps stage
# picks up every workspace package.json by itself.

ARG NODE_IMAGE=node:24-slim

# ---- base: OS layer shared by every target ---------------------------------------------------
FROM ${NODE_IMAGE} AS base
# tini is PID 1 in every image. Node drains and exits on SIGTERM by itself, but PID 1 gets no
# default signal handlers from the kernel and must reap orphans: the tool-runner's sandboxed
# process trees and the all-in-one's redis-server child would otherwise pile up as zombies.
# tini forwards SIGTERM/SIGINT to node (only node: it decides how to stop its children).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
# A fixed, non-root uid/gid (10001) that matches runAsUser in k8s/ and is not the image's `node`
# user (1000), so files it may write never collide with a host user's.
RUN groupadd --gid 10001 switchboard \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin switchboard \
 && mkdir -p /data /var/cache/switchboard/node-compile \
 && chown 10001:10001 /data /var/cache/switchboard/node-compile
# Node's compile cache (compiled, type-stripped modules), written by the service user: the second
# start of a container, and the first start of an image that filled it at build, skip that work.
# Two malloc arenas instead of one per thread (glibc's default): ~5 MiB less resident memory idle
# in the one-process system (PGlite's worker thread, V8's helpers), no measurable cost in speed.
ENV NODE_ENV=production \
    DATA_DIR=/data \
    NODE_COMPILE_CACHE=/var/cache/switchboard/node-compile \
    MALLOC_ARENA_MAX=2
WORKDIR /app
ENTRYPOINT ["/usr/bin/tini", "--"]

# ---- manifests: every workspace package.json, nothing else -----------------------------------
# npm ci needs the root manifest, the lockfile and the package.json of every workspace the
# lockfile names. The list is read from package.json#workspaces and expanded with fs.globSync, so
# a new shared/* or services/* package (or a new workspace glob) needs no Dockerfile change.
# This stage copies the whole (dockerignored) context, but the deps stage only sees its output,
# so `npm ci` stays cached until a manifest or the lockfile really changes.
FROM base AS manifests
WORKDIR /src
COPY . .
RUN node --input-type=commonjs <<'EOF'
const fs = require("node:fs");
const path = require("node:path");
const root = JSON.parse(fs.readFileSync("package.json", "utf8"));
const globs = Array.isArray(root.workspaces) ? root.workspaces : (root.workspaces?.packages ?? []);
fs.mkdirSync("/manifests", { recursive: true });
for (const file of ["package.json", "package-lock.json"]) fs.copyFileSync(file, path.join("/manifests", file));
for (const manifest of fs.globSync(globs.map((g) => `${g.replace(/\/$/, "")}/package.json`))) {
  fs.mkdirSync(path.join("/manifests", path.dirname(manifest)), { recursive: true });
  fs.copyFileSync(manifest, path.join("/manifests", manifest));
  console.log(`workspace manifest: ${manifest}`);
}
EOF

# ---- deps: production node_modules for all workspaces ----------------------------------------
FROM base AS deps
COPY --from=manifests /manifests/ ./
# --ignore-scripts: this stage holds manifests only, so @switchboard/store's postinstall (the
# PGlite template, built by the all-in-one target from the source) has nothing to run; the other
# install script, msgpackr-extract's, only looks for the prebuilt binary npm installs anyway.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# ---- app: node_modules + source, owned by root and read-only to the service user -------------
FROM scratch AS app
COPY --from=deps /app/ /app/
# .dockerignore keeps node_modules, tests, .env files, k8s/ and the monitoring config out.
COPY . /app/

# ---- web: HTTP API, web chat, OpenAI-compatible endpoint, webhooks, SSE -----------------------
FROM base AS web
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/web/src/main.ts"]

# ---- agent-worker: consumes turn jobs, calls the model (PORT serves ops routes only) ---------
FROM base AS agent-worker
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=9101
EXPOSE 9101
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/agent-worker/src/main.ts"]

# ---- tool-runner: consumes tool jobs, runs `shell` inside bubblewrap --------------------------
FROM base AS tool-runner
# Debian ships bwrap without the setuid bit: it builds its sandbox from unprivileged user
# namespaces, which is what lets the container run as uid 10001 with no capabilities and
# no_new_privs (allowPrivilegeEscalation: false). The check fails the build if that ever changes,
# because a setuid bwrap is a different security model (and no_new_privs would disarm it anyway).
# What the *pod* must allow for bwrap to work is documented in k8s/base/tool-runner/deployment.yaml.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && test ! -u /usr/bin/bwrap \
 && bwrap --version
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=9102
EXPOSE 9102
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/tool-runner/src/main.ts"]

# ---- telegram: Telegram channel (POST /webhooks/telegram, outbound sends to the Bot API) ------
# Without TELEGRAM_BOT_TOKEN it logs that the channel is disabled and exits 0: deploy it only
# where a token is configured (compose profile `telegram`; the Secret in k8s).
FROM base AS telegram
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=9201
EXPOSE 9201
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/telegram/src/main.ts"]

# ---- slack: Slack channel (POST /webhooks/slack, or Socket Mode with SLACK_APP_TOKEN) ---------
# Without SLACK_BOT_TOKEN it logs that the channel is disabled and exits 0 (compose profile
# `slack`; the Secret in k8s). HTTP events: stateless, scale it out. Socket Mode: one replica.
FROM base AS slack
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=9202
EXPOSE 9202
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/slack/src/main.ts"]

# ---- discord: Discord channel (gateway WebSocket in, REST API out; no webhook) ----------------
# Without DISCORD_BOT_TOKEN it logs that the channel is disabled and exits 0 (compose profile
# `discord`; the Secret in k8s). One gateway connection per shard: run one container per shard.
FROM base AS discord
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=9203
EXPOSE 9203
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/discord/src/main.ts"]

# ---- whatsapp: WhatsApp Cloud API channel (GET|POST /webhooks/whatsapp, sends via the Graph API)
# Without WHATSAPP_ACCESS_TOKEN it logs that the channel is disabled and exits 0 (compose profile
# `whatsapp`; the Secret in k8s). Stateless webhook receiver: scale it out freely.
FROM base AS whatsapp
COPY --link --from=app /app/ /app/
USER 10001:10001
ENV PORT=9204
EXPOSE 9204
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "services/whatsapp/src/main.ts"]

# ---- all-in-one: every service in one process (`npm start`) ----------------------------------
# Embedded PGlite under DATA_DIR unless DATABASE_URL is set; a private redis-server (from PATH,
# data under DATA_DIR) unless REDIS_URL is set. Mount a volume on /data to keep state:
#   docker run -p 8080:8080 -v switchboard-data:/data -e OPENAI_API_KEY switchboard
FROM base AS all-in-one
# bubblewrap too, so the shell tool can be sandboxed here as well (without it, shell is disabled).
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && test ! -u /usr/bin/bwrap \
 && redis-server --version
COPY --link --from=app /app/ /app/
# Build the migrated PGlite data-dir snapshot into node_modules/.cache now, so a first start on an
# empty /data copies it (well under a second) instead of running initdb (5-10 s).
RUN node shared/store/scripts/prepare-template.mjs
# Bundle the system's sources into node_modules/.cache now (src/bundle-build.ts): `npm start`'s
# entry runs the bundle (a few dozen modules instead of ~1,100), which the service user could not
# write at run time.
RUN node src/bundle-build.ts
USER 10001:10001
# Fill the compile cache with every chunk of the bundle but its entry (which would start the
# system) and PGlite's modules (a first start ~0.5 s sooner), and size V8's young generation as
# `npm start` does (16 MiB semi-spaces: fewer collections under load).
RUN node --input-type=module -e "import { readdirSync } from 'node:fs'; const { currentBundle } = await import('./src/bundle.ts'); const main = new URL(currentBundle() ?? 'the bundle is out of date'); for (const chunk of readdirSync(new URL('.', main))) if (chunk !== 'main.mjs') await import(new URL(chunk, main)); await import('@electric-sql/pglite')"
ENV NODE_OPTIONS=--max-semi-space-size=16
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/start.js"]

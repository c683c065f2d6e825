-- Memory: compaction summaries, long-term memories (hybrid retrieval), an embeddings cache, and
-- the idempotency keys of memory work so a retried turn never compacts or extracts twice.

-- Rolling summaries of a session's older turns. Each one covers messages from_seq..to_seq (and,
-- through the summary before it, everything earlier); the newest is the one put in context.
CREATE TABLE IF NOT EXISTS summaries (
  id          bigserial PRIMARY KEY,
  session_id  text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  from_seq    integer NOT NULL,
  to_seq      integer NOT NULL,
  content     text NOT NULL,
  tokens      integer NOT NULL,
  model       text,
  -- The turn whose post-commit step wrote it.
  turn_id     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- A retried compaction of the same range is a no-op (INSERT … ON CONFLICT DO NOTHING).
  UNIQUE (session_id, to_seq),
  CHECK (to_seq >= from_seq)
);

-- Long-term memories. scope/scope_id: 'user' → '<platform>:<user id>', 'agent' → agent name,
-- 'session' → session key. user_id/platform name the owning user (null for agent memories), so
-- deleting a user finds everything of theirs.
CREATE TABLE IF NOT EXISTS memories (
  id                bigserial PRIMARY KEY,
  scope             text NOT NULL CHECK (scope IN ('user', 'agent', 'session')),
  scope_id          text NOT NULL,
  user_id           text,
  platform          text,
  session_id        text,
  kind              text NOT NULL DEFAULT 'fact' CHECK (kind IN ('fact', 'preference', 'note')),
  content           text NOT NULL CHECK (length(content) BETWEEN 1 AND 4000),
  -- sha256 of the normalized content: exact duplicates within a scope merge on this.
  content_hash      text NOT NULL,
  -- Any dimension; `dims` says which, and a partial HNSW index per dimension serves it.
  embedding         vector,
  dims              integer,
  embedding_model   text,
  tsv               tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
  importance        real NOT NULL DEFAULT 0.5 CHECK (importance >= 0 AND importance <= 1),
  source_message_id bigint REFERENCES messages(id) ON DELETE SET NULL,
  source_turn_id    text,
  -- 'remember' (tool), 'extract' (after a turn), 'flush' (before compaction), 'api'.
  source            text NOT NULL DEFAULT 'api',
  use_count         integer NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  last_used_at      timestamptz,
  CHECK ((embedding IS NULL) = (dims IS NULL)),
  UNIQUE (scope, scope_id, content_hash)
);
CREATE INDEX IF NOT EXISTS memories_scope_idx ON memories (scope, scope_id, created_at DESC);
CREATE INDEX IF NOT EXISTS memories_user_idx ON memories (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_session_idx ON memories (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_tsv_idx ON memories USING gin (tsv);
-- HNSW (cosine) for the common embedding sizes; MemoryStore creates the same kind of index for
-- any other size on first use. Each is partial on its dimension, so an insert touches one.
CREATE INDEX IF NOT EXISTS memories_embedding_384_idx ON memories USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dims = 384;
CREATE INDEX IF NOT EXISTS memories_embedding_768_idx ON memories USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dims = 768;
CREATE INDEX IF NOT EXISTS memories_embedding_1024_idx ON memories USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dims = 1024;
CREATE INDEX IF NOT EXISTS memories_embedding_1536_idx ON memories USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dims = 1536;

-- Embeddings by (owner, model, sha256 of the text). Keyed by owner so deleting a user deletes
-- exactly the vectors of their texts ('' = text of no user, e.g. agent memories).
CREATE TABLE IF NOT EXISTS embedding_cache (
  owner         text NOT NULL,
  model         text NOT NULL,
  content_hash  text NOT NULL,
  embedding     vector NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, model, content_hash)
);

-- Memory work done, by idempotency key: 'extract:<turn id>', 'flush:<session>:<to seq>',
-- 'compact:<session>:<to seq>'. Written in the same transaction as the work's results.
CREATE TABLE IF NOT EXISTS memory_runs (
  key         text PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('extract', 'flush', 'compact')),
  session_id  text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  turn_id     text,
  stored      integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS memory_runs_session_idx ON memory_runs (session_id);
CREATE INDEX IF NOT EXISTS messages_user_idx ON messages (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id) WHERE user_id IS NOT NULL;

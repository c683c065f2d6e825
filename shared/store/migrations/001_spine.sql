-- Sessions, transcripts and committed turns: the source of truth for short-term context.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS sessions (
  id          text PRIMARY KEY,
  platform    text NOT NULL,
  account     text NOT NULL,
  chat_id     text NOT NULL,
  thread_id   text,
  user_id     text,
  -- Fencing token: bumped by every turn that starts; a commit must present the current value.
  fence       bigint NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS turns (
  id            text PRIMARY KEY,
  session_id    text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  fence         bigint NOT NULL,
  inbound_ids   text[] NOT NULL,
  reply_text    text NOT NULL,
  model         text,
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS turns_session_idx ON turns (session_id, created_at);

CREATE TABLE IF NOT EXISTS messages (
  id            bigserial PRIMARY KEY,
  session_id    text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq           integer NOT NULL,
  turn_id       text NOT NULL,
  role          text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content       text NOT NULL DEFAULT '',
  tool_calls    jsonb,
  tool_call_id  text,
  -- The inbound message id for user messages; unique per session so a retried commit cannot duplicate.
  source_id     text,
  user_id       text,
  tokens        integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (session_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_source_idx ON messages (session_id, source_id) WHERE source_id IS NOT NULL;

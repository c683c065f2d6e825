-- Durable approvals ("ask" parks a turn here) and the audit log of every tool call.
CREATE TABLE IF NOT EXISTS approvals (
  id            text PRIMARY KEY,
  session_id    text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  turn_id       text NOT NULL,
  tool_call_id  text NOT NULL,
  tool          text NOT NULL,
  arguments     jsonb NOT NULL,
  reason        text NOT NULL,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
  decided_by    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  decided_at    timestamptz,
  UNIQUE (turn_id, tool_call_id)
);
CREATE INDEX IF NOT EXISTS approvals_pending_idx ON approvals (status, expires_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS tool_audit (
  id            bigserial PRIMARY KEY,
  session_id    text NOT NULL,
  user_id       text NOT NULL,
  platform      text NOT NULL,
  turn_id       text NOT NULL,
  tool_call_id  text NOT NULL,
  tool          text NOT NULL,
  -- Arguments with secret-looking fields replaced by "[redacted]".
  arguments     jsonb NOT NULL,
  decision      text NOT NULL CHECK (decision IN ('allow', 'deny', 'ask', 'invalid')),
  approval_id   text,
  approver      text,
  outcome       text NOT NULL,
  duration_ms   integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (turn_id, tool_call_id)
);
CREATE INDEX IF NOT EXISTS tool_audit_session_idx ON tool_audit (session_id, created_at);

-- A memory belongs to the one user who stated it. The same words from two members of a group are
-- two rows, so deleting one member's data (deleteUserData) leaves the other's statement in place;
-- merged into one row, it went with whichever of them wrote it first. Rows without a user (agent
-- memories written by an operator) still merge among themselves (NULLS NOT DISTINCT).
ALTER TABLE memories DROP CONSTRAINT IF EXISTS memories_scope_scope_id_content_hash_key;
CREATE UNIQUE INDEX IF NOT EXISTS memories_writer_content_idx ON memories (scope, scope_id, content_hash, user_id) NULLS NOT DISTINCT;

-- Runs once, when docker-compose's Postgres initializes an empty data directory.
-- The migrations also run `CREATE EXTENSION IF NOT EXISTS vector`, which needs a role allowed to
-- create it; creating it here as the bootstrap superuser keeps that working if the application
-- later connects with a less privileged role. Do the same by hand on a managed Postgres.
CREATE EXTENSION IF NOT EXISTS vector;

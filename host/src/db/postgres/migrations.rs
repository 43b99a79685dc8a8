//! The PostgreSQL schema, one migration per version (in the same order as SQLite's), and how a
//! database is brought up to date.

use postgres::Client;

use crate::db::DbError;

/// The schema, one migration per version, in the same order as SQLite's.
pub const MIGRATIONS: &[&str] = &[
    // 1: arenas with their head and snapshot, the event log, and who participates where.
    "CREATE TABLE arenas (
         id        TEXT PRIMARY KEY,
         status    TEXT NOT NULL,
         head_seq  BIGINT NOT NULL,
         head_hash TEXT NOT NULL,
         snapshot  TEXT NOT NULL
     );
     CREATE TABLE events (
         arena_id TEXT NOT NULL,
         seq      BIGINT NOT NULL,
         at       TEXT NOT NULL,
         actor    TEXT NOT NULL,
         kind     TEXT NOT NULL,
         payload  TEXT NOT NULL,
         hash     TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     );
     CREATE TABLE members (
         agent    TEXT NOT NULL,
         arena_id TEXT NOT NULL,
         PRIMARY KEY (agent, arena_id)
     );",
    // 2: the log is append-only in the database itself, and members can be found by arena.
    "CREATE FUNCTION arena_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
     CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
         FOR EACH ROW EXECUTE FUNCTION arena_events_append_only();
     CREATE INDEX members_by_arena ON members (arena_id);",
    // 3: durable cursors of event subscribers: the last event each has accepted.
    "CREATE TABLE cursors (
         arena_id   TEXT NOT NULL,
         subscriber TEXT NOT NULL,
         seq        BIGINT NOT NULL,
         PRIMARY KEY (arena_id, subscriber)
     );",
    // 4: the tags of each arena's facts, to find facts across arenas by tag.
    "CREATE TABLE arena_tags (
         tag      TEXT NOT NULL,
         arena_id TEXT NOT NULL,
         PRIMARY KEY (tag, arena_id)
     );
     CREATE INDEX arena_tags_by_arena ON arena_tags (arena_id);",
    // 5: snapshots kept apart, now and then, instead of the whole state rewritten with every
    // append; an arena's row keeps its status and the head its log must end at; an append is one
    // call of a server-side function.
    "CREATE TABLE snapshots (
         arena_id TEXT NOT NULL,
         seq      BIGINT NOT NULL,
         state    TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     );
     INSERT INTO snapshots (arena_id, seq, state) SELECT id, head_seq, snapshot FROM arenas;
     ALTER TABLE arenas DROP COLUMN snapshot;
     CREATE FUNCTION arena_snapshots_never_altered() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'snapshots are never altered'; END $$;
     CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots
         FOR EACH ROW EXECUTE FUNCTION arena_snapshots_never_altered();
     CREATE FUNCTION arena_append(
         p_arena TEXT, p_expected BIGINT,
         p_seqs BIGINT[], p_ats TEXT[], p_actors TEXT[], p_kinds TEXT[], p_payloads TEXT[],
         p_hashes TEXT[],
         p_status TEXT, p_participants TEXT[], p_tags TEXT[], p_snapshot TEXT,
         OUT written BOOLEAN, OUT head_hash TEXT, OUT log_seq BIGINT, OUT log_hash TEXT
     ) LANGUAGE plpgsql AS $$
     DECLARE
         last_seq BIGINT := p_seqs[array_upper(p_seqs, 1)];
         last_hash TEXT := p_hashes[array_upper(p_hashes, 1)];
     BEGIN
         written := FALSE;
         IF p_expected = 0 THEN
             INSERT INTO arenas (id, status, head_seq, head_hash)
                 VALUES (p_arena, p_status, last_seq, last_hash) ON CONFLICT (id) DO NOTHING;
             IF NOT FOUND THEN RETURN; END IF;
         ELSE
             -- Lock the arena's row at the expected head (a racing writer waits here, then finds
             -- the head moved), and check that its log really ends there.
             SELECT a.head_hash INTO head_hash FROM arenas a
                 WHERE a.id = p_arena AND a.head_seq = p_expected FOR UPDATE;
             IF NOT FOUND THEN RETURN; END IF;
             SELECT e.seq, e.hash INTO log_seq, log_hash FROM events e
                 WHERE e.arena_id = p_arena ORDER BY e.seq DESC LIMIT 1;
             IF log_seq IS DISTINCT FROM p_expected OR log_hash IS DISTINCT FROM head_hash THEN
                 RETURN;
             END IF;
             UPDATE arenas SET head_seq = last_seq, head_hash = last_hash,
                               status = COALESCE(p_status, status)
                 WHERE id = p_arena;
         END IF;
         INSERT INTO events (arena_id, seq, at, actor, kind, payload, hash)
             SELECT p_arena, e.* FROM unnest(p_seqs, p_ats, p_actors, p_kinds, p_payloads, p_hashes) AS e;
         IF p_status IS NOT NULL THEN
             DELETE FROM members WHERE arena_id = p_arena;
             INSERT INTO members (agent, arena_id)
                 SELECT DISTINCT a, p_arena FROM unnest(p_participants) AS a;
             DELETE FROM arena_tags WHERE arena_id = p_arena;
             INSERT INTO arena_tags (tag, arena_id)
                 SELECT DISTINCT t, p_arena FROM unnest(p_tags) AS t;
         END IF;
         IF p_snapshot IS NOT NULL THEN
             INSERT INTO snapshots (arena_id, seq, state) VALUES (p_arena, last_seq, p_snapshot);
         END IF;
         PERFORM pg_notify('arena_events', p_arena);
         written := TRUE;
         head_hash := NULL;
     EXCEPTION WHEN unique_violation THEN
         -- Another writer appended the same sequence number first: nothing of this is kept.
         written := FALSE;
         head_hash := NULL;
     END $$;",
    // 6: agent tokens: only each token's SHA-256 is kept, with the arena and agent it acts as, its
    // label, and its times (unix seconds).
    "CREATE TABLE tokens (
         id           TEXT PRIMARY KEY,
         hash         TEXT NOT NULL UNIQUE,
         arena_id     TEXT NOT NULL,
         agent        TEXT NOT NULL,
         label        TEXT,
         created_at   BIGINT NOT NULL,
         expires_at   BIGINT,
         last_used_at BIGINT,
         revoked_at   BIGINT
     );
     CREATE INDEX tokens_by_arena ON tokens (arena_id);",
];

/// The advisory lock under which hosts starting at once migrate one after another.
const MIGRATION_LOCK: i64 = 727_274;

/// Runs the migrations the database has not seen, under an advisory lock so that hosts starting at
/// once migrate one after another. Refuses a database from a newer version.
pub(super) fn migrate(conn: &mut Client) -> Result<(), DbError> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS arena_schema (version INTEGER NOT NULL)")?;
    let version: i32 = tx
        .query_opt("SELECT version FROM arena_schema", &[])?
        .map_or(0, |row| row.get(0));
    let version = usize::try_from(version).unwrap_or(0);
    if version > MIGRATIONS.len() {
        return Err(DbError::SchemaTooNew {
            found: version,
            supported: MIGRATIONS.len(),
        });
    }
    for sql in &MIGRATIONS[version..] {
        tx.batch_execute(sql)?;
    }
    tx.execute("DELETE FROM arena_schema", &[])?;
    tx.execute(
        "INSERT INTO arena_schema (version) VALUES ($1)",
        &[&(MIGRATIONS.len() as i32)],
    )?;
    Ok(tx.commit()?)
}

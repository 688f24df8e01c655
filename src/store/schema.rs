//! The database schema and its versioned migrations (`PRAGMA user_version`).
//! A migration is appended, never edited: version N is `MIGRATIONS[N-1]`.

pub const MIGRATIONS: &[&str] = &[
    // 1: messages, tickets, the event log, the outbox, and the ids used for threading.
    r#"
    CREATE TABLE tickets (
        id               INTEGER PRIMARY KEY,
        requester        TEXT NOT NULL,
        requester_name   TEXT,
        subject          TEXT NOT NULL,
        category         TEXT NOT NULL,
        language         TEXT NOT NULL,
        status           TEXT NOT NULL,
        priority         TEXT NOT NULL,
        owner            TEXT,
        resolution       TEXT,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        first_response_at INTEGER,
        resolved_at      INTEGER
    );
    CREATE INDEX tickets_status ON tickets(status);

    CREATE TABLE messages (
        id          INTEGER PRIMARY KEY,
        dedup_key   TEXT NOT NULL UNIQUE,
        source_ref  TEXT,
        ticket_id   INTEGER REFERENCES tickets(id),
        from_addr   TEXT NOT NULL,
        subject     TEXT NOT NULL,
        new_text    TEXT NOT NULL,
        category    TEXT NOT NULL,
        action      TEXT NOT NULL,
        language    TEXT NOT NULL,
        confidence  REAL NOT NULL,
        matched     TEXT NOT NULL,
        problems    TEXT NOT NULL,
        raw         BLOB,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX messages_ticket ON messages(ticket_id);

    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        at        INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        actor     TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
    CREATE INDEX events_ticket ON events(ticket_id);

    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        ticket_id       INTEGER REFERENCES tickets(id),
        message_id      TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL,
        mail_from       TEXT NOT NULL,
        rcpt_to         TEXT NOT NULL,
        raw             BLOB NOT NULL,
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        sent_at         INTEGER,
        failed_at       INTEGER,
        last_error      TEXT
    );
    CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

    CREATE TABLE thread_ids (
        message_id TEXT PRIMARY KEY,
        ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
        direction  TEXT NOT NULL,
        audience   TEXT NOT NULL
    );
    "#,
    // 2: small facts about the installation (first start, last digest, …).
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 3: the weekly digests queued, one row per ISO week ("2026-W47"): the
    // primary key is what makes a second attempt for the same week a no-op.
    r#"
    CREATE TABLE digests (
        week    TEXT PRIMARY KEY,
        sent_at INTEGER NOT NULL,
        late    INTEGER NOT NULL
    );
    "#,
    // 4: addresses that get no automatic mail for a while (their mail
    // bounced for good), and an index for the per-recipient reply limits.
    r#"
    CREATE TABLE suppressed (
        address TEXT PRIMARY KEY,
        until   INTEGER NOT NULL,
        reason  TEXT NOT NULL
    );
    CREATE INDEX outbox_recipient ON outbox(rcpt_to, created_at);
    "#,
    // 5: lookups every inbound mail makes; without these indexes each mail
    // scanned whole tables (the messages scan read the raw bytes too).
    r#"
    CREATE INDEX messages_sender ON messages(from_addr, received_at);
    CREATE INDEX thread_ids_ticket ON thread_ids(ticket_id, audience);
    "#,
    // 6: the order the sender works in, decided when a mail is queued (see
    // `store::priority`), with an index in that order so taking the next few
    // never sorts a long queue.
    r#"
    ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
    UPDATE outbox SET priority = 0 WHERE kind = 'security_alert';
    CREATE INDEX outbox_queue ON outbox(priority, id, next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
    "#,
];

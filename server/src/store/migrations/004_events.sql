-- Durable events (server/src/events). Every write appends one event per written version in the same transaction
-- (the outbox), unnumbered. A sequencer (one at a time, in any process) then numbers the committed events per
-- tenant without gaps, in the order they became visible, so numbers follow commit order; writers never wait for
-- each other on a counter. Consumers (bots and Subscriptions) each keep a cursor over their tenant's numbers; a
-- dispatcher in any process leases a consumer with FOR UPDATE SKIP LOCKED, handles its events in order, and
-- advances the cursor.

-- The last event number of each tenant; written only by the sequencer.
CREATE TABLE haven_event_counters (
  tenant   text   PRIMARY KEY,
  last_seq bigint NOT NULL
);

CREATE TABLE haven_events (
  id            bigserial   PRIMARY KEY,  -- insertion order: a version's event is inserted after the previous version committed
  tenant        text        NOT NULL,
  seq           bigint,                 -- per-tenant number, set by the sequencer once the write committed
  resource_type text        NOT NULL,
  resource_id   text        NOT NULL,
  version_id    integer     NOT NULL,
  interaction   text        NOT NULL CHECK (interaction IN ('create', 'update', 'delete')),
  actor         text,                   -- 'bot:<id>' when a bot wrote it (bots never react to their own writes)
  depth         integer     NOT NULL DEFAULT 0,  -- bot cascade depth: 0 for writes by people and clients
  recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX haven_events_tenant_seq ON haven_events (tenant, seq) WHERE seq IS NOT NULL;
CREATE INDEX haven_events_unnumbered ON haven_events (id) WHERE seq IS NULL;

-- One row per (tenant, consumer): `bot:<id>` or `sub:<Subscription id>`.
CREATE TABLE haven_consumers (
  tenant      text        NOT NULL,
  consumer    text        NOT NULL,
  cursor      bigint      NOT NULL,   -- every event with seq <= cursor is done (handled, skipped or dead-lettered)
  lease_owner text,                   -- the process working on it now
  lease_until timestamptz,            -- another process may take over after this (the owner died)
  attempts    integer     NOT NULL DEFAULT 0,  -- failed attempts at the event after `cursor`
  retry_at    timestamptz,            -- next attempt not before this (exponential backoff)
  last_error  text,                   -- of the last failed attempt: status codes and error classes, never PHI
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, consumer)
);

-- Events a consumer gave up on after its retries. An admin lists them and replays them.
CREATE TABLE haven_dead_letters (
  tenant      text        NOT NULL,
  consumer    text        NOT NULL,
  seq         bigint      NOT NULL,
  attempts    integer     NOT NULL,
  error       text        NOT NULL,
  dead_at     timestamptz NOT NULL DEFAULT now(),
  replay_requested_at timestamptz,   -- set by an admin; any dispatcher replays it, then clears it
  replayed_at timestamptz,
  replay_result text,
  PRIMARY KEY (tenant, consumer, seq)
);

-- Every bot run: which bot, which event, outcome. The row is written in the transaction of the bot's own writes,
-- so a run whose writes committed is never run again (the idempotency key is (tenant, bot, seq)).
CREATE TABLE haven_bot_runs (
  tenant      text        NOT NULL,
  bot         text        NOT NULL,
  seq         bigint      NOT NULL,
  outcome     text        NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'dead')),
  attempts    integer     NOT NULL DEFAULT 1,
  detail      text,                   -- a summary from the bot, or the error; never PHI
  duration_ms integer,
  finished_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, bot, seq)
);

-- Who created each Subscription (its compiled access policy): a subscription only delivers what its creator may read.
CREATE TABLE haven_subscriptions (
  tenant     text        NOT NULL,
  id         text        NOT NULL,
  owner      jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, id)
);

-- The events that matched a Subscription, numbered per subscription (Backport IG eventNumber), for $events replay.
CREATE TABLE haven_subscription_events (
  tenant          text        NOT NULL,
  subscription_id text        NOT NULL,
  event_number    bigint      NOT NULL,
  seq             bigint      NOT NULL,
  delivered_at    timestamptz,
  PRIMARY KEY (tenant, subscription_id, event_number),
  UNIQUE (tenant, subscription_id, seq)
);

-- Websocket binding tokens (Backport IG $get-ws-binding-token), stored as SHA-256 hashes.
CREATE TABLE haven_ws_tokens (
  token_hash      text        PRIMARY KEY,
  tenant          text        NOT NULL,
  subscription_id text        NOT NULL,
  expires_at      timestamptz NOT NULL
);

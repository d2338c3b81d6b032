-- Who receives notification content is decided with that receiver's grants at delivery time
-- (server/src/events/receiver.ts). haven_subscriptions.owner now holds the owner as a receiver record (client, user,
-- scopes as granted), re-checked at every delivery; rows holding a bare compiled policy (written before this) are
-- turned off at their next event, since nothing says whose they were.
-- A websocket binding token remembers the caller who asked for it: a bound socket receives only what that caller
-- may read, not what the Subscription's owner may. Tokens without one (issued before this) no longer bind.
ALTER TABLE haven_ws_tokens ADD COLUMN receiver jsonb;

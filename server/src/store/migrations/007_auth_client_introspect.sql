-- Token introspection (RFC 7662 §2.1: the endpoint requires authorization of its caller) is allowed only to
-- clients registered as resource servers (`haven clients add --introspect`). Existing clients are not
-- resource servers: an operator turns the flag on deliberately, never by default.
ALTER TABLE auth_clients ADD COLUMN introspect boolean NOT NULL DEFAULT false;

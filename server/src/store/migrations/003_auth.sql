-- SMART authorization server (server/src/auth). Secrets are never stored in the clear: client secrets and
-- codes/refresh tokens as SHA-256 hashes (they are 256-bit random values), passwords as scrypt hashes,
-- private signing keys and TOTP seeds encrypted with AES-256-GCM under a key that is NOT in this database
-- (HAVEN_SECRET or DATA_DIR/secret.key, see auth/secret.ts).

-- Token signing keys, shared by all tenants (each tenant's tokens carry its own iss/aud/tenant).
CREATE TABLE auth_signing_keys (
  kid         text        PRIMARY KEY,
  alg         text        NOT NULL,
  public_jwk  jsonb       NOT NULL,
  private_enc text        NOT NULL,   -- AES-256-GCM ciphertext of the private JWK
  kek_id      text        NOT NULL,   -- fingerprint of the key-encryption key (detects a wrong secret)
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz,            -- set by rotation: no longer signs
  expires_at  timestamptz             -- leaves the JWKS after this (tokens signed with it have expired)
);

CREATE TABLE auth_clients (
  tenant        text        NOT NULL,
  client_id     text        NOT NULL,
  type          text        NOT NULL CHECK (type IN ('public', 'confidential-symmetric', 'confidential-asymmetric', 'backend')),
  name          text,
  redirect_uris text[]      NOT NULL DEFAULT '{}',
  launch_uri    text,
  scopes        text        NOT NULL,  -- the maximum grant, space-separated
  secret_hash   text,                  -- SHA-256 of the client secret (confidential-symmetric)
  jwks          jsonb,                 -- JWKS by value (asymmetric, backend)
  jwks_url      text,                  -- or by URL
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, client_id)
);

CREATE TABLE auth_users (
  tenant         text        NOT NULL,
  id             text        NOT NULL,
  username       text        NOT NULL,
  fhir_user      text        NOT NULL,   -- e.g. Practitioner/123
  roles          text[]      NOT NULL,
  password_hash  text        NOT NULL,   -- scrypt$N$r$p$salt$hash
  totp_enc       text,                   -- AES-256-GCM ciphertext of the TOTP seed
  totp_last_step bigint,                 -- last accepted time step: a code is never accepted twice
  failed_count   integer     NOT NULL DEFAULT 0,
  failed_since   timestamptz,
  locked_until   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, id),
  UNIQUE (tenant, username)
);

-- One browser's pass through authorize -> login -> patient -> consent; bound to a cookie (browser_hash).
CREATE TABLE auth_interactions (
  id           text        PRIMARY KEY,
  tenant       text        NOT NULL,
  client_id    text        NOT NULL,
  browser_hash text        NOT NULL,
  csrf         text        NOT NULL,
  request      jsonb       NOT NULL,   -- validated authorization request (no secrets)
  user_id      text,
  patient      text,
  expires_at   timestamptz NOT NULL
);

-- EHR launch ids (POST /auth/launch): single use, short-lived, bound to client, user and context.
CREATE TABLE auth_launches (
  id         text        PRIMARY KEY,
  tenant     text        NOT NULL,
  client_id  text        NOT NULL,
  user_id    text        NOT NULL,
  context    jsonb       NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);

-- An authorization grant: every token descends from one; revoking it revokes them all.
CREATE TABLE auth_grants (
  id         text        PRIMARY KEY,
  tenant     text        NOT NULL,
  client_id  text        NOT NULL,
  user_id    text,                     -- null for backend services
  scopes     text        NOT NULL,
  context    jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX auth_grants_expiry ON auth_grants (expires_at);

CREATE TABLE auth_codes (
  code_hash      text        PRIMARY KEY,
  tenant         text        NOT NULL,
  client_id      text        NOT NULL,
  grant_id       text        NOT NULL,  -- the grant the exchange creates; revoked if the code is replayed
  redirect_uri   text        NOT NULL,
  code_challenge text        NOT NULL,
  user_id        text        NOT NULL,
  scopes         text        NOT NULL,
  context        jsonb       NOT NULL,
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz
);

CREATE TABLE auth_refresh_tokens (
  token_hash text        PRIMARY KEY,
  tenant     text        NOT NULL,
  grant_id   text        NOT NULL,
  client_id  text        NOT NULL,
  scopes     text        NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz             -- set when rotated; presenting it again revokes the grant
);
CREATE INDEX auth_refresh_tokens_grant ON auth_refresh_tokens (grant_id);

-- Client assertion ids seen, for replay refusal (SMART client-confidential-asymmetric, RFC 7523 §3).
CREATE TABLE auth_assertion_jtis (
  tenant     text        NOT NULL,
  client_id  text        NOT NULL,
  jti        text        NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant, client_id, jti)
);

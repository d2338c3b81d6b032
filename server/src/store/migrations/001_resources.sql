-- Current version of every resource, one row per (tenant, type, id). Deleted resources keep their row
-- (deleted = true, content = null) so that a read answers 410 and the id is never reused.
CREATE TABLE resources (
  tenant        text        NOT NULL,
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    integer     NOT NULL,
  last_updated  timestamptz NOT NULL,
  deleted       boolean     NOT NULL DEFAULT false,
  content       jsonb,
  PRIMARY KEY (tenant, resource_type, id)
);
CREATE INDEX resources_type_updated ON resources (tenant, resource_type, last_updated);

-- Every version ever written, including deletes (content null). Append-only.
CREATE TABLE resource_history (
  seq           bigserial   NOT NULL,
  tenant        text        NOT NULL,
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    integer     NOT NULL,
  last_updated  timestamptz NOT NULL,
  deleted       boolean     NOT NULL DEFAULT false,
  method        text        NOT NULL,
  content       jsonb,
  PRIMARY KEY (tenant, resource_type, id, version_id)
);
CREATE INDEX resource_history_tenant_time ON resource_history (tenant, last_updated, seq);
CREATE INDEX resource_history_type_time ON resource_history (tenant, resource_type, last_updated, seq);

-- Search index rows, written in the same transaction as the resource. One table per search value kind.
-- `code` is the SearchParameter code (e.g. 'subject', '_tag'); rows exist only for current, non-deleted versions.
CREATE TABLE sp_string (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  norm text NOT NULL,        -- lower-cased, accents removed: default and :contains matching
  raw text NOT NULL          -- as written: :exact matching
);
CREATE INDEX sp_string_lookup ON sp_string (tenant, resource_type, code, norm text_pattern_ops);
CREATE INDEX sp_string_owner ON sp_string (tenant, resource_type, id);

CREATE TABLE sp_token (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  system text,               -- null when the value has no system
  value text,                -- code / identifier value / boolean as 'true'|'false'
  display text               -- lower-cased display and CodeableConcept.text: :text matching
);
CREATE INDEX sp_token_lookup ON sp_token (tenant, resource_type, code, value, system);
CREATE INDEX sp_token_owner ON sp_token (tenant, resource_type, id);

CREATE TABLE sp_reference (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  target_type text,          -- e.g. 'Patient' for 'Patient/123'
  target_id text,            -- e.g. '123'
  url text,                  -- absolute or canonical references (with version stripped), else null
  ident_system text,         -- Reference.identifier: the :identifier modifier
  ident_value text
);
CREATE INDEX sp_reference_lookup ON sp_reference (tenant, code, target_id, target_type);
CREATE INDEX sp_reference_url ON sp_reference (tenant, code, url);
CREATE INDEX sp_reference_owner ON sp_reference (tenant, resource_type, id);

CREATE TABLE sp_date (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  low timestamptz NOT NULL,  -- inclusive start of the value's implied range; '-infinity' when open
  high timestamptz NOT NULL  -- inclusive end; 'infinity' when open
);
CREATE INDEX sp_date_lookup ON sp_date (tenant, resource_type, code, low, high);
CREATE INDEX sp_date_owner ON sp_date (tenant, resource_type, id);

CREATE TABLE sp_number (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  value numeric NOT NULL
);
CREATE INDEX sp_number_lookup ON sp_number (tenant, resource_type, code, value);
CREATE INDEX sp_number_owner ON sp_number (tenant, resource_type, id);

CREATE TABLE sp_quantity (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  value numeric NOT NULL,
  system text,               -- Quantity.system
  unit_code text,            -- Quantity.code
  unit text                  -- Quantity.unit
);
CREATE INDEX sp_quantity_lookup ON sp_quantity (tenant, resource_type, code, value);
CREATE INDEX sp_quantity_owner ON sp_quantity (tenant, resource_type, id);

CREATE TABLE sp_uri (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  value text NOT NULL
);
CREATE INDEX sp_uri_lookup ON sp_uri (tenant, resource_type, code, value text_pattern_ops);
CREATE INDEX sp_uri_owner ON sp_uri (tenant, resource_type, id);

-- Composite parameters whose first component is a token (all composites in R4 core but a handful).
-- The second component is stored in the column that matches its kind.
CREATE TABLE sp_composite (
  tenant text NOT NULL, resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
  c1_system text, c1_value text,
  c2_system text, c2_value text,           -- token second component
  c2_number numeric, c2_unit_code text,    -- quantity second component (c2_system holds Quantity.system)
  c2_low timestamptz, c2_high timestamptz, -- date second component
  c2_string text                           -- string second component (normalised)
);
CREATE INDEX sp_composite_lookup ON sp_composite (tenant, resource_type, code, c1_value);
CREATE INDEX sp_composite_owner ON sp_composite (tenant, resource_type, id);

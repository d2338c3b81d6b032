-- Process-independent settings created at first start (e.g. the secret that signs paging cursors).
CREATE TABLE haven_settings (
  key   text PRIMARY KEY,
  value text NOT NULL
);

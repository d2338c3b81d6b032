-- `haven users disable`: a disabled user cannot sign in, and their access and refresh tokens stop working on the
-- next request (the token check reads this column; disabling also revokes their grants). NULL = enabled.
ALTER TABLE auth_users ADD COLUMN disabled_at timestamptz;

-- Builds from GitHub push events fetch their commit when they run, not in
-- the webhook (GitHub gives a delivery 10 s): the build keeps the
-- project's root directory as it was when the push was queued, so that
-- it builds what the push asked for even if the setting changes meanwhile.
ALTER TABLE builds ADD COLUMN root_dir text NOT NULL DEFAULT '.';

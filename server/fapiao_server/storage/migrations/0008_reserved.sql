-- Placeholder on the signing branch only: 0008 belongs to another branch of issue 4. Drop this file when
-- merging (a duplicate version number fails loudly in available_migrations).
SELECT 1;

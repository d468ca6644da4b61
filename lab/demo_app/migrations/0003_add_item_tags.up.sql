ALTER TABLE items ADD COLUMN tags text;

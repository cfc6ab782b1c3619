-- What the contract allows, the tables hold; what the model forbids, the tables refuse.

-- Stock up to 2^53 - 1 (the processor's limit, streams/catalog.py MAX_STOCK):
-- a 32-bit integer overflowed at 2^31 - 1, and every later event of the product
-- was refused.
ALTER TABLE stock ALTER COLUMN quantity TYPE bigint;

-- No two validity intervals of one (sku, currency) overlap, by construction and
-- not only by test: the projection clamps each product's event time so it never
-- runs backwards, and this constraint refuses any row that would overlap.
-- (An empty interval [t, t), two changes at one instant, overlaps nothing.)
-- The series is compared by a 64-bit hash of (sku, currency): GiST compares
-- integers six times faster than text here (40,000 rows: 0.8 s against 4.8 s);
-- two series with one hash (odds about 2^-64) could only refuse a row, never
-- let an overlap through.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM price_history a JOIN price_history b
          ON a.sku = b.sku AND a.currency = b.currency AND a.version < b.version
         AND tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to)
    ) THEN
        -- Built by older code from back-dated events: the model version this code
        -- writes is newer, the live projection refuses this schema, and
        -- `eventcart replay pricing` (run by `eventcart up`) rebuilds it with
        -- the constraint.
        RAISE NOTICE 'price_history has overlapping intervals: constraint left to the rebuild';
    ELSE
        ALTER TABLE price_history ADD CONSTRAINT price_history_no_overlap
            EXCLUDE USING gist (
                (hashtextextended(sku || '/' || currency, 0)) WITH =,
                tstzrange(valid_from, valid_to) WITH &&
            );
    END IF;
END $$;

-- Scheduled price changes (PriceChangeScheduled, PriceChanged v3 with its
-- schedule fields, RegularPriceChanged, PriceChangeScheduleCancelled).

-- A change a schedule made: which schedule, and the instant it was planned for.
-- valid_from stays the instant it took effect (later than planned_at when it
-- fired after an outage): what customers were charged from, what Omnibus counts.
ALTER TABLE price_history
    ADD COLUMN planned_at  timestamptz NULL,
    ADD COLUMN schedule_id text NULL;

-- The regular price of the currency: what customers pay again when a sale ends.
-- It can differ from the regular price in price_history: a regular price set
-- while a scheduled sale runs changes this, not what customers pay.
ALTER TABLE current_price
    ADD COLUMN regular_amount numeric(16, 4) NULL CHECK (regular_amount >= 0);

-- Until now every regular price was a PriceChanged: the latest regular row of the
-- history is the regular price, exactly what the projection computes from the
-- same events (so the model version stays, and no rebuild is needed).
UPDATE current_price AS cp SET regular_amount = (
    SELECT h.amount FROM price_history AS h
    WHERE h.sku = cp.sku AND h.currency = cp.currency AND h.price_type = 'regular'
    ORDER BY h.version DESC
    LIMIT 1
);

-- One row per schedule of a SKU (the same schedule_id again replaces it, as it
-- replaces the pending schedule in the product's state). version = the event
-- that last wrote the row: the guard every write of the projection checks.
CREATE TABLE scheduled_price (
    sku         text NOT NULL,
    schedule_id text NOT NULL,
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount      numeric(16, 4) NOT NULL CHECK (amount >= 0),
    price_type  text NOT NULL CHECK (price_type IN ('regular', 'sale')),
    starts_at   timestamptz NOT NULL,
    -- a sale's end; NULL for a regular price (it has none)
    ends_at     timestamptz NULL,
    campaign_id text NULL,
    status      text NOT NULL
        CHECK (status IN ('planned', 'running', 'done', 'cancelled', 'missed')),
    -- when its start took effect (the valid_from of the price it set)
    started_at  timestamptz NULL,
    -- when a sale's end took effect, or when it was cancelled
    ended_at    timestamptz NULL,
    -- why it was cancelled: the note given, else the reason (cancelled, discontinued, missed)
    reason      text NULL,
    version     bigint NOT NULL,
    PRIMARY KEY (sku, schedule_id),
    CONSTRAINT scheduled_price_window CHECK (ends_at IS NULL OR ends_at > starts_at)
);

-- A campaign's rows across SKUs, and the list of campaigns.
CREATE INDEX scheduled_price_campaign
    ON scheduled_price (campaign_id, starts_at) WHERE campaign_id IS NOT NULL;

-- "What is upcoming for this SKU": its pending and running schedules, by start.
CREATE INDEX scheduled_price_upcoming
    ON scheduled_price (sku, starts_at) WHERE status IN ('planned', 'running');

-- The pricing read model. Schema-agnostic: names are unqualified; the migrator
-- runs this with `SET LOCAL search_path TO <schema>`, so the same DDL builds
-- `pricing` and, for a rebuild, `pricing_v2`.

-- The per-SKU version guard: the version of the last event applied to the SKU.
CREATE TABLE product (
    sku        text PRIMARY KEY,
    version    bigint NOT NULL CHECK (version >= 1),
    status     text NOT NULL CHECK (status IN ('active', 'discontinued')),
    updated_at timestamptz
);

CREATE TABLE current_price (
    sku        text NOT NULL,
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount     numeric(16, 4) NOT NULL CHECK (amount >= 0),
    price_type text NOT NULL CHECK (price_type IN ('regular', 'sale')),
    valid_from timestamptz NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (sku, currency)
);

-- One row per PriceChanged event: the validity interval [valid_from, valid_to)
-- of that price; valid_to NULL = still valid. Keyed by the event (sku, version):
-- a re-delivered event inserts nothing, and two changes with the same
-- occurred_at (same clock tick) do not collide.
CREATE TABLE price_history (
    sku        text NOT NULL,
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount     numeric(16, 4) NOT NULL CHECK (amount >= 0),
    price_type text NOT NULL CHECK (price_type IN ('regular', 'sale')),
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz NULL,
    event_id   uuid NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (sku, version, currency),
    CONSTRAINT price_history_interval CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- "Price as of t": WHERE sku = $1 AND currency = $2 AND valid_from <= t
--   AND (valid_to IS NULL OR t < valid_to) ORDER BY valid_from DESC, version DESC LIMIT 1
CREATE INDEX price_history_as_of
    ON price_history (sku, currency, valid_from DESC, version DESC);

-- The open interval of each (sku, currency): what a price change or discontinue closes.
CREATE INDEX price_history_open
    ON price_history (sku, currency) WHERE valid_to IS NULL;

CREATE TABLE stock (
    sku      text PRIMARY KEY,
    quantity integer NOT NULL CHECK (quantity >= 0),
    version  bigint NOT NULL
);

-- Position applied per (projection, partition), written in the same transaction
-- as the rows: events at or below it are skipped.
CREATE TABLE checkpoint (
    projection text NOT NULL,
    partition  integer NOT NULL,
    "offset"   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, partition)
);

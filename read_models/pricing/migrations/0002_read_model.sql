-- Which build of the pricing read model this schema holds, and the model (DDL)
-- version it was built for. A replay builds version N+1 beside the live schema
-- and switches them; the live projection refuses to write into a schema whose
-- model_version is older than its code expects (see read_models/pricing/model.py).
CREATE TABLE read_model (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version       integer NOT NULL DEFAULT 1,
    model_version integer NOT NULL DEFAULT 1,
    built_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO read_model DEFAULT VALUES;

-- The read-only role the query API uses and the pricing projection's writer role
-- (rows, no DDL), for the docker-compose stack. `eventcart stack up` creates the
-- same roles itself (ops/stack/postgres.py); each migration grants them the schema.
CREATE ROLE eventcart_reader LOGIN PASSWORD 'eventcart_reader';
GRANT CONNECT ON DATABASE eventcart TO eventcart_reader;
CREATE ROLE eventcart_pricing LOGIN PASSWORD 'eventcart_pricing';
GRANT CONNECT ON DATABASE eventcart TO eventcart_pricing;

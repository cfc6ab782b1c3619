-- The read-only role the query API uses, for the docker-compose stack.
-- `eventcart stack up` creates the same role itself (ops/stack/postgres.py).
CREATE ROLE eventcart_reader LOGIN PASSWORD 'eventcart_reader';
GRANT CONNECT ON DATABASE eventcart TO eventcart_reader;

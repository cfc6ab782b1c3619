"""eventcart: ops/stack."""

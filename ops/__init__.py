"""eventcart: ops."""

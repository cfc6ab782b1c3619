"""eventcart: producers."""

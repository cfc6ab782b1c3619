"""eventcart: streams."""

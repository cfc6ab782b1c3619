"""eventcart: read_models."""

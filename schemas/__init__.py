"""eventcart: schemas."""

"""Catalog feeds: a merchant's product file, read row by row into normalized products."""

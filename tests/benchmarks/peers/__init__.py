"""Dev-only baselines: what a user might run instead of eventcart's projections."""

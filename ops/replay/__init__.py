"""Replays: rebuild a read model from the product events topic beside the live one."""

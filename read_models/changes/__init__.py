"""Live subscriptions to product changes: ``GET /changes`` on the query API."""

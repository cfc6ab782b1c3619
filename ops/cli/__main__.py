"""`python -m ops.cli ...`: how eventcart starts its own processes (workers, APIs)."""

from ops.cli import main

main()

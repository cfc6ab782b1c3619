"""How eventcart is configured and connects: settings from ``EVENTCART_*``, the clients'
options for each ecosystem, the checks before a process starts. Beside the contract
(the rest of ``schemas/``), at the bottom, so every layer may use it."""

"""The dashboard's pages, one module per area; ``ROUTES`` is all of them."""

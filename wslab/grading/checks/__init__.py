"""The checks of each exercise, one module per lesson (registered on import by the registry)."""

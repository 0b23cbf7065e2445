"""The application: one use case per tool, combining the pure core with the adapters."""

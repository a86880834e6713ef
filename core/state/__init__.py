"""The state database: push markers and stored connections."""

"""The state database: push markers (visitors' and companies') and stored connections."""

"""Cross-cutting pieces every layer may use: errors, settings, logging, progress, files."""

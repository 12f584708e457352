"""Multi-stage workflows (the demo) built from the library layers."""

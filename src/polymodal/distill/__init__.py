"""AMAD and baseline distillation (needs the torch extra)."""
